"""Proof that an exported file computes what the Keras classifier computes.

The written file is read back from disk and evaluated in NumPy (the ``.mlpackage`` op by op at
its own precision, the ``.mlmodel`` layer by layer, the ``.tflite`` in the TFLite interpreter;
on a Mac also in Core ML itself, see :mod:`exermote_sgan.export.runtime`) on real windows of the
run's test subjects, and its class probabilities are compared with the Keras classifier's.

The rule, for ``N`` windows with Keras probabilities ``P`` and the file's probabilities ``Q``
(``N x K``):

1. **Graph** (FP16 ML Programs).  The saved program is also evaluated with its stored FP16
   weights but float32 arithmetic (:class:`~exermote_sgan.export.mil_evaluator.MILEvaluator`
   with ``exact=True``); that must match Keras to :data:`GRAPH_TOLERANCE` (1e-2).  Storing the
   constants in FP16 moved the probabilities by at most 8.1e-3 on 12 of the 13 trained runs of
   ``benchmarks/export_runs.py`` and by 0.042 on the 13th, a watch model so sensitive that its
   FP16 file is genuinely unfaithful (its FP32 export passes); a wrong graph (permuted LSTM
   gates, a reversed scaler, swapped class scores) moved them by 0.029-0.17 even in the barely
   trained model of ``tests/test_export.py``, whose outputs hardly vary.  So this part fails
   a wrong graph, and an FP16 file that does not represent the model; either way the FP32
   export is the test (:func:`exermote_sgan.export.exporter.export_run` names it as the fix).
   FP32 files are held to 1e-4 by rule 2 directly.
2. **Scores.**  ``max_abs_diff = max |Q - P|`` over all windows and classes, at the file's own
   precision, must be finite and at most :data:`TOLERANCES`: 1e-4 for FP32 files, 5e-2 for
   FP16 ML Programs (a bound on FP16 arithmetic over 40 LSTM steps that only a numeric
   breakdown, such as an overflow, exceeds; rule 1 is what catches wrong graphs).
3. **Labels.**  Where the file's most likely class ``j`` differs from Keras's ``i``, Keras's
   scores must be a near-tie within the numeric error measured on that file:
   ``P[n, i] - P[n, j] <= 2 * eps``, where ``eps`` is the largest ``|Q - P|`` over the windows
   whose labels agree.  Two probabilities each off by at most ``eps`` can swap their order only
   if they were within ``2 * eps`` of each other; a label that differs at a wider gap was
   computed wrongly, not rounded.  (``eps`` comes from the agreeing windows because a window's
   own error always covers its own flip.)  If no window's label agrees, the file fails.
4. **Label output.**  The ``.mlpackage``'s ``classLabel`` must name the class of the largest
   score for every window.

There is no quota of agreeing labels: any number of near-tie flips passes, one flip at a wide
gap fails.  :func:`compare_scores` applies rules 2 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ExermoteInputError


#: precision -> largest allowed |difference| of a class probability
TOLERANCES = {"fp32": 1e-4, "fp16": 5e-2}
#: largest allowed |difference| of an FP16 program evaluated in float32 arithmetic (rule 1)
GRAPH_TOLERANCE = 1e-2
MLPACKAGE_CHUNK = 256


@dataclass(frozen=True)
class Verification:
    """How closely one exported file matches the Keras classifier (see the module's rule)."""

    artifact: str
    windows: int
    max_abs_diff: float
    label_agreement: float
    tolerance: float
    #: windows whose label differs from Keras's
    differing_labels: int = 0
    #: of those, the ones at a near-tie of Keras's scores (gap <= near_tie_gap)
    near_tie_disagreements: int = 0
    #: 2 * the largest |difference| over the windows whose labels agree
    near_tie_gap: float = 0.0
    #: the widest Keras gap at which a label differs (0 when none differs)
    widest_flip_gap: float = 0.0
    #: the file's own label output names the argmax of its scores (always True without one)
    label_output_consistent: bool = True
    #: where the scores came from: "numpy" (the package's evaluators), "tflite", "coreml"
    evaluated_by: str = "numpy"
    #: FP16 programs: max |difference| with float32 arithmetic on the stored weights (rule 1)
    graph_max_abs_diff: float | None = None
    graph_tolerance: float = GRAPH_TOLERANCE

    @property
    def graph_ok(self) -> bool:
        """Rule 1 holds (or does not apply): any failure is numeric, not a wrong graph."""
        return self.graph_max_abs_diff is None or bool(
            np.isfinite(self.graph_max_abs_diff)
            and self.graph_max_abs_diff <= self.graph_tolerance)

    @property
    def passed(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """Why the file fails the rule (empty when it passes)."""
        found = []
        if not self.graph_ok:
            found.append(f"with its stored FP16 weights in float32 arithmetic it differs from "
                         f"Keras by {self.graph_max_abs_diff:.3g} (limit "
                         f"{self.graph_tolerance:g}): a wrong graph, or a model too sensitive "
                         "to its weights rounded to FP16")
        if not np.isfinite(self.max_abs_diff):
            found.append("scores are not finite")
        elif self.max_abs_diff > self.tolerance:
            found.append(f"max |difference| {self.max_abs_diff:.3g} exceeds {self.tolerance:g}")
        wide = self.differing_labels - self.near_tie_disagreements
        if wide:
            found.append(f"{wide} label(s) differ where Keras's scores are up to "
                         f"{self.widest_flip_gap:.3g} apart, more than the near-tie gap "
                         f"{self.near_tie_gap:.3g}")
        if not self.label_output_consistent:
            found.append("classLabel does not name the class of the largest score")
        return found

    def summary(self) -> str:
        verdict = "OK" if self.passed else "FAILED"
        text = (f"{verdict}: {self.artifact} ({self.evaluated_by}) on {self.windows} windows: "
                f"max |difference| {self.max_abs_diff:.3g} (limit {self.tolerance:g}), labels "
                f"agree {100 * self.label_agreement:.2f}%")
        if self.graph_max_abs_diff is not None:
            text += (f"; in float32 arithmetic {self.graph_max_abs_diff:.3g} (limit "
                     f"{self.graph_tolerance:g})")
        if self.differing_labels:
            text += (f"; {self.near_tie_disagreements} of {self.differing_labels} differing "
                     f"label(s) at near-ties (Keras gap <= {self.near_tie_gap:.3g})")
        problems = self.problems()
        return text + (f" [{'; '.join(problems)}]" if problems else "")

    def to_dict(self) -> dict:
        return {"artifact": self.artifact, "windows": self.windows,
                "evaluated_by": self.evaluated_by, "max_abs_diff": self.max_abs_diff,
                "label_agreement": self.label_agreement, "tolerance": self.tolerance,
                "differing_labels": self.differing_labels,
                "near_tie_disagreements": self.near_tie_disagreements,
                "near_tie_gap": self.near_tie_gap, "widest_flip_gap": self.widest_flip_gap,
                "label_output_consistent": self.label_output_consistent,
                "graph_max_abs_diff": self.graph_max_abs_diff,
                "graph_tolerance": self.graph_tolerance,
                "passed": self.passed, "problems": self.problems()}


class VerificationError(ExermoteInputError):
    """An exported file does not compute what the classifier computes.

    ``report`` is the :class:`~exermote_sgan.export.exporter.ExportReport` of the export (the
    files that passed were written) when the error comes from :func:`export_run`.
    """

    report = None


def compare_scores(artifact: str, exported: np.ndarray, expected: np.ndarray, *,
                   precision: str, evaluated_by: str = "numpy") -> Verification:
    """Apply the module's rule to two ``(N, K)`` probability arrays (exported, Keras)."""
    tolerance = TOLERANCES[precision]
    expected = np.asarray(expected, np.float64)
    exported = np.asarray(exported, np.float64).reshape(expected.shape)
    n = len(expected)
    if n == 0:
        return Verification(str(artifact), 0, 0.0, 1.0, tolerance, evaluated_by=evaluated_by)
    errors = np.abs(exported - expected).max(axis=1)
    if not np.all(np.isfinite(exported)):
        errors = np.where(np.isfinite(exported).all(axis=1), errors, np.inf)
    keras_label, file_label = expected.argmax(1), exported.argmax(1)
    differ = keras_label != file_label
    agree_errors = errors[~differ]
    eps = float(agree_errors.max()) if agree_errors.size else 0.0
    near_tie_gap = 2.0 * eps
    gaps = (expected[differ, keras_label[differ]] - expected[differ, file_label[differ]])
    near = int(np.sum(gaps <= near_tie_gap)) if agree_errors.size else 0
    return Verification(str(artifact), int(n), float(errors.max()), float(1.0 - differ.mean()),
                        tolerance, differing_labels=int(differ.sum()),
                        near_tie_disagreements=near, near_tie_gap=near_tie_gap,
                        widest_flip_gap=float(gaps.max()) if gaps.size else 0.0,
                        evaluated_by=evaluated_by)


def select_verification_windows(preprocessing, *, windows_path=None, max_windows: int = 2000,
                                seed: int = 0, run_dir=None) -> tuple[np.ndarray, str]:
    """RAW windows to verify on and a description of where they came from.

    Uses ``windows_path`` if given, else the run's ``windows_path`` (refused, naming the fix,
    when that file was replaced since the run was trained: its content hash differs); keeps the
    run's ``test_subjects`` (or a random sample when it has none), at most ``max_windows``.
    ``run_dir`` only names the run in messages.
    """
    from ..data.windows_file import load_windows
    from ..runs import check_windows_unchanged, windows_status

    if int(max_windows) < 1:
        raise ExermoteInputError(f"max_windows must be at least 1, got {max_windows}")
    provenance = preprocessing.provenance
    path = windows_path if windows_path is not None else provenance.windows_path
    if not path:
        raise ExermoteInputError("the run does not name its windows file (windows_path in "
                                 "preprocessing.json); pass --windows FILE to verify on")
    if windows_path is None:
        check_windows_unchanged(run_dir or "the run", provenance, path,
                                fix="pass the file it was trained on with --windows FILE, or "
                                    "retrain the run on this one")
        foreign = ""
    else:
        foreign = (" (not the windows the run was trained on)"
                   if windows_status(provenance, path) in ("changed", "other") else "")
    window_set = load_windows(path)
    if (window_set.timesteps != preprocessing.timesteps
            or not set(preprocessing.features) <= set(window_set.features)):
        raise ExermoteInputError(
            f"windows are {window_set.timesteps} steps of {list(window_set.features)}, the "
            f"classifier reads {preprocessing.timesteps} steps of {list(preprocessing.features)}",
            path=path)
    window_set = window_set.select_features(preprocessing.features, path=path)
    subjects = list(provenance.test_subjects or [])
    source = f"{Path(path).name}{foreign}"
    if subjects:
        mask = np.isin(window_set.subjects, np.asarray(subjects, dtype=np.int64))
        if mask.any():
            window_set = window_set.subset(np.flatnonzero(mask))
            source += f", test subjects {subjects}"
        else:
            source += f" (none of the test subjects {subjects} present: all windows)"
    if len(window_set) == 0:
        raise ExermoteInputError("no windows to verify on", path=path)
    index = np.arange(len(window_set))
    if len(index) > max_windows:
        index = np.sort(np.random.default_rng(seed).choice(index, max_windows, replace=False))
        source += f", random sample of {max_windows} of {len(window_set)}"
    return np.asarray(window_set.windows[index], np.float32), source


def keras_scores(classifier, scaled: np.ndarray) -> np.ndarray:
    """The Keras classifier's probabilities for SCALED windows, in float64."""
    return np.asarray(classifier.predict(scaled, batch_size=256, verbose=0), np.float64)


def mlpackage_scores(package_path, raw_windows: np.ndarray, *,
                     exact: bool = False) -> tuple[np.ndarray, list]:
    """Scores ``(N, K)`` and ``classLabel`` values of the saved ``.mlpackage`` on RAW windows.

    Evaluated by :class:`~exermote_sgan.export.mil_evaluator.MILEvaluator` (``exact``: in
    float32 arithmetic) in batches (one window at a time when the package's batch is 1).
    """
    from .coreml_package import LABEL_NAME, SCORES_NAME
    from .mil_evaluator import MILEvaluator, load_mil_program

    spec, program = load_mil_program(package_path)
    input_name = spec.description.input[0].name
    evaluator = MILEvaluator(program, exact=exact)
    shape = program.functions["main"].inputs[input_name].shape
    fixed = isinstance(shape[0], (int, np.integer))
    chunk = int(shape[0]) if fixed else MLPACKAGE_CHUNK
    scores, labels = [], []
    for start in range(0, len(raw_windows), chunk):
        batch = raw_windows[start:start + chunk]
        if len(batch) < chunk and fixed:
            raise ExermoteInputError(f"{len(raw_windows)} windows do not fill batches of {chunk}")
        out = evaluator.evaluate({input_name: batch})
        scores.append(np.asarray(out[SCORES_NAME], np.float64).reshape(len(batch), -1))
        labels.extend(np.atleast_1d(out[LABEL_NAME]).tolist())
    return np.concatenate(scores), labels


def labels_consistent(scores: np.ndarray, labels, classes) -> bool:
    """Whether each label output names ``classes[argmax(scores)]`` of its own window."""
    classes = list(classes)
    return all(label == classes[k] for label, k in zip(labels, np.asarray(scores).argmax(1)))


def verify_mlpackage(package_path, raw_windows: np.ndarray, expected: np.ndarray, *,
                     classes, precision: str) -> Verification:
    """Evaluate the saved ``.mlpackage`` on RAW windows and compare with ``expected``.

    The ``classLabel`` output must also name ``classes[argmax(scores)]`` for every window; an
    FP16 program is also evaluated in float32 arithmetic (rule 1 of the module docstring).
    """
    scores, labels = mlpackage_scores(package_path, raw_windows)
    result = compare_scores(Path(package_path).name, scores, expected, precision=precision)
    result = replace(result,
                     label_output_consistent=labels_consistent(scores, labels, classes))
    if precision == "fp16":
        exact, _ = mlpackage_scores(package_path, raw_windows, exact=True)
        graph = np.abs(exact - np.asarray(expected, np.float64)).max() if len(exact) else 0.0
        result = replace(result, graph_max_abs_diff=float(graph))
    return result


def app_model_scores(model_path, scaled_windows: np.ndarray) -> np.ndarray:
    """Scores of the saved app ``.mlmodel`` fed as the app feeds it ([T, 1, F] SCALED values)."""
    import coremltools as ct

    from .nn_evaluator import NeuralNetworkEvaluator

    spec = ct.utils.load_spec(str(model_path))
    evaluator = NeuralNetworkEvaluator(spec)
    sequence_first = np.transpose(np.asarray(scaled_windows, np.float64), (1, 0, 2))
    return evaluator.evaluate({spec.description.input[0].name: sequence_first})["scores"]


def verify_app_model(model_path, scaled_windows: np.ndarray, expected: np.ndarray, *,
                     precision: str = "fp32") -> Verification:
    """Evaluate the saved app ``.mlmodel`` the way the app feeds it and compare with Keras."""
    return compare_scores(Path(model_path).name, app_model_scores(model_path, scaled_windows),
                          expected, precision=precision)


def verify_tflite(model_path, raw_windows: np.ndarray, expected: np.ndarray) -> Verification:
    """Run the saved ``.tflite`` with the TFLite interpreter on RAW windows (FP32 limits)."""
    from .tflite import tflite_scores

    return compare_scores(Path(model_path).name, tflite_scores(model_path, raw_windows),
                          expected, precision="fp32", evaluated_by="tflite")
