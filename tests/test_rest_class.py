"""Recordings without a rest class: labeled-set selection, counting, ``predict`` and
``evaluate-reps`` work without ``Break`` (a set is a run of one label, or a whole recording);
and ``evaluate-reps`` refuses labels the run does not know."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
from exermote_sgan.recordings.readers import ColumnSpec
from exermote_sgan.data.splits import find_sets, select_labeled
from exermote_sgan.inference.counting import RunCounter, count_repetitions

CLASSES = ("A", "B", "C")
FREQ = {"A": 0.3, "B": 1.0, "C": 2.5, "D": 1.0}  # D: a label the runs never learn
PATTERN = r"(?P<session>subject_(?P<subject>\d+)/[^/]+)\.csv$"
SPEC = dict(timestamp="time_ms", timestamp_unit="ms", features=["ax", "ay", "az"],
            label="exercise", path_pattern=PATTERN)
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _write(path, labels, *, rate=10.0, seed=0):
    """A recording whose label may change mid-file; each label has its own rhythm."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["time_ms,ax,ay,az,exercise"]
    for k, label in enumerate(labels):
        t = k / rate
        lines.append(f"{t * 1000:.0f},{np.sin(2 * np.pi * FREQ[label] * t):.4f},"
                     f"{0.1 * rng.normal():.4f},{FREQ[label]:.2f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _tree(root):
    for s in (1, 2, 3, 4):
        for k, label in enumerate(CLASSES):
            _write(root / f"subject_{s:02d}" / f"{label}.csv", [label] * 200, seed=s * 7 + k)
    return root


def _config():
    return PreprocessConfig(format="generic", columns=ColumnSpec(**SPEC), classes=CLASSES,
                            label_map={}, expected_rate_hz=10.0, window_seconds=2.0,
                            stride=2)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _tree(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def windows(tree):
    return preprocess(tree, config=_config())[0]


def test_a_set_is_a_whole_recording_without_a_rest_class(windows):
    assert windows.rest_class is None
    ids = find_sets(windows)
    assert len(np.unique(ids)) == len(windows.session_names) == 12
    for s in range(12):  # one set per recording, one recording per set
        assert len(np.unique(ids[windows.sessions == s])) == 1


def test_a_set_is_a_run_of_one_label_inside_a_recording(tmp_path):
    path = _write(tmp_path / "subject_01" / "mixed.csv", ["A"] * 150 + ["B"] * 150)
    ws, _ = preprocess(path, config=_config())
    ids = find_sets(ws)
    assert len(np.unique(ids)) == 2
    assert set(ws.labels[ids == ids[0]]) == {0} and set(ws.labels[ids == ids[-1]]) == {1}


def test_labeled_selection_takes_whole_recordings_and_every_class(windows):
    index = np.arange(len(windows))
    labeled, unlabeled = select_labeled(windows, index, fraction=0.3, seed=1)
    sessions_labeled = set(windows.sessions[labeled].tolist())
    assert not sessions_labeled & set(windows.sessions[unlabeled].tolist())  # whole recordings
    assert set(windows.labels[labeled].tolist()) == {0, 1, 2}
    assert 0 < len(labeled) < len(index)


def test_run_counter_reports_runs_of_one_class_without_repetitions():
    rate, classes = 10.0, ("A", "B", "C")
    labels = [0] * 100 + [2] * 5 + [0] * 50 + [1] * 120  # a 0.5 s blip of C inside A
    scores = np.eye(3)[labels] * 0.8 + 0.2 / 3
    times = np.arange(len(labels)) / rate
    for method in ("hysteresis", "app"):
        events, sets = count_repetitions(times, scores, classes, method=method,
                                         sample_rate_hz=rate, break_class=None)
        assert [(s.exercise, s.repetitions) for s in sets] == [("A", 0), ("B", 0)]
        assert sets[0].start == 0.0 and sets[1].start == pytest.approx(15.5)
        assert [e.kind for e in events].count("set_finished") == 2
    assert isinstance(RunCounter(classes), RunCounter)


@pytest.fixture(scope="module")
def run_dir(windows, tmp_path_factory):
    """A tiny baseline trained briefly on the no-rest windows, saved as a run directory."""
    import keras

    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.models.networks import build_baseline
    from exermote_sgan.runs import Preprocessing, save_run

    keras.utils.set_random_seed(0)
    scaler = MinMaxScaler().fit(windows.windows)
    model = build_baseline(windows.timesteps, 3, 3, conv_filters=8, lstm_units=8)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(scaler.transform(windows.windows), windows.labels, epochs=8, batch_size=32,
              verbose=0)
    prep = Preprocessing(classes=CLASSES, features=windows.features,
                         timesteps=windows.timesteps, label_offset=windows.label_offset,
                         sample_rate_hz=10.0, scaler=scaler, rest_class=None,
                         reader=windows.reader)
    return save_run(tmp_path_factory.mktemp("run"), model, prep)


@pytest.mark.slow
def test_predict_reads_the_runs_own_format_and_needs_no_break(run_dir, tree, capsys):
    assert main(["predict", str(run_dir), str(tree / "subject_01")]) == 0
    printed = capsys.readouterr().out
    assert "subject_01/B: " in printed and "set(s)" in printed
    saved = json.loads((run_dir / "preprocessing.json").read_text())
    assert saved["rest_class"] is None and saved["reader"]["columns"]["path_pattern"] == PATTERN


@pytest.mark.slow
def test_predict_warns_when_input_leaves_the_training_range(run_dir, tmp_path, capsys):
    path = _write(tmp_path / "subject_01" / "A.csv", ["A"] * 100)
    text = path.read_text().splitlines()
    cells = text[40].split(",")
    cells[1] = "900"  # raw units ~ +-1 in training
    text[40] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    assert main(["predict", str(run_dir), str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "row 41" in err and "'ax'" in err and "training" in err


@pytest.mark.slow
def test_evaluate_reps_without_a_rest_class_scores_sets(run_dir, tree, capsys):
    assert main(["evaluate-reps", str(run_dir), str(tree / "subject_02")]) == 0
    printed = capsys.readouterr().out
    assert "No rest class" in printed
    overall = [line for line in printed.splitlines() if line.startswith("overall")][0]
    assert overall.split()[1] == "3"  # three true sets, one per recording


@pytest.mark.slow
def test_evaluate_reps_refuses_a_label_the_run_does_not_know(run_dir, tmp_path, capsys):
    path = _write(tmp_path / "subject_01" / "A.csv", ["A"] * 60 + ["D"] * 3 + ["A"] * 60)
    assert main(["evaluate-reps", str(run_dir), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and "row 62" in err and "'D'" in err and "--classes" in err


@pytest.fixture(scope="module")
def exermote_run(tmp_path_factory):
    """A run from before reader settings were recorded (Exermote format, Break rest class)."""
    import keras

    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.recordings.schema import EXERMOTE_FEATURES
    from exermote_sgan.models.networks import build_baseline
    from exermote_sgan.runs import PREPROCESSING_FILE, Preprocessing, save_run

    model = build_baseline(40, 12, 4, conv_filters=4, lstm_units=4)
    prep = Preprocessing(classes=("Break", "Burpee", "Situp", "Squat"),
                         features=EXERMOTE_FEATURES, timesteps=40, label_offset=20,
                         sample_rate_hz=10.0,
                         scaler=MinMaxScaler().fit(np.random.default_rng(0).normal(
                             size=(100, 12))))
    run = save_run(tmp_path_factory.mktemp("old"), model, prep)
    state = json.loads((run / PREPROCESSING_FILE).read_text())
    del state["reader"], state["rest_class"]  # as written before this change
    (run / PREPROCESSING_FILE).write_text(json.dumps(state))
    return run


@pytest.mark.slow
def test_evaluate_reps_refuses_a_pushup_inside_a_situp_set(exermote_run, tmp_path, capsys):
    source = sorted(SAMPLE.glob("*.csv"))[0]
    lines = source.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("exerciseType")
    row = next(k for k, line in enumerate(lines[1:], 1)
               if line.split(",")[col] not in ("Break", "setBreak", ""))
    cells = lines[row].split(",")
    cells[col] = "Pushup"
    lines[row] = ",".join(cells)
    path = tmp_path / "pushup.csv"
    path.write_text("\n".join(lines) + "\n")
    assert main(["evaluate-reps", str(exermote_run), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"row {row + 1}" in err and "'Pushup'" in err and "--classes" in err
    assert "--label-map" in err
    # the unchanged file is still read as Exermote by the old run
    assert main(["evaluate-reps", str(exermote_run), str(source)]) == 0
