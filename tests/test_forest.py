"""The reference random forest: its window statistics, and its place in every comparison.

The forest really trains (scikit-learn, 300 trees on a few hundred windows: seconds); the
networks are replaced by test_compare's stand-in, which draws its labeled windows with the
training library's own split, as the real training does.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.data.windows_file import load_windows, save_windows
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.training import train_lib
from exermote_sgan.experiments.compare import compare, read_results, run_name
from exermote_sgan.training.config import TrainConfig
from exermote_sgan.experiments.forest import (FOREST_FILE, FOREST_TREES, statistic_names,
                                              train_forest, window_statistics)
from test_compare import FakeTrainer, _window_set


def test_window_statistics_per_feature_and_per_vector_magnitude():
    features = ("accX", "accY", "accZ", "pitch")
    # two windows of three steps, written out so every statistic can be checked by hand
    windows = np.array([[[3, 0, 4, 1], [0, 0, 0, 2], [0, 6, 8, 3]],
                        [[1, 2, 2, -1], [1, 2, 2, -1], [2, 1, 2, -4]]], dtype=np.float32)
    stats = window_statistics(windows, features)
    names = statistic_names(features)
    assert stats.shape == (2, 4 * 5) and len(names) == 20
    column = dict(zip(names, stats.T))
    assert column["mean(accX)"] == pytest.approx([1.0, 4 / 3])
    assert column["std(pitch)"] == pytest.approx([np.std([1, 2, 3]), np.std([-1, -1, -4])])
    assert column["min(accZ)"] == pytest.approx([0.0, 2.0])
    # the magnitude |acc| of each step: 5, 0, 10 and 3, 3, 3
    assert column["mean(|acc|)"] == pytest.approx([5.0, 3.0])
    assert column["max(|acc|)"] == pytest.approx([10.0, 3.0])
    assert column["std(|acc|)"] == pytest.approx([np.std([5, 0, 10]), 0.0], abs=1e-6)
    # no vector: the features alone; blocks of windows give the same figures as one pass
    assert window_statistics(windows[..., 3:], ("pitch",)).shape == (2, 4)
    many = np.random.default_rng(0).normal(size=(5000, 3, 4))
    assert np.allclose(window_statistics(many, features)[4100:4103],
                       window_statistics(many[4100:4103], features))


@pytest.fixture(scope="module")
def windows_path(tmp_path_factory):
    return save_windows(tmp_path_factory.mktemp("forest") / "windows.h5",
                        _window_set(per_class=10))


def test_the_forest_uses_the_networks_labeled_windows_and_their_metrics(windows_path, tmp_path):
    config = TrainConfig(windows_path=windows_path, model="baseline", test_subjects=(3,),
                         labeled_fraction=0.5, labeled_unit="windows", seed=1,
                         out_dir=tmp_path / "forest")
    metrics = train_forest(config)
    split = json.loads((tmp_path / "forest" / "split.json").read_text())
    expected = train_lib.split_roles(load_windows(windows_path), config)
    assert split["labeled_sha256"] == train_lib.labeled_selection_hash(expected[3])
    assert split["n_labeled"] == len(expected[3]) and split["test_subjects"] == [3]
    saved = json.loads((tmp_path / "forest" / "metrics.json").read_text())
    assert saved["accuracy"] == metrics["accuracy"] and saved["n_windows"] == 80
    # four classes with distinct means: the forest learns them, far above chance
    assert metrics["accuracy"] > 0.6 and metrics["per_subject"].keys() == {"3"}
    record = json.loads((tmp_path / "forest" / FOREST_FILE).read_text())
    assert record["trees"] == FOREST_TREES == 300 and record["random_state"] == 1
    # the seed fixes the labeled windows and the trees: the same run gives the same figures
    again = train_forest(TrainConfig(**{**config.__dict__, "out_dir": tmp_path / "again"}))
    assert again == metrics
    with pytest.raises(ExermoteInputError, match="needs test subjects"):
        train_forest(TrainConfig(windows_path=windows_path, out_dir=tmp_path / "none"))


def test_compare_shows_the_forest_beside_the_networks(windows_path, tmp_path, monkeypatch):
    fake = FakeTrainer()
    monkeypatch.setattr(train_lib, "train", fake)
    out = tmp_path / "out"
    results = compare(windows_path, test_subjects=[3], labeled_fractions=[0.25, 1.0],
                      seeds=[0, 1], out_dir=out, train_options={"labeled_unit": "windows"})
    assert len(results) == 12 and len(fake.configs) == 8  # the forest is not a network run
    assert set(results.model) == {"baseline", "sgan", "forest"}
    # the same labeled windows for the three models of every fraction and seed
    assert (results.groupby(["labeled_fraction", "seed"])["labeled_hash"].nunique() == 1).all()
    forest = results[results.model == "forest"]
    for row in forest.itertuples():
        run = out / "runs" / run_name("forest", row.labeled_fraction, row.seed)
        assert json.loads((run / "metrics.json").read_text())["macro_f1"] == row.macro_f1
    pd.testing.assert_frame_equal(read_results(out / "results.csv"), results,
                                  check_dtype=False)

    summary = (out / "summary.md").read_text()
    lines = summary.splitlines()
    at_one = [ln for ln in lines if ln.startswith("| 1 | ")][:3]
    assert [ln.split(" | ")[1] for ln in at_one] == ["baseline", "sgan", "forest"]
    f1 = forest[forest.labeled_fraction == 1.0]["macro_f1"]
    assert f"{f1.mean():.3f} ± {f1.std():.3f}" in at_one[2]
    wide = results.pivot_table(index=["labeled_fraction", "seed"], columns="model",
                               values="macro_f1")
    gain = (wide["baseline"] - wide["forest"]).loc[1.0]
    section = summary.split("## baseline minus forest")[1].split("##")[0]
    row = [ln for ln in section.splitlines() if ln.startswith("| 1 |")]
    assert len(row) == 1 and f"{gain.mean():.3f} ± {gain.std():.3f}" in row[0]
    assert "## SGAN minus forest" in summary and "## SGAN minus baseline" in summary

    # a finished forest is not trained again
    stamp = (out / "runs" / run_name("forest", 1.0, 0) / "metrics.json").stat().st_mtime_ns
    compare(windows_path, test_subjects=[3], labeled_fractions=[0.25, 1.0], seeds=[0, 1],
            out_dir=out, train_options={"labeled_unit": "windows"})
    assert (out / "runs" / run_name("forest", 1.0, 0) / "metrics.json").stat().st_mtime_ns \
        == stamp


def test_the_command_line_trains_the_forest_by_default(windows_path, tmp_path, monkeypatch,
                                                        capsys):
    from exermote_sgan.cli import main

    monkeypatch.setattr(train_lib, "train", FakeTrainer())
    out = tmp_path / "cli"
    assert main(["compare", str(windows_path), "--test-subjects", "3", "--labeled-fractions",
                 "1", "--seeds", "0", "--out", str(out), "--labeled-unit", "windows"]) == 0
    assert sorted(read_results(out / "results.csv").model) == ["baseline", "forest", "sgan"]
    assert "| 1 | forest |" in capsys.readouterr().out
    assert main(["compare", str(windows_path), "--test-subjects", "3", "--out",
                 str(tmp_path / "only"), "--models", "forest", "--seeds", "0",
                 "--labeled-fractions", "1", "--labeled-unit", "windows"]) == 0
    assert list(read_results(tmp_path / "only" / "results.csv").model) == ["forest"]
