"""The inference classifier as a small NumPy function, so streaming costs no TensorFlow per sample.

A run's ``classifier.keras`` is a baseline-architecture network (``conv1``, ``conv2``,
``lstm1``, ``lstm2`` or the ``pool`` trunk's mean and maximum over time, ``dropout``,
``scores``).  Calling Keras once per 10 Hz sample costs
milliseconds of graph dispatch for a few thousand multiply-adds; this module copies the
weights out once and evaluates the same network with NumPy in float64.  The same function
serves one window (streaming) and many (batch), and :func:`check_against_keras` confirms the
extraction on a given set of windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExermoteInputError

__all__ = ["NumpyClassifier", "check_against_keras"]

_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),  # overflow-free logistic
}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class _Conv1D:
    kernel: np.ndarray  # (kernel_size, in, out)
    bias: np.ndarray
    stride: int
    activation: str

    def __call__(self, x: np.ndarray) -> np.ndarray:  # x: (N, T, C)
        size = self.kernel.shape[0]
        steps = (x.shape[1] - size) // self.stride + 1
        out = np.broadcast_to(self.bias, (x.shape[0], steps, self.kernel.shape[2])).copy()
        for k in range(size):
            stop = k + self.stride * (steps - 1) + 1
            out += x[:, k:stop:self.stride, :] @ self.kernel[k]
        return _ACTIVATIONS[self.activation](out)


@dataclass(frozen=True)
class _LSTM:
    kernel: np.ndarray  # (in, 4u), gates ordered i, f, c, o as in Keras
    recurrent: np.ndarray  # (u, 4u)
    bias: np.ndarray  # (4u,)
    activation: str
    recurrent_activation: str
    return_sequences: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        units = self.recurrent.shape[0]
        act = _ACTIVATIONS[self.activation]
        gate = _ACTIVATIONS[self.recurrent_activation]
        inputs = x @ self.kernel + self.bias  # (N, T, 4u), all steps at once
        h = np.zeros((x.shape[0], units))
        c = np.zeros_like(h)
        outputs = []
        for t in range(x.shape[1]):
            z = inputs[:, t] + h @ self.recurrent
            i, f = gate(z[:, :units]), gate(z[:, units:2 * units])
            g, o = act(z[:, 2 * units:3 * units]), gate(z[:, 3 * units:])
            c = f * c + i * g
            h = o * act(c)
            if self.return_sequences:
                outputs.append(h)
        return np.stack(outputs, axis=1) if self.return_sequences else h


@dataclass(frozen=True)
class _Mean:
    members: list  # NumpyClassifier each

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.mean([member(x) for member in self.members], axis=0)


def _mean_max_pool(x: np.ndarray) -> np.ndarray:  # (N, T, C) -> (N, 2C)
    return np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=1)


class NumpyClassifier:
    """Scaled windows ``(N, timesteps, features)`` -> class probabilities ``(N, K)``.

    Build it with :meth:`from_keras`; it supports exactly the layers of
    :func:`~exermote_sgan.models.networks.build_baseline` and refuses anything else, so a
    model it cannot reproduce is never evaluated wrongly.
    """

    def __init__(self, layers, *, timesteps: int, features: int, num_classes: int):
        self._layers = tuple(layers)
        self.timesteps = int(timesteps)
        self.features = int(features)
        self.num_classes = int(num_classes)

    @classmethod
    def from_keras(cls, model) -> "NumpyClassifier":
        from ..models.ensemble import ensemble_members

        members = ensemble_members(model)
        if members is not None:  # the mean of the members' probabilities
            copies = [cls.from_keras(member) for member in members]
            _, timesteps, features = model.input_shape
            return cls([_Mean(copies)], timesteps=timesteps, features=features,
                       num_classes=model.output_shape[-1])
        layers = []
        for layer in model.layers:
            kind = type(layer).__name__
            config = layer.get_config()
            if kind == "InputLayer":
                continue
            if kind == "Dropout":
                continue  # identity at inference
            if kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
                continue  # computed by the Concatenate that joins them, checked there
            if kind == "Concatenate":
                from ..models.networks import joins_mean_then_max

                if not joins_mean_then_max(layer):
                    raise ExermoteInputError(
                        f"the classifier's layer {layer.name!r} does not join the mean, then "
                        "the maximum, over time; streaming prediction supports only that")
                layers.append(_mean_max_pool)
                continue
            if kind == "Conv1D":
                _require(layer, config, padding="valid", dilation_rate=(1,), groups=1,
                         use_bias=True)
                kernel, bias = layer.get_weights()
                layers.append(_Conv1D(kernel.astype(np.float64), bias.astype(np.float64),
                                      int(config["strides"][0]),
                                      _activation(layer, config["activation"])))
            elif kind == "LSTM":
                _require(layer, config, use_bias=True, go_backwards=False, stateful=False,
                         return_state=False)
                kernel, recurrent, bias = layer.get_weights()
                layers.append(_LSTM(kernel.astype(np.float64), recurrent.astype(np.float64),
                                    bias.astype(np.float64),
                                    _activation(layer, config["activation"]),
                                    _activation(layer, config["recurrent_activation"]),
                                    bool(config["return_sequences"])))
            elif kind == "Dense":
                _require(layer, config, use_bias=True, activation="softmax")
                kernel, bias = layer.get_weights()
                layers.append(("dense_softmax", kernel.astype(np.float64),
                               bias.astype(np.float64)))
            else:
                raise ExermoteInputError(f"the classifier has a layer {layer.name!r} of type "
                                         f"{kind}, which streaming prediction does not support")
        if not layers or not isinstance(layers[-1], tuple):
            raise ExermoteInputError("the classifier does not end in a softmax Dense layer")
        _, timesteps, features = model.input_shape
        return cls(layers, timesteps=timesteps, features=features,
                   num_classes=model.output_shape[-1])

    def __call__(self, windows) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float64)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.shape[1:] != (self.timesteps, self.features):
            raise ValueError(f"NumpyClassifier: windows have shape {x.shape[1:]}, expected "
                             f"({self.timesteps}, {self.features})")
        for layer in self._layers:
            if isinstance(layer, tuple):
                _, kernel, bias = layer
                x = _softmax(x @ kernel + bias)
            else:
                x = layer(x)
        return x[0] if single else x


def _require(layer, config: dict, **expected):
    for key, value in expected.items():
        actual = config.get(key)
        if isinstance(value, tuple):
            actual = tuple(actual) if actual is not None else None
        if actual != value:
            raise ExermoteInputError(f"the classifier's layer {layer.name!r} has {key}="
                                     f"{actual!r}; streaming prediction supports only "
                                     f"{key}={value!r}")


def _activation(layer, name) -> str:
    if name not in _ACTIVATIONS:
        raise ExermoteInputError(f"the classifier's layer {layer.name!r} uses activation "
                                 f"{name!r}, which streaming prediction does not support")
    return name


def check_against_keras(numpy_classifier: NumpyClassifier, model, windows, *,
                        atol: float = 1e-4) -> float:
    """Largest absolute difference between the NumPy and Keras probabilities on ``windows``.

    Raises :class:`ExermoteInputError` when it exceeds ``atol``.
    """
    windows = np.asarray(windows, dtype=np.float32)
    expected = np.asarray(model(windows, training=False), dtype=np.float64)
    difference = float(np.max(np.abs(numpy_classifier(windows) - expected)))
    if difference > atol:
        raise ExermoteInputError(f"the NumPy copy of the classifier differs from Keras by "
                                 f"{difference:.2g} (allowed {atol:g})")
    return difference
