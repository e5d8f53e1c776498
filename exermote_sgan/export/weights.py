"""The trained classifier as plain NumPy weights, checked against the architecture exporters know.

Every exporter (Core ML ML Program, the Exermote app's neural network, TFLite) rebuilds the
network from these arrays instead of converting the Keras graph, so the one thing to check is
that ``classifier.keras`` really is the baseline architecture (see
:func:`exermote_sgan.models.networks.build_baseline`), with any of its three trunks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import ExermoteInputError


_EXPECTED_LAYERS = {
    "lstm": ("InputLayer", "Conv1D", "Conv1D", "LSTM", "LSTM", "Dropout", "Dense"),
    "pool": ("InputLayer", "Conv1D", "Conv1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
             "Concatenate", "Dropout", "Dense"),
    # the two branches' layers in any order Keras lists them; their wiring is checked apart
    "multiscale": (("InputLayer",) + ("Conv1D",) * 4
                   + ("GlobalAveragePooling1D", "GlobalMaxPooling1D") * 2
                   + ("Concatenate",) * 3 + ("Dropout", "Dense")),
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
    None), then a softmax Dense.  The ``multiscale`` trunk adds a second branch of two Conv1D
    on the same input (``conv1_short``, ``conv2_short``), pooled the same way; the head reads
    the first branch's mean and maximum, then the second's."""

    timesteps: int
    features: int
    conv1: Conv1DWeights
    conv2: Conv1DWeights
    lstm1: LSTMWeights | None
    lstm2: LSTMWeights | None
    dense_kernel: np.ndarray  # (u, K); u = 2 (pool) or 4 (multiscale) * conv2 filters
    dense_bias: np.ndarray  # (K,)
    conv1_short: Conv1DWeights | None = None  # the multiscale trunk's second branch
    conv2_short: Conv1DWeights | None = None

    @property
    def num_classes(self) -> int:
        return self.dense_kernel.shape[1]

    @property
    def trunk(self) -> str:
        if self.lstm1 is not None:
            return "lstm"
        return "pool" if self.conv1_short is None else "multiscale"

    @property
    def branches(self) -> tuple[tuple[Conv1DWeights, Conv1DWeights], ...]:
        """The pooled trunks' convolution pairs, in the order the head reads their pooling."""
        pairs = ((self.conv1, self.conv2),)
        if self.conv1_short is not None:
            pairs += ((self.conv1_short, self.conv2_short),)
        return pairs

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
        "concatenated, of that branch or of it and conv1_short -> conv2_short) -> Dropout -> "
        "Dense scores (softmax)", path=path)


def _conv_weights(layer, path) -> Conv1DWeights:
    """A valid-padded ReLU Conv1D's weights, or the architecture error."""
    cfg = layer.get_config()
    if (cfg.get("padding") != "valid" or tuple(cfg.get("dilation_rate", (1,))) != (1,)
            or cfg.get("activation") != "relu" or not cfg.get("use_bias", True)
            or cfg.get("groups", 1) != 1):
        raise _architecture_error(path, f"{layer.name} is not a valid-padded ReLU Conv1D "
                                        "with bias")
    kernel, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
    return Conv1DWeights(kernel, bias, int(cfg["strides"][0]))


def _lstm_weights(layer, path, *, sequences: bool) -> LSTMWeights:
    """A plain tanh/sigmoid LSTM's weights, or the architecture error."""
    cfg = layer.get_config()
    if (cfg.get("activation") != "tanh" or cfg.get("recurrent_activation") != "sigmoid"
            or not cfg.get("use_bias", True) or cfg.get("go_backwards")
            or bool(cfg.get("return_sequences")) != sequences
            or cfg.get("return_state")):
        raise _architecture_error(path, f"{layer.name} is not a plain tanh/sigmoid LSTM")
    kernel, recurrent, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
    return LSTMWeights(kernel, recurrent, bias)


def _trunk_weights(classifier, kinds, path) -> dict:
    """The convolutions (and LSTMs) of a classifier whose layer kinds are a known trunk's."""
    from ..models.networks import joins_mean_then_max, wires_multiscale

    if sorted(kinds) == sorted(_EXPECTED_LAYERS["multiscale"]):
        if not wires_multiscale(classifier):
            raise _architecture_error(path, "its layers are not wired as the multiscale trunk "
                                            "(two branches, each pooled by mean then max)")
        get = classifier.get_layer
        return {name: _conv_weights(get(name), path)
                for name in ("conv1", "conv2", "conv1_short", "conv2_short")}
    if kinds not in (_EXPECTED_LAYERS["lstm"], _EXPECTED_LAYERS["pool"]):
        raise _architecture_error(path, f"layers are {', '.join(kinds)}")
    convs = {name: _conv_weights(layer, path)
             for name, layer in zip(("conv1", "conv2"), classifier.layers[1:3])}
    if kinds == _EXPECTED_LAYERS["pool"]:
        if not joins_mean_then_max(classifier.layers[5]):
            raise _architecture_error(path, f"{classifier.layers[5].name} does not join the "
                                            "mean, then the maximum, of conv2 over time")
        return convs
    return {**convs, "lstm1": _lstm_weights(classifier.layers[3], path, sequences=True),
            "lstm2": _lstm_weights(classifier.layers[4], path, sequences=False)}


def extract_weights(classifier, *, path=None) -> ClassifierWeights | EnsembleWeights:
    """Check that ``classifier`` is the baseline architecture (or an ensemble of such
    classifiers) and return its weights.

    Raises :class:`ExermoteInputError` (naming ``path``) for any other architecture, including
    convolutions with padding or dilation, LSTMs with other activations, a non-softmax head,
    or the ``multiscale`` trunk's layers wired otherwise than :func:`build_baseline` does.
    """
    from ..models.ensemble import ensemble_members

    members = ensemble_members(classifier)
    if members is not None:
        return EnsembleWeights(tuple(extract_weights(m, path=path) for m in members))
    kinds = tuple(type(layer).__name__ for layer in classifier.layers)
    trunk = _trunk_weights(classifier, kinds, path)
    dense = classifier.layers[-1]
    dense_cfg = dense.get_config()
    if dense_cfg.get("activation") != "softmax" or not dense_cfg.get("use_bias", True):
        raise _architecture_error(path, f"{dense.name} is not a softmax Dense with bias")
    dense_kernel, dense_bias = (np.asarray(w, dtype=np.float32) for w in dense.get_weights())
    _, timesteps, features = classifier.input_shape
    return ClassifierWeights(int(timesteps), int(features), trunk["conv1"], trunk["conv2"],
                             trunk.get("lstm1"), trunk.get("lstm2"), dense_kernel, dense_bias,
                             trunk.get("conv1_short"), trunk.get("conv2_short"))


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
                   conv1_short=cast(weights.conv1_short), conv2_short=cast(weights.conv2_short),
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
    if weights.trunk == "lstm":
        for conv in (weights.conv1, weights.conv2):
            x = _conv1d_relu(x, conv)
        x = _lstm(_lstm(x, weights.lstm1, sequences=True), weights.lstm2, sequences=False)
    else:  # each branch's mean and maximum over time, side by side
        pooled = []
        for first, second in weights.branches:
            y = _conv1d_relu(_conv1d_relu(x, first), second)
            pooled += [y.mean(axis=1), y.max(axis=1)]
        x = np.concatenate(pooled, axis=1)
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
