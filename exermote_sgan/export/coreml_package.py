"""The ``.mlpackage``: an ML Program classifier that takes RAW sensor values.

Interface: one input float32 ``(1, timesteps, features)`` (or a flexible batch) in raw sensor
units, named ``accelerations`` when the features are Core Motion values (as in the Exermote
app) and ``sensorWindow`` otherwise (:mod:`exermote_sgan.export.naming`); the training scaler
is the model's first two ops.  Outputs ``scores`` (class probabilities in the class order of
the run), ``classLabel`` (the most likely class) and ``classProbabilities`` (the same
probabilities keyed by class name, as Core ML classifiers report them).  Author, licence,
version, a truthful summary and descriptions of every input and output are set; the run's
preprocessing facts and test metrics travel in the user-defined metadata.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._quiet import no_converter_progress_bars
from ..atomic import atomic_output
from .weights import ClassifierWeights


SCORES_NAME = "scores"
LABEL_NAME = "classLabel"
PROBABILITIES_NAME = "classProbabilities"
PRECISIONS = ("fp16", "fp32")
TARGETS = ("iOS15", "iOS16", "iOS17", "iOS18", "macOS12", "macOS13", "macOS14", "macOS15",
           "watchOS8", "watchOS9", "watchOS10", "watchOS11")
MAX_FLEXIBLE_BATCH = 4096
_CLASSIFIER_INPUT = "probabilities"


@dataclass(frozen=True)
class PackageOptions:
    """How the ML Program is built and described."""

    precision: str = "fp16"
    target: str = "iOS15"
    flexible_batch: bool = False
    author: str = ""
    license: str = ""
    short_description: str = ""
    version: str = ""

    def __post_init__(self):
        for name in ("author", "license", "short_description", "version"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be text, got {getattr(self, name)!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")


def default_author() -> str:
    from .. import __version__

    return f"exported with exermote_sgan {__version__} (set the author with --author)"


def default_license() -> str:
    return "not stated (set the licence with --license)"


def default_version() -> str:
    from .. import __version__

    return f"exermote_sgan {__version__}"


def _user_metadata(preprocessing, metrics: dict | None) -> dict[str, str]:
    def js(value) -> str:
        return json.dumps(value)

    entries = {
        "features": js(list(preprocessing.features)),
        "classes": js(list(preprocessing.classes)),
        "timesteps": str(int(preprocessing.timesteps)),
        "sample_rate_hz": repr(float(preprocessing.sample_rate_hz)),
        "label_offset": str(int(preprocessing.label_offset)),
        "model": str(preprocessing.model),
        "training_command": str(preprocessing.training_command),
        "input_units": "raw (the training scaler is part of the model)",
        "scaler_scale": js([float(v) for v in preprocessing.scaler.scale_]),
        "scaler_offset": js([float(v) for v in preprocessing.scaler.offset_]),
    }
    if preprocessing.provenance.test_subjects is not None:
        entries["test_subjects"] = js(list(preprocessing.provenance.test_subjects))
    if metrics:
        entries["test_metrics"] = js(metrics)
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                entries[f"test_{key}"] = repr(value)
    return entries


def build_mlpackage(weights: ClassifierWeights, preprocessing, *, metrics: dict | None = None,
                    options: PackageOptions = PackageOptions()):
    """Convert the classifier (with its scaler in front) to an in-memory ``ct.models.MLModel``."""
    with no_converter_progress_bars():
        return _build_mlpackage(weights, preprocessing, metrics=metrics, options=options)


def _build_mlpackage(weights: ClassifierWeights, preprocessing, *, metrics, options):
    import coremltools as ct
    import tensorflow as tf
    from coremltools.converters.mil import Builder as mb

    from .naming import input_name
    from .tf_graph import inference_function

    window_input = input_name(preprocessing.features)
    batch = None if options.flexible_batch else 1
    function = inference_function(weights, preprocessing.scaler, batch_size=batch,
                                  input_name=window_input)
    batch_dim = ct.RangeDim(1, MAX_FLEXIBLE_BATCH, 1) if options.flexible_batch else 1
    target = getattr(ct.target, options.target)
    # Two steps, because coremltools 9 fails to add a classifier to an FP16 program for
    # targets from iOS 16 on (its output types no longer line up with the classifier's
    # outputs): first the optimised program with float32 input and output, then the
    # classifier on top of it, converted without further passes.
    program = ct.convert(
        [function], source="tensorflow", convert_to="milinternal",
        inputs=[ct.TensorType(name=window_input, dtype=np.float32,
                              shape=(batch_dim, weights.timesteps, weights.features))],
        outputs=[ct.TensorType(name=function.outputs[0].name.split(":")[0],
                               dtype=np.float32)],
        compute_precision=(ct.precision.FLOAT16 if options.precision == "fp16"
                           else ct.precision.FLOAT32),
        minimum_deployment_target=target)
    main = program.functions["main"]
    (probabilities,) = main.outputs
    with main:
        scores = mb.identity(x=probabilities, name=SCORES_NAME)
        for_classifier = mb.identity(x=probabilities, name=_CLASSIFIER_INPUT)
    main.set_outputs([scores, for_classifier])
    main.output_types = None
    model = ct.convert(
        program, convert_to="mlprogram", minimum_deployment_target=target,
        compute_precision=ct.precision.FLOAT32, pass_pipeline=ct.PassPipeline.EMPTY,
        classifier_config=ct.ClassifierConfig(list(preprocessing.classes),
                                              predicted_feature_name=LABEL_NAME,
                                              predicted_probabilities_output=_CLASSIFIER_INPUT),
        skip_model_load=True)
    spec = model.get_spec()
    ct.utils.rename_feature(spec, f"{LABEL_NAME}_probs", PROBABILITIES_NAME)
    model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)

    describe_model(model, weights, preprocessing, window_input, options)
    model.user_defined_metadata.update(_user_metadata(preprocessing, metrics))
    model.user_defined_metadata["com.github.apple.coremltools.source"] = (
        f"tensorflow=={tf.__version__}")
    return model


def describe_model(model, weights, preprocessing, input_name: str, options: PackageOptions):
    """Author, licence, version, summary and input/output descriptions, from the run's facts."""
    from .naming import describe_purpose, describe_scores, describe_window

    model.author = options.author or default_author()
    model.license = options.license or default_license()
    model.short_description = options.short_description or describe_purpose(
        preprocessing.classes, preprocessing.features, weights.timesteps,
        preprocessing.sample_rate_hz)
    model.version = options.version or default_version()
    batch = "batch" if options.flexible_batch else "1"
    columns = (getattr(preprocessing, "reader", None) or {}).get("columns") or {}
    model.input_description[input_name] = describe_window(
        preprocessing.features, weights.timesteps, preprocessing.sample_rate_hz, scaled=False,
        layout=f"float32 [{batch}, {weights.timesteps}, {weights.features}]",
        mirror_when=columns.get("mirror_when"), mirror_columns=columns.get("mirror_columns") or ())
    model.output_description[SCORES_NAME] = describe_scores(preprocessing.classes)
    model.output_description[LABEL_NAME] = "the most likely class"
    model.output_description[PROBABILITIES_NAME] = "class probabilities by class name"


def stage_mlpackage(model, directory) -> Path:
    """Write ``model``'s bundle contents into the existing empty ``directory``."""
    directory = Path(directory)
    staged = directory / "model.mlpackage"
    model.save(str(staged))
    for child in staged.iterdir():
        shutil.move(str(child), str(directory / child.name))
    staged.rmdir()
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)  # a temporary directory starts as 0700
    return directory


def save_mlpackage(model, destination) -> Path:
    """Write ``model`` as the bundle ``destination`` atomically (all or nothing)."""
    destination = Path(destination)
    with atomic_output(destination, directory=True) as tmp:
        stage_mlpackage(model, tmp)
    return destination
