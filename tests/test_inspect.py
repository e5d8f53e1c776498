"""``exermote-sgan inspect`` and the generic format's defaults, on a public-format example.

The example (``synthetic.write_public_example``) is laid out like public smartwatch datasets:
per-subject folders with a watch and a phone file per execution at 100 Hz, unix-ms
timestamps with jitter, five late rows (45-58 ms intervals) and one repeated timestamp per
file, and a metadata CSV beside the folders.
"""

from __future__ import annotations

import json
import shlex
from types import SimpleNamespace

import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.inspection import guess_column_spec, guess_include, inspect_files
from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
from exermote_sgan.recordings.readers import (ColumnSpec, load_column_spec, read_recording_file,
                                              write_column_spec)
from exermote_sgan.recordings.synthetic import PUBLIC_ACTIVITIES, write_public_example
from exermote_sgan.data.windows_file import load_windows
from exermote_sgan.errors import ExermoteInputError


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    root = tmp_path_factory.mktemp("public")
    write_public_example(root, subjects=(1, 2), executions=2)
    return root


def test_the_example_has_what_a_new_user_meets(public):
    watch = sorted(public.glob("s*/*_sw.csv"))
    assert len(watch) == 4 and len(list(public.glob("s*/*_ph.csv"))) == 4
    assert (public / "executions_info.csv").exists()
    times = np.loadtxt(watch[0], delimiter=",", skiprows=1, usecols=0)
    steps = np.diff(times)
    assert times[0] > 1e12  # unix milliseconds
    assert np.sum(steps == 0) == 1 and np.sum((steps >= 45) & (steps <= 58)) == 5


def test_columns_are_guessed_from_the_header_and_the_folder(public):
    spec, notes = guess_column_spec(public / "s1" / "s1_1_sw.csv")
    assert (spec.timestamp, spec.label, spec.timestamp_unit) == ("timestamp", "label", "ms")
    assert spec.features == ("x_acc", "y_acc", "z_acc", "x_gyro", "y_gyro", "z_gyro")
    assert spec.subject is None and spec.path_pattern.startswith("s(?P<subject>")
    assert any("timestamp_unit: ms" in n for n in notes)
    # given options win over guesses
    spec, _ = guess_column_spec(public / "s1" / "s1_1_sw.csv",
                                given={"features": ("x_acc",), "timestamp_unit": "s"})
    assert spec.features == ("x_acc",) and spec.timestamp_unit == "s"
    glob, others = guess_include(sorted(public.rglob("*.csv")))
    assert glob == "*_ph.csv" and others[0] == ("*_sw.csv", 4)  # a tie: named, not hidden


def test_inspect_reports_per_file_and_skips_with_a_note(public):
    spec, _ = guess_column_spec(public / "s1" / "s1_1_sw.csv")
    found = inspect_files(public, format="generic", columns=spec, include="*_sw.csv",
                          max_pause_s=0.5)
    skipped = {f.path.name: f.why for f in found if not f.read}
    assert skipped["executions_info.csv"] == "does not match --include '*_sw.csv'"
    assert len(skipped) == 5 and sum(f.read for f in found) == 4
    session = next(f for f in found if f.read).sessions[0]
    assert session.subject == 1 and session.duplicates == 1
    assert session.rate_hz == pytest.approx(100, rel=1e-3) and session.pauses == []
    assert set(session.labels) == set(PUBLIC_ACTIVITIES)
    assert session.rows == sum(session.labels.values()) + 1  # the repeated row is counted
    # a stricter pause rule shows where it would split (rows from the first data row)
    strict = inspect_files(public / "s1" / "s1_1_sw.csv", format="generic", columns=spec,
                           max_pause_s=0.04)[0].sessions[0]
    assert len(strict.pauses) == 5 and all(0.04 < g < 0.06 for _, g in strict.pauses)
    # a file the reader refuses is skipped with the reader's message, not an error
    wrong = ColumnSpec(**{**spec.to_dict(), "features": ["nope"]})
    refused = inspect_files(public / "s1" / "s1_1_sw.csv", format="generic", columns=wrong)
    assert not refused[0].read and "'nope'" in refused[0].why


def test_inspect_command_prints_the_preprocess_command_that_works(public, tmp_path, capsys):
    columns = tmp_path / "columns.toml"
    assert main(["inspect", str(public), "--include", "*_sw.csv", "--out",
                 str(tmp_path / "w.h5"), "--write-columns", str(columns)]) == 0
    printed = capsys.readouterr().out
    assert "skip  " + str(public / "executions_info.csv") in printed
    assert "repeated timestamps: 4 row(s) (dropped)" in printed
    assert "pauses > 0.5 s that split a recording: 0" in printed
    command = printed.strip().splitlines()[-1].strip()
    words = shlex.split(command)
    assert words[:2] == ["exermote-sgan", "preprocess"] and "--columns-file" in words
    options = [w for w in words if w.startswith("--")]
    assert len(options) <= 5, command
    assert load_column_spec(columns).timestamp_unit == "ms"
    assert main(words[1:]) == 0  # the printed command runs as it is
    summary = capsys.readouterr().out
    assert "rows repeating a timestamp (dropped): 4" in summary
    assert "sessions split" not in summary  # jitter and late rows never split
    windows = load_windows(tmp_path / "w.h5")
    assert windows.classes == tuple(sorted(PUBLIC_ACTIVITIES))  # from the labels found
    assert windows.sample_rate_hz == 100.0  # measured from the timestamps
    assert (windows.timesteps, windows.stride) == (200, 50)  # 2 s every 0.5 s
    assert sorted(set(windows.subjects.tolist())) == [1, 2] and windows.rest_class is None


def test_generic_preprocess_keeps_labels_as_written_and_splits_only_at_real_pauses(tmp_path):
    root = tmp_path / "raw"
    write_public_example(root, subjects=(1,), executions=1)
    spec, _ = guess_column_spec(root / "s1" / "s1_1_sw.csv")
    path = root / "s1" / "s1_1_sw.csv"
    lines = path.read_text().splitlines()
    # a real pause of 2 s after row 1000, and an Exermote label that must not be mapped
    head, rest = lines[:1001], lines[1001:]
    rest = [f"{int(r.split(',')[0]) + 2000},{r.split(',', 1)[1]}" for r in rest]
    head[5] = head[5].rsplit(",", 1)[0] + ",setBreak"
    path.write_text("\n".join(head + rest) + "\n")
    ws, report = preprocess(path, config=PreprocessConfig(format="generic", columns=spec))
    assert "setBreak" in ws.classes  # no Exermote label map for generic data
    assert report.sessions[0].time_gaps_split == 1  # the 2 s pause, not the late rows
    _, strict = preprocess(path, config=PreprocessConfig(format="generic", columns=spec,
                                                         max_pause_seconds=0.04))
    assert strict.sessions[0].time_gaps_split == 6
    with pytest.raises(ExermoteInputError, match="--max-pause must be a number of seconds"):
        preprocess(path, config=PreprocessConfig(format="generic", columns=spec,
                                                 max_pause_seconds=float("nan")))


def test_the_columns_file_round_trips_regular_expressions_and_quotes(tmp_path):
    spec = ColumnSpec(timestamp="t", features=("a'x", "b"), label='la"bel',
                      path_pattern=r"s(?P<subject>\d+)/(?P<session>[^/]+)\.csv$",
                      timestamp_unit="ms")
    path = write_column_spec(spec, tmp_path / "c.toml")
    assert load_column_spec(path) == spec
    assert "\\d" in path.read_text() and "duplicate_timestamps" not in path.read_text()
    with pytest.raises(ExermoteInputError, match="TOML"):
        write_column_spec(spec, tmp_path / "c.json")


def test_one_reader_registry(tmp_path):
    from exermote_sgan.recordings import pipeline, readers

    assert pipeline.FORMATS is readers.FORMATS
    with pytest.raises(ExermoteInputError, match="--format must be one of exermote, generic"):
        read_recording_file(tmp_path / "x.csv", format="parquet")
    # an app's recording without label and subject columns is read for prediction
    from exermote_sgan.recordings.schema import EXERMOTE_FEATURE_COLUMNS, TIMESTAMP_COLUMN

    rows = [",".join((TIMESTAMP_COLUMN,) + EXERMOTE_FEATURE_COLUMNS)]
    rows += [f"2020-01-01 10:00:00:{100 * k:03d}," + ",".join(["0.5"] * 12) for k in range(5)]
    app = tmp_path / "app.csv"
    app.write_text("\n".join(rows) + "\n")
    (recording,) = read_recording_file(app, format="exermote", for_prediction=True)
    assert len(recording) == 5 and recording.subject == 0
    with pytest.raises(ExermoteInputError, match="missing column"):
        read_recording_file(app, format="exermote")


def test_min_set_seconds_needs_a_run_without_a_rest_class():
    from exermote_sgan.cli.predict import _counting_options

    args = SimpleNamespace(min_set_seconds=2.0)
    assert _counting_options(args, SimpleNamespace(rest_class=None)) == {"min_set_s": 2.0}
    with pytest.raises(ExermoteInputError, match="rest class 'Break'"):
        _counting_options(args, SimpleNamespace(rest_class="Break"))
    with pytest.raises(ExermoteInputError, match="> 0"):
        _counting_options(SimpleNamespace(min_set_seconds=float("nan")),
                          SimpleNamespace(rest_class=None))


def test_reading_columns_reads_generic_files_with_the_run_settings(public, tmp_path):
    from dataclasses import dataclass

    from exermote_sgan.inference.recordings import reading_columns

    @dataclass
    class Run:  # the fields of runs.Preprocessing that reading uses
        reader: dict

    spec = load_column_spec(write_column_spec(
        guess_column_spec(public / "s1" / "s1_1_sw.csv")[0], tmp_path / "cols.toml"))
    run = Run(reader={"format": "exermote", "max_gap": 3})
    changed = reading_columns(run, spec)
    assert changed.reader["format"] == "generic" and changed.reader["max_gap"] == 3
    assert changed.reader["columns"]["timestamp"] == "timestamp"
    assert run.reader["format"] == "exermote"  # the run's own settings are untouched


def test_preprocess_flags_a_value_that_predict_would_warn_on(tmp_path, capsys):
    # issue 33 item 10: 1e5 m/s^2 is under the 1e6 limit, yet no reading; preprocess says so
    root = tmp_path / "raw"
    write_public_example(root, subjects=(1,), executions=1)
    path = root / "s1" / "s1_1_sw.csv"
    lines = path.read_text().splitlines()
    cells = lines[300].split(",")
    cells[2] = "100000"  # y_acc of data row 299, file line 301
    lines[300] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    spec, _ = guess_column_spec(path)
    _, report = preprocess(path, config=PreprocessConfig(format="generic", columns=spec))
    session = report.sessions[0]
    assert session.values_far_outside == 1
    assert "row 301, column 'y_acc': value 100000" in session.far_outside_note
    columns = write_column_spec(spec, tmp_path / "c.toml")
    assert main(["preprocess", str(path), "--out", str(tmp_path / "w.h5"), "--columns-file",
                 str(columns), "--no-progress"]) == 0
    assert "warning: values far outside the rest of their session (kept): 1" in \
        capsys.readouterr().out
    # the unchanged example has none
    write_public_example(tmp_path / "clean", subjects=(1,), executions=1)
    _, clean = preprocess(tmp_path / "clean" / "s1" / "s1_1_sw.csv",
                          config=PreprocessConfig(format="generic", columns=spec))
    assert clean.sessions[0].values_far_outside == 0


def test_inspect_guesses_from_the_first_file_that_has_the_roles(tmp_path, capsys):
    # no ending shared by two kinds of file: the metadata CSV comes first, and is skipped
    root = tmp_path / "data"
    write_public_example(root, subjects=(1,), executions=1)
    for phone in root.rglob("*_ph.csv"):
        phone.unlink()
    assert main(["inspect", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "skip  " + str(root / "executions_info.csv") + ": does not match --path-pattern" \
        in printed
    assert "1 file(s) read, 1 skipped" in printed
    assert main(["inspect", "--write-columns", str(tmp_path / "c.toml"),
                 str(tmp_path / "nothing.csv")]) == 2  # a missing file: one-line error
    assert main(["inspect", "--format", "exermote", "--write-columns", str(tmp_path / "c.toml"),
                 str(root)]) == 2
    assert "Exermote files need no columns file" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_reads_a_columns_file_counts_rows_like_end_index_and_sets_by_duration(
        tmp_path, capsys):
    """A tiny run on the public example (no rest class): predict with the run's columns and
    with a columns file naming other columns; rows from the first data row; sets of >= S s."""
    import csv

    import keras

    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.models.networks import build_baseline
    from exermote_sgan.runs import Preprocessing, save_run

    root = tmp_path / "raw"
    write_public_example(root, subjects=(1,), executions=1, seconds_per_activity=3)
    path = root / "s1" / "s1_1_sw.csv"
    spec, _ = guess_column_spec(path)
    ws, _ = preprocess(path, config=PreprocessConfig(format="generic", columns=spec,
                                                     window_seconds=1.0))
    keras.utils.set_random_seed(0)
    windows = np.asarray(ws.windows[np.arange(len(ws))])
    scaler = MinMaxScaler().fit(windows.reshape(-1, windows.shape[-1]))
    model = build_baseline(ws.timesteps, 6, len(ws.classes), conv_filters=4, lstm_units=4)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(scaler.transform(windows), ws.labels, epochs=1, batch_size=64, verbose=0)
    prep = Preprocessing(classes=ws.classes, features=ws.features, timesteps=ws.timesteps,
                         label_offset=ws.label_offset, sample_rate_hz=ws.sample_rate_hz,
                         scaler=scaler, rest_class=None, reader=ws.reader)
    run = save_run(tmp_path / "run", model, prep)

    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no rest class: a set is a run of one predicted class lasting at least 5 s" in printed
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # 100 rows a window, labelled 50 rows before its end: counted from the first data row
    assert (int(rows[0]["window_end_row"]), int(rows[0]["row"])) == (99, 49)
    assert int(rows[-1]["window_end_row"]) == 7 * 300 - 1 - 1  # the repeated row not counted

    # the same recording with other column names, read through a columns file
    renamed = tmp_path / "other" / "mine.csv"
    renamed.parent.mkdir()
    lines = path.read_text().splitlines()
    renamed.write_text("\n".join(["t,a1,a2,a3,g1,g2,g3,what"] + lines[1:]) + "\n")
    columns = write_column_spec(ColumnSpec(
        timestamp="t", timestamp_unit="ms", label="what",
        features=("a1", "a2", "a3", "g1", "g2", "g3"), feature_names=ws.features),
        tmp_path / "mine.toml")
    out2 = tmp_path / "p2.csv"
    assert main(["predict", str(run), str(renamed), "--columns-file", str(columns),
                 "--out", str(out2), "--min-set-seconds", "1"]) == 0
    assert "lasting at least 1 s" in capsys.readouterr().out
    assert out2.read_text().splitlines()[1:] == [
        line.replace("s1_1_sw", "mine") for line in out.read_text().splitlines()[1:]]
    assert main(["predict", str(run), str(renamed), "--out", str(out2)]) == 2  # run's columns
    capsys.readouterr()
    # evaluate-reps reads it through the columns file too: the same figures as the original
    figures = []
    for argv in ([str(path)], [str(renamed), "--columns-file", str(columns)]):
        report = tmp_path / f"reps{len(figures)}.json"
        assert main(["evaluate-reps", str(run), *argv, "--json", str(report)]) == 0
        figures.append(json.loads(report.read_text())["overall"])
    assert figures[0] == figures[1] and figures[0]["sets_true"] > 0
