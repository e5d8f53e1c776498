"""A trained run over recording files: the step ``predict`` and ``evaluate-reps`` share.

Files are read as the run's training recordings were (its recorded reader settings: format,
columns, path pattern, duplicate-timestamp policy, rate; the Exermote format for runs from
before they were recorded), then checked against what the run saw in training: the sampling
rate, and values far outside the range its scaler was fitted on (a warning naming the row and
column, because the classifier's output means little there).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExermoteInputError
from .streaming import RecognitionResult, SkippedRowWarning, recognize_recording


#: a value is "far outside" the training range (the training rows' minimum to maximum, also
#: for a run scaled by quantiles) when, min-max scaled to it (training range = [0, 1]), it lies
#: below -FAR_OUTSIDE or above 1 + FAR_OUTSIDE: more than one whole training range beyond its
#: edge
FAR_OUTSIDE = 1.0


class OutOfTrainingRangeWarning(UserWarning):
    """Input values far outside what the run saw in training."""


@dataclass
class RecordingPrediction:
    """A recording and what the recogniser made of it."""

    recording: object  # exermote_sgan.recordings.readers.Recording
    result: RecognitionResult
    mid_stream_skipped: int
    warnings: list = field(default_factory=list)


def align_features(recording, preprocessing) -> np.ndarray:
    """The recording's values with columns in the run's feature order."""
    have = list(recording.features)
    missing = [f for f in preprocessing.features if f not in have]
    if missing:
        raise ExermoteInputError(f"has no feature {missing[0]!r}, which the run's classifier "
                                 f"needs (it reads {', '.join(preprocessing.features)})",
                                 path=recording.path, column=missing[0])
    return recording.values[:, [have.index(f) for f in preprocessing.features]]


def reading_columns(preprocessing, columns):
    """A copy of the run's ``preprocessing`` that reads recordings in the generic format with
    ``columns`` (a :class:`~exermote_sgan.recordings.readers.ColumnSpec`, ``--columns-file``) and
    the run's other reader settings (rate, gaps, value limits, resampling)."""
    from dataclasses import replace

    reader = {**(getattr(preprocessing, "reader", None) or {}), "format": "generic",
              "columns": columns.to_dict(), "duplicate_timestamps": columns.duplicate_timestamps}
    return replace(preprocessing, reader=reader)


def read_for_run(path, preprocessing, *, mirror: bool | None = None, columns=None) -> list:
    """The recordings of ``path`` read as the run's training files were, checked for rate and
    (per the run's reader) values beyond the absurd limit; resampled when training was.
    ``mirror`` overrides the run's mirroring rule (None: the rule decides by the path);
    ``columns`` (a :class:`~exermote_sgan.recordings.readers.ColumnSpec`, ``--columns-file``) reads
    the files in the generic format with these columns instead of the run's."""
    from ..recordings.cleaning import check_sampling_rate
    from ..recordings.pipeline import check_value_range, read_recordings

    if columns is not None:
        preprocessing = reading_columns(preprocessing, columns)
    reader = getattr(preprocessing, "reader", None) or {}
    recordings = read_recordings(path, reader=reader or None, for_prediction=True,
                                 mirror=mirror)
    out = []
    for recording in recordings:
        recording, _ = check_value_range(recording,
                                         max_abs_value=reader.get("max_abs_value", 1e6),
                                         policy=reader.get("out_of_range", "refuse"))
        rate = float(preprocessing.sample_rate_hz)
        if reader.get("resample"):
            recording = _resample(recording, rate)
        elif len(recording) > 1:
            check = check_sampling_rate(recording.timestamps, expected_rate_hz=rate,
                                        strict=False)
            tolerance = float(reader.get("rate_tolerance", 0.2))
            if abs(check.rate_hz - rate) > tolerance * rate:
                raise ExermoteInputError(
                    f"recorded at {check.rate_hz:.3g} Hz (median), but the run was trained on "
                    f"{rate:g} Hz recordings; resample the file to {rate:g} Hz or train a run "
                    f"on recordings at this rate", path=recording.path)
        out.append(recording)
    return out


def _resample(recording, rate_hz: float):
    """The recording on the exact grid at ``rate_hz``, by the resampling preprocessing used
    (:func:`~exermote_sgan.recordings.cleaning.resample_to_grid`); labels and rows from the nearest
    row."""
    from dataclasses import replace

    from ..recordings.cleaning import resample_to_grid

    first, values, nearest = resample_to_grid(recording.timestamps, recording.values,
                                              rate_hz=rate_hz)
    return replace(recording, values=values, labels=recording.labels[nearest],
                   sub_labels=None if recording.sub_labels is None
                   else recording.sub_labels[nearest],
                   timestamps=(first + np.arange(len(values))) / rate_hz,
                   file_rows=recording.file_rows[nearest])


def training_range_warning(recording, values: np.ndarray, preprocessing) -> str | None:
    """A one-line warning when ``values`` go far outside the run's training range (see
    :data:`FAR_OUTSIDE`), naming the first such row and column; None when they do not."""
    seen_min = np.asarray(preprocessing.scaler.seen_min_, dtype=np.float64)
    seen_max = np.asarray(preprocessing.scaler.seen_max_, dtype=np.float64)
    span = np.where(seen_max > seen_min, seen_max - seen_min, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (values - seen_min) / span
        far = np.isfinite(values) & ((scaled < -FAR_OUTSIDE) | (scaled > 1.0 + FAR_OUTSIDE))
    if not far.any():
        return None
    i, j = np.argwhere(far)[0]
    low, high = seen_min[j], seen_max[j]
    feature = preprocessing.features[j]
    return (f"{recording.path}, row {int(recording.file_rows[i])}, column {feature!r}: value "
            f"{values[i, j]:.6g} is far outside the range the run saw in training "
            f"[{low:.4g}, {high:.4g}] ({int(far.sum())} such value(s) in "
            f"{int(far.any(axis=1).sum())} row(s)); check the units and columns, or train on "
            f"recordings like these")


def predict_path(path, preprocessing, classifier, *, counting: str = "period",
                 counting_options: dict | None = None, mirror: bool | None = None,
                 columns=None) -> list[RecordingPrediction]:
    """Read a file as the run's training files were and recognise each of its recordings in
    batch mode (NaN rows skipped, counted); out-of-range input is reported in ``warnings``.
    ``mirror`` and ``columns``: see :func:`read_for_run`."""
    predictions = []
    for recording in read_for_run(path, preprocessing, mirror=mirror, columns=columns):
        values = align_features(recording, preprocessing)
        notes = [w for w in (training_range_warning(recording, values, preprocessing),) if w]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedRowWarning)  # counted and reported instead
            result = recognize_recording(preprocessing, classifier, values,
                                         times=recording.timestamps, counting=counting,
                                         counting_options=counting_options,
                                         path=recording.path)
        skipped = np.asarray(result.skipped_rows, dtype=np.int64)
        valid = np.flatnonzero(np.all(np.isfinite(values), axis=1))
        mid_stream = int(np.sum(skipped > valid[0])) if len(valid) else 0
        predictions.append(RecordingPrediction(recording, result, mid_stream, notes))
    return predictions


def predict_file(path, preprocessing, classifier, *, counting: str = "period",
                 counting_options: dict | None = None) -> RecordingPrediction:
    """:func:`predict_path` for a file holding one recording (the first when it holds more)."""
    return predict_path(path, preprocessing, classifier, counting=counting,
                        counting_options=counting_options)[0]
