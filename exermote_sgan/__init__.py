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

# public name -> module that defines it (imported on first use)
_PUBLIC = {
    "ExermoteInputError": ".errors",
    "NotFittedError": ".errors",
    "WindowSet": ".data.windows_file",
    "save_windows": ".data.windows_file",
    "load_windows": ".data.windows_file",
    "MinMaxScaler": ".data.scaler",
    "build_discriminator": ".models.networks",
    "build_generator": ".models.networks",
    "build_baseline": ".models.networks",
    "classifier_from_discriminator": ".models.networks",
    "preprocess": ".recordings.pipeline",
    "PreprocessConfig": ".recordings.pipeline",
    "read_exermote_csv": ".recordings.readers",
    "read_generic_csv": ".recordings.readers",
    "subject_split": ".data.splits",
    "leave_one_subject_out": ".data.splits",
    "validation_split": ".data.splits",
    "select_labeled": ".data.splits",
    "TrainConfig": ".training.config",
    "train": ".training.train_lib",
    "evaluate_classifier": ".training.evaluation",
    "compare": ".experiments.compare",
    "personalize": ".personalization.personalize",
    "ensemble_runs": ".experiments.ensemble",
    "export_run": ".export.exporter",
    "StreamingRecognizer": ".inference.streaming",
    "count_repetitions": ".inference.counting",
    "Preprocessing": ".runs",
    "TrainedRun": ".runs",
    "load_run": ".runs",
    "save_run": ".runs",
    "filter_library_noise": "._quiet",
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
