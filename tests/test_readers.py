"""Readers: the Exermote raw CSV (checked against the csv module) and the generic CSV reader."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.recordings.readers import (ColumnSpec, Recording, find_csv_files,
                                              load_column_spec, read_exermote_csv,
                                              read_generic_csv)
from exermote_sgan.recordings.schema import (EXERMOTE_COLUMNS, EXERMOTE_FEATURE_COLUMNS,
                                             EXERMOTE_FEATURES)
from exermote_sgan.errors import ExermoteInputError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _write_rows(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture
def sample_rows():
    """Header and first 60 data rows of a committed synthetic Exermote file."""
    return _csv_rows(sorted(SAMPLE.glob("*.csv"))[0])[:61]


@pytest.mark.realdata
def test_exermote_reader_matches_csv_module(real_recordings):
    path = real_recordings[0]
    rec = read_exermote_csv(path)
    rows = _csv_rows(path)
    header, data = rows[0], rows[1:]
    assert tuple(header) == EXERMOTE_COLUMNS
    assert isinstance(rec, Recording)
    assert rec.features == EXERMOTE_FEATURES
    assert rec.session_name == path.stem
    assert rec.values.shape == (len(data), 12) and rec.values.dtype == np.float64
    cols = [header.index(c) for c in EXERMOTE_FEATURE_COLUMNS]
    expected = np.array([[float(r[c]) if r[c] != "" else np.nan for c in cols] for r in data])
    np.testing.assert_array_equal(rec.values, expected)
    assert list(rec.labels) == [r[header.index("exerciseType")] for r in data]
    assert list(rec.sub_labels) == [r[header.index("exerciseSubType")] for r in data]
    stamps = [datetime.strptime(r[header.index("timeStampSaved")], "%Y-%m-%d %H:%M:%S:%f")
              for r in data]
    expected_t = np.array([(s - stamps[0]).total_seconds() for s in stamps])
    np.testing.assert_allclose(rec.timestamps, expected_t, atol=1e-9)
    assert rec.subject == int(data[0][header.index("individual")])
    assert rec.subject == int(path.stem.rsplit(" ", 1)[1])
    np.testing.assert_array_equal(rec.file_rows, np.arange(len(data)) + 2)
    assert np.isnan(rec.values[0]).all()  # the documented empty first row


@pytest.mark.realdata
def test_every_real_recording_reads(real_recordings):
    subjects = {}
    for path in real_recordings:
        rec = read_exermote_csv(path)
        assert len(rec) == 3000
        assert np.all(np.diff(rec.timestamps) > 0)
        assert abs(np.median(np.diff(rec.timestamps)) - 0.1) < 0.002
        subjects[rec.subject] = subjects.get(rec.subject, 0) + 1
        assert set(rec.labels) <= {"setBreak", "Break", "Burpee", "Situp", "Squat"}
    assert subjects == {1: 12, 2: 9, 3: 3, 4: 6}  # as documented in the data README


def test_reader_without_sub_label_column(tmp_path, sample_rows):
    col = sample_rows[0].index("exerciseSubType")
    rows = [r[:col] + r[col + 1:] for r in sample_rows]
    rec = read_exermote_csv(_write_rows(tmp_path / "a.csv", rows))
    assert rec.sub_labels is None and len(rec) == 60


def _expect_error(path, *fragments, row=None, column=None):
    with pytest.raises(ExermoteInputError) as info:
        read_exermote_csv(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    if row is not None:
        assert info.value.row == row
    if column is not None:
        assert info.value.column == column
    assert "\n" not in message


def test_missing_column(tmp_path, sample_rows):
    col = sample_rows[0].index("Device: pitch")
    rows = [r[:col] + r[col + 1:] for r in sample_rows]
    _expect_error(_write_rows(tmp_path / "a.csv", rows), "missing column", column="Device: pitch")


def test_non_numeric_value(tmp_path, sample_rows):
    col = sample_rows[0].index("Device: roll")
    sample_rows[10][col] = "abc"
    _expect_error(_write_rows(tmp_path / "a.csv", sample_rows), "'abc'", "not a number",
                  row=11, column="Device: roll")


def test_empty_and_header_only_files(tmp_path, sample_rows):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _expect_error(empty, "empty")
    _expect_error(_write_rows(tmp_path / "header.csv", sample_rows[:1]), "no data rows")


@pytest.mark.parametrize("kind", ["duplicate", "unsorted"])
def test_timestamps_must_increase(tmp_path, sample_rows, kind):
    col = sample_rows[0].index("timeStampSaved")
    if kind == "duplicate":
        sample_rows[20][col] = sample_rows[19][col]  # file line 21 repeats line 20
        fragment, line = "repeats", 21
    else:  # swap lines 21 and 22: line 22 is then the first that goes back in time
        sample_rows[20][col], sample_rows[21][col] = sample_rows[21][col], sample_rows[20][col]
        fragment, line = "earlier than", 22
    _expect_error(_write_rows(tmp_path / "a.csv", sample_rows), fragment, "strictly increasing",
                  row=line, column="timeStampSaved")


def test_bad_timestamp_format(tmp_path, sample_rows):
    col = sample_rows[0].index("timeStampSaved")
    sample_rows[5][col] = "yesterday"
    _expect_error(_write_rows(tmp_path / "a.csv", sample_rows), "'yesterday'",
                  "YYYY-MM-DD HH:MM:SS:mmm", row=6, column="timeStampSaved")


def test_subject_must_be_constant(tmp_path, sample_rows):
    col = sample_rows[0].index("individual")
    sample_rows[30][col] = "9"
    _expect_error(_write_rows(tmp_path / "a.csv", sample_rows), "subject id 9",
                  row=31, column="individual")


def test_empty_label(tmp_path, sample_rows):
    col = sample_rows[0].index("exerciseType")
    sample_rows[7][col] = ""
    _expect_error(_write_rows(tmp_path / "a.csv", sample_rows), "empty value",
                  row=8, column="exerciseType")


def test_unreadable_paths(tmp_path):
    _expect_error(tmp_path / "nope.csv", "no such file")
    with pytest.raises(ExermoteInputError, match="no such file or folder"):
        find_csv_files([tmp_path / "nope"])
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ExermoteInputError, match="no \\*.csv files"):
        find_csv_files([tmp_path / "empty_dir"])


def test_find_csv_files_sorts_and_deduplicates(tmp_path):
    for name in ("b.csv", "a.csv", "notes.txt"):
        (tmp_path / name).write_text("x\n1\n")
    found = find_csv_files([tmp_path, tmp_path / "a.csv"])
    assert [p.name for p in found] == ["a.csv", "b.csv"]


# ------------------------------------------------------------------------------- generic

def _generic_file(path, times, sessions=None, subjects=None):
    lines = ["time,ax,ay,activity,person" + (",sess" if sessions is not None else "")]
    for i, t in enumerate(times):
        subject = subjects[i] if subjects is not None else 7
        line = f"{t},{i * 0.5},{-i},{'walk' if i % 2 else 'rest'},{subject}"
        if sessions is not None:
            line += f",{sessions[i]}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


SPEC = ColumnSpec(timestamp="time", features=("ax", "ay"), label="activity", subject="person")


def test_generic_numeric_seconds(tmp_path):
    path = _generic_file(tmp_path / "g.csv", [10.0 + 0.1 * i for i in range(6)])
    [rec] = read_generic_csv(path, columns=SPEC)
    assert rec.session_name == "g" and rec.subject == 7 and rec.features == ("ax", "ay")
    np.testing.assert_allclose(rec.timestamps, 0.1 * np.arange(6), atol=1e-9)
    np.testing.assert_array_equal(rec.values, np.c_[0.5 * np.arange(6), -np.arange(6)])
    assert list(rec.labels[:2]) == ["rest", "walk"] and rec.sub_labels is None


def test_generic_milliseconds_and_datetimes(tmp_path):
    path = _generic_file(tmp_path / "ms.csv", [1000 + 100 * i for i in range(4)])
    [rec] = read_generic_csv(path, columns=ColumnSpec(**{**SPEC.__dict__, "timestamp_unit": "ms"}))
    np.testing.assert_allclose(rec.timestamps, [0, 0.1, 0.2, 0.3])
    path = _generic_file(tmp_path / "dt.csv", [f"2024-05-01T12:00:0{i}.500" for i in range(4)])
    [rec] = read_generic_csv(path, columns=SPEC)
    np.testing.assert_allclose(rec.timestamps, [0, 1, 2, 3])


def test_generic_sessions_in_one_file(tmp_path):
    times = [0.0, 0.1, 0.2, 0.0, 0.1, 0.3, 0.4]
    sessions = ["b", "b", "b", "a", "a", "b", "b"]
    subjects = [1, 1, 1, 2, 2, 1, 1]
    path = _generic_file(tmp_path / "multi.csv", times, sessions, subjects)
    spec = ColumnSpec(**{**SPEC.__dict__, "session": "sess"})
    recs = read_generic_csv(path, columns=spec)
    assert [r.session_name for r in recs] == ["multi:b", "multi:a"]
    assert [r.subject for r in recs] == [1, 2]
    np.testing.assert_array_equal(recs[0].file_rows, [2, 3, 4, 7, 8])
    np.testing.assert_allclose(recs[0].timestamps, [0, 0.1, 0.2, 0.3, 0.4])


def test_generic_errors_name_row_and_column(tmp_path):
    path = _generic_file(tmp_path / "g.csv", [0.0, 0.1, 0.1, 0.3])
    refuse = ColumnSpec(**{**SPEC.__dict__, "duplicate_timestamps": "refuse"})
    with pytest.raises(ExermoteInputError, match="repeats") as info:
        read_generic_csv(path, columns=refuse)
    assert (info.value.row, info.value.column) == (4, "time")
    (dropped,) = read_generic_csv(path, columns=SPEC)  # the generic default drops the repeat
    assert dropped.duplicate_rows == 1 and list(dropped.file_rows) == [2, 3, 5]
    spec = ColumnSpec(**{**SPEC.__dict__, "features": ("ax", "gyro")})
    with pytest.raises(ExermoteInputError, match="missing column") as info:
        read_generic_csv(path, columns=spec)
    assert info.value.column == "gyro"
    bad = _generic_file(tmp_path / "s.csv", [0.0, 0.1, 0.2], subjects=[1, "x", 1])
    with pytest.raises(ExermoteInputError, match="not a number") as info:
        read_generic_csv(bad, columns=SPEC)
    assert (info.value.row, info.value.column) == (3, "person")


def test_column_spec_files(tmp_path):
    toml = tmp_path / "cols.toml"
    toml.write_text('timestamp = "time"\nfeatures = ["ax", "ay"]\nlabel = "activity"\n'
                    'subject = "person"\ntimestamp_unit = "ms"\n')
    spec = load_column_spec(toml)
    assert spec.features == ("ax", "ay") and spec.timestamp_unit == "ms"
    js = tmp_path / "cols.json"
    js.write_text(json.dumps({"timestamp": "t", "features": ["a"], "label": "l",
                              "subject": "s", "colour": "red"}))
    with pytest.raises(ExermoteInputError, match="unknown key.*colour"):
        load_column_spec(js)
    js.write_text(json.dumps({"timestamp": "t", "features": ["a"]}))
    with pytest.raises(ExermoteInputError, match="missing key.*label"):
        load_column_spec(js)
    js.write_text("{not json")
    with pytest.raises(ExermoteInputError, match="not valid JSON"):
        load_column_spec(js)
    with pytest.raises(ExermoteInputError, match="timestamp_unit"):
        ColumnSpec(timestamp="t", features=("a",), label="l", subject="s", timestamp_unit="h")
