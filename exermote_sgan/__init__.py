"""exermote_sgan: exercise recognition from wearable IMU recordings.

Preprocess raw recordings into windows, train a supervised baseline or a semi-supervised GAN,
evaluate on people the model never saw, export the classifier to Core ML, and recognise and
count repetitions on a stream of samples.

The public API is listed in ``__all__``.  Importing the package is cheap: TensorFlow is loaded
only when a name that needs it is first used, and importing changes nothing in the process:
:func:`filter_library_noise` (which the command line calls) is the opt-in that keeps
TensorFlow's and coremltools' known start-up noise out of a notebook's output.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use).  This is the whole public
# API, one name per step of the pipeline, each documented in docs/api.md; everything else is
# private to its room (tests/test_public_api.py holds the two lists together).
_PUBLIC = {
    "ExermoteInputError": ".errors",
    "filter_library_noise": "._quiet",
    # raw recordings -> windows
    "read_exermote_csv": ".recordings.readers",
    "PreprocessConfig": ".recordings.pipeline",
    "preprocess": ".recordings.pipeline",
    "WindowSet": ".data.windows_file",
    "save_windows": ".data.windows_file",
    "load_windows": ".data.windows_file",
    # training and evaluation
    "TrainConfig": ".training.config",
    "train": ".training.train_lib",
    "load_run": ".runs",
    "evaluate_classifier": ".training.evaluation",
    "compare": ".experiments.compare",
    "ensemble_runs": ".experiments.ensemble",
    "personalize": ".personalization.personalize",
    # on the phone
    "export_run": ".export.exporter",
    "StreamingRecognizer": ".inference.streaming",
    "count_repetitions": ".inference.counting",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'exermote_sgan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
