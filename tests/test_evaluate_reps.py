"""The ``predict`` and ``evaluate-reps`` commands end to end, and their bad-input messages."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.readers import read_exermote_csv
from exermote_sgan.inference.ground_truth import true_sets

pytestmark = pytest.mark.slow  # every test uses a briefly trained tiny run

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CLASSES = ("Break", "Burpee", "Situp", "Squat")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny baseline trained briefly on the synthetic sample, saved as a run directory."""
    import keras

    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.models.networks import build_baseline
    from exermote_sgan.runs import Preprocessing, save_run

    keras.utils.set_random_seed(1)
    windows, labels, rows = [], [], []
    for path in sorted(SAMPLE.glob("*.csv")):
        recording = read_exermote_csv(path)
        values = recording.values[1:]
        truth = np.array([CLASSES.index("Break" if x == "setBreak" else x)
                          for x in recording.labels[1:]])
        rows.append(values)
        for end in range(39, len(values), 3):
            windows.append(values[end - 39:end + 1])
            labels.append(truth[end - 20])
    scaler = MinMaxScaler().fit(np.concatenate(rows))
    model = build_baseline(40, 12, 4, conv_filters=8, lstm_units=8)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(scaler.transform(np.asarray(windows)), np.asarray(labels), epochs=3,
              batch_size=64, verbose=0)
    prep = Preprocessing(classes=CLASSES, features=recording.features, timesteps=40,
                         label_offset=20, sample_rate_hz=10.0, scaler=scaler)
    return save_run(tmp_path_factory.mktemp("run"), model, prep)


@pytest.mark.realdata
def test_predict_writes_rows_and_prints_sets(run_dir, real_recordings, tmp_path, capsys):
    recording_path = real_recordings[22]
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run_dir), str(recording_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert recording_path.stem in printed and "set(s)" in printed
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    recording = read_exermote_csv(recording_path)
    valid = int(np.all(np.isfinite(recording.values), axis=1).sum())
    assert len(rows) == valid - 39
    assert list(rows[0]) == ["recording", "row", "time", "window_end_row", "label",
                             *[f"score_{c}" for c in CLASSES]]
    first = rows[0]
    # rows count like the windows file's end_index (0 = the first data row, line 2); the
    # first row is empty: the first window ends on row 40 and describes row 20
    assert (int(first["window_end_row"]), int(first["row"])) == (40, 20)
    assert float(first["time"]) == pytest.approx(recording.timestamps[20], abs=1e-3)
    for row in rows[::300]:
        scores = [float(row[f"score_{c}"]) for c in CLASSES]
        assert sum(scores) == pytest.approx(1.0, abs=1e-4)
        assert row["label"] == CLASSES[int(np.argmax(scores))]


def test_predict_stream_mode_prints_what_batch_mode_prints(run_dir, capsys):
    path = sorted(SAMPLE.glob("*.csv"))[0]
    for counting in ("hysteresis", "app"):
        assert main(["predict", str(run_dir), str(path), "--counting", counting]) == 0
        batch = capsys.readouterr().out
        assert main(["predict", str(run_dir), str(path), "--counting", counting,
                     "--mode", "stream"]) == 0
        assert capsys.readouterr().out == batch


@pytest.mark.realdata
def test_evaluate_reps_reports_both_methods(run_dir, real_recordings, tmp_path, capsys):
    paths = [str(p) for p in real_recordings[21:23]]
    report_path = tmp_path / "reps.json"
    assert main(["evaluate-reps", str(run_dir), *paths, "--json", str(report_path)]) == 0
    table = capsys.readouterr().out
    assert "hysteresis" in table and "app rule" in table and "overall" in table
    report = json.loads(report_path.read_text())
    truth = [s for p in paths for s in true_sets(read_exermote_csv(p))]
    for section in (report, report["app_rule"]):
        overall = section["overall"]
        assert overall["sets_true"] == len(truth)
        assert overall["reps_true"] == sum(s.repetitions for s in truth)
        assert 0 <= overall["sets_found"] <= overall["sets_true"]
        assert overall["exact_fraction"] is not None and 0 <= overall["exact_fraction"] <= 1
        rows = section["sets"]
        assert overall["rep_mae"] == pytest.approx(sum(r["error"] for r in rows) / len(truth))
        per = section["per_exercise"]
        assert set(per) == {"Burpee", "Situp", "Squat"}
        assert sum(v["sets_true"] for v in per.values()) == len(truth)
        assert sum(v["false_sets"] for v in per.values()) == overall["false_sets"]
    assert report["counting"] == "period" and report["app_rule"]["counting"] == "app"
    assert set(report["counters"]) == {"period", "hysteresis", "app", "app-20s"}
    for method, part in report["counters"].items():
        assert part["overall"]["sets_true"] == report["overall"]["sets_true"], method
        assert 0 <= part["overall"]["within_one_fraction"] <= 1


def test_evaluate_reps_on_the_synthetic_sample(run_dir, capsys):
    assert main(["evaluate-reps", str(run_dir), str(SAMPLE)]) == 0
    table = capsys.readouterr().out
    overall = [line for line in table.splitlines() if line.startswith("overall")][0]
    assert overall.split()[1:3] == ["12", str(sum(
        s.repetitions for p in SAMPLE.glob("*.csv") for s in true_sets(read_exermote_csv(p))))]


def _short_copy(source: Path, dest: Path, rows: int) -> Path:
    lines = source.read_text().splitlines(keepends=True)
    dest.write_text("".join(lines[:rows + 1]))
    return dest


@pytest.mark.parametrize("command", ["predict", "evaluate-reps"])
def test_short_recording_is_a_one_line_error(run_dir, tmp_path, capsys, command):
    short = _short_copy(sorted(SAMPLE.glob("*.csv"))[0], tmp_path / "short.csv", 30)
    assert main([command, str(run_dir), str(short)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "short.csv" in err and "fewer than one window of 40 rows" in err


def test_recording_without_sub_labels_cannot_be_evaluated(run_dir, tmp_path, capsys):
    import pandas as pd

    frame = pd.read_csv(sorted(SAMPLE.glob("*.csv"))[0])
    path = tmp_path / "nosub.csv"
    frame.drop(columns=["exerciseSubType"]).to_csv(path, index=False)
    assert main(["evaluate-reps", str(run_dir), str(path)]) == 2
    assert "exerciseSubType" in capsys.readouterr().err


def test_recording_whose_sub_labels_are_all_unknown_is_a_one_line_error(run_dir, tmp_path,
                                                                         capsys):
    import pandas as pd

    frame = pd.read_csv(sorted(SAMPLE.glob("*.csv"))[0])
    frame["exerciseSubType"] = "up"
    path = tmp_path / "unknown_sub.csv"
    frame.to_csv(path, index=False)
    assert main(["evaluate-reps", str(run_dir), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown_sub.csv" in err and "unknown exerciseSubType 'up'" in err


def test_missing_run_directory_is_a_one_line_error(tmp_path, capsys):
    path = sorted(SAMPLE.glob("*.csv"))[0]
    assert main(["predict", str(tmp_path / "missing"), str(path)]) == 2
    assert "run directory not found" in capsys.readouterr().err


def _as_run(run_dir, out: Path, *, test, training) -> Path:
    """A copy of ``run_dir`` whose provenance says it was tested on ``test`` after training on
    ``training``."""
    import shutil

    from exermote_sgan.runs import PREPROCESSING_FILE

    shutil.copytree(run_dir, out)
    state = json.loads((out / PREPROCESSING_FILE).read_text())
    state.update(test_subjects=list(test), training_subjects=list(training))
    (out / PREPROCESSING_FILE).write_text(json.dumps(state))
    return out


def test_learn_reps_chooses_its_rules_for_the_spans_inner_runs_find(run_dir, tmp_path, capsys):
    from exermote_sgan.inference.periods import learn_profile, labelled_sets, run_profile
    from exermote_sgan.inference.rep_learning import inner_span_errors
    from exermote_sgan.runs import load_run

    sample = sorted(SAMPLE.glob("*.csv"))  # subjects 1-4, one recording each
    outer = _as_run(run_dir, tmp_path / "outer", test=(4,), training=(1, 2, 3))
    inner = [_as_run(run_dir, tmp_path / f"inner{k}", test=(k,),
                     training=tuple(sorted({1, 2, 3} - {k}))) for k in (1, 2, 3)]
    wrong = _as_run(run_dir, tmp_path / "wrong", test=(3,), training=(1, 4))
    assert main(["learn-reps", str(outer), *map(str, sample[:3]), "--inner-runs",
                 str(wrong)]) == 2
    err = capsys.readouterr().err.strip()
    assert "wrong" in err and "is no inner run" in err and "\n" not in err
    assert run_profile(outer) is None  # nothing written
    assert main(["learn-reps", str(outer), *map(str, sample[:3]), "--inner-runs",
                 *map(str, inner)]) == 0
    assert "spans found by the inner runs' classifiers" in capsys.readouterr().out
    prep = load_run(outer, load_classifier=False).preprocessing
    errors = inner_span_errors(inner, sample[:3], run_prep=prep)
    # each inner run's classifier on its test subject's recording: found minus labelled spans
    matched = []
    for k, run in zip((1, 2, 3), inner):
        assert read_exermote_csv(sample[k - 1]).subject == k
        assert main(["evaluate-reps", str(run), str(sample[k - 1]), "--counting",
                     "hysteresis", "--json", str(tmp_path / f"found{k}.json")]) == 0
        found = json.loads((tmp_path / f"found{k}.json").read_text())
        matched += [r for r in found["sets"] if r["true_span"] and r["detected_span"]]
    assert matched and sum(map(len, errors.values())) == len(matched)
    for r in matched:
        shift = (r["detected_span"][0] - r["true_span"][0],
                 r["detected_span"][1] - r["true_span"][1])
        assert any(np.allclose(shift, e) for e in errors[r["exercise"]])
    sets = labelled_sets([read_exermote_csv(p) for p in sample[:3]],
                         scale=prep.scaler.scale_, offset=prep.scaler.offset_)
    assert run_profile(outer) == learn_profile(sets, features=prep.features,
                                               span_errors=errors)
