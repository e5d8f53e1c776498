import json

import numpy as np
import pytest

from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.errors import ExermoteInputError, NotFittedError


def test_maps_training_range_onto_feature_range():
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(50, 40, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    scaler = MinMaxScaler(feature_range=(-1.0, 1.0)).fit(windows)
    scaled = scaler.transform(windows)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.reshape(-1, 3).min(axis=0), -1.0, atol=1e-6)
    np.testing.assert_allclose(scaled.reshape(-1, 3).max(axis=0), 1.0, atol=1e-6)
    # the affine coefficients an app applies: multiply, then add
    row = windows[3, 7]
    np.testing.assert_allclose(row * scaler.scale_ + scaler.offset_, scaled[3, 7], rtol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), windows, rtol=1e-4, atol=1e-4)


def test_constant_feature_maps_to_low_end():
    data = np.column_stack([np.arange(10.0), np.full(10, 3.0)])
    scaled = MinMaxScaler().fit_transform(data)
    np.testing.assert_allclose(scaled[:, 1], 0.0)
    np.testing.assert_allclose(scaled[:, 0], np.arange(10) / 9, rtol=1e-6)


def test_json_round_trip_preserves_the_map():
    rng = np.random.default_rng(1)
    data = rng.uniform(-3, 7, size=(100, 12))
    scaler = MinMaxScaler().fit(data)
    restored = MinMaxScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform(data), scaler.transform(data))


def test_unfitted_and_mismatched_use_is_explained():
    with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
        MinMaxScaler().transform(np.zeros((2, 3)))
    scaler = MinMaxScaler().fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="2 features, the scaler was fitted on 3"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler(feature_range=(1, 0))
    with pytest.raises(ValueError, match="NaN"):
        MinMaxScaler().fit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ExermoteInputError, match="data_min"):
        MinMaxScaler.from_dict({"feature_range": [0, 1], "data_max": [1.0]})
