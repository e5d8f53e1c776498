"""The inference classifier as a small NumPy function, so streaming costs no TensorFlow per sample.

A run's ``classifier.keras`` is a baseline-architecture network (``conv1``, ``conv2``, then
``lstm1``, ``lstm2``, or the ``pool`` trunk's mean and maximum over time, or the
``multiscale`` trunk's two pooled branches, ``conv1_short`` and ``conv2_short`` beside;
``dropout``, ``scores``), or an ensemble of such networks.  Calling Keras once per 10 Hz sample costs
milliseconds of graph dispatch for a few thousand multiply-adds; this module copies the
weights out once (:func:`~exermote_sgan.export.weights.extract_weights`, the export's check of
the architecture) and evaluates the network with the package's one NumPy forward pass
(:func:`~exermote_sgan.export.weights.reference_forward`) in float64.  The same function serves
one window (streaming) and many (batch), and :func:`check_against_keras` confirms the
extraction on a given set of windows.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExermoteInputError


class NumpyClassifier:
    """Scaled windows ``(N, timesteps, features)`` -> class probabilities ``(N, K)``.

    Build it with :meth:`from_keras`; it supports exactly the architectures the export
    supports and refuses anything else, so a model it cannot reproduce is never evaluated
    wrongly.
    """

    def __init__(self, weights):
        from ..export.weights import as_float64

        self._weights = as_float64(weights)
        self.timesteps = int(weights.timesteps)
        self.features = int(weights.features)
        self.num_classes = int(weights.num_classes)

    @classmethod
    def from_keras(cls, model) -> "NumpyClassifier":
        """The NumPy copy of a Keras classifier; :class:`ExermoteInputError` when it is not the
        baseline architecture (or an ensemble of it)."""
        from ..export.weights import extract_weights

        return cls(extract_weights(model))

    def __call__(self, windows) -> np.ndarray:
        from ..export.weights import reference_forward

        x = np.asarray(windows, dtype=np.float64)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.shape[1:] != (self.timesteps, self.features):
            raise ValueError(f"NumpyClassifier: windows have shape {x.shape[1:]}, expected "
                             f"({self.timesteps}, {self.features})")
        probabilities = reference_forward(self._weights, x)
        return probabilities[0] if single else probabilities


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
