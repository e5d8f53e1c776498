"""How well detected sets and repetition counts match the labelled ones.

Matching: a detected set can only match a true set of the same exercise whose time span
overlaps its own; among those, the one-to-one assignment with the largest total overlap
(seconds) is chosen (Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`).

Scoring, per set:

- a matched pair has error ``|detected reps - true reps|``;
- a true set with no match (missed, or detected as another exercise) has error equal to its
  true count, as if 0 repetitions were counted;
- a detected set with no match (a false set) has error equal to its detected count.

``rep_mae`` is the sum of these errors divided by the number of true sets (the mean error
per true set, with false sets adding to the error but not to the count, so splitting a set
into many small false ones cannot dilute it); ``rep_mae_found`` is the mean error over
matched pairs only; ``exact_fraction`` is the fraction of true sets matched with exactly
the right count.  Per exercise, true sets count under their exercise and false sets under
their detected one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SetMatch:
    """One row of the comparison: a true set, a detected set, or a matched pair of both."""

    exercise: str
    true_repetitions: int | None  # None: a false set
    detected_repetitions: int | None  # None: a missed set
    true_span: tuple[float, float] | None = None
    detected_span: tuple[float, float] | None = None
    recording: str = ""

    @property
    def error(self) -> int:
        return abs((self.detected_repetitions or 0) - (self.true_repetitions or 0))

    @property
    def exact(self) -> bool:
        return (self.true_repetitions is not None and self.detected_repetitions is not None
                and self.error == 0)


def _overlap(a_start, a_end, b_start, b_end) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def match_sets(true_sets, detected_sets, *, recording: str = "") -> list[SetMatch]:
    """Pair detected with true sets (same exercise, overlapping, maximal total overlap)."""
    from scipy.optimize import linear_sum_assignment

    true_sets, detected_sets = list(true_sets), list(detected_sets)
    overlap = np.zeros((len(true_sets), len(detected_sets)))
    for i, t in enumerate(true_sets):
        for j, d in enumerate(detected_sets):
            if t.exercise == d.exercise:
                # a set spans at least one sample, so touching spans still overlap a little
                overlap[i, j] = _overlap(t.start, t.end + 0.1, d.start, d.end + 0.1)
    pairs = []
    if overlap.size:
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        pairs = [(i, j) for i, j in zip(rows, cols) if overlap[i, j] > 0]
    matched_true = {i for i, _ in pairs}
    matched_detected = {j for _, j in pairs}
    out = []
    for i, j in sorted(pairs):
        t, d = true_sets[i], detected_sets[j]
        out.append(SetMatch(t.exercise, t.repetitions, d.repetitions, (t.start, t.end),
                            (d.start, d.end), recording))
    for i, t in enumerate(true_sets):
        if i not in matched_true:
            out.append(SetMatch(t.exercise, t.repetitions, None, (t.start, t.end), None,
                                recording))
    for j, d in enumerate(detected_sets):
        if j not in matched_detected:
            out.append(SetMatch(d.exercise, None, d.repetitions, None, (d.start, d.end),
                                recording))
    return out


def _summary(matches, counted: bool = True) -> dict:
    true = [m for m in matches if m.true_repetitions is not None]
    found = [m for m in true if m.detected_repetitions is not None]
    false = [m for m in matches if m.true_repetitions is None]
    errors = [m.error for m in matches]
    return {
        "sets_true": len(true),
        "sets_detected": len(found) + len(false),
        "sets_found": len(found),
        "sets_missed": len(true) - len(found),
        "false_sets": len(false),
        "reps_true": int(sum(m.true_repetitions for m in true)),
        "reps_detected": int(sum(m.detected_repetitions or 0 for m in matches)),
        "rep_mae": (float(np.sum(errors)) / len(true)) if true and counted else None,
        "rep_mae_found": (float(np.mean([m.error for m in found]))
                          if found and counted else None),
        "exact_fraction": ((sum(m.exact for m in true) / len(true)) if true and counted
                           else None),
        "within_one_fraction": ((sum(m.detected_repetitions is not None and m.error <= 1
                                     for m in true) / len(true)) if true and counted else None),
    }


def summarize_matches(matches, *, exercises=None, counted: bool = True) -> dict:
    """``overall`` and ``per_exercise`` figures (see the module docstring) for a list of
    matches; without ``counted`` (no rest class, so no repetition counts) the repetition
    figures are None."""
    matches = list(matches)
    if exercises is None:
        exercises = sorted({m.exercise for m in matches})
    return {"overall": _summary(matches, counted),
            "per_exercise": {e: _summary([m for m in matches if m.exercise == e], counted)
                             for e in exercises}}


def evaluate_recordings(paths, preprocessing, classifier, *, counting: str = "period",
                        counting_options: dict | None = None, methods=None) -> dict:
    """Detected vs labelled sets on labelled recordings, for every counter.

    Files are read as the run's training files were.  A label the run does not know (not a
    class, not mapped to one) is refused.  With a rest class, true sets come from the Exermote
    labels (:func:`~exermote_sgan.inference.ground_truth.true_sets`); without one they are the
    runs of one label, detected sets are runs of one predicted class, and repetitions are not
    counted (their figures are None).  All counters count on the same predictions.  Returns
    ``overall``, ``per_exercise`` and ``sets`` (one row per match) for ``counting`` (with
    ``counting_options``), the same under ``app_rule``, the same for each of ``methods``
    (default: every counting method) under ``counters``, and the recordings and method names.
    """
    from .counting import COUNTING_METHODS
    from .ground_truth import check_labels, true_runs, true_sets
    from .recordings import align_features, predict_path

    methods = list(COUNTING_METHODS if methods is None else methods)
    methods = [counting] + [m for m in methods if m != counting]
    if "app" not in methods:
        methods.append("app")
    rest = getattr(preprocessing, "rest_class", "Break")
    reader = getattr(preprocessing, "reader", None) or {}
    label_map = reader.get("label_map", {"setBreak": "Break"})
    label_column = ((reader.get("columns") or {}).get("label") or "label"
                    if reader.get("format") == "generic" else "exerciseType")
    matches, names = {m: [] for m in methods}, []
    profile = (counting_options or {}).get("profile")  # the period counter's, for recounts
    for path in paths:
        for item in predict_path(path, preprocessing, classifier, counting=counting,
                                 counting_options=counting_options):
            mapped = check_labels(item.recording, classes=preprocessing.classes,
                                  label_map=label_map, column=label_column)
            truth = (true_runs(mapped, item.recording.timestamps) if rest is None
                     else true_sets(item.recording))
            name = item.recording.session_name
            names.append(name)
            values = align_features(item.recording, preprocessing)
            for method in methods:
                found = item.result.sets if method == counting else _recount(
                    preprocessing, item, values, method, profile)
                matches[method] += match_sets(truth, found, recording=name)
    counted = rest is not None
    exercises = [c for c in preprocessing.classes if c != rest]
    exercises += sorted({m.exercise for ms in matches.values() for m in ms} - set(exercises))
    counters = {m: {"counting": m, **summarize_matches(ms, exercises=exercises,
                                                       counted=counted), "sets": _rows(ms)}
                for m, ms in matches.items()}
    report = {"counting": counting, "recordings": names, "rest_class": rest,
              **{k: v for k, v in counters[counting].items() if k != "counting"}}
    report["app_rule"] = counters["app"]
    report["counters"] = counters
    return report


class _Replay:
    """Stands in for the classifier: the scores already computed, in order."""

    def __init__(self, scores):
        self.scores, self.at = scores, 0

    def __call__(self, windows):
        out = self.scores[self.at:self.at + len(windows)]
        self.at += len(windows)
        return out


def _recount(preprocessing, item, values, method: str, profile=None) -> list:
    """The sets ``method`` (with its defaults and the period ``profile``) finds on the
    predictions already made."""
    import warnings

    from .streaming import SkippedRowWarning, recognize_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedRowWarning)
        result = recognize_recording(preprocessing, _Replay(item.result.scores), values,
                                     times=item.recording.timestamps, counting=method,
                                     counting_options={"profile": profile} if profile else None)
    return result.sets


def _rows(matches) -> list[dict]:
    return [{"recording": m.recording, "exercise": m.exercise,
             "true_repetitions": m.true_repetitions,
             "detected_repetitions": m.detected_repetitions,
             "true_span": list(m.true_span) if m.true_span else None,
             "detected_span": list(m.detected_span) if m.detected_span else None,
             "error": m.error} for m in matches]
