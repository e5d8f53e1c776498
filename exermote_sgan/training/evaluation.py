"""How well a trained classifier recognises exercises in windows it did not train on.

The figures (accuracy, macro F1, per-class precision/recall/F1, confusion matrix, accuracy per
subject) come from :mod:`sklearn.metrics` with every class of the run listed, so a class absent
from the evaluated windows still appears with support 0.  Everything returned is plain JSON
(lists, dicts, floats, ints) so it can be written to ``metrics.json`` as is.

Besides, the errors are split into *timing errors*, which place the boundary between two
activities a fraction of a second early or late, and the rest, which mistake one activity for
another (see :func:`timing_errors`): the labels of a guided recording change every second or
two within a set, so a classifier that is right about every activity but 0.2 s late on every
boundary already loses about 5 % of the windows.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExermoteInputError


#: how far (in seconds) from a window's labelled row its predicted class may be the true one for
#: the error to count as a timing error: two rows at the Exermote rate of 10 Hz
DEFAULT_TOLERANCE_S = 0.2


def windows_for_run(preprocessing, window_set, *, path=None):
    """``window_set`` with the run's features, in the run's order, ready for its classifier.

    The windows may hold more features than the run read (a run trained on the nine vector
    features evaluates on a file of all 12).  Raises :class:`ExermoteInputError` unless the
    classes and timesteps are the run's and every feature the run read is there.
    """
    checks = (
        ("classes", tuple(preprocessing.classes), tuple(window_set.classes)),
        ("timesteps", int(preprocessing.timesteps), int(window_set.timesteps)),
    )
    missing = [f for f in preprocessing.features if f not in window_set.features]
    if missing:
        checks += (("features", tuple(preprocessing.features), tuple(window_set.features)),)
    for name, expected, found in checks:
        if expected != found:
            raise ExermoteInputError(
                f"windows have {name} {_short(found)}, but the run was trained on {name} "
                f"{_short(expected)}; preprocess the recordings with the run's settings",
                path=path, column=name)
    return window_set.select_features(preprocessing.features, path=path)


def _short(value) -> str:
    if isinstance(value, tuple) and len(value) > 6:
        return f"[{', '.join(map(str, value[:6]))}, ... ({len(value)} in all)]"
    return str(list(value)) if isinstance(value, tuple) else str(value)


def select_subjects(window_set, subjects=None, *, path=None):
    """The windows of ``subjects`` (all windows for ``None``); error on an unknown subject."""
    if subjects is None:
        selected = window_set
    else:
        from ..data.windows_file import check_subjects

        wanted = [int(s) for s in subjects]
        check_subjects(wanted, np.unique(window_set.subjects), path=path)
        selected = window_set.subset(np.isin(window_set.subjects, wanted))
    if len(selected) == 0:
        raise ExermoteInputError("no windows to evaluate", path=path)
    return selected


#: at most this many batches of windows are gathered, scaled and predicted at a time by
#: :func:`predict_labels`, and fewer when that would exceed :data:`PREDICT_CHUNK_BYTES`
PREDICT_CHUNK_BATCHES = 64
PREDICT_CHUNK_BYTES = 16 * 2**20


def predict_labels(classifier, preprocessing, windows, *, batch_size: int = 512) -> np.ndarray:
    """Class index per raw-unit window ``(N, timesteps, features)``: scale, predict, argmax.

    ``windows`` may be an array or a :class:`~exermote_sgan.data.windows_file.RowWindows`
    view: they are gathered and scaled a few batches at a time (:data:`PREDICT_CHUNK_BATCHES`,
    :data:`PREDICT_CHUNK_BYTES`), so memory does not grow with N (the batches, and so the scores, are those of one ``predict``
    over all the windows).
    """
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"predict_labels: batch_size must be at least 1, got {batch_size}")
    num_classes = len(preprocessing.classes)
    window_bytes = 4 * int(np.prod(np.shape(windows)[1:])) or 1
    batches = max(1, min(PREDICT_CHUNK_BATCHES,
                         PREDICT_CHUNK_BYTES // (window_bytes * batch_size)))
    chunk = batch_size * batches  # whole batches: the batches of one predict over all
    predicted = []
    for lo in range(0, max(len(windows), 1), chunk):
        raw = np.asarray(windows[lo:lo + chunk], dtype=np.float32)
        scores = classifier.predict(preprocessing.scaler.transform(raw), batch_size=batch_size,
                                    verbose=0)
        if isinstance(scores, dict):  # a discriminator-style model: take its class scores
            scores = scores["scores"]
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[1] < num_classes:
            raise ExermoteInputError(f"classifier returned scores of shape {scores.shape}, "
                                     f"expected (N, {num_classes})")
        predicted.append(np.argmax(scores[:, :num_classes], axis=1))
        release = getattr(windows, "release_pages", None)
        if release is not None:  # memory-mapped rows read for this chunk
            release()
    return np.concatenate(predicted)


def metrics_from_predictions(y_true, y_pred, *, classes, subjects=None) -> dict:
    """Accuracy, macro F1, per-class figures, confusion matrix and per-subject accuracy."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"metrics_from_predictions: y_true {y_true.shape} and y_pred "
                         f"{y_pred.shape} must be 1-D arrays of equal length")
    if len(y_true) == 0:
        raise ExermoteInputError("no windows to evaluate")
    classes = [str(c) for c in classes]
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    # Macro F1 over the classes that occur in the truth or the predictions (sklearn's default for
    # f1_score(average="macro")): a class absent from both is not counted as a failure.
    occurring = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    _, _, macro_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=occurring, average="macro", zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(macro_f1),
        "per_class": {
            name: {"precision": float(precision[k]), "recall": float(recall[k]),
                   "f1": float(f1[k]), "support": int(support[k])}
            for k, name in enumerate(classes)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": classes,
        "per_subject": {},
        "n_windows": int(len(y_true)),
    }
    if subjects is not None:
        subjects = np.asarray(subjects)
        if subjects.shape != y_true.shape:
            raise ValueError("metrics_from_predictions: subjects must have one entry per window")
        metrics["per_subject"] = {
            str(int(s)): float(np.mean(y_true[subjects == s] == y_pred[subjects == s]))
            for s in np.unique(subjects)}
    return metrics


def timing_errors(y_true, y_pred, *, sessions, rows, tolerance_rows: int) -> np.ndarray:
    """Which windows are timing errors: wrong, but labelled at most ``tolerance_rows`` rows
    from a window of the same session whose true class is the predicted one.

    Such an error puts a boundary between two activities a little early or late (Ward et al.,
    2011, call these overfill and underfill) instead of mistaking one activity for another.
    ``rows`` is each window's position in its session (``end_index``: windows of a file share
    one label offset, so distances between labelled rows are distances between end rows); only
    the windows given count as neighbours, and windows of different sessions never do.
    Returns a boolean array in the order of ``y_true``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    sessions = np.asarray(sessions, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if not (y_true.ndim == 1 and y_true.shape == y_pred.shape == sessions.shape == rows.shape):
        raise ValueError(f"timing_errors: y_true {y_true.shape}, y_pred {y_pred.shape}, "
                         f"sessions {sessions.shape} and rows {rows.shape} must be 1-D arrays "
                         "of equal length")
    if isinstance(tolerance_rows, bool) or int(tolerance_rows) != tolerance_rows \
            or tolerance_rows < 0:
        raise ValueError(f"timing_errors: tolerance_rows must be a whole number >= 0, got "
                         f"{tolerance_rows!r}")
    if len(y_true) == 0:
        return np.zeros(0, dtype=bool)
    tolerance = int(tolerance_rows)
    order = np.lexsort((rows, sessions))
    true, pred = y_true[order], y_pred[order]
    # one sorted key per window; sessions lie further apart than any tolerance
    stride = int(rows.max() - rows.min()) + 2 * tolerance + 1
    key = (sessions[order] - sessions.min()) * stride + (rows[order] - rows.min())
    first = np.searchsorted(key, key - tolerance, side="left")
    last = np.searchsorted(key, key + tolerance, side="right")
    num_classes = int(max(true.max(), pred.max())) + 1
    # counts[i, c]: windows of true class c among the first i windows in sorted order
    count_type = np.int32 if len(true) < 2**31 else np.int64  # half the memory at scale
    counts = np.zeros((len(true) + 1, num_classes), dtype=count_type)
    np.cumsum(np.eye(num_classes, dtype=count_type)[true], axis=0, out=counts[1:])
    nearby = counts[last, pred] > counts[first, pred]
    result = np.empty(len(true), dtype=bool)
    result[order] = (pred != true) & nearby
    return result


def check_tolerance(tolerance_s) -> float:
    """``tolerance_s`` as a float; :class:`ExermoteInputError` unless a number of seconds >= 0."""
    try:
        value = float(tolerance_s)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(tolerance_s, bool) or not np.isfinite(value) or value < 0:
        raise ExermoteInputError(f"the timing tolerance must be a number of seconds >= 0, got "
                                 f"{tolerance_s!r}", option="tolerance")
    return value


def timing_summary(y_true, y_pred, *, sessions, rows, sample_rate_hz: float,
                   tolerance_s: float = DEFAULT_TOLERANCE_S) -> dict:
    """``{"tolerance_s", "errors", "timing_errors", "accuracy_within_tolerance"}``: how many of
    the errors are timing errors (:func:`timing_errors`) at ``tolerance_s`` seconds, and the
    accuracy when those count as right."""
    tolerance_s = check_tolerance(tolerance_s)
    timing = timing_errors(y_true, y_pred, sessions=sessions, rows=rows,
                           tolerance_rows=int(round(tolerance_s * float(sample_rate_hz))))
    errors = int(np.count_nonzero(np.asarray(y_true) != np.asarray(y_pred)))
    n = len(timing)
    return {"tolerance_s": tolerance_s, "errors": errors,
            "timing_errors": int(np.count_nonzero(timing)),
            "accuracy_within_tolerance": float((n - errors + np.count_nonzero(timing)) / n)
            if n else 0.0}


def _check_argument_types(preprocessing, window_set, subjects) -> None:
    """A path where windows belong, a dict where a Preprocessing belongs, one subject where a
    list belongs: one ExermoteInputError naming the argument and the fix."""
    from ..data.windows_file import WindowSet
    from ..errors import as_sequence, require
    from ..runs import Preprocessing

    require(preprocessing, Preprocessing, option="preprocessing",
            fix="pass load_run(RUN_DIR).preprocessing")
    require(window_set, WindowSet, option="window_set", fix="pass load_windows(PATH)")
    if subjects is not None:
        as_sequence(subjects, option="subjects", example="[4]")


def evaluate_classifier(classifier, preprocessing, window_set, *, subjects=None,
                        batch_size: int = 512, tolerance_s: float = DEFAULT_TOLERANCE_S,
                        path=None) -> dict:
    """Evaluate ``classifier`` (a Keras model on scaled windows) on raw-unit ``window_set``.

    ``preprocessing`` is the run's :class:`~exermote_sgan.runs.Preprocessing`; its scaler maps
    the raw windows to what the classifier expects.  ``subjects`` restricts the evaluation to
    those subjects' windows.  ``path`` (the windows file) only serves error messages.  Returns
    the JSON-serialisable dict described in :func:`metrics_from_predictions`, with ``timing``
    (:func:`timing_summary` at ``tolerance_s`` seconds) added.
    """
    _check_argument_types(preprocessing, window_set, subjects)
    tolerance_s = check_tolerance(tolerance_s)
    window_set = windows_for_run(preprocessing, window_set, path=path)
    selected = select_subjects(window_set, subjects, path=path)
    y_pred = predict_labels(classifier, preprocessing, selected.windows, batch_size=batch_size)
    metrics = metrics_from_predictions(selected.labels, y_pred, classes=preprocessing.classes,
                                       subjects=selected.subjects)
    metrics["timing"] = timing_summary(selected.labels, y_pred, sessions=selected.sessions,
                                       rows=selected.end_index,
                                       sample_rate_hz=selected.sample_rate_hz,
                                       tolerance_s=tolerance_s)
    return metrics


def format_metrics_table(metrics: dict) -> str:
    """A plain-text report of a metrics dict: summary, per-class table, confusion matrix."""
    classes = list(metrics["classes"])
    width = max([len("macro avg"), len("true \\ pred")] + [len(c) for c in classes]) + 2
    lines = [f"windows: {metrics['n_windows']}    accuracy: {metrics['accuracy']:.3f}    "
             f"macro F1: {metrics['macro_f1']:.3f}", ""]
    lines.append(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for name in classes:
        row = metrics["per_class"][name]
        lines.append(f"{name:<{width}}{row['precision']:>10.3f}{row['recall']:>10.3f}"
                     f"{row['f1']:>10.3f}{row['support']:>10d}")
    lines.append("")
    cell = max(8, max(len(c) for c in classes) + 2)
    lines.append("confusion matrix (rows: true class, columns: predicted class)")
    corner = "true \\ pred"
    lines.append(f"{corner:<{width}}" + "".join(f"{c:>{cell}}" for c in classes))
    for name, row in zip(classes, metrics["confusion_matrix"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
    timing = metrics.get("timing")
    if timing and timing["errors"]:
        lines.append("")
        lines.append(f"errors: {timing['errors']}, of which {timing['timing_errors']} are timing "
                     f"errors (the predicted class is the true one within "
                     f"{timing['tolerance_s']:g} s); counting those as right, accuracy "
                     f"{timing['accuracy_within_tolerance']:.3f}")
    if metrics.get("per_subject"):
        lines.append("")
        lines.append("accuracy per subject: " + ", ".join(
            f"{s}: {acc:.3f}" for s, acc in sorted(metrics["per_subject"].items(),
                                                    key=lambda kv: int(kv[0]))))
    return "\n".join(lines)
