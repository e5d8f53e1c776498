"""Reading anyone's recordings in one ``preprocess``: subject and session from the path,
recursive folders, duplicate timestamps, windows in seconds, a rest class or none, absurd
values; and the one-line errors (exit 2, nothing written) for bad values of every option."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.pipeline import PreprocessConfig, ShortWindowWarning, preprocess
from exermote_sgan.recordings.readers import ColumnSpec, find_csv_files, read_generic_csv
from exermote_sgan.data.windows_file import load_windows, save_windows
from exermote_sgan.errors import ExermoteInputError

CLASSES = ("A", "B", "C")


def _write(path, label, *, rows=300, rate=50.0, seed=0, times=None, extra=None):
    """A recording like the watch's: ms timestamps, three axes, one label per file."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(rows) / rate if times is None else np.asarray(times, dtype=float)
    freq = {"A": 0.5, "B": 1.0, "C": 2.0}[label]
    lines = ["time_ms,ax,ay,az,exercise"]
    for k, sec in enumerate(t):
        v = [np.sin(2 * np.pi * freq * sec) + 0.05 * rng.normal(), np.cos(sec), 1.0]
        if extra and k in extra:
            v[0] = extra[k]
        lines.append(f"{sec * 1000:.1f},{v[0]:.5f},{v[1]:.5f},{v[2]:.5f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _tree(root, *, subjects=(1, 2, 3), labels=CLASSES):
    for s in subjects:
        for k, label in enumerate(labels):
            _write(root / f"subject_{s:02d}" / f"{label}_left.csv", label, seed=10 * s + k)
    return root


PATTERN = r"(?P<session>subject_(?P<subject>\d+)/[^/]+)\.csv$"
SPEC = dict(timestamp="time_ms", timestamp_unit="ms", features=("ax", "ay", "az"),
            label="exercise", path_pattern=PATTERN)


def _config(**changes):
    options = dict(format="generic", columns=ColumnSpec(**SPEC), classes=CLASSES, label_map={},
                   expected_rate_hz=50.0, window_seconds=2.0, stride_seconds=0.2)
    options.update(changes)
    return PreprocessConfig(**options)


def test_subject_and_session_come_from_the_path_of_files_found_recursively(tmp_path):
    root = _tree(tmp_path / "raw")
    assert len(find_csv_files(root)) == 9  # folders of folders are searched
    ws, report = preprocess(root, config=_config())
    assert sorted(set(ws.subjects.tolist())) == [1, 2, 3]
    assert "subject_02/B_left" in ws.session_names
    # a session's windows all carry the subject of its folder
    for session, name in enumerate(ws.session_names):
        assert set(ws.subjects[ws.sessions == session]) == {int(name[8:10])}
    # seconds follow the rate: 2 s at 50 Hz is 100 rows, labelled at the middle
    assert (ws.timesteps, ws.stride, ws.label_offset) == (100, 10, 50)
    assert ws.rest_class is None and ws.reader["columns"]["path_pattern"] == PATTERN


def test_a_path_the_pattern_does_not_match_is_an_error_naming_both(tmp_path):
    root = _tree(tmp_path / "raw", subjects=(1,))
    stray = _write(root / "other" / "A_left.csv", "A")
    # found in a folder, it is skipped with a note (like a metadata CSV beside recordings)
    ws, report = preprocess(root, config=_config())
    assert report.skipped == [[str(stray), f"does not match --path-pattern '{PATTERN}'"]]
    assert str(stray) not in report.files and len(report.files) == 3
    # named on its own, it is an error naming both
    with pytest.raises(ExermoteInputError) as info:
        preprocess([root, stray], config=_config())
    assert str(stray) in str(info.value) and PATTERN in str(info.value)


def test_the_path_pattern_must_give_an_integer_subject(tmp_path):
    path = _write(tmp_path / "person_x" / "A.csv", "A")
    spec = ColumnSpec(**{**SPEC, "path_pattern": r"person_(?P<subject>\w+)/"})
    with pytest.raises(ExermoteInputError, match=r"not an integer.*\\d\+"):
        read_generic_csv(path, columns=spec)


def test_defaults_follow_the_rate_and_short_windows_warn(tmp_path):
    root = _tree(tmp_path / "raw", subjects=(1,))
    ws, _ = preprocess(root, config=_config(window_seconds=None, stride_seconds=None,
                                            timesteps=None, expected_rate_hz=50.0))
    # the generic default: 2 s every 0.5 s at the rate (100 and 25 rows at 50 Hz)
    assert (ws.timesteps, ws.stride, ws.label_offset) == (100, 25, 50)
    measured, _ = preprocess(root, config=_config(window_seconds=None, stride_seconds=None,
                                                  expected_rate_hz=None))
    assert measured.sample_rate_hz == 50.0 and measured.timesteps == 100  # from the timestamps
    ws, _ = preprocess(root, config=_config(window_seconds=4.0, stride_seconds=None,
                                            timesteps=None, expected_rate_hz=50.0))
    assert ws.timesteps == 200 and ws.label_offset == 100  # 4 s at 50 Hz, not 40 rows
    with pytest.warns(ShortWindowWarning, match="--window-seconds"):
        preprocess(root, config=_config(window_seconds=None, stride_seconds=None,
                                        timesteps=40))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortWindowWarning)
        preprocess(root, config=_config())  # 2 s: no warning


def test_duplicate_timestamps_refuse_drop_average_and_resample(tmp_path):
    times = np.arange(300) / 50.0
    times[101] = times[100]  # one repeated timestamp
    path = _write(tmp_path / "raw" / "subject_01" / "A_left.csv", "A", times=times)
    with pytest.raises(ExermoteInputError, match="--duplicate-timestamps") as info:
        preprocess(path, config=_config(duplicate_timestamps="refuse"))
    assert "row 103" in str(info.value)  # header is row 1; data row 102 repeats row 101
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(1,))
    for policy, expected in (("drop", raw[100]), ("average", (raw[100] + raw[101]) / 2)):
        spec = ColumnSpec(**{**SPEC, "duplicate_timestamps": policy})
        (recording,) = read_generic_csv(path, columns=spec)
        assert len(recording) == 299 and recording.duplicate_rows == 1
        assert recording.values[100, 0] == pytest.approx(expected)
    # the policy is applied before resampling, which then works
    ws, report = preprocess(path, config=_config(duplicate_timestamps="drop", resample=True))
    assert report.sessions[0].duplicate_rows == 1 and len(ws) > 0
    # drop is the generic default, and "rows read" counts the dropped row
    _, report = preprocess(path, config=_config())
    assert report.sessions[0].duplicate_rows == 1 and report.rows_read == 300


def test_absurd_values_are_refused_or_treated_as_missing(tmp_path):
    path = _write(tmp_path / "raw" / "subject_01" / "A_left.csv", "A", extra={150: 1e30})
    with pytest.raises(ExermoteInputError) as info:
        preprocess(path, config=_config())
    message = str(info.value)
    assert "row 152" in message and "'ax'" in message and "--out-of-range missing" in message
    ws, report = preprocess(path, config=_config(out_of_range="missing"))
    assert report.sessions[0].values_out_of_range == 1
    assert report.sessions[0].rows_interpolated == 1
    assert np.abs(ws.windows).max() < 10


def test_rest_class_is_stored_and_an_unknown_one_is_refused(tmp_path):
    root = _tree(tmp_path / "raw", subjects=(1,))
    ws, _ = preprocess(root, config=_config(rest_class="A"))
    out = save_windows(tmp_path / "w.h5", ws)
    assert load_windows(out).rest_class == "A"
    with pytest.raises(ExermoteInputError, match="--rest-class"):
        preprocess(root, config=_config(rest_class="Pause"))


def test_label_index_beyond_the_classes_names_the_file_and_the_fix(tmp_path):
    import h5py

    root = _tree(tmp_path / "raw", subjects=(1,))
    ws, _ = preprocess(root, config=_config())
    out = save_windows(tmp_path / "w.h5", ws)
    with h5py.File(out, "r+") as f:
        labels = f["labels"][()]
        labels[3] = 7
        f["labels"][...] = labels
    with pytest.raises(ExermoteInputError) as info:
        load_windows(out)
    assert str(out) in str(info.value) and "--classes" in str(info.value)
    # splits refuse such labels too, instead of an IndexError
    from dataclasses import replace

    from exermote_sgan.data.splits import select_labeled

    broken = replace(ws, labels=np.where(np.arange(len(ws)) == 3, 7, ws.labels))
    with pytest.raises(ExermoteInputError, match="preprocess"):
        select_labeled(broken, np.arange(len(ws)), fraction=0.5)


# ----------------------------------------------------------------------------- command line

def _cli(tmp_path, *extra, columns=True):
    root = _tree(tmp_path / "raw", subjects=(1, 2))
    out = tmp_path / "w.h5"
    args = ["preprocess", str(root), "--out", str(out), "--format", "generic",
            "--classes", ",".join(CLASSES), "--label-map", "", "--expected-rate", "50",
            "--window-seconds", "2", "--stride-seconds", "0.2"]
    if columns:
        spec = tmp_path / "columns.json"
        spec.write_text(json.dumps({k: list(v) if isinstance(v, tuple) else v
                                    for k, v in SPEC.items()}))
        args += ["--columns-file", str(spec)]
    return main(args + list(extra)), out


def test_cli_reads_the_folder_in_one_command_with_a_columns_file(tmp_path, capsys):
    code, out = _cli(tmp_path)
    assert code == 0 and out.is_file()
    printed = capsys.readouterr().out
    assert "sessions:       6 (2 subjects)" in printed
    assert "rest class: none" in printed
    assert "squat" not in printed.lower()  # no squat rule without Squat/Break


def test_cli_path_pattern_option_instead_of_a_subject_column(tmp_path):
    code, out = _cli(tmp_path, "--timestamp-column", "time_ms", "--timestamp-unit", "ms",
                     "--feature-columns", "ax,ay,az", "--label-column", "exercise",
                     "--path-pattern", PATTERN, columns=False)
    assert code == 0 and load_windows(out).subjects.max() == 2


@pytest.mark.parametrize("option, value, named", [
    ("--window-seconds", "-1", "--window-seconds"),
    ("--stride-seconds", "0", "--stride-seconds"),
    ("--label-offset-seconds", "nan", "--label-offset-seconds"),
    ("--timesteps", "100", "--window-seconds"),          # both given
    ("--rest-class", "Pause", "--rest-class"),
    ("--path-pattern", "subject_(", "--path-pattern"),
    ("--path-pattern", r"subject_\d+", "--path-pattern"),  # no named group
    ("--max-abs-value", "0", "--max-abs-value"),
    ("--label-map", "A=Z", '--label-map ""'),
    ("--classes", "A,B", "--classes"),                     # C is unknown
])
def test_bad_option_values_are_one_line_errors_and_write_nothing(tmp_path, capsys, option,
                                                                   value, named):
    code, _ = _cli(tmp_path, option, value)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err
    assert not (tmp_path / "w.h5").exists()
