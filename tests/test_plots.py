"""The figures: real PNG images of a sensible size, robust to missing columns, atomic."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from exermote_sgan.training.plots import plot_compare, plot_generated_vs_real, plot_history


def _image(path):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return image


def _painted_fraction(image) -> float:
    """Share of pixels that are not (near) white: a blank figure scores about 0."""
    rgb = image[..., :3]
    return float(np.mean(np.any(rgb < 0.9, axis=-1)))


def test_history_plots_loss_and_score_columns(tmp_path):
    epochs = np.arange(6)
    baseline = pd.DataFrame({"epoch": epochs, "loss": 1 / (epochs + 1), "accuracy": epochs / 6,
                             "val_loss": 1.2 / (epochs + 1), "val_accuracy": epochs / 7,
                             "lr": 1e-3})
    sgan = pd.DataFrame({"epoch": epochs, "d_loss": np.full(6, 0.7), "g_loss": np.ones(6),
                         "sup_loss": np.linspace(1.5, 0.5, 6), "val_macro_f1": epochs / 8,
                         "note": ["x"] * 6})
    path = plot_history({"baseline": baseline, "sgan": sgan}, tmp_path / "history.png")
    image = _image(path)
    assert image.shape[1] > 800 and image.shape[0] > 300
    assert _painted_fraction(image) > 0.02
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.png"]  # no temporaries


def test_history_tolerates_missing_columns_and_empty_runs(tmp_path):
    only_loss = pd.DataFrame({"loss": [1.0, 0.5]})  # no epoch, no accuracy
    path = plot_history({"baseline": only_loss, "sgan": pd.DataFrame()}, tmp_path / "h.png")
    assert _painted_fraction(_image(path)) > 0.01
    with pytest.raises(ValueError, match="no histories"):
        plot_history({}, tmp_path / "none.png")


def test_generated_vs_real_grid(tmp_path):
    rng = np.random.default_rng(0)
    features = [f"feature {i}" for i in range(12)]
    real = {"Break": rng.random((6, 40, 12)), "Squat": rng.random((2, 40, 12))}
    path = plot_generated_vs_real(real, rng.random((5, 40, 12)), features,
                                  tmp_path / "gen.png", per_row=3)
    image = _image(path)
    # three rows (two classes + generated) of three panels: wider than tall, plenty of colour
    assert image.shape[1] > image.shape[0] > 200
    assert _painted_fraction(image) > 0.2
    with pytest.raises(ValueError, match="generated windows have shape"):
        plot_generated_vs_real(real, rng.random((5, 40, 11)), features, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def _results():
    rng = np.random.default_rng(1)
    rows = [dict(model=m, labeled_fraction=f, seed=s, accuracy=rng.random(),
                 macro_f1=rng.random())
            for m in ("baseline", "sgan") for f in (0.02, 0.1, 1.0) for s in (0, 1, 2)]
    return pd.DataFrame(rows)


def test_compare_plot(tmp_path):
    path = plot_compare(_results(), tmp_path / "compare.png")
    image = _image(path)
    assert image.shape[1] > 800
    assert _painted_fraction(image) > 0.02


def test_compare_plot_single_seed_and_bad_table(tmp_path):
    single = _results().query("seed == 0")
    assert _painted_fraction(_image(plot_compare(single, tmp_path / "one.png"))) > 0.02
    with pytest.raises(ValueError, match="macro_f1"):
        plot_compare(single.drop(columns="macro_f1"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
