"""Running the exported files in Core ML itself, where Core ML exists (macOS).

The NumPy evaluators check the bytes of a file on any machine; on a Mac the export also loads
each Core ML file with ``coremltools.models.MLModel`` (Apple's Core ML framework compiles and
runs it) and compares its predictions with Keras by the same rule
(:mod:`exermote_sgan.export.verify`).  Elsewhere :func:`coreml_runtime_status` says why it
cannot, in one line.  :func:`load_coreml_model` is the one place the runtime is touched, so
tests can stand in for it.
"""

from __future__ import annotations

import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np


def coreml_runtime_status() -> tuple[bool, str]:
    """``(True, "")`` when Core ML can run models here, else ``(False, why not)``."""
    if sys.platform != "darwin":
        return False, (f"Core ML runs only on macOS, this is {platform.system() or sys.platform}"
                       "; the files were checked with the NumPy evaluators only")
    try:
        from coremltools import libcoremlpython  # noqa: F401  (the runtime bridge)
    except ImportError as exc:
        return False, (f"this coremltools has no Core ML runtime ({exc}); the files were "
                       "checked with the NumPy evaluators only")
    return True, ""


def load_coreml_model(path):
    """Load a saved ``.mlpackage``/``.mlmodel`` into Core ML (compiles it; macOS only)."""
    import coremltools as ct

    return ct.models.MLModel(str(path))


def _under_its_name(staged: Path, name: str, scratch: Path) -> Path:
    """A copy of ``staged`` called ``name``: Core ML knows a model's kind by its extension."""
    target = scratch / name
    if staged.is_dir():
        shutil.copytree(staged, target)
    else:
        shutil.copyfile(staged, target)
    return target


def mlpackage_runtime_scores(staged, name: str, raw_windows: np.ndarray, *,
                             input_name: str) -> tuple[np.ndarray, list]:
    """Scores and ``classLabel`` of the ``.mlpackage`` run by Core ML, one window at a time."""
    from .coreml_package import LABEL_NAME, SCORES_NAME

    with tempfile.TemporaryDirectory() as scratch:
        model = load_coreml_model(_under_its_name(Path(staged), name, Path(scratch)))
        scores, labels = [], []
        for window in np.asarray(raw_windows, np.float32):
            out = model.predict({input_name: window[None]})
            scores.append(np.asarray(out[SCORES_NAME], np.float64).reshape(-1))
            labels.append(out[LABEL_NAME])
    return np.stack(scores), labels


def app_model_runtime_scores(staged, name: str, scaled_windows: np.ndarray) -> np.ndarray:
    """Scores of the app ``.mlmodel`` run by Core ML, fed as the app feeds it: ``[T, 1, F]``
    doubles and no LSTM states."""
    from .app_model import INPUT_NAME, SCORES_NAME

    with tempfile.TemporaryDirectory() as scratch:
        model = load_coreml_model(_under_its_name(Path(staged), name, Path(scratch)))
        scores = [np.asarray(model.predict({INPUT_NAME: window[:, None, :]})[SCORES_NAME],
                             np.float64).reshape(-1)
                  for window in np.asarray(scaled_windows, np.float64)]
    return np.stack(scores)
