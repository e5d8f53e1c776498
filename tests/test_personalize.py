"""personalize: a trained run retrained with a new user's unlabeled recordings.

The user's recordings are windowed exactly as the run's windows (checked against
``preprocess`` row for row), their labels are never read, bad input is one line with exit
status 2 and nothing written, and the personalised run is one ``evaluate``, ``predict`` and
``export`` accept.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
from exermote_sgan.recordings.synthetic import write_synthetic_recordings
from exermote_sgan.data.windows_file import WindowSet, save_windows
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.personalization.personalize import read_unlabeled_windows

FAST = dict(epochs=2, batch_size=16, steps_per_epoch=3, verbose=0)
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "personalize.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Synthetic recordings of subjects 1-3 (three sessions each) and their windows, stride 4;
    subject 3's first session stands in for a new user's recording."""
    root = tmp_path_factory.mktemp("personalize")
    paths = write_synthetic_recordings(root / "raw", subjects=(1, 2, 3), sessions_per_subject=3,
                                       rows_per_session=700)
    window_set, _ = preprocess(paths, config=PreprocessConfig(stride=4))
    windows_path = save_windows(root / "windows.h5", window_set)
    user = sorted(p for p in paths if p.stem.endswith(" 3"))[0]
    return {"root": root, "paths": paths, "windows": window_set, "windows_path": windows_path,
            "user": user}


def _session(window_set, stem):
    return window_set.subset(window_set.sessions == window_set.session_names.index(stem))


def test_user_windows_are_the_runs_windows_of_the_same_recording(data, tmp_path):
    window_set = data["windows"]
    features = ("xGravity", "yAcceleration", "zRotationRate")
    mine, files = read_unlabeled_windows(
        [data["user"]], features=features, timesteps=40, stride=4, label_offset=20,
        sample_rate_hz=10.0)
    same = _session(window_set, data["user"].stem).select_features(features)
    assert files == [str(data["user"])] and len(mine) == len(same) > 0
    np.testing.assert_array_equal(mine.windows, same.windows)
    np.testing.assert_array_equal(mine.end_index, same.end_index)
    assert mine.features == features and set(mine.subjects.tolist()) == {-1}

    # labels are never read: a file without label or subject columns gives the same windows
    frame = pd.read_csv(data["user"], dtype=str, keep_default_na=False)
    unlabeled = tmp_path / data["user"].name
    frame.drop(columns=["exerciseType", "exerciseSubType", "individual"]).to_csv(unlabeled,
                                                                              index=False)
    again, _ = read_unlabeled_windows([unlabeled], features=features, timesteps=40, stride=4,
                                      label_offset=20, sample_rate_hz=10.0)
    np.testing.assert_array_equal(again.windows, mine.windows)


def test_generic_recordings_are_read_by_their_columns(tmp_path):
    from exermote_sgan.recordings.readers import ColumnSpec

    rows = 130
    t = np.arange(rows) * 20  # ms, 50 Hz
    values = np.c_[np.sin(t / 300.0), np.cos(t / 500.0)]
    pd.DataFrame({"ms": t, "a": values[:, 0], "b": values[:, 1]}).to_csv(tmp_path / "w.csv",
                                                                        index=False)
    spec = ColumnSpec(timestamp="ms", timestamp_unit="ms", features=("a", "b"), label="label",
                      subject="subject", feature_names=("accA", "accB"))
    mine, _ = read_unlabeled_windows([tmp_path / "w.csv"], features=("accB",), timesteps=50,
                                     stride=10, label_offset=25, sample_rate_hz=50.0,
                                     format="generic", columns=spec)
    assert len(mine) == (rows - 50) // 10 + 1
    np.testing.assert_allclose(mine.windows[1, :, 0], values[10:60, 1], rtol=1e-6)
    with pytest.raises(ExermoteInputError,
                       match="w.csv.*recorded at 50 Hz.*windows are at 25 Hz.*record"):
        read_unlabeled_windows([tmp_path / "w.csv"], features=("accB",), timesteps=50,
                               stride=10, label_offset=25, sample_rate_hz=25.0,
                               format="generic", columns=spec)
    with pytest.raises(ExermoteInputError, match="w.csv.*no feature 'accC'"):
        read_unlabeled_windows([tmp_path / "w.csv"], features=("accC",), timesteps=50,
                               stride=10, label_offset=25, sample_rate_hz=50.0,
                               format="generic", columns=spec)


def _fake_run(tmp_path, windows_path, **changes) -> Path:
    """A run directory with only its training configuration: enough for the input checks,
    which all happen before anything trains."""
    from exermote_sgan.training.config import TrainConfig

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    config = TrainConfig(windows_path=windows_path, out_dir=run, test_subjects=(3,))
    state = {**config.to_dict(), **changes}
    (run / "checkpoints" / "train_config.json").write_text(json.dumps(state))
    return run


@pytest.mark.parametrize("case, message", [
    ("no_run", "no such run directory"),
    ("not_a_run", "train_config.json is missing"),
    ("out_is_run", "option 'out'.*is the run being personalised"),
    ("out_not_empty", "option 'out'.*is not empty"),
    ("no_windows", "windows file is missing.*--windows"),
    ("no_recording", "no such file or folder"),
    ("wrong_rate", "recorded at 5 Hz.*10 Hz"),
    ("missing_column", "missing column.*header"),
    ("generic_no_columns", "--format generic needs --columns-file"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(data, tmp_path, capsys, case,
                                                          message):
    run = _fake_run(tmp_path, data["windows_path"])
    out = tmp_path / "personal"
    recording = data["user"]
    extra = []
    if case == "no_run":
        run = tmp_path / "nothing"
    elif case == "not_a_run":
        (run / "checkpoints" / "train_config.json").unlink()
    elif case == "out_is_run":
        out = run
    elif case == "out_not_empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no_windows":
        run = _fake_run(tmp_path / "b", tmp_path / "moved.h5")
    elif case == "no_recording":
        recording = tmp_path / "absent.csv"
    elif case == "wrong_rate":
        frame = pd.read_csv(recording, dtype=str, keep_default_na=False)
        frame = frame.iloc[::2]  # every other row: 5 Hz
        recording = tmp_path / "slow.csv"
        frame.to_csv(recording, index=False)
    elif case == "missing_column":
        frame = pd.read_csv(recording, dtype=str, keep_default_na=False)
        recording = tmp_path / "short.csv"
        frame.drop(columns=["Device: yGravity"]).to_csv(recording, index=False)
    elif case == "generic_no_columns":
        extra = ["--format", "generic"]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    status = main(["personalize", str(run), str(recording), "--out", str(out), "--quiet",
                   *extra])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("exermote-sgan personalize: error:")
    import re
    assert re.search(message, err), err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("options, message", [
    (["--method", "finetune"], "option 'method'.*one of self-training, scaler, sgan"),
    (["--threshold", "1.5"], "option 'threshold'.*<= 1"),
    (["--threshold", "-0.1"], "option 'threshold'.*>= 0"),
    (["--class-share", "0"], "option 'class_share'.*> 0"),
    (["--rounds", "0"], "option 'rounds'.*>= 1"),
    (["--smooth-s", "-1"], "option 'smooth_s'.*>= 0"),
    (["--epochs", "0"], "option 'epochs'.*>= 1"),
    (["--method", "sgan", "--threshold", "0.8"],
     "option 'threshold'.*does not apply to method 'sgan'.*self-training"),
    (["--method", "scaler", "--epochs", "3"],
     "option 'epochs'.*does not apply to method 'scaler'"),
])
def test_bad_method_options_are_one_line_exit_2_and_nothing_written(data, tmp_path, capsys,
                                                                    options, message):
    import re

    run = _fake_run(tmp_path, data["windows_path"])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    status = main(["personalize", str(run), str(data["user"]), "--out",
                   str(tmp_path / "personal"), "--quiet", *options])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_python_api_checks_the_method_options_where_used(data, tmp_path):
    from exermote_sgan.personalization.personalize import personalize

    run = _fake_run(tmp_path, data["windows_path"])
    with pytest.raises(ExermoteInputError, match="option 'adapt_scaler'.*True or False"):
        personalize(run, [data["user"]], out=tmp_path / "p", adapt_scaler="yes")
    with pytest.raises(ExermoteInputError, match="option 'rounds'.*an integer"):
        personalize(run, [data["user"]], out=tmp_path / "p", rounds=1.5)
    with pytest.raises(TypeError):  # the options are keyword-only
        personalize(run, [data["user"]], tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_user_scaler_gives_the_users_rows_the_training_moments():
    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.personalization.adaptation import user_scaler

    rng = np.random.default_rng(0)
    train_rows = rng.normal([0.0, 5.0, -1.0], [1.0, 2.0, 0.5], size=(4000, 3))
    user_rows = rng.normal([1.0, 2.0, -1.0], [3.0, 0.5, 0.0], size=(3000, 3))  # 3rd constant
    base = MinMaxScaler().fit(train_rows)
    adapted = user_scaler(base, training_moments=(train_rows.mean(0), train_rows.std(0)),
                          user_moments=(user_rows.mean(0), user_rows.std(0)))
    mine, theirs = adapted.transform(user_rows), base.transform(train_rows)
    np.testing.assert_allclose(mine[:, :2].mean(0), theirs[:, :2].mean(0), atol=1e-5)
    np.testing.assert_allclose(mine[:, :2].std(0), theirs[:, :2].std(0), rtol=1e-4)
    # a feature the user holds constant keeps the run's scale, only its mean moves
    assert adapted.scale_[2] == pytest.approx(base.scale_[2])
    assert mine[:, 2].mean() == pytest.approx(theirs[:, 2].mean(), abs=1e-5)
    # it is an ordinary min-max scaler: it round-trips through preprocessing.json
    again = MinMaxScaler.from_dict(json.loads(json.dumps(adapted.to_dict())))
    np.testing.assert_allclose(again.transform(user_rows), mine, rtol=1e-6, atol=1e-6)


def test_pseudo_labels_smooth_within_a_session_and_keep_the_confident():
    from exermote_sgan.personalization.adaptation import pseudo_labels, smooth_along_time

    # two sessions, windows stored out of time order; class 1 is a blip inside session 0
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.9, 0.1], [0.9, 0.1],
                  [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])
    sessions = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    end_index = np.array([0, 4, 8, 12, 16, 0, 4, 8])
    order = np.array([3, 0, 7, 2, 5, 4, 1, 6])
    smoothed = smooth_along_time(p[order], sessions=sessions[order],
                                 end_index=end_index[order], width=3)
    back = np.empty_like(smoothed)
    back[order] = smoothed
    np.testing.assert_allclose(back[2], (p[1] + p[2] + p[3]) / 3)   # its neighbours in time
    np.testing.assert_allclose(back[0], (p[0] + p[1]) / 2)          # the edge: what there is
    np.testing.assert_allclose(back[5], (p[5] + p[6]) / 2)          # never the other session
    kept = pseudo_labels(p, threshold=0.6, sessions=sessions, end_index=end_index, width=3)
    assert kept.index.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert kept.labels.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]          # the blip is relabelled
    strict = pseudo_labels(p, threshold=0.85, sessions=sessions, end_index=end_index, width=1)
    assert strict.index.tolist() == [0, 1, 3, 4, 5, 6, 7]
    assert strict.class_counts(("a", "b")) == {"a": 4, "b": 3}


def test_unlabeled_windows_of_another_shape_are_refused(data, tmp_path):
    from exermote_sgan.training.config import TrainConfig
    from exermote_sgan.training.train_lib import train

    other = data["windows"]
    short = WindowSet(windows=other.windows[:5, :20], labels=other.labels[:5],
                      subjects=other.subjects[:5], sessions=other.sessions[:5],
                      end_index=other.end_index[:5], classes=other.classes,
                      features=other.features, timesteps=20,
                      session_names=other.session_names)
    path = save_windows(tmp_path / "short.h5", short)
    config = TrainConfig(windows_path=data["windows_path"], out_dir=tmp_path / "run",
                         test_subjects=(3,), unlabeled_windows=path, **FAST)
    with pytest.raises(ExermoteInputError, match="short.h5.*unlabeled_windows.*20 timesteps"):
        train(config)
    assert not (tmp_path / "run").exists()


def _general_run(data, tmp_path):
    """A tiny baseline run that never saw the user's session (subject 3's first), as a shipped
    model never saw the user, and the windows file it trained on."""
    from exermote_sgan.training.config import TrainConfig
    from exermote_sgan.training.train_lib import train

    windows = data["windows"]
    general_windows = save_windows(tmp_path / "general.h5", windows.subset(
        windows.sessions != windows.session_names.index(data["user"].stem)))
    return train(TrainConfig(windows_path=general_windows, model="baseline",
                             out_dir=tmp_path / "general", test_subjects=(3,),
                             labeled_fraction=0.3, **FAST)), general_windows


@pytest.mark.slow
def test_personalised_run_trains_on_the_users_windows_and_is_a_normal_run(data, tmp_path,
                                                                          capsys):
    from exermote_sgan.runs import load_run
    from exermote_sgan.training.config import TrainConfig
    from exermote_sgan.personalization.personalize import personalize
    from exermote_sgan.training.train_lib import train

    windows_path = data["windows_path"]
    user_session = data["user"].stem
    general, general_windows = _general_run(data, tmp_path)
    status = main(["personalize", str(general.run_dir), str(data["user"]), "--out",
                   str(tmp_path / "mine"), "--method", "sgan", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "unlabeled windows from 1 recording(s)" in out and "macro F1" in out
    mine = tmp_path / "mine"
    record = json.loads((mine / "personalize.json").read_text())
    split = json.loads((mine / "split.json").read_text())
    n_user = len(_session(data["windows"], user_session))
    assert record["n_personal_windows"] == split["n_extra_unlabeled"] == n_user
    assert record["personal_sessions"] == [user_session]
    # same labeled windows and test as the general run: only the unlabeled pool grew
    assert split["labeled_sha256"] == general.split["labeled_sha256"]
    assert split["n_test"] == general.split["n_test"]
    # built aside and moved in whole: the records point into the run, no leftovers beside it
    saved = json.loads((mine / "checkpoints" / "train_config.json").read_text())
    assert saved["unlabeled_windows"] == split["unlabeled_windows"] == str(
        (mine / "personal_windows.h5").absolute())
    assert (mine / "personal_windows.h5").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    run = load_run(mine)
    assert run.preprocessing.model == "sgan"
    assert run.preprocessing.provenance.unlabeled_windows == saved["unlabeled_windows"]
    assert run.preprocessing.training_command.startswith("exermote-sgan personalize ")

    # the user's windows are used: without them the same SGAN ends with other weights
    plain = train(TrainConfig(windows_path=general_windows, model="sgan",
                              out_dir=tmp_path / "plain", test_subjects=(3,),
                              labeled_fraction=0.3, **FAST))
    with_them = personalize(general.run_dir, [data["user"]], out=tmp_path / "api",
                            method="sgan").train
    assert with_them.metrics["accuracy"] == pytest.approx(run.metrics["accuracy"])  # determinism
    weights = [w for w in load_run(plain.run_dir).classifier.get_weights()]
    personal = load_run(tmp_path / "api").classifier.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(weights, personal))

    # evaluate, predict and export accept it
    assert main(["evaluate", str(mine), str(windows_path), "--subjects", "3"]) == 0
    assert main(["predict", str(mine), str(data["user"])]) == 0
    assert main(["export", str(mine), "--out", str(tmp_path / "Personal"), "--app-model", "no",
                 "--max-windows", "50"]) == 0
    assert (tmp_path / "Personal.mlpackage").exists()


def _benchmark():
    spec = importlib.util.spec_from_file_location("personalize_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _named(names, subjects):
    n = len(names)
    return WindowSet(windows=np.zeros((n, 2, 1), np.float32), labels=np.zeros(n, np.int64),
                     subjects=np.asarray(subjects, np.int64), sessions=np.arange(n),
                     end_index=np.zeros(n, np.int64), classes=("Break",), features=("x",),
                     timesteps=2, session_names=tuple(names))


def test_benchmark_lends_the_first_day_or_session_or_the_left_arm():
    bench = _benchmark()
    ex = _named(["2017-04-28 10-54-03 Individual 4", "2017-05-02 18-44-50 Individual 4",
                 "2017-04-28 10-48-31 Individual 4", "2017-04-28 08-35-55 Individual 3",
                 "2017-04-28 08-42-05 Individual 3"], [4, 4, 4, 3, 3])
    assert bench.adaptation_sessions(ex, 4, "exermote") == [2, 0]  # the first day, in order
    assert bench.adaptation_sessions(ex, 3, "exermote") == [3]     # one day: its first session
    watch = _named(["subject_01/ABD_left", "subject_01/ABD_right", "subject_01/ER_left",
                    "subject_02/ABD_left"], [1, 1, 1, 2])
    assert bench.adaptation_sessions(watch, 1, "watch") == [0, 2]
    with pytest.raises(ValueError, match="leave some to test"):
        bench.adaptation_sessions(watch, 2, "watch")


def test_benchmark_summary_reports_the_gap_closed_and_chooses_on_validation_folds():
    bench = _benchmark()
    rows = []
    test = [(0.70, 0.72, 0.80, 0.74, 0.90), (0.74, 0.70, 0.82, 0.78, 0.90)]
    for seed, scores in enumerate(test):
        for model, f1 in zip(("baseline", "sgan", "st0.9", "st0.6", "known"), scores):
            rows.append({"dataset": "exermote", "outer_subject": 0, "subject": 4,
                         "model": model, "labeled_fraction": 1.0, "seed": seed,
                         "accuracy": f1, "macro_f1": f1})
    # validation folds of person 4 (persons 1 and 2 held out in turn): st0.6 wins there,
    # although st0.9 wins on person 4's tested sessions
    for held, scores in ((1, (0.70, 0.69, 0.75)), (2, (0.60, 0.61, 0.64))):
        for model, f1 in zip(("baseline", "st0.9", "st0.6"), scores):
            rows.append({"dataset": "exermote", "outer_subject": 4, "subject": held,
                         "model": model, "labeled_fraction": 1.0, "seed": 0,
                         "accuracy": f1, "macro_f1": f1})
    results = pd.DataFrame(rows)
    chosen = bench.nested_choice(results)
    assert chosen[["outer_subject", "chosen"]].values.tolist() == [[4, "st0.6"]]
    text = bench.summary(results, personalized="st0.9")
    assert "| st0.9 (default) | 2 | 0.810 ± 0.010 |" in text
    assert "+9.0 ± 1.0 (2/2)" in text
    assert "gap closed by st0.9: 50% of the 18.0 points" in text
    assert "| selected | 2 | 0.760 ± 0.020 |" in text  # st0.6's test scores
    assert "gap closed by selected: 22% of the 18.0 points" in text
    assert "| st0.6 | 2 | 0.695 ± 0.055 | +4.5 ± 0.5 (2/2) |" in text  # validation table
    assert "person 4: st0.6 (0.695 over 2 folds)" in text


def test_benchmark_measures_the_packages_default():
    """The benchmark's 'default' row is personalize's default method with its defaults."""
    from exermote_sgan.personalization.personalize import (DEFAULT_METHOD, METHODS,
                                                           SELF_TRAINING_DEFAULTS)

    bench = _benchmark()
    name = bench.default_variant()
    kwargs = bench.VARIANTS[name]
    assert kwargs["method"] == DEFAULT_METHOD in METHODS
    if DEFAULT_METHOD == "self-training":
        assert {k: kwargs.get(k, v) for k, v in SELF_TRAINING_DEFAULTS.items()} == \
            SELF_TRAINING_DEFAULTS
    assert {v["method"] for v in bench.VARIANTS.values()} == set(METHODS)


@pytest.mark.realdata
def test_real_recording_gives_the_windows_preprocess_cut(real_recordings):
    """A real Exermote recording (with gaps at its start) read as a new user's: the windows
    the benchmark and an app get are the ones ``preprocess`` cut from it."""
    path = real_recordings[0]
    window_set, _ = preprocess([path], config=PreprocessConfig(stride=4))
    mine, _ = read_unlabeled_windows([path], features=window_set.features, timesteps=40,
                                     stride=4, label_offset=20, sample_rate_hz=10.0)
    assert len(mine) == len(window_set) > 500
    np.testing.assert_array_equal(mine.windows, window_set.windows)
    np.testing.assert_array_equal(mine.end_index, window_set.end_index)


@pytest.mark.realdata
def test_watch_recordings_are_windowed_for_the_benchmark(watch_raw_dir):
    raw = watch_raw_dir
    bench = _benchmark()
    frame = pd.read_csv(raw / "subject_01" / "ABD_left.csv")
    ws, _ = read_unlabeled_windows([raw / "subject_01" / "ABD_left.csv"],
                                   features=bench.WATCH_FEATURES, timesteps=100, stride=50,
                                   label_offset=50, sample_rate_hz=50.0, format="generic",
                                   columns=bench.watch_columns())
    assert len(ws) == (len(frame) - 100) // 50 + 1
    np.testing.assert_allclose(ws.windows[2, :, 3], frame["gyro_x_rad_s"].to_numpy()[100:200],
                               rtol=1e-6)
    # a left-arm recording is mirrored into the right arm's frame, as the example reads it
    np.testing.assert_allclose(ws.windows[2, :, 0], -frame["acc_x_g"].to_numpy()[100:200],
                               rtol=1e-6)
    np.testing.assert_allclose(ws.windows[2, :, 4], -frame["gyro_y_rad_s"].to_numpy()[100:200],
                               rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["self-training", "scaler"])
def test_cheap_methods_adapt_the_runs_classifier_into_a_normal_run(data, tmp_path, capsys,
                                                                   method):
    """self-training and the user scaler start from the run's classifier, keep its labeled
    windows and test, never read the user's labels, and write a run that evaluate, predict
    and export (NumPy-verified) accept; the exported model carries the user's scaler."""
    import re

    from exermote_sgan.runs import load_run
    from exermote_sgan.personalization.personalize import personalize

    user_session = data["user"].stem
    general, general_windows = _general_run(data, tmp_path)
    options = (["--threshold", "0", "--class-share", "0.5", "--epochs", "2",
                "--steps-per-epoch", "3"] if method == "self-training" else [])
    status = main(["personalize", str(general.run_dir), str(data["user"]), "--out",
                   str(tmp_path / "mine"), "--quiet", "--method", method, *options])
    out = capsys.readouterr().out
    assert status == 0, out
    mine = tmp_path / "mine"
    record = json.loads((mine / "personalize.json").read_text())
    split = json.loads((mine / "split.json").read_text())
    n_user = len(_session(data["windows"], user_session))
    assert record["method"] == method and record["n_personal_windows"] == n_user
    assert split["labeled_sha256"] == general.split["labeled_sha256"]
    assert split["n_test"] == general.split["n_test"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    run, before = load_run(mine), load_run(general.run_dir)
    assert run.metrics is not None and set(run.metrics) >= {"accuracy", "macro_f1"}
    changed = [not np.allclose(a, b) for a, b in zip(run.classifier.get_weights(),
                                                     before.classifier.get_weights())]
    if method == "self-training":
        assert record["rounds"][0]["n_pseudo_labeled"] == pytest.approx(n_user / 2, abs=4)
        assert any(changed)
        # the scaler is not adapted by default
        np.testing.assert_allclose(run.preprocessing.scaler.scale_,
                                   before.preprocessing.scaler.scale_)
    else:
        assert not any(changed)  # the classifier as it was; only the scaler is the user's
        user = load_windows_of(mine / "personal_windows.h5", run.preprocessing.features)
        general_set = load_windows_of(general_windows, run.preprocessing.features)
        trained_on = general_set.subset(np.isin(general_set.subjects,
                                                general.split["training_subjects"]))
        # the user's rows, scaled by the user's scaler, look like the training rows scaled by
        # the run's (to within the difference between window and row averages)
        mine_scaled = run.preprocessing.scaler.transform(np.asarray(user.windows))
        theirs = before.preprocessing.scaler.transform(np.asarray(trained_on.windows))
        np.testing.assert_allclose(mine_scaled.mean(axis=(0, 1)), theirs.mean(axis=(0, 1)),
                                   atol=0.03)
        assert not np.allclose(run.preprocessing.scaler.scale_,
                               before.preprocessing.scaler.scale_)
        assert record["settings"] == {}

    # the user's labels are never read: other labels in the recording, the same model
    frame = pd.read_csv(data["user"], dtype=str, keep_default_na=False)
    frame["exerciseType"] = "Squat"
    frame["individual"] = "9"
    relabelled = tmp_path / "relabelled" / data["user"].name
    relabelled.parent.mkdir()
    frame.to_csv(relabelled, index=False)
    kwargs = ({"threshold": 0.0, "class_share": 0.5, "epochs": 2, "steps_per_epoch": 3}
              if method == "self-training" else {})
    again = personalize(general.run_dir, [relabelled], out=tmp_path / "again", method=method,
                        **kwargs)
    assert again.train.metrics["macro_f1"] == pytest.approx(run.metrics["macro_f1"])
    for a, b in zip(load_run(tmp_path / "again").classifier.get_weights(),
                    run.classifier.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)

    # evaluate, predict and export (verified by the NumPy evaluators) accept it
    assert main(["evaluate", str(mine), str(data["windows_path"]), "--subjects", "3"]) == 0
    assert main(["predict", str(mine), str(data["user"])]) == 0
    assert main(["export", str(mine), "--out", str(tmp_path / "Personal"), "--app-model", "no",
                 "--precision", "fp32", "--max-windows", "50"]) == 0
    assert re.search(r"Personal\.mlpackage: OK: .*\(numpy\) on 50 windows",
                     capsys.readouterr().out)
    exported = json.loads((mine / "preprocessing.json").read_text())["scaler"]
    assert exported == run.preprocessing.scaler.to_dict()


def load_windows_of(path, features):
    from exermote_sgan.data.windows_file import load_windows

    return load_windows(path).select_features(features)
