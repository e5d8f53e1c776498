"""The ``.mlmodel`` for the public Exermote iOS app (ExermoteInference/ExermoteCoreML).

Checked against the app's tree as it stands (Lausbert/Exermote, last changed 2017-09-05,
commit e097cfd), under ``ExermoteInference/ExermoteCoreML/ExermoteCoreML/``:

- ``Model/Exermote.mlmodel`` is the model; Xcode generates the classes ``Exermote`` and
  ``ExermoteInput`` from the file name, and ``Services/PredictionManager.swift`` creates
  ``Exermote()`` and calls ``prediction(input: ExermoteInput(accelerations:lstm_1_h_in:
  lstm_1_c_in:lstm_2_h_in:lstm_2_c_in:))``, reading ``scores[0..3]``.  (Until commit e097cfd
  the file was ``PredictionModel.mlmodel``; a file copied under that name is never used.)  So
  the export writes :data:`APP_MODEL_FILE` whatever ``--out`` is called.
- ``PredictionManager.swift`` scales each Core Motion sample itself (``element *
  PREDICTION_MANAGER_SCALING_COEFFICIENTS[0][i] + PREDICTION_MANAGER_SCALING_COEFFICIENTS[1][i]``)
  in ``Services/MotionManager.swift``'s order (gravity, user acceleration, pitch, roll, yaw,
  rotation rate), keeps the last ``PREDICTION_MANAGER_TIMESTEPS_MODEL_INPUT`` (40) samples
  taken at 10 Hz and feeds them as ``MLMultiArray(shape: [40, 1, 12], dataType: .double)`` with
  zero LSTM states; ``PREDICTION_MANAGER_HOT_ENCODING_ORDER`` decodes the scores as Break,
  Burpee, Situp, Squat.  Those constants live in ``Utilities/Constants.swift``.

The app's model came from coremltools' Keras converter: a neural network (specification version
1) whose input ``accelerations`` is a sequence of 12-vectors, i.e. Core ML's (Seq, Batch, C)
convention, with optional LSTM states.  This module rebuilds exactly that interface from a
trained classifier's weights, described like the app's own file (author, licence, input and
output descriptions) plus a version.

A classifier trained on only some of the app's 12 features (e.g. the nine 3-axis vectors, which
rotation augmentation needs) still fits: the app keeps feeding all 12, and the model gives the
features it never saw zero weights and zero scaling coefficients, so they cannot change a score.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..atomic import atomic_output
from .weights import ClassifierWeights, LSTMWeights


APP_MODEL_NAME = "Exermote"
"""The model's file stem in the app, hence the generated class names Exermote/ExermoteInput."""
APP_MODEL_FILE = f"{APP_MODEL_NAME}.mlmodel"

APP_CLASSES = ("Break", "Burpee", "Situp", "Squat")
APP_FEATURES = ("xGravity", "yGravity", "zGravity", "xAcceleration", "yAcceleration",
                "zAcceleration", "pitch", "roll", "yaw", "xRotationRate", "yRotationRate",
                "zRotationRate")
APP_TIMESTEPS = 40
APP_LSTM_UNITS = 32
INPUT_NAME = "accelerations"
SCORES_NAME = "scores"
#: (input, output) names of the optional LSTM states, in the app's argument order.
APP_STATE_NAMES = tuple((f"lstm_{k}_{s}_in", f"lstm_{k}_{s}_out")
                        for k in (1, 2) for s in ("h", "c"))


def _feature_suffix(name: str) -> str:
    return name.split(":")[-1].strip().lower()


def app_feature_positions(features) -> tuple[int, ...] | None:
    """Index among :data:`APP_FEATURES` of each classifier feature, in the classifier's order.

    Names match with any ``"Device: "``-style prefix removed, ignoring case.  ``None`` when a
    feature is not one the app feeds, or two features are the same app feature.
    """
    app = [f.lower() for f in APP_FEATURES]
    suffixes = [_feature_suffix(f) for f in features]
    if not suffixes or any(s not in app for s in suffixes) or len(set(suffixes)) < len(suffixes):
        return None
    return tuple(app.index(s) for s in suffixes)


def unused_app_features(positions) -> list[str]:
    """The app's features a classifier does not read, given its :func:`app_feature_positions`."""
    return [name for k, name in enumerate(APP_FEATURES) if k not in positions]


def app_model_problems(weights: ClassifierWeights, preprocessing) -> list[str]:
    """Why the classifier cannot replace the app's model (empty when it can)."""
    problems = []
    if weights.timesteps != APP_TIMESTEPS:
        problems.append(f"timesteps is {weights.timesteps}, the app feeds {APP_TIMESTEPS}")
    if app_feature_positions(preprocessing.features) is None:
        problems.append(f"features are {list(preprocessing.features)}, the app feeds only "
                        f"{list(APP_FEATURES)}, each once")
    if [c.lower() for c in preprocessing.classes] != [c.lower() for c in APP_CLASSES]:
        problems.append(f"classes are {list(preprocessing.classes)}, the app decodes "
                        f"{list(APP_CLASSES)} in that order")
    if weights.trunk == "ensemble":
        problems.append(f"the classifier is an ensemble of {len(weights.members)} networks, "
                        "the app's model is one")
    elif weights.trunk != "lstm":
        problems.append(f"the trunk is {weights.trunk!r}, the app's model has two LSTMs "
                        "(train with --trunk lstm)")
    elif weights.lstm_units != (APP_LSTM_UNITS, APP_LSTM_UNITS):
        problems.append(f"LSTM units are {weights.lstm_units}, the app passes states of "
                        f"{APP_LSTM_UNITS}")
    return problems


def widen_to_app_features(weights: ClassifierWeights, positions) -> ClassifierWeights:
    """The same classifier reading the app's 12 features, in the app's order.

    ``positions`` (from :func:`app_feature_positions`) says where each trained feature sits;
    the first convolution's weights of every other feature are zero.
    """
    positions = list(positions)
    if len(positions) != weights.features:
        raise ValueError(f"{len(positions)} positions for a classifier of {weights.features} "
                         f"features")
    width, _, filters = weights.conv1.kernel.shape
    kernel = np.zeros((width, len(APP_FEATURES), filters), dtype=np.float32)
    kernel[:, positions, :] = weights.conv1.kernel
    return replace(weights, features=len(APP_FEATURES),
                   conv1=replace(weights.conv1, kernel=kernel))


def app_windows(scaled: np.ndarray, positions) -> np.ndarray:
    """Scaled windows ``(N, T, F)`` as the app feeds them: all 12 features, unused ones 0."""
    scaled = np.asarray(scaled)
    out = np.zeros(scaled.shape[:-1] + (len(APP_FEATURES),), dtype=scaled.dtype)
    out[..., list(positions)] = scaled
    return out


def _lstm_parameters(lstm: LSTMWeights):
    """Core ML's [input, forget, output, block-input] matrices from Keras's i, f, c, o."""
    order = "ifoc"
    w_x = [lstm.gates(g)[0].T for g in order]  # (hidden, input)
    w_h = [lstm.gates(g)[1].T for g in order]  # (hidden, hidden)
    b = [lstm.gates(g)[2] for g in order]
    return w_h, w_x, b


def build_app_spec(weights: ClassifierWeights, *, description: str = ""):
    """A neural-network spec with the app's interface, computing the classifier on SCALED input."""
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    units = weights.lstm1.units
    builder = NeuralNetworkBuilder(
        [(INPUT_NAME, datatypes.Array(weights.features))],
        [(SCORES_NAME, datatypes.Array(weights.num_classes))])
    builder.add_optionals([(n_in, units) for n_in, _ in APP_STATE_NAMES],
                          [(n_out, units) for _, n_out in APP_STATE_NAMES])
    # (Seq, B, C, 1, 1) -> (1, B, C, 1, Seq): the sequence becomes the convolution's width.
    builder.add_permute("time_to_width", (3, 1, 2, 0), INPUT_NAME, "time_as_width")
    x = "time_as_width"
    for name, conv in (("conv1", weights.conv1), ("conv2", weights.conv2)):
        builder.add_convolution(
            name=name, kernel_channels=conv.kernel.shape[1], output_channels=conv.kernel.shape[2],
            height=1, width=conv.kernel.shape[0], stride_height=1, stride_width=conv.stride,
            border_mode="valid", groups=1, W=conv.kernel[None].astype(np.float32),
            b=conv.bias.astype(np.float32), has_bias=True, input_name=x,
            output_name=f"{name}_out")
        builder.add_activation(f"{name}_relu", "RELU", f"{name}_out", f"{name}_relu_out")
        x = f"{name}_relu_out"
    builder.add_permute("width_to_time", (3, 1, 2, 0), x, "conv_sequence")
    x = "conv_sequence"
    for k, (lstm, sequences) in enumerate(((weights.lstm1, True), (weights.lstm2, False)), 1):
        w_h, w_x, b = _lstm_parameters(lstm)
        builder.add_unilstm(
            name=f"lstm_{k}", W_h=w_h, W_x=w_x, b=b, hidden_size=lstm.units,
            input_size=lstm.kernel.shape[0],
            input_names=[x, f"lstm_{k}_h_in", f"lstm_{k}_c_in"],
            output_names=[f"lstm_{k}_out", f"lstm_{k}_h_out", f"lstm_{k}_c_out"],
            output_all=sequences)
        x = f"lstm_{k}_out"
    builder.add_inner_product("dense", W=weights.dense_kernel.T.astype(np.float32),
                              b=weights.dense_bias.astype(np.float32),
                              input_channels=weights.dense_kernel.shape[0],
                              output_channels=weights.num_classes, has_bias=True,
                              input_name=x, output_name="dense_out")
    builder.add_softmax("scores_softmax", "dense_out", SCORES_NAME)
    spec = builder.spec
    spec.specificationVersion = 1  # what the app's model had: runs on iOS 11
    spec.description.metadata.shortDescription = description
    for feature in spec.description.input:
        if feature.name != INPUT_NAME:
            feature.type.isOptional = True
    return spec


def describe_app_spec(spec, *, author: str, licence: str, version: str, summary: str,
                      unused_features=()) -> None:
    """Fill in what Xcode shows for the app model: metadata and every input's and output's
    description, in the app's own terms (Exermote.mlmodel documents its 12 features and the
    class order the same way)."""
    from .naming import CORE_MOTION_SOURCES

    meta = spec.description.metadata
    meta.author, meta.license, meta.versionString = author, licence, version
    meta.shortDescription = summary
    features = ", ".join(f"{name} ({CORE_MOTION_SOURCES[name][0]}, "
                         f"{CORE_MOTION_SOURCES[name][1]})" for name in APP_FEATURES)
    ignored = (f"; this model ignores {', '.join(unused_features)} (weights 0, scaling "
               "coefficients 0)" if unused_features else "")
    texts = {
        INPUT_NAME: (f"{APP_TIMESTEPS} timesteps (0.1 s each, oldest first) x "
                     f"{len(APP_FEATURES)} Core Motion features: {features}; each SCALED by "
                     "the app (value * PREDICTION_MANAGER_SCALING_COEFFICIENTS[0][i] + "
                     "PREDICTION_MANAGER_SCALING_COEFFICIENTS[1][i]); fed as MLMultiArray "
                     f"[{APP_TIMESTEPS}, 1, {len(APP_FEATURES)}] of doubles{ignored}"),
        SCORES_NAME: "Probability of each exercise, in the order " + ", ".join(APP_CLASSES),
    }
    states = [(layer, state) for layer in (1, 2) for state in ("hidden", "cell")]
    for (n_in, n_out), (layer, state) in zip(APP_STATE_NAMES, states):
        texts[n_in] = (f"optional initial {state} state of LSTM {layer} ({APP_LSTM_UNITS} "
                       "values; the app passes zeros, as omitting it does)")
        texts[n_out] = f"{state} state of LSTM {layer} after the last timestep"
    for feature in list(spec.description.input) + list(spec.description.output):
        feature.shortDescription = texts[feature.name]


def save_app_spec(spec, path) -> Path:
    """Serialise ``spec`` to ``path`` as it is (no extension check, no atomicity)."""
    Path(path).write_bytes(spec.SerializeToString())
    return Path(path)


def save_app_model(spec, destination) -> Path:
    """Write the spec to ``destination`` (``.mlmodel``) atomically."""
    with atomic_output(destination) as tmp:
        save_app_spec(spec, tmp)
    return Path(destination)


def app_scaling_coefficients(scaler, positions=None) -> tuple[list[float], list[float]]:
    """``(multiply, add)`` per feature: what ``PREDICTION_MANAGER_SCALING_COEFFICIENTS`` holds.

    With ``positions`` (see :func:`app_feature_positions`) both lists cover the app's 12
    features in its order, and are 0 for the features the classifier does not read.
    """
    if positions is None:
        multiply, add = scaler.scale_, scaler.offset_
    else:
        positions = list(positions)
        multiply, add = np.zeros(len(APP_FEATURES)), np.zeros(len(APP_FEATURES))
        multiply[positions], add[positions] = scaler.scale_, scaler.offset_
    return [float(v) for v in multiply], [float(v) for v in add]


def swift_scaling_constant(scaler, positions=None) -> str:
    """The Swift constant to paste into the app's ``Constants.swift``."""
    multiply, add = app_scaling_coefficients(scaler, positions)

    def row(values):
        return "[" + ", ".join(f"{v:.10g}" for v in values) + "]"

    return ("let PREDICTION_MANAGER_SCALING_COEFFICIENTS: [[Double]] = [\n"
            f"    {row(multiply)},\n    {row(add)}\n]")
