"""The trained classifier as plain NumPy weights, checked against the architecture exporters know.

Every exporter (Core ML ML Program, the Exermote app's neural network, TFLite) rebuilds the
network from these arrays instead of converting the Keras graph, so the one thing to check is
that ``classifier.keras`` really is the baseline architecture (see
:func:`exermote_sgan.models.networks.build_baseline`), with either of its trunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExermoteInputError

__all__ = ["Conv1DWeights", "LSTMWeights", "ClassifierWeights", "EnsembleWeights",
           "extract_weights", "reference_forward"]

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


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_forward(weights: ClassifierWeights | EnsembleWeights,
                      scaled: np.ndarray) -> np.ndarray:
    """Class probabilities ``(N, K)`` for SCALED windows ``(N, T, F)``, in float64 NumPy.

    An independent statement of what the exported files must compute, used by tests.
    """
    if isinstance(weights, EnsembleWeights):
        return np.mean([reference_forward(w, scaled) for w in weights.members], axis=0)
    x = np.asarray(scaled, dtype=np.float64)
    for conv in (weights.conv1, weights.conv2):
        width, stride = conv.kernel.shape[0], conv.stride
        steps = (x.shape[1] - width) // stride + 1
        patches = np.stack([x[:, t * stride:t * stride + width, :] for t in range(steps)], 1)
        x = np.maximum(np.einsum("ntwc,wco->nto", patches, conv.kernel) + conv.bias, 0.0)
    if weights.trunk == "pool":
        return _softmax(np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=1), weights)
    for lstm in (weights.lstm1, weights.lstm2):
        u = lstm.units
        h = np.zeros((x.shape[0], u))
        c = np.zeros((x.shape[0], u))
        outputs = []
        for t in range(x.shape[1]):
            z = x[:, t] @ lstm.kernel + h @ lstm.recurrent + lstm.bias
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            outputs.append(h)
        x = np.stack(outputs, 1)
    return _softmax(x[:, -1], weights)


def _softmax(features: np.ndarray, weights: ClassifierWeights) -> np.ndarray:
    """The dense softmax head on the trunk's output ``(N, u)``."""
    logits = features @ weights.dense_kernel + weights.dense_bias
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)
