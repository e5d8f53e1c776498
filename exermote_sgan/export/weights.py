"""The trained classifier as plain NumPy weights, checked against the architecture exporters know.

Every exporter (Core ML ML Program, the Exermote app's neural network, TFLite) rebuilds the
network from these arrays instead of converting the Keras graph, so the one thing to check is
that ``classifier.keras`` really is the baseline architecture (see
:func:`exermote_sgan.models.networks.build_baseline`), with either of its trunks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import ExermoteInputError


_EXPECTED_LAYERS = {
    "lstm": ("InputLayer", "Conv1D", "Conv1D", "LSTM", "LSTM", "Dropout", "Dense"),
    "pool": ("InputLayer", "Conv1D", "Conv1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
             "Concatenate", "Dropout", "Dense"),
}


@dataclass(frozen=True)
class Conv1DWeights:
    """Kernel ``(width, in, out)`` and bias ``(out,)`` of a valid-padded, ReLU Conv1D."""

    kernel: np.ndarray
    bias: np.ndarray
    stride: int


@dataclass(frozen=True)
class LSTMWeights:
    """Keras LSTM weights: gates in the order input, forget, cell, output (``i, f, c, o``)."""

    kernel: np.ndarray  # (in, 4u)
    recurrent: np.ndarray  # (u, 4u)
    bias: np.ndarray  # (4u,)

    @property
    def units(self) -> int:
        return self.recurrent.shape[0]

    def gates(self, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kernel, recurrent kernel and bias of one gate, ``which`` in ``"ifco"``."""
        k = "ifco".index(which)
        u = self.units
        cols = slice(k * u, (k + 1) * u)
        return self.kernel[:, cols], self.recurrent[:, cols], self.bias[cols]


@dataclass(frozen=True)
class ClassifierWeights:
    """The baseline-architecture classifier: two Conv1D, then two LSTMs (the ``lstm`` trunk) or
    the mean and maximum over time, concatenated (the ``pool`` trunk: ``lstm1``/``lstm2`` are
    None), then a softmax Dense."""

    timesteps: int
    features: int
    conv1: Conv1DWeights
    conv2: Conv1DWeights
    lstm1: LSTMWeights | None
    lstm2: LSTMWeights | None
    dense_kernel: np.ndarray  # (u, K); u = 2 * conv2 filters for the pool trunk
    dense_bias: np.ndarray  # (K,)

    @property
    def num_classes(self) -> int:
        return self.dense_kernel.shape[1]

    @property
    def trunk(self) -> str:
        return "pool" if self.lstm1 is None else "lstm"

    @property
    def lstm_units(self) -> tuple[int, int] | None:
        return None if self.lstm1 is None else (self.lstm1.units, self.lstm2.units)


@dataclass(frozen=True)
class EnsembleWeights:
    """An ensemble (:mod:`exermote_sgan.models.ensemble`): the mean of its members' outputs."""

    members: tuple[ClassifierWeights, ...]

    @property
    def timesteps(self) -> int:
        return self.members[0].timesteps

    @property
    def features(self) -> int:
        return self.members[0].features

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    @property
    def trunk(self) -> str:
        return "ensemble"

    @property
    def lstm_units(self) -> None:
        return None


def _architecture_error(path, detail: str) -> ExermoteInputError:
    return ExermoteInputError(
        f"not a baseline-architecture classifier ({detail}); export expects Input -> Conv1D "
        "conv1 -> Conv1D conv2 -> LSTM lstm1 -> LSTM lstm2 (or mean and max pooling, "
        "concatenated) -> Dropout -> Dense scores (softmax)", path=path)


def extract_weights(classifier, *, path=None) -> ClassifierWeights | EnsembleWeights:
    """Check that ``classifier`` is the baseline architecture (or an ensemble of such
    classifiers) and return its weights.

    Raises :class:`ExermoteInputError` (naming ``path``) for any other architecture, including
    convolutions with padding or dilation, LSTMs with other activations, or a non-softmax head.
    """
    from ..models.ensemble import ensemble_members

    members = ensemble_members(classifier)
    if members is not None:
        return EnsembleWeights(tuple(extract_weights(m, path=path) for m in members))
    from ..models.spec import MULTISCALE_TRUNK_LAYERS

    if set(MULTISCALE_TRUNK_LAYERS) <= {layer.name for layer in classifier.layers}:
        raise ExermoteInputError("the classifier has the 'multiscale' trunk, which export and "
                                 "prediction do not support yet; train with --trunk pool (or "
                                 "lstm) to export it", path=path)
    kinds = tuple(type(layer).__name__ for layer in classifier.layers)
    if kinds not in _EXPECTED_LAYERS.values():
        raise _architecture_error(path, f"layers are {', '.join(kinds)}")
    conv1, conv2 = classifier.layers[1:3]
    dense = classifier.layers[-1]

    def conv(layer) -> Conv1DWeights:
        cfg = layer.get_config()
        if (cfg.get("padding") != "valid" or tuple(cfg.get("dilation_rate", (1,))) != (1,)
                or cfg.get("activation") != "relu" or not cfg.get("use_bias", True)
                or cfg.get("groups", 1) != 1):
            raise _architecture_error(path, f"{layer.name} is not a valid-padded ReLU Conv1D "
                                            "with bias")
        kernel, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
        return Conv1DWeights(kernel, bias, int(cfg["strides"][0]))

    def lstm(layer, *, sequences: bool) -> LSTMWeights:
        cfg = layer.get_config()
        if (cfg.get("activation") != "tanh" or cfg.get("recurrent_activation") != "sigmoid"
                or not cfg.get("use_bias", True) or cfg.get("go_backwards")
                or bool(cfg.get("return_sequences")) != sequences
                or cfg.get("return_state")):
            raise _architecture_error(path, f"{layer.name} is not a plain tanh/sigmoid LSTM")
        kernel, recurrent, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
        return LSTMWeights(kernel, recurrent, bias)

    if kinds == _EXPECTED_LAYERS["pool"]:
        from ..models.networks import joins_mean_then_max

        if not joins_mean_then_max(classifier.layers[5]):
            raise _architecture_error(path, f"{classifier.layers[5].name} does not join the "
                                            "mean, then the maximum, of conv2 over time")
        recurrent = (None, None)
    else:
        recurrent = (lstm(classifier.layers[3], sequences=True),
                     lstm(classifier.layers[4], sequences=False))
    dense_cfg = dense.get_config()
    if dense_cfg.get("activation") != "softmax" or not dense_cfg.get("use_bias", True):
        raise _architecture_error(path, f"{dense.name} is not a softmax Dense with bias")
    dense_kernel, dense_bias = (np.asarray(w, dtype=np.float32) for w in dense.get_weights())
    _, timesteps, features = classifier.input_shape
    return ClassifierWeights(int(timesteps), int(features), conv(conv1), conv(conv2),
                             *recurrent, dense_kernel, dense_bias)


def as_float64(weights: ClassifierWeights | EnsembleWeights):
    """``weights`` with every array in float64, the precision of :func:`reference_forward`
    (made once by a caller that runs the forward pass many times, such as streaming)."""
    if isinstance(weights, EnsembleWeights):
        return EnsembleWeights(tuple(as_float64(m) for m in weights.members))

    def cast(part):
        if part is None:
            return None
        return replace(part, **{f.name: np.asarray(getattr(part, f.name), dtype=np.float64)
                                for f in fields(part) if f.name != "stride"})

    return replace(weights, conv1=cast(weights.conv1), conv2=cast(weights.conv2),
                   lstm1=cast(weights.lstm1), lstm2=cast(weights.lstm2),
                   dense_kernel=np.asarray(weights.dense_kernel, dtype=np.float64),
                   dense_bias=np.asarray(weights.dense_bias, dtype=np.float64))


def reference_forward(weights: ClassifierWeights | EnsembleWeights,
                      scaled: np.ndarray) -> np.ndarray:
    """Class probabilities ``(N, K)`` for SCALED windows ``(N, T, F)``, in float64 NumPy.

    The package's one NumPy forward pass of the network: the statement of what the exported
    files must compute (the tests compare them with it), and streaming prediction's classifier
    (:class:`~exermote_sgan.inference.forward.NumpyClassifier`, with weights made float64 by
    :func:`as_float64` once).
    """
    if isinstance(weights, EnsembleWeights):
        return np.mean([reference_forward(w, scaled) for w in weights.members], axis=0)
    x = np.asarray(scaled, dtype=np.float64)
    for conv in (weights.conv1, weights.conv2):
        x = _conv1d_relu(x, conv)
    if weights.trunk == "pool":
        x = np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=1)
    else:
        x = _lstm(_lstm(x, weights.lstm1, sequences=True), weights.lstm2, sequences=False)
    logits = x @ weights.dense_kernel + weights.dense_bias
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _conv1d_relu(x: np.ndarray, conv: Conv1DWeights) -> np.ndarray:
    """A valid-padded ReLU Conv1D on ``(N, T, C)``: one matrix product per kernel tap."""
    size = conv.kernel.shape[0]
    steps = (x.shape[1] - size) // conv.stride + 1
    bias = np.asarray(conv.bias, dtype=np.float64)
    out = np.broadcast_to(bias, (x.shape[0], steps, conv.kernel.shape[2])).copy()
    for k in range(size):
        stop = k + conv.stride * (steps - 1) + 1
        out += x[:, k:stop:conv.stride, :] @ conv.kernel[k]
    return np.maximum(out, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, free of overflow


def _lstm(x: np.ndarray, lstm: LSTMWeights, *, sequences: bool) -> np.ndarray:
    """A tanh/sigmoid Keras LSTM on ``(N, T, C)``: every output step, or the last."""
    units = lstm.units
    inputs = x @ lstm.kernel + lstm.bias  # (N, T, 4u), all steps at once
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = inputs[:, t] + h @ lstm.recurrent
        i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units:2 * units])
        g, o = np.tanh(z[:, 2 * units:3 * units]), _sigmoid(z[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
        if sequences:
            outputs.append(h)
    return np.stack(outputs, axis=1) if sequences else h
