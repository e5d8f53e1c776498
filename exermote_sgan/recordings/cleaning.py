"""Cleaning one recording into gap-free, labelled segments, with an account of every change.

The steps, each configurable and each counted in a :class:`SessionReport`:

1. **Labels**: file labels are mapped to class names (default ``setBreak -> Break``); a label
   that is neither a class nor mapped to one is an error naming its row.
2. **Squat rule** (Exermote): the first and last ``edge_rows`` rows of every squat repetition
   become ``Break``, as the original preprocessing did, because the phone barely moves there.
   A repetition is a ``firstHalf`` run followed by a ``secondHalf`` run of sub-labels, or, without
   sub-labels, a contiguous run of ``Squat`` rows.
3. **Sampling rate**: the median interval between rows and its jitter are measured; a median
   rate more than ``rate_tolerance`` off the expected one is an error unless resampling.
4. **Missing values**: runs of at most ``max_gap`` rows with missing values inside a recording
   are linearly interpolated in time; rows in longer runs (and leading/trailing rows with
   missing values, such as the empty first row of the Exermote files) are dropped and split the
   recording.  A pause in the timestamps splits it too: more than ``max_pause_s`` seconds
   (generic data) or, by Exermote's rule, more than ``max_gap`` missing rows.
   Nothing is ever filled with zeros.
5. **Resampling** (optional): the kept rows are interpolated onto an exact grid at the expected
   rate (:func:`scipy.interpolate.make_interp_spline`, linear); labels follow the nearest row.
6. **Segments**: the remaining stretches are returned as windowing
   :class:`~exermote_sgan.recordings.windowing.Segment` objects; stretches shorter than one
   window are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..errors import ExermoteInputError
from .readers import Recording
from .schema import BREAK_LABEL, FIRST_HALF, SECOND_HALF, SQUAT_LABEL
from .windowing import Segment


@dataclass(frozen=True)
class RateCheck:
    """Timing of a recording: median interval and rate, and the jitter around them."""

    median_interval_s: float
    rate_hz: float
    jitter_s: float          # standard deviation of the intervals between rows
    max_interval_s: float


@dataclass
class SessionReport:
    """What cleaning did to one session (recording); rows are counted before resampling."""

    session_name: str
    path: str
    subject: int
    rows_read: int
    rate: RateCheck
    labels_mapped: dict[str, int] = field(default_factory=dict)
    squat_rows_relabelled: int = 0
    rows_interpolated: int = 0
    rows_dropped_edges: int = 0          # leading/trailing rows with missing values
    rows_dropped_long_gaps: int = 0      # rows inside runs of missing values longer than max_gap
    time_gaps_split: int = 0             # pauses in the timestamps that split the recording
    resampled_rows: int | None = None    # rows after resampling, or None when not resampled
    rows_dropped_short: int = 0          # rows in stretches shorter than one window
    duplicate_rows: int = 0              # rows repeating a timestamp, dropped or averaged
    mirrored: bool = False               # one body side put into the other's frame
    values_out_of_range: int = 0         # values beyond max_abs_value treated as missing
    values_far_outside: int = 0          # values far outside the rest of the session, kept
    far_outside_note: str | None = None  # where the first of them is
    segments: int = 0
    windows: int = 0


def map_labels(labels: np.ndarray, *, label_map: Mapping[str, str], classes: Sequence[str],
               path=None, rows=None, column: str | None = None) -> tuple[np.ndarray, dict]:
    """Map file labels to class names; returns (mapped labels, {from: rows mapped}).

    A label that is not a class after mapping raises :class:`ExermoteInputError` at its row.
    """
    labels = np.asarray(labels).astype(str)
    out = labels.copy()
    counts = {}
    for source, target in label_map.items():
        hit = labels == source
        n = int(hit.sum())
        if n:
            out[hit] = target
            counts[source] = n
    unknown = np.flatnonzero(~np.isin(out, np.asarray(list(classes), dtype=str)))
    if len(unknown):
        i = unknown[0]
        row = None if rows is None else int(rows[i])
        mapped = f" (mapped to {str(out[i])!r})" if out[i] != labels[i] else ""
        raise ExermoteInputError(
            f"unknown label {str(labels[i])!r}{mapped}; expected one of {', '.join(classes)}"
            f": add it to --classes, or map it to a class with --label-map "
            f"{str(labels[i])}=CLASS", path=path, row=row, column=column)
    return out, counts


def _repetition_bounds(labels: np.ndarray, sub_labels: np.ndarray | None,
                       squat: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) rows of each squat repetition."""
    is_squat = labels == squat
    n = len(labels)
    prev_squat = np.r_[False, is_squat[:-1]]
    starts = is_squat & ~prev_squat
    if sub_labels is not None:
        prev_sub = np.concatenate([np.asarray([""]), sub_labels[:-1]])
        starts |= is_squat & prev_squat & (sub_labels == FIRST_HALF) & (prev_sub == SECOND_HALF)
    start_rows = np.flatnonzero(starts)
    # a repetition runs until the next repetition start or the end of the squat run
    next_squat = np.r_[is_squat[1:], False]
    run_ends = np.flatnonzero(is_squat & ~next_squat) + 1
    stop_rows = np.empty_like(start_rows)
    for k, start in enumerate(start_rows):
        end_of_run = run_ends[np.searchsorted(run_ends, start, side="right")]
        next_start = start_rows[k + 1] if k + 1 < len(start_rows) else n
        stop_rows[k] = min(end_of_run, next_start)
    return start_rows, stop_rows


def apply_squat_rule(labels: np.ndarray, sub_labels: np.ndarray | None = None, *,
                     squat: str = SQUAT_LABEL, replacement: str = BREAK_LABEL,
                     edge_rows: int = 2) -> tuple[np.ndarray, int]:
    """Relabel the first and last ``edge_rows`` rows of every squat repetition as ``replacement``.

    Returns (new labels, number of rows relabelled).
    """
    if isinstance(edge_rows, bool) or not isinstance(edge_rows, (int, np.integer)) or edge_rows < 0:
        raise ValueError(f"edge_rows must be an integer >= 0, got {edge_rows!r}")
    labels = np.asarray(labels).astype(str)
    out = labels.copy()
    if edge_rows == 0 or not (labels == squat).any():
        return out, 0
    subs = None if sub_labels is None else np.asarray(sub_labels).astype(str)
    starts, stops = _repetition_bounds(labels, subs, squat)
    mark = np.zeros(len(labels), dtype=bool)
    for start, stop in zip(starts, stops):
        mark[start:min(start + edge_rows, stop)] = True
        mark[max(stop - edge_rows, start):stop] = True
    out[mark] = replacement
    return out, int(mark.sum())


def check_sampling_rate(timestamps: np.ndarray, *, expected_rate_hz: float,
                        tolerance: float = 0.2, strict: bool = True, path=None,
                        column: str | None = None) -> RateCheck:
    """Measure the timing of a recording; with ``strict``, error when the median rate is off.

    "Off" means more than ``tolerance`` (a fraction) away from ``expected_rate_hz``.
    """
    if not expected_rate_hz > 0:
        raise ExermoteInputError(f"expected rate must be > 0 Hz, got {expected_rate_hz}")
    if not tolerance >= 0:
        raise ExermoteInputError(f"rate tolerance must be >= 0, got {tolerance}")
    steps = np.diff(np.asarray(timestamps, dtype=np.float64))
    if len(steps) == 0:
        return RateCheck(float("nan"), float("nan"), float("nan"), float("nan"))
    median = float(np.median(steps))
    check = RateCheck(median_interval_s=median, rate_hz=1.0 / median,
                      jitter_s=float(np.std(steps)), max_interval_s=float(steps.max()))
    if strict and abs(check.rate_hz - expected_rate_hz) > tolerance * expected_rate_hz:
        raise ExermoteInputError(
            f"median sampling rate is {check.rate_hz:.3g} Hz (one row every {median:.4g} s), more "
            f"than {tolerance:.0%} off the expected {expected_rate_hz:g} Hz; set the expected "
            f"rate (--expected-rate) or resample (--resample)", path=path, column=column)
    return check


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) of each run of True in ``mask``."""
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def fill_short_gaps(values: np.ndarray, timestamps: np.ndarray, *,
                    max_gap: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Interpolate interior runs of at most ``max_gap`` rows with missing values (linear in time).

    Returns (values, keep mask, counts): rows still missing (runs longer than ``max_gap``, or at
    the start or end) are marked ``False`` in ``keep``; counts has ``interpolated``,
    ``dropped_edges`` and ``dropped_long_gaps``.
    """
    values = np.array(values, dtype=np.float64, copy=True)
    missing = np.isnan(values).any(axis=1)
    n = len(values)
    counts = {"interpolated": 0, "dropped_edges": 0, "dropped_long_gaps": 0}
    if not missing.any():
        return values, np.ones(n, dtype=bool), counts
    starts, stops = _runs(missing)
    fill = np.zeros(n, dtype=bool)
    for start, stop in zip(starts, stops):
        if start == 0 or stop == n:
            counts["dropped_edges"] += int(stop - start)
        elif stop - start <= max_gap:
            fill[start:stop] = True
            counts["interpolated"] += int(stop - start)
        else:
            counts["dropped_long_gaps"] += int(stop - start)
    for j in range(values.shape[1]):
        target = fill & np.isnan(values[:, j])
        if target.any():
            valid = ~np.isnan(values[:, j])
            values[target, j] = np.interp(timestamps[target], timestamps[valid], values[valid, j])
    return values, ~missing | fill, counts


def resample_to_grid(timestamps, values, *, rate_hz: float):
    """One gap-free stretch of rows on the exact grid at ``rate_hz``: the one resampling of
    the package, used by preprocessing (``resample``) and by prediction on a run trained so.

    Returns ``(first, new_values, nearest)``: grid row ``k`` lies ``k / rate_hz`` s after the
    session's first row, and the grid runs from row ``first`` to the last row inside the
    stretch; ``new_values`` are linear in time between the rows; ``nearest`` indexes the row
    nearest each grid row (the earlier on a tie), for labels and file rows.  A column with
    missing values is interpolated over its present ones (held at its first and last), or
    stays missing when none is present.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    values = np.asarray(values)
    first = int(np.ceil(t[0] * rate_hz - 1e-6))
    last = int(np.floor(t[-1] * rate_hz + 1e-6))
    grid = np.arange(first, max(last, first - 1) + 1) / rate_hz
    if len(t) < 2:
        return first, values[:len(grid)].copy(), np.zeros(len(grid), dtype=np.int64)
    right = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)
    nearest = right - (grid - t[right - 1] <= t[right] - grid)
    return first, _interpolate(t, values, grid), nearest


def _interpolate(t, values, grid):
    """``values`` (rows at times ``t``) linear in time at the times ``grid``."""
    from scipy.interpolate import make_interp_spline

    present = np.isfinite(values)
    if present.all():
        return make_interp_spline(t, values, k=1, axis=0)(grid)
    columns = [np.interp(grid, t[ok], col[ok]) if ok.any() else np.full(len(grid), np.nan)
               for col, ok in zip(values.T, present.T)]
    return np.column_stack(columns) if columns else np.empty((len(grid), 0))


def _resample(timestamps, values, labels, pieces, *, rate_hz):
    """Put each gap-free piece onto the session's grid at ``rate_hz`` (see
    :func:`resample_to_grid`); labels from the nearest row.  Pieces separated by a gap keep
    their distance in rows."""
    out = []
    for start, stop in pieces:
        first, new_values, nearest = resample_to_grid(timestamps[start:stop],
                                                      values[start:stop], rate_hz=rate_hz)
        if len(new_values):
            out.append((first, new_values, labels[start:stop][nearest]))
    return out


def clean_recording(recording: Recording, *, session: int, classes: Sequence[str],
                    label_map: Mapping[str, str], squat_rule: bool = True,
                    squat_edge_rows: int = 2, max_gap: int = 3, expected_rate_hz: float = 10.0,
                    rate_tolerance: float = 0.2, resample: bool = False, min_rows: int = 40,
                    label_column: str | None = None, timestamp_column: str | None = None,
                    max_pause_s: float | None = None) -> tuple[list[Segment], SessionReport]:
    """Clean one recording into segments of at least ``min_rows`` rows, and report what was done.

    ``session`` is the session index the segments carry.  Segment ``first_row`` counts rows of
    the recording (row 0 = first data row of the file) or, with ``resample``, rows of the
    resampled grid (grid row ``k`` lies ``k / expected_rate_hz`` s after the first row).
    A pause in the timestamps splits the recording: an interval longer than ``max_pause_s``
    seconds, or (None, the Exermote rule) one of at least ``max_gap`` + 1.5 rows.
    """
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
        raise ExermoteInputError(f"max gap must be an integer >= 0 rows, got {max_gap!r}")
    path = recording.path
    classes = tuple(classes)
    rate = check_sampling_rate(recording.timestamps, expected_rate_hz=expected_rate_hz,
                               tolerance=rate_tolerance, strict=not resample, path=path,
                               column=timestamp_column)
    duplicates = int(getattr(recording, "duplicate_rows", 0))
    report = SessionReport(session_name=recording.session_name, path=str(path),
                           subject=recording.subject, rows_read=len(recording) + duplicates,
                           rate=rate, mirrored=bool(getattr(recording, "mirrored", False)),
                           duplicate_rows=duplicates)
    names, report.labels_mapped = map_labels(recording.labels, label_map=label_map,
                                             classes=classes, path=path,
                                             rows=recording.file_rows, column=label_column)
    if squat_rule and SQUAT_LABEL in classes and BREAK_LABEL in classes:
        names, report.squat_rows_relabelled = apply_squat_rule(
            names, recording.sub_labels, edge_rows=squat_edge_rows)
    labels = _encode(names, classes)

    values, keep, counts = fill_short_gaps(recording.values, recording.timestamps,
                                           max_gap=max_gap)
    report.rows_interpolated = counts["interpolated"]
    report.rows_dropped_edges = counts["dropped_edges"]
    report.rows_dropped_long_gaps = counts["dropped_long_gaps"]

    # gap-free pieces: runs of kept rows, also cut where the timestamps pause too long
    steps = np.diff(recording.timestamps)
    pause = np.r_[False, steps > max_pause_s if max_pause_s is not None
                  else steps * expected_rate_hz >= max_gap + 1.5]
    cut = pause & keep & np.r_[False, keep[:-1]]
    report.time_gaps_split = int(cut.sum())
    starts, stops = _runs(keep)
    bounds = []
    for start, stop in zip(starts, stops):
        inner = start + np.flatnonzero(cut[start + 1:stop]) + 1
        edges = np.r_[start, inner, stop]
        bounds.extend(zip(edges[:-1], edges[1:]))

    if resample:
        pieces = _resample(recording.timestamps, values, labels, bounds, rate_hz=expected_rate_hz)
        report.resampled_rows = sum(len(v) for _, v, _ in pieces)
    else:
        pieces = [(int(a), values[a:b], labels[a:b]) for a, b in bounds]

    segments = []
    for first_row, piece_values, piece_labels in pieces:
        if len(piece_values) < min_rows:
            report.rows_dropped_short += len(piece_values)
            continue
        segments.append(Segment(values=piece_values, labels=piece_labels,
                                subject=recording.subject, session=session,
                                first_row=int(first_row)))
    report.segments = len(segments)
    return segments, report


def _encode(names: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Class ids of class names (all known to be classes)."""
    order = np.argsort(np.asarray(classes, dtype=str))
    sorted_classes = np.asarray(classes, dtype=str)[order]
    return order[np.searchsorted(sorted_classes, names)].astype(np.int64)
