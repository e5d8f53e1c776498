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


def test_quantile_scaling_keeps_ordinary_movement_spread_out_despite_spikes():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(10_000, 2))
    spikes = np.arange(0, 10_000, 1000)
    data[spikes, 1] = 50.0                 # ten knocks on feature 1
    ordinary = np.setdiff1d(np.arange(10_000), spikes)
    plain = MinMaxScaler().fit(data)
    robust = MinMaxScaler(quantile=0.01).fit(data)
    np.testing.assert_allclose(robust.data_min_, np.quantile(data, 0.01, axis=0))
    np.testing.assert_allclose(robust.data_max_, np.quantile(data, 0.99, axis=0))
    # the spikes squeeze feature 1's ordinary values into a sliver of the plain range
    assert plain.transform(data)[ordinary, 1].std() < 0.03
    assert robust.transform(data)[ordinary, 1].std() > 0.2
    assert (robust.transform(data)[spikes, 1] > 1.0).all()  # affine: beyond the range, kept
    restored = MinMaxScaler.from_dict(json.loads(json.dumps(robust.to_dict())))
    assert restored.quantile == 0.01
    np.testing.assert_array_equal(restored.transform(data), robust.transform(data))
    np.testing.assert_array_equal(restored.seen_max_, data.max(axis=0))
    older = {k: v for k, v in plain.to_dict().items()
             if k not in ("quantile", "seen_min", "seen_max")}
    loaded = MinMaxScaler.from_dict(older)        # a run written before the option
    assert loaded.quantile == 0.0
    np.testing.assert_array_equal(loaded.seen_min_, plain.data_min_)
    with pytest.raises(ValueError, match=r"quantile must be in \[0, 0.5\)"):
        MinMaxScaler(quantile=0.5)


def test_out_of_range_warning_compares_with_the_rows_seen_not_the_quantiles():
    from types import SimpleNamespace

    from exermote_sgan.inference.recordings import training_range_warning

    rng = np.random.default_rng(3)
    data = rng.normal(size=(5_000, 2))
    data[100, 0] = 40.0                     # one knock in training
    for quantile in (0.0, 0.05):
        scaler = MinMaxScaler(quantile=quantile).fit(data)
        np.testing.assert_allclose([scaler.seen_min_[0], scaler.seen_max_[0]],
                                   [data[:, 0].min(), 40.0])
        run = SimpleNamespace(scaler=scaler, features=("gyro_x", "gyro_y"))
        recording = SimpleNamespace(path="new.csv", file_rows=np.arange(2, 6))
        like_training = np.array([[0.1, 0.2], [39.0, -1.0], [-2.0, 1.5], [0.0, 0.0]])
        assert training_range_warning(recording, like_training, run) is None
        far = like_training.copy()
        far[2, 1] = 100.0                   # far beyond what gyro_y ever did
        message = training_range_warning(recording, far, run)
        low, high = data[:, 1].min(), data[:, 1].max()
        assert message == (f"new.csv, row 4, column 'gyro_y': value 100 is far outside the "
                           f"range the run saw in training [{low:.4g}, {high:.4g}] (1 such "
                           f"value(s) in 1 row(s)); check the units and columns, or train on "
                           f"recordings like these")
