"""Cutting gap-free pieces of recordings into fixed-length, labelled windows.

A recording (a *session*) is first split by the preprocessing into :class:`Segment` objects,
contiguous pieces without gaps or missing values.  Each segment is windowed on its own, so no
window ever spans two recordings or a gap.  A window is described by its segment and start row
(:class:`~exermote_sgan.data.windows_file.RowWindows`), not copied: the rows are kept once and
windows are gathered from them when read, with NumPy indexing rather than a Python loop over
rows.

Labelling follows the original Exermote rule: a window of ``timesteps`` rows starting at row
``start`` is labelled by the row ``label_offset`` steps before its end,
``labels[start + timesteps - label_offset - 1]`` (with the defaults 40 and 20: the 20th row of
the window), and it *ends* at row ``start + timesteps - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import ExermoteInputError
from ..data.windows_file import RowWindows, WindowSet


@dataclass(frozen=True)
class Segment:
    """A contiguous, gap-free piece of one session (a recording), ready to be windowed.

    ``values`` is ``(n_rows, n_features)`` in raw units without NaN, ``labels`` the ``(n_rows,)``
    class ids, ``session`` an index into the ``session_names`` of the resulting
    :class:`~exermote_sgan.data.windows_file.WindowSet`, and ``first_row`` the row of the session
    at which this segment starts (window ``end_index`` values are rows of the session, not of the
    segment).
    """

    values: np.ndarray
    labels: np.ndarray
    subject: int
    session: int
    first_row: int = 0

    def __len__(self) -> int:
        return len(self.values)


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_window_options(timesteps, stride, label_offset=None) -> tuple[int, int]:
    timesteps = _check_positive("timesteps", timesteps)
    stride = _check_positive("stride", stride)
    if label_offset is not None:
        if (isinstance(label_offset, bool) or not isinstance(label_offset, (int, np.integer))
                or not 0 <= label_offset < timesteps):
            raise ValueError(f"label_offset must be an integer with 0 <= label_offset < "
                             f"timesteps={timesteps}, got {label_offset!r}")
    return timesteps, stride


def window_count(n_rows: int, *, timesteps: int, stride: int = 1) -> int:
    """How many windows of ``timesteps`` rows, ``stride`` rows apart, fit into ``n_rows`` rows."""
    timesteps, stride = _check_window_options(timesteps, stride)
    return 0 if n_rows < timesteps else (n_rows - timesteps) // stride + 1


def sliding_windows(values, *, timesteps: int, stride: int = 1) -> np.ndarray:
    """All windows of ``timesteps`` consecutive rows of ``values``, ``stride`` rows apart.

    ``(n_rows, F) -> (n_windows, timesteps, F)`` with ``n_windows = (n_rows - timesteps) // stride
    + 1`` (0 when ``n_rows < timesteps``).  The result is a read-only *view* of ``values`` (no
    copy); copy it (``np.array(...)``) before writing to it.
    """
    timesteps, stride = _check_window_options(timesteps, stride)
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, features), got shape {values.shape}")
    n_rows, n_features = values.shape
    if n_rows < timesteps:
        return np.empty((0, timesteps, n_features), dtype=values.dtype)
    # sliding_window_view puts the window axis last: (n_rows - T + 1, F, T).
    view = np.lib.stride_tricks.sliding_window_view(values, timesteps, axis=0)
    return view[::stride].transpose(0, 2, 1)


def window_targets(labels, *, timesteps: int, stride: int = 1,
                   label_offset: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Label and local end row of every window :func:`sliding_windows` would cut from ``labels``.

    A window starting at ``start`` is labelled by ``labels[start + timesteps - label_offset - 1]``
    and ends at row ``start + timesteps - 1`` (inclusive, counted from the start of ``labels``).
    Returns ``(window_labels, end_index)``, both int64.
    """
    timesteps, stride = _check_window_options(timesteps, stride, label_offset)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    n = 0 if len(labels) < timesteps else (len(labels) - timesteps) // stride + 1
    starts = np.arange(n, dtype=np.int64) * stride
    window_labels = labels[starts + (timesteps - label_offset - 1)].astype(np.int64)
    return window_labels, starts + (timesteps - 1)


def _segment_name(segment: Segment, position: int, session_names: Sequence[str]) -> str:
    session = int(segment.session)
    name = session_names[session] if 0 <= session < len(session_names) else f"session {session}"
    return f"segment {position} ({name}, from row {segment.first_row})"


def _validated(segment: Segment, position: int, *, num_features: int, num_classes: int,
               session_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    where = _segment_name(segment, position, session_names)
    try:
        values = np.asarray(segment.values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExermoteInputError(f"{where}: values are not numeric") from None
    labels = np.asarray(segment.labels)
    if values.ndim != 2 or values.shape[1] != num_features:
        raise ExermoteInputError(f"{where}: values have shape {values.shape}, expected "
                                 f"(rows, {num_features} features)")
    if labels.shape != (len(values),):
        raise ExermoteInputError(f"{where}: {labels.shape} labels for {len(values)} rows, "
                                 f"expected one label per row")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer)
                        or labels.min() < 0 or labels.max() >= num_classes):
        raise ExermoteInputError(f"{where}: labels must be integer class ids in "
                                 f"[0, {num_classes}), got values from {labels.min()} to "
                                 f"{labels.max()}")
    if int(segment.first_row) < 0:
        raise ExermoteInputError(f"{where}: first_row must be >= 0")
    return values, labels


def _check_finite(segment: Segment, values: np.ndarray, position: int,
                  session_names: Sequence[str]) -> None:
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.argwhere(~finite)
        raise ExermoteInputError(f"{_segment_name(segment, position, session_names)}: missing or "
                                 f"infinite value at segment row {int(bad[0][0])}, feature "
                                 f"{int(bad[0][1])}; segments must be gap-free and finite")


def _segment_windows(segment: Segment, values: np.ndarray, row_labels: np.ndarray, *,
                     timesteps: int, stride: int, label_offset: int):
    """``(starts, labels, end_index)`` of the windows of one validated segment."""
    labels, local_end = window_targets(row_labels, timesteps=timesteps, stride=stride,
                                       label_offset=label_offset)
    return local_end - (timesteps - 1), labels, local_end + int(segment.first_row)


def write_segments(writer, segments: Iterable[Segment], *, session_names: Sequence[str] = (),
                   first_position: int = 0) -> int:
    """Validate ``segments`` and add each one's rows and windows to a
    :class:`~exermote_sgan.data.windows_file.WindowsWriter` (which has the window options).

    Segments shorter than one window add nothing.  Returns the number of windows added.
    ``first_position`` numbers the segments in error messages.
    """
    classes, features = writer.classes, writer.features
    added = 0
    for position, segment in enumerate(segments, start=first_position):
        values, row_labels = _validated(segment, position, num_features=len(features),
                                        num_classes=len(classes), session_names=session_names)
        _check_finite(segment, values, position, session_names)
        if len(values) < writer.timesteps:
            continue
        starts, labels, end_index = _segment_windows(
            segment, values, row_labels, timesteps=writer.timesteps, stride=writer.stride,
            label_offset=writer.label_offset)
        writer.add_segment(values.astype(np.float32), starts=starts, labels=labels,
                           subject=int(segment.subject), session=int(segment.session),
                           end_index=end_index)
        added += len(starts)
    return added


def cut_windows(segments: Iterable[Segment], *, classes: Sequence[str], features: Sequence[str],
                timesteps: int = 40, stride: int = 1, label_offset: int = 20,
                sample_rate_hz: float = 10.0, session_names: Sequence[str] = ()) -> WindowSet:
    """Window every segment separately and gather the windows into one :class:`WindowSet`.

    No window crosses a segment boundary; segments shorter than ``timesteps`` contribute nothing.
    The rows of the segments are copied once (float32, raw units) and the windows are a
    :class:`~exermote_sgan.data.windows_file.RowWindows` view of them, in segment order, so
    memory grows with the rows, not with rows x timesteps; ``end_index`` is the session row at
    which each window ends (``segment.first_row`` + the local end row).
    """
    timesteps, stride = _check_window_options(timesteps, stride, label_offset)
    classes, features = tuple(classes), tuple(features)
    session_names = tuple(session_names)
    if not classes or not features:
        raise ValueError("cut_windows needs at least one class and one feature")
    segments = list(segments)
    checked = [_validated(s, i, num_features=len(features), num_classes=len(classes),
                          session_names=session_names) for i, s in enumerate(segments)]
    for position, (segment, (values, _)) in enumerate(zip(segments, checked)):
        _check_finite(segment, values, position, session_names)
    used = [k for k, (values, _) in enumerate(checked) if len(values) >= timesteps]
    offsets = np.cumsum([0] + [len(checked[k][0]) for k in used]).astype(np.int64)
    rows = np.empty((int(offsets[-1]), len(features)), dtype=np.float32)
    parts = {name: [] for name in ("starts", "labels", "subjects", "sessions", "end_index")}
    for number, k in enumerate(used):
        segment, (values, row_labels) = segments[k], checked[k]
        rows[offsets[number]:offsets[number + 1]] = values
        starts, labels, end_index = _segment_windows(segment, values, row_labels,
                                                     timesteps=timesteps, stride=stride,
                                                     label_offset=label_offset)
        n = len(starts)
        parts["starts"].append(starts + offsets[number])
        parts["labels"].append(labels)
        parts["subjects"].append(np.full(n, int(segment.subject), dtype=np.int64))
        parts["sessions"].append(np.full(n, int(segment.session), dtype=np.int64))
        parts["end_index"].append(end_index)
    joined = {name: np.concatenate(p).astype(np.int64) if p else np.zeros(0, np.int64)
              for name, p in parts.items()}
    windows = RowWindows(rows, starts=joined["starts"], segment_offsets=offsets,
                         timesteps=timesteps)
    return WindowSet(windows=windows, labels=joined["labels"], subjects=joined["subjects"],
                     sessions=joined["sessions"], end_index=joined["end_index"],
                     classes=classes, features=features, timesteps=timesteps, stride=stride,
                     label_offset=label_offset, sample_rate_hz=float(sample_rate_hz),
                     session_names=session_names)
