"""A run knows its data (issue 33) and the run directory is one typed contract (issue 32).

The run records the content hash of its windows file in a typed :class:`Provenance`; commands
that go back to that file (evaluate, export's verification, personalize) refuse it once it was
replaced.  ``preprocessing.json`` is read back with every field checked, and a windows file
whose ``end_index`` does not fit its rows is refused.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.data.windows_file import content_sha256, load_windows
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.runs import (PREPROCESSING_FILE, Preprocessing, Provenance,
                                check_windows_unchanged, load_run, windows_status)
from exermote_sgan.training.config import TrainConfig

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Windows of the bundled sample at stride 4, and the same recordings at stride 5."""
    root = tmp_path_factory.mktemp("provenance")
    for name, stride in (("windows.h5", "4"), ("other.h5", "5")):
        assert main(["preprocess", str(SAMPLE), "--out", str(root / name), "--stride",
                     stride]) == 0
    return root


def _run_dir(root: Path, windows: Path, **changes) -> Path:
    """A run directory holding only ``preprocessing.json`` for the windows file ``windows``
    (what every check here reads before any classifier is loaded)."""
    window_set = load_windows(windows)
    provenance = Provenance(windows_path=str(windows.resolve()),
                            windows_sha256=content_sha256(windows), test_subjects=(4,),
                            training_subjects=(1, 2, 3), validation_subjects=(1, 2, 3))
    prep = Preprocessing(classes=window_set.classes, features=window_set.features,
                         timesteps=window_set.timesteps, label_offset=window_set.label_offset,
                         sample_rate_hz=window_set.sample_rate_hz,
                         scaler=MinMaxScaler().fit(window_set.windows[:50]),
                         provenance=provenance)
    state = {**prep.to_dict(), **changes}
    run = root / "run"
    run.mkdir(parents=True)
    (run / PREPROCESSING_FILE).write_text(json.dumps(state), encoding="utf-8")
    return run


def _one_line_error(capsys, argv, command: str) -> str:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"exermote-sgan {command}: error:"), err
    return err


# -- the content hash -----------------------------------------------------------------------------

def test_content_hash_follows_the_content_not_the_file(sample, tmp_path):
    original = sample / "windows.h5"
    digest = content_sha256(original)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert content_sha256(sample / "other.h5") != digest
    # the same datasets and attributes in another file, chunked and compressed: the same hash
    copy = tmp_path / "copy.h5"
    with h5py.File(original, "r") as source, h5py.File(copy, "w") as f:
        for name in reversed(list(source)):
            f.create_dataset(name, data=source[name][()], chunks=True, compression="gzip")
        for name, value in source.attrs.items():
            f.attrs[name] = value
    assert content_sha256(copy) == digest
    # one value changed, or one attribute: another hash
    edited = tmp_path / "edited.h5"
    shutil.copy(original, edited)
    with h5py.File(edited, "r+") as f:
        f["rows"][3, 1] = f["rows"][3, 1] + 1.0
    assert content_sha256(edited) != digest
    shutil.copy(original, edited)
    with h5py.File(edited, "r+") as f:
        f.attrs["sample_rate_hz"] = 20.0
    assert content_sha256(edited) != digest


def test_windows_status_tells_a_replaced_file_from_another_one(sample, tmp_path):
    windows = tmp_path / "windows.h5"
    shutil.copy(sample / "windows.h5", windows)
    run = _run_dir(tmp_path, windows)
    provenance = load_run(run, load_classifier=False).preprocessing.provenance
    assert windows_status(provenance, windows) == "same"
    assert windows_status(provenance, sample / "windows.h5") == "same"  # a copy: same content
    assert windows_status(provenance, sample / "other.h5") == "other"
    assert windows_status(Provenance(windows_path=str(windows)), windows) == "unknown"
    shutil.copy(sample / "other.h5", windows)  # replaced under the same name
    assert windows_status(provenance, windows) == "changed"
    with pytest.raises(ExermoteInputError, match=r"changed since .*run was trained on it.*"
                                                 r"the file was replaced; do this"):
        check_windows_unchanged(run, provenance, windows, fix="do this")
    with pytest.raises(ExermoteInputError, match="is not the windows file"):
        check_windows_unchanged(run, provenance, sample / "other.h5", fix="x",
                                require_same=True)


# -- the typed provenance -------------------------------------------------------------------------

def test_provenance_round_trips_and_old_runs_still_load(sample, tmp_path):
    run = _run_dir(tmp_path, sample / "windows.h5")
    state = json.loads((run / PREPROCESSING_FILE).read_text())
    assert state["windows_sha256"] == content_sha256(sample / "windows.h5")
    assert state["test_subjects"] == [4]  # the same keys as before the record was typed
    prep = load_run(run, load_classifier=False).preprocessing
    assert prep.provenance.test_subjects == (4,)
    assert Preprocessing.from_dict(prep.to_dict()).provenance == prep.provenance
    # a run written before the hash: its keys load, the hash is unknown
    old = {k: v for k, v in state.items() if k != "windows_sha256"}
    old.update(unlabeled_windows=None, adaptation_sessions=[], labeled_unit="sets", seed=3)
    loaded = Preprocessing.from_dict(old).provenance
    assert loaded.windows_sha256 is None and loaded.unlabeled_windows is None
    assert loaded.seed == 3 and loaded.adaptation_sessions == ()


@pytest.mark.parametrize("field, value, message", [
    ("test_subjects", "4", "test_subjects is '4', not a list of whole numbers"),
    ("windows_sha256", "abc", "windows_sha256 is 'abc', not a SHA-256 hex digest"),
    ("seed", 1.5, "seed is 1.5, not a whole number"),
    ("labeled_fraction", "half", "labeled_fraction is 'half', not a finite number"),
    ("sample_rate_hz", 0, "sample_rate_hz is 0; it must be a finite number > 0"),
    ("sample_rate_hz", "nan", "sample_rate_hz is 'nan'; it must be a finite number > 0"),
    ("timesteps", 0, "timesteps is 0; it must be a whole number > 0"),
])
def test_a_bad_field_is_one_line_naming_file_and_field(sample, tmp_path, capsys, field, value,
                                                       message):
    run = _run_dir(tmp_path, sample / "windows.h5", **{field: value})
    err = _one_line_error(capsys, ["evaluate", str(run), str(sample / "windows.h5")],
                          "evaluate")
    assert PREPROCESSING_FILE in err and f"column '{field}'" in err and message in err, err


def test_an_empty_scaler_range_is_refused_by_evaluate_and_predict(sample, tmp_path, capsys):
    window_set = load_windows(sample / "windows.h5")
    scaler = MinMaxScaler().fit(window_set.windows[:50]).to_dict()
    scaler["data_max"] = scaler["data_min"]
    run = _run_dir(tmp_path, sample / "windows.h5", scaler=scaler)
    recording = sorted(SAMPLE.glob("*.csv"))[0]
    for argv, command in ((["evaluate", str(run), str(sample / "windows.h5")], "evaluate"),
                          (["predict", str(run), str(recording)], "predict")):
        err = _one_line_error(capsys, argv, command)
        assert PREPROCESSING_FILE in err and "scaler.data_max" in err, err
        assert "data_max equals data_min for every feature" in err, err


# -- commands notice a replaced windows file --------------------------------------------------------

def test_evaluate_refuses_the_run_windows_file_once_replaced(sample, tmp_path, capsys):
    windows = tmp_path / "windows.h5"
    shutil.copy(sample / "windows.h5", windows)
    run = _run_dir(tmp_path, windows)
    shutil.copy(sample / "other.h5", windows)
    err = _one_line_error(capsys, ["evaluate", str(run), str(windows)], "evaluate")
    assert str(windows) in err and "changed since" in err and "retrain the run" in err, err


def test_export_verification_refuses_the_replaced_windows_file(sample, tmp_path):
    from exermote_sgan.export.verify import select_verification_windows

    windows = tmp_path / "windows.h5"
    shutil.copy(sample / "windows.h5", windows)
    run = _run_dir(tmp_path, windows)
    prep = load_run(run, load_classifier=False).preprocessing
    raw, source = select_verification_windows(prep, run_dir=run)
    assert len(raw) and "test subjects [4]" in source and "not the windows" not in source
    shutil.copy(sample / "other.h5", windows)
    with pytest.raises(ExermoteInputError, match=r"changed since .*--windows FILE"):
        select_verification_windows(prep, run_dir=run)
    # named explicitly, other windows verify, and the report says they are not the run's
    raw, source = select_verification_windows(prep, windows_path=windows, run_dir=run)
    assert len(raw) and "not the windows the run was trained on" in source


def test_personalize_refuses_a_windows_file_the_run_did_not_train_on(sample, tmp_path, capsys):
    windows = tmp_path / "windows.h5"
    shutil.copy(sample / "windows.h5", windows)
    run = _run_dir(tmp_path, windows)
    (run / "checkpoints").mkdir()
    config = TrainConfig(windows_path=windows, out_dir=run, test_subjects=(4,))
    (run / "checkpoints" / "train_config.json").write_text(json.dumps(config.to_dict()))
    recording = sorted(SAMPLE.glob("*.csv"))[-1]
    shutil.copy(sample / "other.h5", windows)
    out = tmp_path / "personal"
    err = _one_line_error(capsys, ["personalize", str(run), str(recording), "--out", str(out),
                                   "--quiet"], "personalize")
    assert "changed since" in err and str(windows) in err, err
    err = _one_line_error(capsys, ["personalize", str(run), str(recording), "--out", str(out),
                                   "--windows", str(sample / "other.h5"), "--quiet"],
                          "personalize")
    assert "is not the windows file" in err, err
    assert not out.exists()


# -- windows files and training data that cannot give honest figures -----------------------------

def test_an_end_index_past_its_rows_is_refused(sample, tmp_path, capsys):
    edited = tmp_path / "edited.h5"
    shutil.copy(sample / "windows.h5", edited)
    with h5py.File(edited, "r+") as f:
        end = f["end_index"][()]
        end[7] = end[7] + 10_000  # past the recording
        f["end_index"][...] = end
    with pytest.raises(ExermoteInputError, match=r"window 7's end_index \d+ does not fit"):
        load_windows(edited)
    run = _run_dir(tmp_path, sample / "windows.h5")
    err = _one_line_error(capsys, ["evaluate", str(run), str(edited)], "evaluate")
    assert "column 'end_index'" in err and "re-create the windows file" in err, err
    load_windows(sample / "windows.h5")  # the file as written is consistent


def _split(window_set, path, **options):
    from exermote_sgan.training.train_lib import split_roles as split

    return split(window_set, TrainConfig(windows_path=path, **options))


def test_training_windows_of_one_class_are_refused(sample):
    window_set = load_windows(sample / "windows.h5")
    one_class = window_set.subset(np.flatnonzero(window_set.labels == 0))
    with pytest.raises(ExermoteInputError, match=r"training windows hold one class \(Break\)"):
        _split(one_class, sample / "windows.h5")
    # the other classes only among the test subject's windows: still one class to train on
    mixed = np.flatnonzero((window_set.labels == 0) | (window_set.subjects == 4))
    with pytest.raises(ExermoteInputError, match="column 'labels'"):
        _split(window_set.subset(mixed), sample / "windows.h5", test_subjects=(4,))


def test_a_single_training_recording_is_named_in_a_warning(sample):
    from exermote_sgan.training.train_lib import SingleRecordingWarning

    window_set = load_windows(sample / "windows.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingleRecordingWarning)
        _split(window_set, sample / "windows.h5", test_subjects=(4,))  # three recordings
    one = window_set.subset(np.flatnonzero(window_set.subjects == 1))
    with pytest.warns(SingleRecordingWarning, match=r"one recording \(subject 1, session .*"
                                                    r"validation is that recording's tail"):
        _split(one, sample / "windows.h5")


def test_the_command_line_prints_the_warning_as_one_line(capsys):
    from exermote_sgan.cli.train import show_package_warnings
    from exermote_sgan.training.train_lib import SingleRecordingWarning

    with show_package_warnings("train"):
        warnings.warn("every training window comes from one recording", SingleRecordingWarning)
    err = capsys.readouterr().err.strip()
    assert err == ("exermote-sgan train: warning: every training window comes from one "
                   "recording")


def test_run_directory_file_names_live_in_runs_only():
    """Issue 32: no module but runs.py declares a run directory's file names."""
    package = Path(__file__).resolve().parents[1] / "exermote_sgan"
    names = ("classifier.keras", "preprocessing.json", "metrics.json", "split.json",
             "history.csv", "train_config.json", "personalize.json", "personal_windows.h5")
    declared = re.compile(r"^\s*[A-Z_]+\s*=\s*\"(" + "|".join(map(re.escape, names)) + r")\"",
                          re.MULTILINE)
    literal = re.compile(r"[/(]\s*\"(" + "|".join(map(re.escape, names)) + r")\"")
    offenders = [f"{path.relative_to(package)}: {match.group(0).strip()}"
                 for path in sorted(package.rglob("*.py")) if path.name != "runs.py"
                 for pattern in (declared, literal)
                 for match in pattern.finditer(path.read_text(encoding="utf-8"))]
    assert offenders == []
