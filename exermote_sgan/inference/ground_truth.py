"""The true sets and repetitions of a labelled recording in the Exermote format.

In the Exermote format a repetition is a run of ``firstHalf`` rows followed by
``secondHalf`` rows (``exerciseSubType``), and a set is the stretch of exercise between two
``setBreak`` runs: its repetitions and the short ``Break`` runs between them.  A set's
exercise is the ``exerciseType`` of its repetition rows, its repetition count the number of
``firstHalf`` runs, and its start and end the times of its first and last repetition row.

Without a rest class (recordings of one exercise each, or with no pauses labelled) the true
sets are the runs of one label (:func:`true_runs`), with no repetition count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import ExermoteInputError


SET_BREAK = "setBreak"
FIRST_HALF = "firstHalf"
SECOND_HALF = "secondHalf"


@dataclass(frozen=True)
class TrueSet:
    """One labelled set: its exercise, repetition count and time span (seconds)."""

    exercise: str
    repetitions: int
    start: float
    end: float
    repetition_starts: tuple[float, ...] = ()


def true_sets(recording) -> list[TrueSet]:
    """The labelled sets of a :class:`~exermote_sgan.recordings.readers.Recording`.

    Raises :class:`ExermoteInputError` when the recording has no ``exerciseSubType`` column,
    without which repetitions cannot be told apart.
    """
    if recording.sub_labels is None:
        raise ExermoteInputError("has no exerciseSubType column, which repetition counting "
                                 "needs as ground truth", path=recording.path,
                                 column="exerciseSubType")
    _check_sub_labels(recording)
    return true_sets_from_labels(recording.labels, recording.sub_labels, recording.timestamps,
                                 path=recording.path)


KNOWN_SUB_LABELS = (FIRST_HALF, SECOND_HALF, "Break", SET_BREAK)


def _check_sub_labels(recording) -> None:
    """Refuse sub-labels the Exermote format does not know, and exercise rows without any
    repetition sub-label: either would silently give fewer (or no) true sets."""
    sub = np.asarray(recording.sub_labels).astype(str)
    unknown = np.flatnonzero(~np.isin(sub, KNOWN_SUB_LABELS) & (sub != ""))
    if len(unknown):
        i = int(unknown[0])
        raise ExermoteInputError(
            f"unknown exerciseSubType {str(sub[i])!r} ({len(unknown)} row(s)); repetitions are "
            f"read from {', '.join(KNOWN_SUB_LABELS)}: fix the column, or evaluate recordings "
            f"labelled that way", path=recording.path, row=int(recording.file_rows[i]),
            column="exerciseSubType")
    labels = np.asarray(recording.labels).astype(str)
    exercise = np.flatnonzero(~np.isin(labels, ("Break", SET_BREAK, "")))
    if len(exercise) and not np.isin(sub, (FIRST_HALF, SECOND_HALF)).any():
        i = int(exercise[0])
        raise ExermoteInputError(
            f"has {len(exercise)} exercise row(s) but no {FIRST_HALF}/{SECOND_HALF} "
            f"exerciseSubType, so no repetition can be counted as ground truth; label the "
            f"repetitions' halves", path=recording.path, row=int(recording.file_rows[i]),
            column="exerciseSubType")


def true_sets_from_labels(labels, sub_labels, times, *, path=None) -> list[TrueSet]:
    """The labelled sets given row labels (``exerciseType``), sub-labels and times."""
    labels = np.asarray(labels).astype(str)
    sub_labels = np.asarray(sub_labels).astype(str)
    times = np.asarray(times, dtype=np.float64)
    if not len(labels) == len(sub_labels) == len(times):
        raise ValueError("labels, sub_labels and times must have the same length")
    in_repetition = np.isin(sub_labels, (FIRST_HALF, SECOND_HALF))
    # a set is a maximal stretch without setBreak rows that holds repetition rows
    separators = np.flatnonzero(labels == SET_BREAK)
    bounds = np.concatenate(([-1], separators, [len(labels)]))
    sets = []
    for lo, hi in zip(bounds[:-1] + 1, bounds[1:]):
        rows = np.arange(lo, hi)[in_repetition[lo:hi]]
        if len(rows) == 0:
            continue
        exercise, _ = Counter(labels[rows]).most_common(1)[0]
        first = rows[sub_labels[rows] == FIRST_HALF]
        # firstHalf runs: a firstHalf row not preceded by another firstHalf row
        run_starts = first[(first == lo) | (sub_labels[np.maximum(first - 1, 0)] != FIRST_HALF)]
        if len(run_starts) == 0:
            raise ExermoteInputError(
                f"the set of {exercise} rows starting at data row {rows[0] + 1} has "
                "secondHalf rows but no firstHalf run", path=path, column="exerciseSubType")
        sets.append(TrueSet(exercise=str(exercise), repetitions=int(len(run_starts)),
                            start=float(times[rows[0]]), end=float(times[rows[-1]]),
                            repetition_starts=tuple(float(t) for t in times[run_starts])))
    return sets


def check_labels(recording, *, classes, label_map, column: str = "label") -> np.ndarray:
    """The recording's labels mapped to ``classes``; an unknown label is refused.

    A label that is neither a class nor mapped to one would otherwise vanish from the true
    sets (a ``Pushup`` row inside a ``Situp`` set) or become an exercise the run cannot
    predict; the error names the file, row and label and says how to fix it.
    """
    labels = np.asarray(recording.labels).astype(str)
    if len(labels) and not any(labels):
        raise ExermoteInputError("has no labels, which evaluating sets needs as ground truth; "
                                 "give files with the label column the run was trained with",
                                 path=recording.path, column=column)
    out = labels.copy()
    for source, target in dict(label_map).items():
        out[labels == source] = target
    unknown = np.flatnonzero(~np.isin(out, np.asarray(list(classes), dtype=str)))
    if len(unknown):
        i = int(unknown[0])
        raise ExermoteInputError(
            f"unknown label {str(labels[i])!r} ({len(unknown)} row(s)); the run knows "
            f"{', '.join(classes)}: evaluate recordings of those classes, or retrain with the "
            f"label in --classes or mapped to a class with --label-map",
            path=recording.path, row=int(recording.file_rows[i]), column=column)
    return out


def true_runs(labels, times, *, rest_class: str | None = None) -> list[TrueSet]:
    """The runs of one label (``rest_class`` runs left out) as sets without a repetition
    count (0): the true sets of recordings without a rest class."""
    labels = np.asarray(labels).astype(str)
    times = np.asarray(times, dtype=np.float64)
    if len(labels) == 0:
        return []
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, len(labels)]
    return [TrueSet(exercise=str(labels[a]), repetitions=0, start=float(times[a]),
                    end=float(times[b - 1]))
            for a, b in zip(starts, stops) if labels[a] != rest_class]
