"""Min-max scaling of sensor features, fitted on training data only and saved with each model.

Scaling is never baked into a windows file: a scaler is fitted on the training windows of a
run, written to the run's ``preprocessing.json``, and applied by every consumer of the trained
model (evaluation, streaming prediction, the Core ML export), so test data never leaks into it.
It is affine per feature, ``scaled = raw * scale + offset``, which is how an app applies it.
"""

from __future__ import annotations

import numpy as np

from ..errors import ExermoteInputError, NotFittedError


class MinMaxScaler:
    """Per-feature affine map of the training data's [min, max] onto ``feature_range``.

    Works on rows ``(..., features)``: the last axis is the feature axis, so it scales single
    samples, whole recordings and windows ``(N, timesteps, features)`` alike.

    ``quantile`` q > 0 maps the q and 1-q quantiles instead of the minimum and maximum (values
    beyond them land outside ``feature_range``; the map stays affine).  A few spikes, such as a
    watch knocked against something, then no longer squeeze every ordinary movement into a
    small part of the range (``data_min_`` and ``data_max_`` hold those quantiles;
    ``seen_min_`` and ``seen_max_`` always the training data's minimum and maximum, which
    ``predict``'s out-of-range warning compares with).
    """

    def __init__(self, *, feature_range: tuple[float, float] = (0.0, 1.0),
                 quantile: float = 0.0):
        low, high = (float(v) for v in feature_range)
        if not high > low:
            raise ValueError(f"MinMaxScaler: feature_range must be (low, high) with low < high, "
                             f"got {feature_range!r}")
        if not 0.0 <= float(quantile) < 0.5:
            raise ValueError(f"MinMaxScaler: quantile must be in [0, 0.5), got {quantile!r}")
        self.feature_range = (low, high)
        self.quantile = float(quantile)
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None
        self.seen_min_: np.ndarray | None = None
        self.seen_max_: np.ndarray | None = None

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, data) -> "MinMaxScaler":
        data = np.asarray(data, dtype=np.float64)
        if data.size == 0:
            raise ValueError("MinMaxScaler.fit: got no data to fit on")
        flat = data.reshape(-1, data.shape[-1])
        if not np.all(np.isfinite(flat)):
            raise ValueError("MinMaxScaler.fit: data contains NaN or infinite values")
        self.seen_min_, self.seen_max_ = flat.min(axis=0), flat.max(axis=0)
        if self.quantile > 0:
            self.data_min_, self.data_max_ = np.quantile(
                flat, [self.quantile, 1.0 - self.quantile], axis=0)
        else:
            self.data_min_, self.data_max_ = self.seen_min_, self.seen_max_
        return self

    def _check_fitted(self):
        if self.data_min_ is None:
            raise NotFittedError("This MinMaxScaler is not fitted yet. Call 'fit' with the "
                                 "training windows first.")

    # -- the affine map ---------------------------------------------------------------------
    @property
    def scale_(self) -> np.ndarray:
        """Multiply raw values by this, per feature..."""
        self._check_fitted()
        low, high = self.feature_range
        span = self.data_max_ - self.data_min_
        span = np.where(span > 0, span, 1.0)  # a constant feature maps to ``low``
        return (high - low) / span

    @property
    def offset_(self) -> np.ndarray:
        """...then add this, per feature."""
        return self.feature_range[0] - self.data_min_ * self.scale_

    @property
    def num_features(self) -> int:
        self._check_fitted()
        return len(self.data_min_)

    def transform(self, data) -> np.ndarray:
        data = np.asarray(data)
        self._check_fitted()
        if data.shape[-1] != self.num_features:
            raise ValueError(f"MinMaxScaler.transform: data has {data.shape[-1]} features, the "
                             f"scaler was fitted on {self.num_features}")
        return (data * self.scale_ + self.offset_).astype(np.float32)

    def inverse_transform(self, data) -> np.ndarray:
        data = np.asarray(data, dtype=np.float64)
        return ((data - self.offset_) / self.scale_).astype(np.float32)

    def fit_transform(self, data) -> np.ndarray:
        return self.fit(data).transform(data)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": "minmax", "feature_range": list(self.feature_range),
                "quantile": self.quantile,
                "data_min": self.data_min_.tolist(), "data_max": self.data_max_.tolist(),
                "seen_min": self.seen_min_.tolist(), "seen_max": self.seen_max_.tolist(),
                "scale": self.scale_.tolist(), "offset": self.offset_.tolist()}

    @classmethod
    def from_dict(cls, state: dict) -> "MinMaxScaler":
        try:
            if state.get("kind", "minmax") != "minmax":
                raise ValueError(f"unknown scaler kind {state.get('kind')!r}")
            scaler = cls(feature_range=tuple(state["feature_range"]),
                         quantile=float(state.get("quantile", 0.0)))
            scaler.data_min_ = np.asarray(state["data_min"], dtype=np.float64)
            scaler.data_max_ = np.asarray(state["data_max"], dtype=np.float64)
            # runs written before the quantile option: the scaled range is the seen range
            scaler.seen_min_ = np.asarray(state.get("seen_min", state["data_min"]), np.float64)
            scaler.seen_max_ = np.asarray(state.get("seen_max", state["data_max"]), np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ExermoteInputError(f"invalid scaler description: {exc}",
                                     column="scaler") from None
        if (scaler.data_min_.ndim != 1 or any(a.shape != scaler.data_min_.shape for a in (
                scaler.data_max_, scaler.seen_min_, scaler.seen_max_))):
            raise ExermoteInputError("invalid scaler description: data_min, data_max, seen_min "
                                     "and seen_max must be lists of equal length",
                                     column="scaler")
        return scaler

    def __repr__(self) -> str:
        fitted = "unfitted" if self.data_min_ is None else f"{self.num_features} features"
        quantile = f", quantile={self.quantile:g}" if self.quantile else ""
        return f"MinMaxScaler(feature_range={self.feature_range}{quantile}, {fitted})"
