"""A trained run over recording files: the step ``predict`` and ``evaluate-reps`` share."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ExermoteInputError
from .streaming import RecognitionResult, SkippedRowWarning, recognize_recording

__all__ = ["RecordingPrediction", "predict_file", "align_features"]


@dataclass
class RecordingPrediction:
    """A recording and what the recogniser made of it."""

    recording: object  # exermote_sgan.data.readers.Recording
    result: RecognitionResult
    mid_stream_skipped: int


def align_features(recording, preprocessing) -> np.ndarray:
    """The recording's values with columns in the run's feature order."""
    have = list(recording.features)
    missing = [f for f in preprocessing.features if f not in have]
    if missing:
        raise ExermoteInputError(f"has no feature {missing[0]!r}, which the run's classifier "
                                 f"needs (it reads {', '.join(preprocessing.features)})",
                                 path=recording.path, column=missing[0])
    return recording.values[:, [have.index(f) for f in preprocessing.features]]


def predict_file(path, preprocessing, classifier, *, counting: str = "hysteresis",
                 counting_options: dict | None = None) -> RecordingPrediction:
    """Read an Exermote CSV and recognise it in batch mode (NaN rows skipped, counted)."""
    from ..data.readers import read_exermote_csv

    recording = read_exermote_csv(path)
    values = align_features(recording, preprocessing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedRowWarning)  # counted and reported instead
        result = recognize_recording(preprocessing, classifier, values,
                                     times=recording.timestamps, counting=counting,
                                     counting_options=counting_options, path=path)
    skipped = np.asarray(result.skipped_rows, dtype=np.int64)
    valid = np.flatnonzero(np.all(np.isfinite(values), axis=1))
    mid_stream = int(np.sum(skipped > valid[0])) if len(valid) else 0
    return RecordingPrediction(recording, result, mid_stream)
