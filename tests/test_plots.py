"""The figures: real PNG images of a sensible size, robust to missing columns, atomic."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from exermote_sgan.experiments.grid_report import plot_compare
from exermote_sgan.training.plots import (generated_vs_real_figure, history_figure,
                                          plot_generated_vs_real, plot_history)


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


def test_history_marks_the_kept_epoch_colours_by_model_and_keeps_legends_off_the_curves():
    epochs = np.arange(5)
    baseline = pd.DataFrame({"epoch": epochs, "loss": 1 / (epochs + 1),
                             "val_macro_f1": [0.2, 0.5, 0.7, 0.7, 0.6]})   # kept: epoch 3
    sgan = pd.DataFrame({"epoch": epochs, "d_loss": np.full(5, 0.7), "g_loss": np.ones(5),
                         "val_macro_f1": [0.1, 0.8, 0.3, 0.2, 0.1]})       # kept: epoch 2
    fig = history_figure({"baseline": baseline, "sgan": sgan})
    ax_loss, ax_score = fig.axes
    lines = {line.get_label(): line for line in ax_score.get_lines()}
    assert list(lines["baseline: kept epoch 3"].get_xdata()) == [3, 3]
    assert list(lines["sgan: kept epoch 2"].get_xdata()) == [2, 2]
    # one colour per model, whatever the figure
    loss_lines = {line.get_label(): line for line in ax_loss.get_lines()}
    assert loss_lines["sgan: d_loss"].get_color() == loss_lines["sgan: g_loss"].get_color() \
        == lines["sgan: val_macro_f1"].get_color() != lines["baseline: val_macro_f1"].get_color()
    # the legends lie below the panels, not over the curves
    fig.canvas.draw()
    for axis in (ax_loss, ax_score):
        legend = axis.get_legend().get_window_extent()
        assert legend.y1 < axis.get_window_extent().y0


def test_generated_vs_real_names_features_and_ticks_time_in_seconds():
    rng = np.random.default_rng(1)
    features = ["xGravity", "yGravity", "zGravity"]
    fig = generated_vs_real_figure({"Break": rng.random((2, 40, 3))}, rng.random((2, 40, 3)),
                                   features, per_row=2, sample_rate_hz=10)
    first, bottom = fig.axes[0], fig.axes[3]
    assert [t.get_text() for t in first.get_yticklabels()] == features
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["0", "1", "2", "3"]
    assert "(s)" in bottom.get_xlabel()
