"""The smartwatch recordings (a second real dataset) end to end on a few of their files:
one ``preprocess`` command, then ``train`` (tiny, the example's pool trunk), ``evaluate``,
``compare``, ``predict`` and ``evaluate-reps``; and the rotation rule on their features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.cli import main

REPO = Path(__file__).resolve().parents[1]
COLUMNS = REPO / "examples" / "watch" / "columns.toml"
CLASSES = "PEN,ABD,FEL,IR,ER,TRAP,ROW"
WATCH_FEATURES = ("acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s",
                  "gyro_z_rad_s")


def test_rotation_rule_leaves_the_watch_features_alone_and_keeps_exermotes():
    from exermote_sgan.recordings.schema import EXERMOTE_FEATURES
    from exermote_sgan.training.config import (AUTO_ROTATION_DEGREES, TrainConfig,
                                               rotation_degrees, training_features)

    config = TrainConfig(windows_path="w.h5")
    assert rotation_degrees(config, WATCH_FEATURES) == 0.0
    assert training_features(config, WATCH_FEATURES) == WATCH_FEATURES
    # features that merely look like x/y/z vectors are not Core Motion's either
    assert rotation_degrees(config, ("xAcc", "yAcc", "zAcc")) == 0.0
    kept = training_features(config, EXERMOTE_FEATURES)
    assert "pitch" not in kept and len(kept) == 9
    assert rotation_degrees(config, kept) == AUTO_ROTATION_DEGREES
    asked = TrainConfig(windows_path="w.h5", augment_rotation=30.0)
    assert rotation_degrees(asked, WATCH_FEATURES) == 30.0


@pytest.fixture(scope="module")
def watch_raw(watch_raw_dir) -> Path:
    return watch_raw_dir


@pytest.mark.realdata
def test_one_preprocess_command_reads_the_watch_folder(watch_raw, tmp_path, capsys):
    out = tmp_path / "all.h5"
    assert main(["preprocess", str(watch_raw), "--out", str(out), "--format", "generic",
                 "--columns-file", str(COLUMNS), "--classes", CLASSES, "--label-map", "",
                 "--expected-rate", "50", "--window-seconds", "4",
                 "--stride-seconds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "files read:     140" in printed and "sessions:       140 (10 subjects)" in printed
    assert "rows read:      244102" in printed and "rest class: none" in printed
    from exermote_sgan.data.windows_file import load_windows

    ws = load_windows(out)
    assert ws.timesteps == 200 and ws.rest_class is None
    assert sorted(set(ws.subjects.tolist())) == list(range(1, 11))
    assert "subject_07/ROW_right" in ws.session_names


@pytest.mark.realdata
@pytest.mark.slow
def test_watch_train_evaluate_compare_predict_evaluate_reps(watch_windows, watch_raw, tmp_path,
                                                            capsys):
    run = tmp_path / "run"
    assert main(["train", str(watch_windows), "--model", "baseline", "--test-subjects", "3",
                 "--epochs", "1", "--steps-per-epoch", "3", "--conv-filters", "8",
                 "--trunk", "pool", "--scaler-quantile", "0.01", "--augment-rotation", "60",
                 "--quiet", "--out", str(run)]) == 0
    from exermote_sgan.models.networks import trunk_of
    from exermote_sgan.runs import load_run

    assert trunk_of(load_run(run).classifier) == "pool"  # what the watch example trains
    state = json.loads((run / "preprocessing.json").read_text())
    assert state["rest_class"] is None and state["reader"]["format"] == "generic"
    # the inputs' scale comes from the training rows' 1% and 99% quantiles, not their extremes
    scaler = state["scaler"]
    assert scaler["quantile"] == 0.01
    from exermote_sgan.data.windows_file import load_windows

    training = load_windows(watch_windows)
    rows = np.concatenate(list(training.row_windows.take(
        np.flatnonzero(training.subjects != 3)).iter_rows()))
    inside = np.mean((rows >= scaler["data_min"]) & (rows <= scaler["data_max"]), axis=0)
    assert ((inside > 0.9) & (inside < 0.99)).all(), inside  # the extremes lie beyond
    # asked for, the watch's acc_x_g... and gyro_x_rad_s... are the two vectors it turns
    assert state["augment_rotation"] == 60.0  # as the watch example trains
    assert "rotated by up to 60 degrees" in capsys.readouterr().out

    assert main(["evaluate", str(run), str(watch_windows), "--subjects", "3"]) == 0
    assert "accuracy" in capsys.readouterr().out

    # whole recordings are the labeled unit: no Break needed
    out = tmp_path / "compare"
    assert main(["compare", str(watch_windows), "--test-subjects", "3", "--labeled-fractions",
                 "0.5", "--seeds", "0", "--models", "baseline", "--epochs", "1",
                 "--trunk", "pool", "--out", str(out)]) == 0
    capsys.readouterr()

    recording = watch_raw / "subject_03" / "ABD_right.csv"
    assert main(["predict", str(run), str(recording), "--out",
                 str(tmp_path / "p.csv")]) == 0
    assert "subject_03/ABD_right" in capsys.readouterr().out
    assert (tmp_path / "p.csv").read_text().count("\n") > 100

    assert main(["evaluate-reps", str(run), str(recording)]) == 0
    printed = capsys.readouterr().out
    assert "No rest class" in printed
    assert [line for line in printed.splitlines() if line.startswith("ABD")][0].split()[1] == "1"
