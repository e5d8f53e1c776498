"""Proof that an exported file computes what the Keras classifier computes.

The written file is read back from disk and evaluated in NumPy (Core ML does not run on Linux)
on real windows of the run's test subjects; its class probabilities are compared with the Keras
classifier's.  FP32 exports must agree to 1e-4 with every label equal, FP16 exports to 1e-2 with
at least 99.9% of labels equal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ExermoteInputError

__all__ = ["TOLERANCES", "Verification", "VerificationError", "compare_scores",
           "select_verification_windows", "keras_scores", "verify_mlpackage",
           "verify_app_model", "verify_tflite"]

#: precision -> (largest allowed |difference| of a probability, smallest label agreement)
TOLERANCES = {"fp32": (1e-4, 1.0), "fp16": (1e-2, 0.999)}
MLPACKAGE_CHUNK = 256


@dataclass(frozen=True)
class Verification:
    """How closely one exported file matches the Keras classifier."""

    artifact: str
    windows: int
    max_abs_diff: float
    label_agreement: float
    tolerance: float
    min_agreement: float
    #: windows whose exported label differs although Keras's top two classes are within
    #: 2 * max_abs_diff of each other: ties that rounding can flip, not a wrong graph
    near_tie_disagreements: int = 0

    @property
    def passed(self) -> bool:
        return (bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance
                and self.label_agreement >= self.min_agreement)

    def summary(self) -> str:
        verdict = "OK" if self.passed else "FAILED"
        text = (f"{verdict}: {self.artifact} on {self.windows} windows: max |difference| "
                f"{self.max_abs_diff:.3g} (limit {self.tolerance:g}), labels agree "
                f"{100 * self.label_agreement:.2f}% (need {100 * self.min_agreement:g}%)")
        if self.near_tie_disagreements:
            text += (f"; {self.near_tie_disagreements} differing label(s) at near-ties of "
                     "Keras's top two classes")
        return text

    def to_dict(self) -> dict:
        return {"artifact": self.artifact, "windows": self.windows,
                "max_abs_diff": self.max_abs_diff, "label_agreement": self.label_agreement,
                "tolerance": self.tolerance, "min_agreement": self.min_agreement,
                "near_tie_disagreements": self.near_tie_disagreements, "passed": self.passed}


class VerificationError(ExermoteInputError):
    """An exported file does not compute what the classifier computes."""


def compare_scores(artifact: str, exported: np.ndarray, expected: np.ndarray, *,
                   precision: str) -> Verification:
    """Max |difference| and label agreement of two ``(N, K)`` probability arrays."""
    tolerance, min_agreement = TOLERANCES[precision]
    exported = np.asarray(exported, np.float64).reshape(expected.shape)
    diff = float(np.max(np.abs(exported - expected))) if expected.size else 0.0
    if not np.all(np.isfinite(exported)):
        diff = float("inf")
    differ = exported.argmax(1) != expected.argmax(1)
    agreement = float(1.0 - np.mean(differ)) if len(expected) else 1.0
    near_ties = 0
    if differ.any() and expected.shape[1] > 1:
        top2 = np.sort(expected[differ], axis=1)[:, -2:]
        near_ties = int(np.sum(top2[:, 1] - top2[:, 0] <= 2 * diff))
    return Verification(str(artifact), int(len(expected)), diff, agreement, tolerance,
                        min_agreement, near_ties)


def select_verification_windows(preprocessing, *, windows_path=None, max_windows: int = 2000,
                                seed: int = 0) -> tuple[np.ndarray, str]:
    """RAW windows to verify on and a description of where they came from.

    Uses ``windows_path`` if given, else the run's ``windows_path``; keeps the run's
    ``test_subjects`` (or a random sample when it has none), at most ``max_windows``.
    """
    from ..data.windows_file import load_windows

    if int(max_windows) < 1:
        raise ExermoteInputError(f"max_windows must be at least 1, got {max_windows}")
    path = windows_path if windows_path is not None else preprocessing.extra.get("windows_path")
    if not path:
        raise ExermoteInputError("the run does not name its windows file (windows_path in "
                                 "preprocessing.json); pass --windows FILE to verify on")
    window_set = load_windows(path)
    if (window_set.timesteps != preprocessing.timesteps
            or not set(preprocessing.features) <= set(window_set.features)):
        raise ExermoteInputError(
            f"windows are {window_set.timesteps} steps of {list(window_set.features)}, the "
            f"classifier reads {preprocessing.timesteps} steps of {list(preprocessing.features)}",
            path=path)
    window_set = window_set.select_features(preprocessing.features, path=path)
    subjects = list(preprocessing.extra.get("test_subjects") or [])
    source = f"{Path(path).name}"
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


def verify_mlpackage(package_path, raw_windows: np.ndarray, expected: np.ndarray, *,
                     classes, precision: str) -> Verification:
    """Evaluate the saved ``.mlpackage`` on RAW windows and compare with ``expected``.

    The ``classLabel`` output must also name ``classes[argmax(scores)]`` for every window.
    """
    from .coreml_package import INPUT_NAME, LABEL_NAME, SCORES_NAME
    from .mil_evaluator import MILEvaluator, load_mil_program

    _, program = load_mil_program(package_path)
    evaluator = MILEvaluator(program)
    shape = program.functions["main"].inputs[INPUT_NAME].shape
    chunk = MLPACKAGE_CHUNK if not isinstance(shape[0], (int, np.integer)) else int(shape[0])
    scores, labels = [], []
    for start in range(0, len(raw_windows), chunk):
        batch = raw_windows[start:start + chunk]
        if len(batch) < chunk and isinstance(shape[0], (int, np.integer)):
            raise ExermoteInputError(f"{len(raw_windows)} windows do not fill batches of {chunk}")
        out = evaluator.evaluate({INPUT_NAME: batch})
        scores.append(np.asarray(out[SCORES_NAME], np.float64).reshape(len(batch), -1))
        labels.extend(np.atleast_1d(out[LABEL_NAME]).tolist())
    scores = np.concatenate(scores)
    result = compare_scores(Path(package_path).name, scores, expected, precision=precision)
    classes = list(classes)
    label_match = np.mean([lab == classes[k] for lab, k in zip(labels, scores.argmax(1))])
    if label_match < 1.0:  # the classLabel output must name the argmax of scores
        return replace(result, label_agreement=min(result.label_agreement, float(label_match)))
    return result


def verify_app_model(model_path, scaled_windows: np.ndarray, expected: np.ndarray, *,
                     precision: str = "fp32") -> Verification:
    """Evaluate the saved app ``.mlmodel`` the way the app feeds it ([T, 1, F] of SCALED values)."""
    import coremltools as ct

    from .nn_evaluator import NeuralNetworkEvaluator

    evaluator = NeuralNetworkEvaluator(ct.utils.load_spec(str(model_path)))
    sequence_first = np.transpose(np.asarray(scaled_windows, np.float64), (1, 0, 2))
    scores = evaluator.evaluate({"accelerations": sequence_first})["scores"]
    return compare_scores(Path(model_path).name, scores, expected, precision=precision)


def verify_tflite(model_path, raw_windows: np.ndarray, expected: np.ndarray) -> Verification:
    """Run the saved ``.tflite`` with the TFLite interpreter on RAW windows (FP32 limits)."""
    from .tflite import tflite_scores

    return compare_scores(Path(model_path).name, tflite_scores(model_path, raw_windows),
                          expected, precision="fp32")
