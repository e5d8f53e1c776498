"""``exermote-sgan ensemble`` on real watch recordings: the mean of its members, whatever their
scalers and trunks; scored, exported and streamed like any run; bad input refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.cli import main

pytestmark = pytest.mark.realdata
REPO = Path(__file__).resolve().parents[1]


def _train(windows, out, *extra):
    assert main(["train", str(windows), "--model", "baseline", "--test-subjects", "3",
                 "--epochs", "1", "--steps-per-epoch", "4", "--conv-filters", "8",
                 "--lstm-units", "8", "--quiet", "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def members(watch_windows, tmp_path_factory):
    """Two runs that differ in seed, scaler (min-max against quantiles) and trunk."""
    root = tmp_path_factory.mktemp("members")
    return (_train(watch_windows, root / "a", "--seed", "0", "--trunk", "pool",
                   "--scaler-quantile", "0"),
            _train(watch_windows, root / "b", "--seed", "1", "--trunk", "lstm",
                   "--scaler-quantile", "0.05"))


@pytest.fixture(scope="module")
def ensemble(members, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble") / "e"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--quiet"]) == 0
    return out


def test_the_ensemble_is_the_mean_of_its_members_on_raw_windows(members, ensemble,
                                                                watch_windows):
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.inference.forward import NumpyClassifier
    from exermote_sgan.runs import load_run

    window_set = load_windows(watch_windows)
    test = np.flatnonzero(window_set.subjects == 3)
    raw = np.asarray(window_set.windows[test])
    runs = [load_run(m) for m in members]
    scales = [r.preprocessing.scaler.scale_ for r in runs]
    assert np.abs(scales[0] / scales[1] - 1).max() > 0.5  # the scalers really differ
    expected = np.mean([r.classifier.predict(r.preprocessing.scaler.transform(raw), verbose=0)
                        for r in runs], axis=0)
    combined = load_run(ensemble)
    scaled = combined.preprocessing.scaler.transform(raw)
    np.testing.assert_allclose(combined.classifier.predict(scaled, verbose=0), expected,
                               atol=2e-5)
    np.testing.assert_allclose(NumpyClassifier.from_keras(combined.classifier)(scaled),
                               expected, atol=2e-5)
    state = json.loads((ensemble / "preprocessing.json").read_text())
    assert state["ensemble_of"] == [str(m) for m in members]
    assert state["ensemble_seeds"] == [0, 1] and state["test_subjects"] == [3]
    assert state["training_command"].startswith("exermote-sgan ensemble ")
    # scored on the test subject every member held out
    metrics = json.loads((ensemble / "metrics.json").read_text())
    accuracy = np.mean(expected.argmax(1) == window_set.labels[test])
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1 / len(test))


def test_an_ensemble_is_evaluated_exported_and_streamed_like_a_run(ensemble, watch_windows,
                                                                   watch_raw_dir, tmp_path,
                                                                   capsys):
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.mil_evaluator import MILEvaluator, load_mil_program
    from exermote_sgan.export.weights import extract_weights, reference_forward
    from exermote_sgan.runs import load_run

    assert main(["evaluate", str(ensemble), str(watch_windows), "--json",
                 str(tmp_path / "m.json")]) == 0
    stored = json.loads((ensemble / "metrics.json").read_text())
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == stored["accuracy"]

    report = export_run(ensemble, tmp_path / "e", precision="fp32", flexible_batch=True,
                        max_windows=60, tflite=True)
    assert report.passed and report.mlpackage_check.max_abs_diff <= 1e-4
    assert report.tflite_check.max_abs_diff <= 1e-4
    assert report.app_model_skipped[-1] == ("the classifier is an ensemble of 2 networks, the "
                                            "app's model is one")
    run = load_run(ensemble)
    weights = extract_weights(run.classifier)
    assert [m.trunk for m in weights.members] == ["pool", "lstm"]
    raw = np.random.default_rng(0).normal(0, 1, (16, 40, 6)).astype(np.float32)
    _, program = load_mil_program(report.mlpackage)
    scores = MILEvaluator(program).evaluate({"sensorWindow": raw})["scores"]
    expected = reference_forward(weights, run.preprocessing.scaler.transform(raw))
    assert np.abs(scores - expected).max() <= 1e-4

    capsys.readouterr()
    recording = watch_raw_dir / "subject_03" / "ABD_left.csv"
    assert main(["predict", str(ensemble), str(recording)]) == 0
    assert "subject_03/ABD_left" in capsys.readouterr().out
    assert main(["personalize", str(ensemble), str(recording), "--out",
                 str(tmp_path / "p")]) == 2
    assert "personalise each of its members" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_bad_ensembles_exit_2_and_write_nothing(members, ensemble, tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["ensemble", str(ensemble), str(members[0]), "--out", str(out)]) == 2
    assert "is itself an ensemble; combine the runs it was made of" in capsys.readouterr().err
    assert main(["ensemble", str(members[0]), "--out", str(out)]) == 2
    assert "needs at least 2 runs" in capsys.readouterr().err
    assert main(["ensemble", str(members[0]), str(members[0]), "--out", str(out)]) == 2
    assert "a run is given twice" in capsys.readouterr().err
    assert main(["ensemble", *map(str, members), "--out", str(members[1])]) == 2
    assert "--out is one of the members" in capsys.readouterr().err
    assert main(["ensemble", str(members[0]), str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope: run directory not found" in capsys.readouterr().err

    other = tmp_path / "other"  # the same network, trained on differently named features
    shutil.copytree(members[1], other)
    state = json.loads((other / "preprocessing.json").read_text())
    state["features"] = [f"{name}_v2" for name in state["features"]]
    (other / "preprocessing.json").write_text(json.dumps(state))
    assert main(["ensemble", str(members[0]), str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "other/preprocessing.json" not in err and "its features" in err
    assert "must be trained on the same kind of windows" in err
    assert not out.exists()


def test_the_watch_benchmark_scores_ensembles_of_consecutive_seeds(members, ensemble, tmp_path):
    import sys

    import pandas as pd

    sys.path.insert(0, str(REPO / "benchmarks"))
    from watch import add_ensembles, seed_groups

    assert seed_groups([5, 0, 1, 2, 3, 4, 6, 7], 3) == [(0, 1, 2), (3, 4, 5)]
    assert seed_groups([0, 1], 3) == []
    results = tmp_path / "results.csv"
    pd.DataFrame([{"test_subjects": "3", "model": "baseline", "labeled_fraction": 1.0,
                   "seed": seed, "accuracy": 0.5, "macro_f1": 0.5, "run_dir": str(run)}
                  for seed, run in enumerate(members)]).to_csv(results, index=False)
    table = add_ensembles(results, tmp_path, 2)
    row = table[table["model"] == "ensemble-2"].iloc[0]
    stored = json.loads((ensemble / "metrics.json").read_text())  # the same two members
    assert (row["seed"], row["accuracy"]) == (0, pytest.approx(stored["accuracy"]))
    assert len(add_ensembles(results, tmp_path, 2)) == 3  # a finished group is not redone
