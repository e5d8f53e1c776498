"""Live exercise recognition: one raw sensor row in, events out, as the Exermote app did at 10 Hz.

:class:`StreamingRecognizer` keeps the last ``timesteps`` valid rows, and once it has that
many, predicts on every new row (scaled with the run's scaler, one forward pass of a NumPy
copy of the classifier) and hands the probabilities to a repetition counter
(:mod:`exermote_sgan.inference.counting`).

Time convention: in training, a window ending at row ``t`` is labelled by row
``t - label_offset``.  A prediction made when row ``t`` arrives therefore describes row
``t - label_offset``, and every time this module reports (prediction times, event times,
set spans) is the time of that described row, i.e. ``label_offset / sample_rate_hz``
seconds (2 s for the original model) before the moment the prediction could be made.

A pause in the rows' times longer than :func:`gap_seconds` splits the stream: the counter
closes the open set there and the next window starts after the pause.

Rows holding NaN are skipped with a :class:`SkippedRowWarning` (rows before the first valid
one, such as the empty first row of every Exermote file, silently): they never enter a
window, so no prediction or repetition comes from garbage.  A row with the wrong number of
values raises :class:`~exermote_sgan.errors.ExermoteInputError`.

:func:`recognize_recording` is the batch mode: the same rows, windows, counter and events,
with all windows of a recording evaluated in one vectorised pass.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ExermoteInputError
from .counting import DetectedSet, Event, make_counter, rest_options
from .forward import NumpyClassifier


class SkippedRowWarning(UserWarning):
    """A row without valid values was left out of the stream."""


@dataclass(frozen=True)
class Prediction:
    """The classifier's output when row ``row`` arrived, describing row ``described_row``."""

    row: int
    described_row: int
    time: float  # time of the described row (seconds)
    label: str
    scores: np.ndarray


@dataclass
class RecognitionResult:
    """Everything recognised in one recording (batch mode, or a finished stream)."""

    classes: tuple[str, ...]
    rows: np.ndarray  # index (0-based, in the recording) of the row completing each window
    described_rows: np.ndarray  # rows - label_offset
    times: np.ndarray  # time each prediction describes
    scores: np.ndarray  # (n, K) float32
    events: list[Event] = field(default_factory=list)
    sets: list[DetectedSet] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [self.classes[i] for i in np.argmax(self.scores, axis=1)]


def load_recognizer_parts(run_dir):
    """The run's preprocessing and a verified NumPy copy of its classifier."""
    from ..runs import load_run
    from .forward import check_against_keras

    run = load_run(run_dir)
    prep = run.preprocessing
    classifier = NumpyClassifier.from_keras(run.classifier)
    probe = np.random.default_rng(0).uniform(0.0, 1.0, (8, prep.timesteps, len(prep.features)))
    check_against_keras(classifier, run.classifier, probe)
    return prep, classifier


class StreamingRecognizer:
    """Fed one raw row at a time with :meth:`push`; returns the events each row completes.

    Build it with :meth:`from_run`.  ``counting`` names the counting method
    (``hysteresis``, ``period``, ``app`` or ``app-20s``) and ``counting_options`` are passed
    to its counter, which also gets the scaled feature row each prediction describes.  A
    value beyond the run's absurd-value limit (its reader's ``max_abs_value``, default 1e6) is
    refused as the command line refuses it (or, with ``out_of_range="missing"``, skips the
    row); a pause in the row times longer than :func:`gap_seconds` closes the open set and
    starts the windows afresh, as ``preprocess`` splits a recording there.
    """

    def __init__(self, preprocessing, classifier, *, counting: str = "period",
                 counting_options: dict | None = None, source=None):
        self.preprocessing = preprocessing
        self.classes = tuple(preprocessing.classes)
        self.timesteps = int(preprocessing.timesteps)
        self.num_features = len(preprocessing.features)
        self.label_offset = int(preprocessing.label_offset)
        self.sample_rate_hz = float(preprocessing.sample_rate_hz)
        if not 0 <= self.label_offset < self.timesteps:
            raise ExermoteInputError(f"label_offset {self.label_offset} must lie in "
                                     f"[0, timesteps={self.timesteps})")
        self._scale = np.asarray(preprocessing.scaler.scale_, dtype=np.float64)
        self._offset = np.asarray(preprocessing.scaler.offset_, dtype=np.float64)
        self._classifier = classifier
        self._make_counter = lambda: make_counter(
            counting, self.classes, sample_rate_hz=self.sample_rate_hz,
            **rest_options(preprocessing, counting_options))
        self._counter = self._make_counter()
        self._done_sets: list[DetectedSet] = []  # sets of the pieces before a gap
        reader = getattr(preprocessing, "reader", None) or {}
        self.max_abs_value = float(reader.get("max_abs_value", 1e6))
        self.out_of_range = reader.get("out_of_range", "refuse")
        self.gap_s = gap_seconds(preprocessing)
        self._last_time: float | None = None
        self.source = source
        self._buffer: deque = deque(maxlen=self.timesteps)
        self._buffer_times: deque = deque(maxlen=self.timesteps)  # the buffered rows' times
        self._recent_times: deque = deque(maxlen=self.label_offset + 1)
        self._row = -1
        self._seen_valid = False
        self._finished = False
        self.predictions: list[Prediction] = []
        self.skipped_rows: list[int] = []

    @classmethod
    def from_run(cls, run_dir, *, counting: str = "period",
                 counting_options: dict | None = None) -> "StreamingRecognizer":
        from .periods import with_run_profile

        preprocessing, classifier = load_recognizer_parts(run_dir)
        return cls(preprocessing, classifier, counting=counting,
                   counting_options=with_run_profile(run_dir, counting_options),
                   source=Path(run_dir))

    @property
    def sets(self) -> list[DetectedSet]:
        """The sets finished so far."""
        return self._done_sets + self._counter.sets

    def push(self, values, *, time: float | None = None) -> list[Event]:
        """Take the next raw row (``features`` values, in the run's feature order).

        ``time`` is the row's time in seconds; by default row index / sample rate.
        """
        if self._finished:
            raise RuntimeError("StreamingRecognizer: push after finish")
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        self._row += 1
        if row.shape[0] != self.num_features:
            names = ", ".join(self.preprocessing.features)
            raise ExermoteInputError(f"sample {self._row} has {row.shape[0]} values, expected "
                                     f"{self.num_features} ({names})")
        time = self._row / self.sample_rate_hz if time is None else float(time)
        row = self._within_limit(row)
        events = self._split_at_gap(time)
        self._recent_times.append(time)
        if not np.all(np.isfinite(row)):
            self.skipped_rows.append(self._row)
            if self._seen_valid:
                warnings.warn(f"sample {self._row}: missing or non-finite values; row skipped",
                              SkippedRowWarning, stacklevel=2)
            return events
        self._seen_valid = True
        self._buffer.append(row * self._scale + self._offset)
        self._buffer_times.append(time)
        if len(self._buffer) < self.timesteps:
            return events
        scores = np.asarray(self._classifier(np.asarray(self._buffer)), dtype=np.float32)
        return events + self._step(self._row, scores)

    def _within_limit(self, row: np.ndarray) -> np.ndarray:
        """The row, refused (or its values blanked, as the run's reader does with
        ``out_of_range="missing"``) where a value is beyond the run's absurd-value limit."""
        beyond = np.abs(np.nan_to_num(row, nan=0.0)) > self.max_abs_value
        if not beyond.any():
            return row
        if self.out_of_range == "missing":
            return np.where(beyond, np.nan, row)
        j = int(np.flatnonzero(beyond)[0])
        raise ExermoteInputError(
            f"sample {self._row}, feature {self.preprocessing.features[j]!r}: value "
            f"{row[j]:.6g} is beyond +-{self.max_abs_value:g}, which no sensor reading "
            f"reaches; fix the row or pass NaN for a missing value")

    def _split_at_gap(self, time: float) -> list[Event]:
        """A pause longer than :func:`gap_seconds` ends the stream's piece, as ``preprocess``
        splits a recording there: the open set closes and windows start afresh."""
        last, self._last_time = self._last_time, time
        if last is None or time - last <= self.gap_s:
            return []
        events = self._finish_counter()
        self._done_sets += self._counter.sets
        self._counter = self._make_counter()
        self._buffer.clear()
        self._buffer_times.clear()
        self._recent_times.clear()
        return events

    def _step(self, row: int, scores: np.ndarray) -> list[Event]:
        described = self._recent_times[0] if len(self._recent_times) > self.label_offset \
            else self._recent_times[0] - (self.label_offset - len(self._recent_times) + 1) \
            / self.sample_rate_hz
        self.predictions.append(Prediction(row, row - self.label_offset, described,
                                           self.classes[int(np.argmax(scores))], scores))
        return self._counter.update(described, scores, self._buffer[-1 - self.label_offset])

    def finish(self) -> list[Event]:
        """End of the stream: decide what is pending and close the open set."""
        if self._finished:
            return []
        self._finished = True
        return self._finish_counter()

    def _finish_counter(self) -> list[Event]:
        """The counter's ``finish``, after giving it the rows no prediction describes (the
        last ``label_offset`` of the piece, once it has had a prediction), as batch mode
        does."""
        if len(self._buffer) == self.timesteps and self.label_offset:
            rows = list(self._buffer)[-self.label_offset:]
            times = list(self._buffer_times)[-self.label_offset:]
            self._counter.extend(times, rows)
        return self._counter.finish()

    def result(self, events=()) -> RecognitionResult:
        """The predictions so far as a :class:`RecognitionResult`."""
        k = len(self.classes)
        return RecognitionResult(
            classes=self.classes,
            rows=np.array([p.row for p in self.predictions], dtype=np.int64),
            described_rows=np.array([p.described_row for p in self.predictions], dtype=np.int64),
            times=np.array([p.time for p in self.predictions], dtype=np.float64),
            scores=(np.stack([p.scores for p in self.predictions]) if self.predictions
                    else np.zeros((0, k), np.float32)),
            events=list(events), sets=list(self.sets), skipped_rows=list(self.skipped_rows))


def gap_seconds(preprocessing) -> float:
    """Seconds between rows beyond which a stream is split, as ``preprocess`` split the
    run's recordings: at a pause longer than its ``max_pause_seconds`` (generic recordings:
    seconds, so that timestamp jitter never splits), else of more than ``max_gap`` missing
    rows (the run's reader setting, default 3) with half a row of tolerance for jitter."""
    reader = getattr(preprocessing, "reader", None) or {}
    if reader.get("max_pause_seconds") is not None:
        return float(reader["max_pause_seconds"])
    return (int(reader.get("max_gap", 3)) + 1.5) / float(preprocessing.sample_rate_hz)


def recognize_recording(preprocessing, classifier, values, *, times=None,
                        counting: str = "period", counting_options: dict | None = None,
                        path=None) -> RecognitionResult:
    """Batch mode: the result :class:`StreamingRecognizer` gives for the same rows, at once.

    ``values`` is ``(n_rows, features)`` raw; ``times`` the rows' times in seconds (default:
    index / sample rate).  Raises :class:`ExermoteInputError` for a wrong number of features
    or fewer valid rows than one window; warns (:class:`SkippedRowWarning`) about NaN rows.
    A pause longer than :func:`gap_seconds` splits the recording: no window and no set spans
    it.
    """
    values = np.asarray(values, dtype=np.float64)
    timesteps = int(preprocessing.timesteps)
    rate = float(preprocessing.sample_rate_hz)
    if values.ndim != 2 or values.shape[1] != len(preprocessing.features):
        raise ExermoteInputError(f"rows have {values.shape[-1] if values.ndim else 0} values, "
                                 f"expected {len(preprocessing.features)} "
                                 f"({', '.join(preprocessing.features)})", path=path)
    n = len(values)
    times = np.arange(n) / rate if times is None else np.asarray(times, dtype=np.float64)
    valid = np.all(np.isfinite(values), axis=1)
    valid_rows = np.flatnonzero(valid)
    if len(valid_rows) < timesteps:
        raise ExermoteInputError(f"has {len(valid_rows)} rows with valid values, fewer than one "
                                 f"window of {timesteps} rows", path=path)
    skipped = np.flatnonzero(~valid)
    mid_stream = skipped[skipped > valid_rows[0]]
    if len(mid_stream):
        warnings.warn(f"{path or 'recording'}: {len(mid_stream)} row(s) with missing or "
                      f"non-finite values skipped (first: sample {mid_stream[0]})",
                      SkippedRowWarning, stacklevel=2)
    breaks = np.flatnonzero(np.diff(times) > gap_seconds(preprocessing)) + 1
    parts = [_recognize_piece(preprocessing, classifier, values, times, lo, hi, counting,
                              counting_options)
             for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, n])]
    k = len(preprocessing.classes)
    return RecognitionResult(
        classes=tuple(preprocessing.classes),
        rows=np.concatenate([p[0] for p in parts]).astype(np.int64),
        described_rows=np.concatenate([p[1] for p in parts]).astype(np.int64),
        times=np.concatenate([p[2] for p in parts]).astype(np.float64),
        scores=np.concatenate([p[3] for p in parts] + [np.zeros((0, k), np.float32)]),
        events=[e for p in parts for e in p[4]], sets=[x for p in parts for x in p[5]],
        skipped_rows=[int(i) for i in skipped])


def _recognize_piece(preprocessing, classifier, values, times, lo: int, hi: int, counting,
                     counting_options):
    """Rows, described rows, times, scores, events and sets of rows ``lo:hi`` (no gap)."""
    timesteps, offset = int(preprocessing.timesteps), int(preprocessing.label_offset)
    rate = float(preprocessing.sample_rate_hz)
    valid_rows = lo + np.flatnonzero(np.all(np.isfinite(values[lo:hi]), axis=1))
    if len(valid_rows) < timesteps:
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, len(preprocessing.classes)),
                                                              np.float32), [], []
    scale = np.asarray(preprocessing.scaler.scale_, dtype=np.float64)
    shift = np.asarray(preprocessing.scaler.offset_, dtype=np.float64)
    scaled = values[valid_rows] * scale + shift
    windows = np.lib.stride_tricks.sliding_window_view(scaled, timesteps, axis=0)
    windows = np.moveaxis(windows, -1, 1)  # (n_windows, timesteps, features)
    scores = np.asarray(classifier(windows), dtype=np.float32)
    rows = valid_rows[timesteps - 1:]
    described_rows = rows - offset
    # time of the described row; before the piece's first row, extrapolate at the rate
    described_times = np.where(described_rows >= lo, times[np.maximum(described_rows, lo)],
                               times[lo] + (described_rows - lo) / rate)
    signals = scaled[timesteps - 1 - offset:len(scaled) - offset]
    counter = make_counter(counting, tuple(preprocessing.classes), sample_rate_hz=rate,
                           **rest_options(preprocessing, counting_options))
    events = []
    for t, s, x in zip(described_times, scores, signals):
        events += counter.update(t, s, x)
    if offset:  # the rows after the last described one, which the counter may still use
        counter.extend(times[valid_rows[len(valid_rows) - offset:]], scaled[len(scaled) - offset:])
    events += counter.finish()
    return rows, described_rows, described_times, scores, events, list(counter.sets)
