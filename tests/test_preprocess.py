"""``exermote-sgan preprocess``: real recordings against an independent pandas computation, options,
the generic format, and one-line errors with exit status 2 and no output for bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
from exermote_sgan.data.windows_file import load_windows

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CLASSES = ["Break", "Burpee", "Situp", "Squat"]
FEATURES = ["Device: " + f for f in ("xGravity", "yGravity", "zGravity", "xAcceleration",
                                     "yAcceleration", "zAcceleration", "pitch", "roll", "yaw",
                                     "xRotationRate", "yRotationRate", "zRotationRate")]


def _expected_session(path, *, squat_rule=True):
    """Rows, labels and subject of one raw file, the straightforward way (pandas and a loop)."""
    frame = pd.read_csv(path)
    frame = frame[frame[FEATURES].notna().all(axis=1)]  # only the empty leading row(s)
    kept_rows = frame.index.to_numpy()
    assert np.all(np.diff(kept_rows) == 1), "real files only lack values at the start"
    types = list(frame["exerciseType"])
    labels = []
    for i, t in enumerate(types):
        if t == "setBreak":
            t = "Break"
        elif t == "Squat" and squat_rule:
            near = [types[j] if 0 <= j < len(types) else None for j in (i - 2, i - 1, i + 1, i + 2)]
            if any(x != "Squat" for x in near):
                t = "Break"
        labels.append(CLASSES.index(t))
    subject = int(frame["individual"].iloc[0])
    return frame[FEATURES].to_numpy(), np.array(labels), subject, kept_rows


@pytest.mark.realdata
def test_real_recordings_match_an_independent_computation(real_raw_dir, real_recordings,
                                                          tmp_path, capsys):
    out = tmp_path / "w.h5"
    assert main(["preprocess", str(real_raw_dir), "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    ws = load_windows(out)
    assert ws.windows.shape[1:] == (40, 12) and ws.classes == tuple(CLASSES)
    assert ws.session_names == tuple(p.stem for p in real_recordings)
    assert (ws.timesteps, ws.stride, ws.label_offset, ws.sample_rate_hz) == (40, 1, 20, 10.0)

    expected_labels, expected_subjects, expected_sessions = [], [], []
    for session, path in enumerate(real_recordings):
        values, labels, subject, kept_rows = _expected_session(path)
        n = len(values) - 40 + 1
        expected_labels.extend(labels[start + 19] for start in range(n))
        expected_subjects.extend([subject] * n)
        expected_sessions.extend([session] * n)
        mine = np.flatnonzero(ws.sessions == session)
        assert len(mine) == n
        # every window is 40 consecutive rows of this session's file, ending at end_index
        for k, i in enumerate(mine[:: 97]):
            end = ws.end_index[i]
            first = np.searchsorted(kept_rows, end) - 39
            assert first >= 0  # does not reach before the session (no window spans two)
            np.testing.assert_allclose(ws.windows[i], values[first:first + 40], rtol=1e-6)
        assert ws.end_index[mine[0]] == kept_rows[39] and ws.end_index[mine[-1]] == 2999
    np.testing.assert_array_equal(ws.labels, expected_labels)
    np.testing.assert_array_equal(ws.subjects, expected_subjects)
    np.testing.assert_array_equal(ws.sessions, expected_sessions)
    assert len(ws) == 90_000 - 24 - 30 * 39  # 24 empty leading rows in the 30 files
    counts = np.bincount(expected_labels, minlength=4)
    for name, count in zip(CLASSES, counts):
        assert f"{name}" in summary and str(count) in summary
    assert "rows read:      90000" in summary


@pytest.mark.realdata
def test_real_options_change_the_windows_as_expected(real_recordings, tmp_path):
    files = real_recordings[:3]
    base, report = preprocess(files)
    strided, _ = preprocess(files, config=PreprocessConfig(stride=4, timesteps=20,
                                                          label_offset=5))
    expected = sum((len(_expected_session(p)[0]) - 20) // 4 + 1 for p in files)
    assert len(strided) == expected and strided.windows.shape[1] == 20
    plain, plain_report = preprocess(files, config=PreprocessConfig(squat_rule=False))
    assert report.sessions[0].squat_rows_relabelled > 0
    assert plain_report.sessions[0].squat_rows_relabelled == 0
    for session, path in enumerate(files):
        labels = _expected_session(path, squat_rule=False)[1]
        np.testing.assert_array_equal(plain.labels[plain.sessions == session],
                                      labels[19:len(labels) - 20])
    assert plain.class_counts()["Squat"] > base.class_counts()["Squat"]


def test_features_keeps_only_the_named_ones_in_that_order(tmp_path):
    full, _ = preprocess([SAMPLE])
    keep = ("zRotationRate", "xGravity", "yAcceleration")
    out = tmp_path / "three.h5"
    assert main(["preprocess", str(SAMPLE), "--out", str(out), "--features", ",".join(keep)]) == 0
    some = load_windows(out)
    assert some.features == keep and some.windows.shape == (len(full), 40, 3)
    columns = [full.features.index(name) for name in keep]
    np.testing.assert_array_equal(some.windows, full.windows[:, :, columns])
    np.testing.assert_array_equal(some.labels, full.labels)


def test_sample_resampled_keeps_the_windows_aligned(tmp_path):
    normal, _ = preprocess([SAMPLE])
    resampled, report = preprocess([SAMPLE], config=PreprocessConfig(resample=True))
    assert sum(s.resampled_rows for s in report.sessions) > 0
    # resampling 10 Hz data with a few ms of jitter changes values only slightly
    assert abs(len(resampled) - len(normal)) <= 8
    same = min(len(normal), len(resampled)) // 2
    assert np.mean(resampled.labels[:same] == normal.labels[:same]) > 0.97


def test_cli_writes_report_json_and_no_tensorflow(tmp_path):
    out, report = tmp_path / "s.h5", tmp_path / "r.json"
    code = ("import sys; from exermote_sgan.cli import main; "
            f"rc = main(['preprocess', {str(SAMPLE)!r}, '--out', {str(out)!r}, "
            f"'--report-json', {str(report)!r}]); "
            "assert 'tensorflow' not in sys.modules, 'preprocess imported tensorflow'; "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    ws = load_windows(out)
    assert data["windows"] == len(ws) and data["rows_read"] == 4 * 1100
    assert data["windows_per_subject"] == {str(s): int((ws.subjects == s).sum()) for s in
                                           range(1, 5)}
    assert "sessions:       4 (4 subjects)" in result.stdout


def test_generic_format_with_a_columns_file(tmp_path):
    # the sample, rewritten as someone else's layout: two sessions in one file, ms timestamps
    from exermote_sgan.recordings.readers import read_exermote_csv

    rows = []
    for k, path in enumerate(sorted(SAMPLE.glob("*.csv"))[:2]):
        rec = read_exermote_csv(path)
        for i in range(1, len(rec)):
            rows.append([f"{rec.timestamps[i] * 1000:.0f}", *rec.values[i], rec.labels[i],
                         10 + k, f"day{k}"])
    names = [f"f{j}" for j in range(12)]
    with open(tmp_path / "mine.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t_ms", *names, "activity", "who", "day"])
        writer.writerows(rows)
    columns = tmp_path / "columns.toml"
    columns.write_text(f'timestamp = "t_ms"\ntimestamp_unit = "ms"\nfeatures = {names!r}\n'
                       'label = "activity"\nsubject = "who"\nsession = "day"\n'.replace("'", '"'))
    out = tmp_path / "g.h5"
    assert main(["preprocess", str(tmp_path / "mine.csv"), "--out", str(out), "--format",
                 "generic", "--columns-file", str(columns), "--no-squat-rule",
                 # the Exermote settings, which the generic format does not assume
                 "--label-map", "setBreak=Break", "--classes", "Break,Burpee,Situp,Squat",
                 "--window-seconds", "4", "--stride", "1"]) == 0
    generic = load_windows(out)
    reference, _ = preprocess(sorted(SAMPLE.glob("*.csv"))[:2],
                              config=PreprocessConfig(squat_rule=False))
    assert generic.session_names == ("mine:day0", "mine:day1")
    assert set(generic.subjects) == {10, 11} and generic.features == tuple(names)
    np.testing.assert_array_equal(generic.labels, reference.labels)
    np.testing.assert_allclose(generic.windows, reference.windows)


# ---------------------------------------------------------------------- bad input via the CLI

def _sample_rows():
    with open(sorted(SAMPLE.glob("*.csv"))[0], newline="") as f:
        return list(csv.reader(f))


def _write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _breaks(rows, name, row, value):
    rows[row - 1][rows[0].index(name)] = value
    return rows


BAD_INPUTS = {
    "missing column": (lambda r: [x[:61] + x[62:] for x in r],  # column 62 is Device: roll
                       ["missing column", "row 1", "'Device: roll'"]),
    "non-numeric": (lambda r: _breaks(r, "Device: yaw", 50, "0.4.2"),
                    ["row 50", "'Device: yaw'", "'0.4.2' is not a number"]),
    "header only": (lambda r: r[:1], ["no data rows"]),
    "duplicate timestamps": (lambda r: _breaks(r, "timeStampSaved", 30, r[28][68]),
                             ["row 30", "'timeStampSaved'", "repeats"]),
    "unsorted timestamps": (lambda r: _breaks(r, "timeStampSaved", 30, r[20][68]),
                            ["row 30", "earlier than", "strictly increasing"]),
    "unknown label": (lambda r: _breaks(r, "exerciseType", 77, "Pushup"),
                      ["row 77", "'exerciseType'", "unknown label 'Pushup'", "Break, Burpee"]),
    "too short": (lambda r: r[:30], ["29 rows", "shorter than one window of 40 rows"]),
    "two subjects": (lambda r: _breaks(r, "individual", 90, "2"),
                     ["row 90", "'individual'", "subject id 2"]),
    "slow rate": (lambda r: [r[0]] + r[1::3], ["3.33 Hz", "expected 10 Hz", "--resample"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_output(case, tmp_path, capsys):
    change, fragments = BAD_INPUTS[case]
    good = tmp_path / "in" / "a good one.csv"
    good.parent.mkdir()
    _write(good, _sample_rows())
    bad = _write(tmp_path / "in" / "bad.csv", change(_sample_rows()))
    out = tmp_path / "out" / "w.h5"
    assert main(["preprocess", str(tmp_path / "in"), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("exermote-sgan preprocess: error: ") and "\n" not in err
    assert str(bad) in err
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize("argv, fragment", [
    (["nowhere.csv"], "no such file or folder"),
    (["{sample}", "--timesteps", "0"], "timesteps must be an integer >= 1"),
    (["{sample}", "--label-offset", "40"], "label offset must be an integer"),
    (["{sample}", "--label-map", "setBreak"], "is not FROM=TO"),
    (["{sample}", "--label-map", "setBreak=Rest"], "not classes"),
    (["{sample}", "--format", "generic"], "--timestamp-column"),
    (["{sample}", "--label-column", "x"], "--format generic needs --columns-file"),
    (["{sample}", "--format", "exermote", "--label-column", "x"], "need --format generic"),
    (["{sample}", "--expected-rate", "-1"], "--expected-rate must be a finite number of Hz"),
    (["{sample}", "--expected-rate", "nan"], "--expected-rate must be a finite number of Hz"),
    (["{sample}", "--expected-rate", "inf"], "--expected-rate must be a finite number of Hz"),
    (["{sample}", "--window-seconds", "1e308"], "--window-seconds 1e+308 s is inf rows"),
    (["{sample}", "--stride-seconds", "1e300"], "--stride-seconds 1e+300 s is 1e+301 rows"),
    (["{sample}", "--features", "xGravity,heading"], "unknown feature(s) heading; the "
                                                     "recordings have xGravity, yGravity"),
    (["{sample}", "--features", "yaw,yaw"], "features must be distinct"),
])
def test_bad_options_exit_2(argv, fragment, tmp_path, capsys):
    out = tmp_path / "w.h5"
    argv = [a.format(sample=SAMPLE) for a in argv]
    assert main(["preprocess", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and not out.exists()


def test_an_empty_file_and_a_folder_as_out(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["preprocess", str(empty), "--out", str(tmp_path / "w.h5")]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["preprocess", str(SAMPLE), "--out", str(tmp_path)]) == 2
    assert "--out is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["folder", "below a file"])
def test_a_bad_report_json_path_fails_before_the_windows_file_is_written(where, tmp_path,
                                                                         capsys):
    out = tmp_path / "w.h5"
    blocker = tmp_path / "FILE"
    blocker.write_text("x")
    report = tmp_path if where == "folder" else blocker / "r.json"
    assert main(["preprocess", str(SAMPLE), "--out", str(out), "--no-progress",
                 "--report-json", str(report)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--report-json" in err and "\n" not in err
    assert not out.exists()  # refused before any work
