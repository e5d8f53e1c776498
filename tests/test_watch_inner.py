"""The inner-fold watch benchmark: its folds never touch a test subject, its statistics and its
random-forest diagnostic, on hand-made windows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
spec = importlib.util.spec_from_file_location("watch_inner", BENCHMARKS / "watch_inner.py")
watch_inner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watch_inner)


def test_inner_folds_never_score_or_hold_an_outer_test_subject():
    folds = watch_inner.inner_folds()
    assert len(folds) == 5
    for outer, inner in folds:
        assert not set(outer) & set(inner)
    scored = sorted(s for _, inner in folds for s in inner)
    assert scored == list(range(1, 11))  # every subject validates exactly once


def test_window_statistics_by_hand():
    t = np.arange(4, dtype=np.float64)
    window = np.zeros((4, 6))
    window[:, 2] = 1.0            # acc z: gravity only
    window[:, 3] = t              # gyro x: 0, 1, 2, 3
    window[:, 4] = -t             # gyro y: its mirror
    stats = watch_inner.window_statistics(window[None])
    assert stats.shape == (1, 63)
    mean, sd, low, high = (stats[0, k * 8:(k + 1) * 8] for k in range(4))
    np.testing.assert_allclose(mean[[2, 3, 4]], [1.0, 1.5, -1.5])
    np.testing.assert_allclose(mean[6], 1.0)                       # acceleration magnitude
    np.testing.assert_allclose(mean[7], np.mean(np.sqrt(2) * t))   # rotation-rate magnitude
    np.testing.assert_allclose(sd[3], np.std(t))
    np.testing.assert_allclose([low[4], high[3]], [-3.0, 3.0])
    correlations = stats[0, 48:]
    gyro_x_y = list(zip(*np.triu_indices(6, 1))).index((3, 4))
    assert correlations[gyro_x_y] == -1.0
    assert np.isfinite(correlations).all()  # a constant axis gives 0, not NaN


def test_forest_learns_from_the_fit_subjects_only():
    rng = np.random.default_rng(0)
    n, steps = 240, 20
    labels = np.tile([0, 1], n // 2)
    subjects = np.repeat([1, 2, 3], n // 3)
    windows = rng.normal(0.0, 0.1, (n, steps, 6))
    windows[labels == 1, :, 0] += 2.0                   # class 1 moves acc x
    data = SimpleNamespace(windows=windows, labels=labels, subjects=subjects)
    accuracy, macro_f1 = watch_inner.forest_scores(data, [1, 2], [3], seed=0, every=1)
    assert accuracy == 1.0 and macro_f1 == 1.0
    swapped = SimpleNamespace(windows=windows, labels=np.where(subjects == 3, 1 - labels, labels),
                              subjects=subjects)
    accuracy, _ = watch_inner.forest_scores(swapped, [1, 2], [3], seed=0, every=1)
    assert accuracy == 0.0  # subject 3's own labels were never fitted
