"""Evaluation of a classifier: figures checked against hand-computed values, bad input, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.data.windows_file import WindowSet, save_windows
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.runs import Preprocessing, Provenance, save_run
from exermote_sgan.training.evaluation import (evaluate_classifier, format_metrics_table,
                                               metrics_from_predictions, timing_errors)

CLASSES = ("A", "B", "C", "D")  # D never occurs and is never predicted
FEATURES = ("f0", "f1", "f2", "f3")
TIMESTEPS = 8

# Hand-made case: true label, predicted label, subject of ten windows.
TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
PRED = [0, 0, 0, 1, 1, 1, 0, 2, 2, 1]
SUBJ = [1, 1, 2, 2, 1, 2, 2, 1, 2, 2]
# Worked out by hand:
#   accuracy 7/10; A: P 3/4 R 3/4; B: P 2/4 R 2/3 F1 4/7; C: P 2/2 R 2/3 F1 4/5
#   subject 1 gets all 4 right, subject 2 gets 3 of 6.
#   The windows are consecutive rows of one session.  Errors: window 3 (A called B; window 4,
#   one row later, is B), window 6 (B called A; the nearest A is window 3, three rows earlier)
#   and window 9 (C called B; the nearest B is window 6, three rows earlier).  So within 0.2 s
#   (two rows at 10 Hz) one of the three errors is a timing error; within 0.3 s all three are.
EXPECTED_CONFUSION = [[3, 1, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]]


def _controlled_windows(raw_scale=10.0, raw_offset=-3.0) -> WindowSet:
    """Windows whose feature ``PRED[i]`` is high and the others low, in made-up raw units.

    ``raw_scale`` and ``raw_offset`` (scalars or one per feature) map the [0, 1] values the
    classifier expects to raw units.
    """
    scaled = np.zeros((len(TRUE), TIMESTEPS, len(FEATURES)), dtype=np.float32)
    for i, p in enumerate(PRED):
        scaled[i, :, p] = 1.0
    scaled[:, 0, 3] = 1.0  # feature 3 spans [0, 1] as well, but one step never wins the mean
    raw = scaled * np.asarray(raw_scale, dtype=np.float32) + np.asarray(raw_offset, np.float32)
    n = len(TRUE)
    return WindowSet(windows=raw.astype(np.float32), labels=np.array(TRUE),
                     subjects=np.array(SUBJ), sessions=np.zeros(n, dtype=np.int64),
                     end_index=np.arange(n) + TIMESTEPS - 1, classes=CLASSES,
                     features=FEATURES, timesteps=TIMESTEPS, session_names=("s",))


def _preprocessing(window_set: WindowSet, **extra) -> Preprocessing:
    return Preprocessing(classes=CLASSES, features=FEATURES, timesteps=TIMESTEPS,
                         label_offset=4, sample_rate_hz=10.0,
                         scaler=MinMaxScaler().fit(window_set.windows),
                         provenance=Provenance(**extra))


def _mean_feature_classifier():
    """A Keras model predicting the class whose feature has the largest mean over time."""
    import keras

    inputs = keras.Input((TIMESTEPS, len(FEATURES)))
    pooled = keras.layers.GlobalAveragePooling1D()(inputs)
    head = keras.layers.Dense(len(CLASSES), activation="softmax", name="scores")
    model = keras.Model(inputs, head(pooled))
    head.set_weights([np.eye(len(FEATURES), len(CLASSES), dtype=np.float32) * 20.0,
                      np.zeros(len(CLASSES), dtype=np.float32)])
    return model


@pytest.fixture(scope="module")
def controlled():
    window_set = _controlled_windows()
    return _mean_feature_classifier(), _preprocessing(window_set), window_set


def test_metrics_match_hand_computation(controlled):
    metrics = evaluate_classifier(*controlled)
    assert metrics["n_windows"] == 10
    assert metrics["classes"] == list(CLASSES)
    assert metrics["accuracy"] == pytest.approx(0.7)
    per_class = metrics["per_class"]
    assert per_class["A"] == pytest.approx({"precision": 0.75, "recall": 0.75, "f1": 0.75,
                                            "support": 4})
    assert per_class["B"] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7,
                                            "support": 3})
    assert per_class["C"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8,
                                            "support": 3})
    # the absent class still appears, with zero support ...
    assert per_class["D"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # ... but does not drag the macro F1 down (it is neither true nor predicted anywhere)
    assert metrics["macro_f1"] == pytest.approx((0.75 + 4 / 7 + 0.8) / 3)
    assert metrics["confusion_matrix"] == EXPECTED_CONFUSION
    assert metrics["per_subject"] == pytest.approx({"1": 1.0, "2": 0.5})
    assert metrics["timing"] == pytest.approx({"tolerance_s": 0.2, "errors": 3,
                                               "timing_errors": 1,
                                               "accuracy_within_tolerance": 0.8})
    json.dumps(metrics)  # plain JSON


@pytest.mark.parametrize("tolerance_s, timing, accuracy", [(0.0, 0, 0.7), (0.1, 1, 0.8),
                                                           (0.3, 3, 1.0), (5.0, 3, 1.0)])
def test_timing_tolerance(controlled, tolerance_s, timing, accuracy):
    metrics = evaluate_classifier(*controlled, tolerance_s=tolerance_s)
    assert metrics["timing"]["timing_errors"] == timing
    assert metrics["timing"]["accuracy_within_tolerance"] == pytest.approx(accuracy)
    assert metrics["accuracy"] == pytest.approx(0.7)  # the plain figures do not change


@pytest.mark.parametrize("tolerance_s", [-0.1, float("nan"), float("inf"), "soon", True])
def test_bad_timing_tolerance_is_refused(controlled, tolerance_s):
    with pytest.raises(ExermoteInputError, match="timing tolerance") as info:
        evaluate_classifier(*controlled, tolerance_s=tolerance_s)
    assert info.value.option == "tolerance"


def test_timing_errors_stay_within_a_session_and_ignore_order():
    # Two sessions whose rows overlap in number; windows every two rows (stride 2).
    true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 2, 2, 1])
    sessions = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    rows = np.array([10, 12, 14, 16, 10, 12, 14, 16])
    # window 1 (A called B) has the B of window 2 two rows later; window 4 (C called A) would
    # find session 0's A at the same row number, but that is another session; window 7 (C
    # called B) has no B in its session at all.
    expected = {0: [], 1: [], 2: [1], 4: [1], 100: [1]}
    for tolerance, timing in expected.items():
        mask = timing_errors(true, pred, sessions=sessions, rows=rows, tolerance_rows=tolerance)
        assert np.flatnonzero(mask).tolist() == timing
    shuffled = np.random.default_rng(0).permutation(len(true))
    mask = timing_errors(true[shuffled], pred[shuffled], sessions=sessions[shuffled],
                         rows=rows[shuffled], tolerance_rows=2)
    assert np.flatnonzero(mask).tolist() == [int(np.flatnonzero(shuffled == 1)[0])]
    with pytest.raises(ValueError, match="tolerance_rows"):
        timing_errors(true, pred, sessions=sessions, rows=rows, tolerance_rows=1.5)
    with pytest.raises(ValueError, match="equal length"):
        timing_errors(true, pred[:-1], sessions=sessions, rows=rows, tolerance_rows=1)
    assert timing_errors([], [], sessions=[], rows=[], tolerance_rows=2).shape == (0,)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2),
                          st.integers(0, 30)),
                min_size=1, max_size=40, unique_by=lambda w: (w[2], w[3])),
       st.integers(0, 6))
def test_timing_errors_match_a_direct_search(windows, tolerance):
    """Against the definition, window by window: wrong, and some window of the same session
    within ``tolerance`` rows has the predicted class as its true class."""
    true, pred, sessions, rows = (np.array(column) for column in zip(*windows))
    expected = [bool(p != t and np.any((sessions == s) & (np.abs(rows - r) <= tolerance)
                                       & (true == p)))
                for t, p, s, r in windows]
    mask = timing_errors(true, pred, sessions=sessions, rows=rows, tolerance_rows=tolerance)
    assert mask.tolist() == expected


def test_scaler_is_applied_before_prediction(controlled):
    classifier, preprocessing, window_set = controlled
    # Raw units in which feature 3 dwarfs the others, so that unscaled every window would be
    # called D: only the run's scaler maps them back to what the classifier expects.
    shifted = _controlled_windows(raw_scale=[1.0, 2.0, 3.0, 400.0], raw_offset=[0, -1, 5, 50])
    unscaled = np.argmax(classifier.predict(shifted.windows, verbose=0), axis=1)
    assert np.all(unscaled == 3)
    metrics = evaluate_classifier(classifier, _preprocessing(shifted), shifted)
    assert metrics["accuracy"] == pytest.approx(0.7)
    assert metrics["confusion_matrix"] == EXPECTED_CONFUSION


def test_subject_selection(controlled):
    metrics = evaluate_classifier(*controlled, subjects=[2])
    assert metrics["n_windows"] == 6
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["per_subject"] == pytest.approx({"2": 0.5})
    assert sum(map(sum, metrics["confusion_matrix"])) == 6


def test_agrees_with_numpy_on_a_real_network():
    from exermote_sgan.models.networks import build_baseline

    rng = np.random.default_rng(3)
    n = 60
    raw = rng.normal(size=(n, TIMESTEPS, len(FEATURES))).astype(np.float32) * 4 + 2
    window_set = WindowSet(windows=raw, labels=rng.integers(0, 4, n),
                           subjects=rng.integers(1, 4, n),
                           sessions=np.zeros(n, dtype=np.int64), end_index=np.arange(n),
                           classes=CLASSES, features=FEATURES, timesteps=TIMESTEPS)
    preprocessing = _preprocessing(window_set)
    model = build_baseline(TIMESTEPS, len(FEATURES), len(CLASSES), conv_filters=4,
                           lstm_units=4)
    metrics = evaluate_classifier(model, preprocessing, window_set, batch_size=7)
    pred = np.argmax(model.predict(preprocessing.scaler.transform(raw), verbose=0), axis=1)
    truth = window_set.labels
    assert metrics["accuracy"] == pytest.approx(np.mean(pred == truth))
    confusion = np.zeros((4, 4), dtype=int)
    np.add.at(confusion, (truth, pred), 1)
    assert metrics["confusion_matrix"] == confusion.tolist()
    for s in np.unique(window_set.subjects):
        mask = window_set.subjects == s
        assert metrics["per_subject"][str(s)] == pytest.approx(np.mean(pred[mask] == truth[mask]))
    for k, name in enumerate(CLASSES):
        assert metrics["per_class"][name]["support"] == int(np.sum(truth == k))


@pytest.mark.parametrize("change, column", [
    (dict(classes=("A", "B", "C", "E")), "classes"),
    (dict(features=("f0", "f1", "f2", "other")), "features"),
])
def test_mismatched_windows_are_refused(controlled, change, column):
    classifier, preprocessing, window_set = controlled
    with pytest.raises(ExermoteInputError, match=column) as info:
        evaluate_classifier(classifier, preprocessing, replace(window_set, **change),
                            path="w.h5")
    assert info.value.column == column and info.value.path == "w.h5"


def test_mismatched_timesteps_are_refused(controlled):
    classifier, preprocessing, window_set = controlled
    short = WindowSet(windows=window_set.windows[:, :6], labels=window_set.labels,
                      subjects=window_set.subjects, sessions=window_set.sessions,
                      end_index=window_set.end_index, classes=CLASSES, features=FEATURES,
                      timesteps=6)
    with pytest.raises(ExermoteInputError, match=r"timesteps 6.*timesteps 8"):
        evaluate_classifier(classifier, preprocessing, short)


def test_unknown_subject_and_empty_selection(controlled):
    with pytest.raises(ExermoteInputError, match=r"subject\(s\) 7.*holds subjects 1, 2"):
        evaluate_classifier(*controlled, subjects=[2, 7])
    with pytest.raises(ExermoteInputError, match="no windows"):
        evaluate_classifier(*controlled, subjects=[])


def test_metrics_from_predictions_rejects_nothing_to_evaluate():
    with pytest.raises(ExermoteInputError, match="no windows"):
        metrics_from_predictions([], [], classes=CLASSES)


def test_table_shows_every_figure(controlled):
    metrics = evaluate_classifier(*controlled)
    table = format_metrics_table(metrics)
    assert "accuracy: 0.700" in table
    assert f"macro F1: {(0.75 + 4 / 7 + 0.8) / 3:.3f}" in table
    b_rows = [line.split()[1:] for line in table.splitlines() if line.startswith("B ")]
    assert b_rows == [["0.500", "0.667", "0.571", "3"], ["1", "2", "0", "0"]]  # figures, confusion
    assert "1: 1.000, 2: 0.500" in table
    assert ("errors: 3, of which 1 are timing errors (the predicted class is the true one "
            "within 0.2 s); counting those as right, accuracy 0.800") in table


# -- the command line -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, controlled):
    """A tiny baseline saved as a run directory whose test subject is 2, and a windows file."""
    from exermote_sgan.models.networks import build_baseline

    _, preprocessing, window_set = controlled
    root = tmp_path_factory.mktemp("evaluate_cli")
    model = build_baseline(TIMESTEPS, len(FEATURES), len(CLASSES), conv_filters=4,
                           lstm_units=4)
    with_test = replace(preprocessing, provenance=Provenance(test_subjects=(2,)))
    save_run(root / "run", model, with_test)
    save_run(root / "run_all", model, preprocessing)
    save_windows(root / "windows.h5", window_set)
    return root, model, preprocessing, window_set


def _cli(*argv):
    from exermote_sgan.cli import main

    return main([str(a) for a in argv])


def test_cli_defaults_to_the_runs_test_subjects(saved_run, capsys):
    root, model, preprocessing, window_set = saved_run
    assert _cli("evaluate", root / "run", root / "windows.h5", "--json", root / "m.json") == 0
    written = json.loads((root / "m.json").read_text())
    expected = evaluate_classifier(model, preprocessing, window_set, subjects=[2])
    assert set(written) == {"accuracy", "macro_f1", "per_class", "confusion_matrix", "classes",
                            "per_subject", "n_windows", "timing"}
    assert written["n_windows"] == 6 and list(written["per_subject"]) == ["2"]
    assert written == json.loads(json.dumps(expected))
    out = capsys.readouterr()
    assert f"accuracy: {expected['accuracy']:.3f}" in out.out
    assert "warning" not in out.err


def test_cli_subjects_option_and_warning_without_test_subjects(saved_run, capsys):
    root, model, preprocessing, window_set = saved_run
    assert _cli("evaluate", root / "run_all", root / "windows.h5", "--json",
                root / "all.json") == 0
    assert "may include the run's training subjects" in capsys.readouterr().err
    assert json.loads((root / "all.json").read_text())["n_windows"] == 10
    assert _cli("evaluate", root / "run_all", root / "windows.h5", "--subjects", "1",
                "--json", root / "one.json") == 0
    one = json.loads((root / "one.json").read_text())
    assert one["n_windows"] == 4 and list(one["per_subject"]) == ["1"]
    assert _cli("evaluate", root / "run_all", root / "windows.h5", "--tolerance", "0.5",
                "--json", root / "wide.json") == 0
    wide = json.loads((root / "wide.json").read_text())["timing"]
    assert wide["tolerance_s"] == 0.5
    assert wide == json.loads(json.dumps(evaluate_classifier(
        *saved_run[1:], tolerance_s=0.5)["timing"]))


def test_cli_bad_input_exits_2(saved_run, tmp_path, capsys):
    root, *_ = saved_run
    assert _cli("evaluate", tmp_path / "nope", root / "windows.h5") == 2
    assert "run directory not found" in capsys.readouterr().err
    assert _cli("evaluate", root / "run", root / "windows.h5", "--subjects", "9") == 2
    assert "subject(s) 9" in capsys.readouterr().err
    assert _cli("evaluate", root / "run", root / "windows.h5", "--tolerance", "-1") == 2
    assert ("option 'tolerance': the timing tolerance must be a number of seconds >= 0, "
            "got -1.0") in capsys.readouterr().err
    _, _, _, window_set = saved_run
    other = replace(window_set, features=("x", "y", "z", "w"))
    save_windows(tmp_path / "other.h5", other)
    assert _cli("evaluate", root / "run", tmp_path / "other.h5") == 2
    err = capsys.readouterr().err
    assert "features" in err and "Traceback" not in err
    assert not (tmp_path / "m.json").exists()


@pytest.mark.realdata
def test_on_real_recordings(real_recordings):
    """Real windows of two people: supports and per-subject counts come from the windows."""
    from exermote_sgan.recordings.pipeline import preprocess
    from exermote_sgan.models.networks import build_baseline

    by_subject = {}
    for path in real_recordings:  # one recording each of the first two individuals
        by_subject.setdefault(path.stem.rsplit(" ", 1)[-1], path)
    picked = [by_subject[k] for k in sorted(by_subject)[:2]]
    window_set, _ = preprocess(picked)
    subjects = sorted(np.unique(window_set.subjects).tolist())
    assert len(subjects) == 2
    preprocessing = Preprocessing(classes=window_set.classes, features=window_set.features,
                                  timesteps=window_set.timesteps,
                                  label_offset=window_set.label_offset,
                                  sample_rate_hz=window_set.sample_rate_hz,
                                  scaler=MinMaxScaler().fit(window_set.windows))
    model = build_baseline(window_set.timesteps, len(window_set.features),
                           window_set.num_classes, conv_filters=4, lstm_units=4)
    metrics = evaluate_classifier(model, preprocessing, window_set, subjects=[subjects[1]])
    held_out = window_set.subset(window_set.subjects == subjects[1])
    assert metrics["n_windows"] == len(held_out) > 2000
    assert {c: v["support"] for c, v in metrics["per_class"].items()} == held_out.class_counts()
    assert np.sum(metrics["confusion_matrix"], axis=1).tolist() == \
        list(held_out.class_counts().values())
    assert list(metrics["per_subject"]) == [str(subjects[1])]
    assert 0.0 <= metrics["macro_f1"] <= 1.0
