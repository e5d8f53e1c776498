"""Mirroring one body side into the other's frame (``--mirror-when``/``--mirror-columns``):
the named columns of matching recordings are negated as read, in ``preprocess``, in
``predict``'s reading and on the real smartwatch recordings; bad values are one-line errors
that write nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.cli import main
from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess, read_recordings
from exermote_sgan.recordings.readers import ColumnSpec, load_column_spec, read_generic_csv
from exermote_sgan.errors import ExermoteInputError

PATTERN = r"(?P<session>subject_(?P<subject>\d+)/[^/]+_(?P<side>left|right))\.csv$"
SPEC = dict(timestamp="time_ms", timestamp_unit="ms", features=("ax", "ay", "gz"),
            label="exercise", path_pattern=PATTERN)
MIRROR = dict(mirror_when="side=left", mirror_columns=("ax", "gz"))


def _write(path, label="A", *, rows=200, seed=0):
    """A 50 Hz recording whose three features are all positive (so a sign change shows)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = 1.0 + rng.random((rows, 3))
    frame = pd.DataFrame({"time_ms": np.arange(rows) * 20.0, "ax": values[:, 0],
                          "ay": values[:, 1], "gz": values[:, 2], "exercise": label})
    frame.to_csv(path, index=False)
    return values


def _tree(root):
    raw = {}
    for s in (1, 2):
        for k, side in enumerate(("left", "right")):
            for j, label in enumerate(("A", "B")):
                raw[(s, side, label)] = _write(root / f"subject_{s:02d}" / f"{label}_{side}.csv",
                                               label, seed=100 * s + 10 * k + j)
    return root, raw


def test_only_the_matching_recordings_have_only_the_named_columns_negated(tmp_path):
    root, raw = _tree(tmp_path / "raw")
    spec = ColumnSpec(**SPEC, **MIRROR)
    (left,) = read_generic_csv(root / "subject_01" / "A_left.csv", columns=spec)
    (right,) = read_generic_csv(root / "subject_01" / "A_right.csv", columns=spec)
    assert left.mirrored and not right.mirrored
    np.testing.assert_allclose(left.values, raw[(1, "left", "A")] * [-1, 1, -1], atol=1e-12)
    np.testing.assert_allclose(right.values, raw[(1, "right", "A")], atol=1e-12)
    # without the rule nothing is negated
    (plain,) = read_generic_csv(root / "subject_01" / "A_left.csv", columns=ColumnSpec(**SPEC))
    np.testing.assert_allclose(plain.values, raw[(1, "left", "A")], atol=1e-12)


def test_preprocess_windows_hold_the_mirrored_values_and_the_rule_travels_with_them(tmp_path):
    root, _ = _tree(tmp_path / "raw")
    config = PreprocessConfig(format="generic", columns=ColumnSpec(**SPEC, **MIRROR),
                              classes=("A", "B"), label_map={}, expected_rate_hz=50.0,
                              window_seconds=1.0, stride_seconds=0.5)
    ws, report = preprocess(root, config=config)
    rows = np.asarray(ws.windows)
    for session, name in enumerate(ws.session_names):
        x = rows[ws.sessions == session]
        left = name.endswith("_left")
        assert np.all(x[..., 0] < 0) == left and np.all(x[..., 0] > 0) != left
        assert np.all(x[..., 1] > 0)                      # ay is never negated
        assert np.all(x[..., 2] < 0) == left
    assert sum(s.mirrored for s in report.sessions) == 4
    # the run's reader settings keep the rule, so predict reads a left-arm file the same way
    reader = ws.reader
    assert reader["columns"]["mirror_when"] == "side=left"
    path = root / "subject_02" / "B_left.csv"
    (auto,) = read_recordings(path, reader=reader, for_prediction=True)
    (forced_off,) = read_recordings(path, reader=reader, for_prediction=True, mirror=False)
    np.testing.assert_allclose(auto.values[:, [0, 2]], -forced_off.values[:, [0, 2]])
    # a file whose path says nothing is mirrored only when asked (predict --mirror yes)
    elsewhere = tmp_path / "phone" / "today.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(path.read_bytes())
    (unknown,) = read_recordings(elsewhere, reader=reader, for_prediction=True)
    (forced_on,) = read_recordings(elsewhere, reader=reader, for_prediction=True, mirror=True)
    np.testing.assert_allclose(unknown.values, forced_off.values)
    np.testing.assert_allclose(forced_on.values, auto.values)


def test_mirror_yes_needs_a_run_with_a_rule(tmp_path):
    path = tmp_path / "subject_01" / "A_left.csv"
    _write(path)
    reader = {"format": "generic", "columns": dict(SPEC)}
    with pytest.raises(ExermoteInputError, match="--mirror"):
        read_recordings(path, reader=reader, for_prediction=True, mirror=True)


def _cli(tmp_path, *options):
    root, _ = _tree(tmp_path / "raw")
    out = tmp_path / "w.h5"
    code = main(["preprocess", str(root), "--out", str(out), "--format", "generic",
                 "--timestamp-column", "time_ms", "--timestamp-unit", "ms",
                 "--feature-columns", "ax,ay,gz", "--label-column", "exercise",
                 "--path-pattern", PATTERN, "--classes", "A,B", "--label-map", "",
                 "--expected-rate", "50", "--window-seconds", "1", "--no-progress", *options])
    return code, out


def test_the_command_line_options_mirror_and_say_so(tmp_path, capsys):
    code, out = _cli(tmp_path, "--mirror-when", "side=left", "--mirror-columns", "ax,gz")
    assert code == 0 and out.is_file()
    assert "sessions mirrored (side=left: negated ax, gz): 4" in capsys.readouterr().out


@pytest.mark.parametrize("options, named", [
    (("--mirror-when", "side=left"), "--mirror-columns"),              # columns missing
    (("--mirror-columns", "ax"), "--mirror-when"),                     # rule missing
    (("--mirror-when", "side", "--mirror-columns", "ax"), "--mirror-when"),       # no =VALUE
    (("--mirror-when", "arm=left", "--mirror-columns", "ax"), "(?P<arm>"),       # no such group
    (("--mirror-when", "side=left", "--mirror-columns", "ax,gyro"), "--mirror-columns"),
])
def test_bad_mirror_options_are_one_line_errors_and_write_nothing(tmp_path, capsys, options,
                                                                   named):
    code, out = _cli(tmp_path, *options)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err
    assert not out.exists()


@pytest.mark.realdata
def test_the_watch_example_mirrors_exactly_the_left_arm_recordings(watch_raw_dir):
    from pathlib import Path

    spec = load_column_spec(Path(__file__).parents[1] / "examples" / "watch" / "columns.toml")
    for side, sign in (("left", -1.0), ("right", 1.0)):
        path = watch_raw_dir / "subject_03" / f"IR_{side}.csv"
        (recording,) = read_generic_csv(path, columns=spec)
        raw = pd.read_csv(path)
        assert recording.subject == 3 and recording.mirrored == (side == "left")
        for name in ("acc_x_g", "gyro_y_rad_s", "gyro_z_rad_s"):
            j = spec.features.index(name)
            np.testing.assert_allclose(recording.values[:, j], sign * raw[name].to_numpy())
        for name in ("acc_y_g", "acc_z_g", "gyro_x_rad_s"):
            j = spec.features.index(name)
            np.testing.assert_allclose(recording.values[:, j], raw[name].to_numpy())
