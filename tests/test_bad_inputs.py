"""Failures a user can cause end in one line naming the fix, exit status 2, nothing half-written.

A full disk is tested twice: by injecting ``OSError(ENOSPC)`` into the real write (as Python
and as h5py word it), and, where the system allows an unprivileged mount namespace, by writing
into a real tmpfs that is too small.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.atomic import _TEMPORARY, atomic_output, remove_stale_temporaries
from exermote_sgan.cli import main
from exermote_sgan.errors import ExermoteInputError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
# the two ways a full disk is reported: Python's errno, and h5py's words without an errno
DISK_FULL = [OSError(errno.ENOSPC, "No space left on device"),
             OSError("Can't synchronously write data (file write failed: time = Mon Nov 30, "
                     "filename = 'w.h5', errno = 28, error message = 'No space left on device')")]
TINY_TRAIN = ["--model", "baseline", "--epochs", "2", "--steps-per-epoch", "2",
              "--batch-size", "16", "--conv-filters", "4", "--lstm-units", "4",
              "--kernel-size", "3", "--test-subjects", "4", "--quiet"]


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith(f"exermote-sgan {command}: error: ")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if _TEMPORARY.match(p.name))


@pytest.fixture(scope="module")
def sample_windows(tmp_path_factory):
    path = tmp_path_factory.mktemp("windows") / "windows.h5"
    assert main(["preprocess", str(SAMPLE), "--out", str(path), "--stride", "4",
                 "--no-progress"]) == 0
    return path


@pytest.fixture(scope="module")
def sample_run(sample_windows, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", str(sample_windows), "--out", str(run_dir)] + TINY_TRAIN) == 0
    return run_dir


# -- a full disk ---------------------------------------------------------------------------------
@pytest.mark.parametrize("error", DISK_FULL, ids=["errno", "h5py"])
def test_preprocess_on_a_full_disk(tmp_path, monkeypatch, capsys, error):
    import h5py

    out = tmp_path / "windows.h5"
    out.write_bytes(b"an earlier windows file")

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(h5py.File, "create_dataset", full)
    assert main(["preprocess", str(SAMPLE), "--out", str(out), "--no-progress"]) == 2
    line = _one_line_error(capsys, "preprocess")
    assert f"{out}: the disk is full" in line and "free some space" in line
    assert out.read_bytes() == b"an earlier windows file"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["windows.h5"]


def test_a_full_disk_is_its_own_error_type_that_the_command_line_reports(tmp_path):
    from exermote_sgan.errors import DiskFullError

    target = tmp_path / "m.json"
    with pytest.raises(DiskFullError) as caught:
        with atomic_output(target) as staged:
            Path(staged).write_text("{")
            raise DISK_FULL[0]  # as the writing library reports it
    assert isinstance(caught.value, ExermoteInputError)  # one line and exit status 2
    assert str(caught.value).startswith(f"{target}: the disk is full")
    assert not hasattr(caught.value, "disk_full") and not target.exists()
    other = ExermoteInputError("no such column")
    assert not isinstance(other, DiskFullError)


@pytest.mark.slow
def test_train_on_a_full_disk_leaves_no_run_folder(sample_windows, tmp_path, monkeypatch,
                                                    capsys):
    import keras

    def full(*args, **kwargs):
        raise DISK_FULL[1]

    monkeypatch.setattr(keras.Model, "save_weights", full)
    # a labeled fraction far below one set per subject: the warning says what was used
    assert main(["train", str(sample_windows), "--out", str(tmp_path / "run"),
                 "--labeled-fraction", "0.0001"] + TINY_TRAIN) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0:2] for line in err] == [["exermote-sgan train", " warning"],
                                                      ["exermote-sgan train", " error"]], err
    assert "--labeled-fraction 0.0001 labels" in err[0] and "--labeled-unit windows" in err[0]
    assert "the disk is full" in err[1] and "run the command again" in err[1]
    assert list(tmp_path.iterdir()) == []  # no run folder, no unfinished copy


@pytest.mark.slow
def test_train_on_a_disk_that_fills_later_keeps_the_epochs_for_resume(sample_windows, tmp_path,
                                                                      monkeypatch, capsys):
    from exermote_sgan.training import backup

    writes = []
    real_write = backup.HistoryFile.write

    def fills_up(self):
        writes.append(1)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self)

    monkeypatch.setattr(backup.HistoryFile, "write", fills_up)
    run_dir = tmp_path / "run"
    assert main(["train", str(sample_windows), "--out", str(run_dir)] + TINY_TRAIN) == 2
    line = _one_line_error(capsys, "train")
    assert "the disk is full" in line and "continue with --resume" in line
    assert not run_dir.exists()
    monkeypatch.undo()
    assert main(["train", str(sample_windows), "--out", str(run_dir), "--resume"]
                + TINY_TRAIN) == 0
    assert (run_dir / "classifier.keras").is_file()


@pytest.mark.slow
def test_evaluate_json_on_a_full_disk_and_into_a_folder(sample_run, sample_windows, tmp_path,
                                                         monkeypatch, capsys):
    (tmp_path / "folder").mkdir()
    assert main(["evaluate", str(sample_run), str(sample_windows), "--json",
                 str(tmp_path / "folder")]) == 2
    line = _one_line_error(capsys, "evaluate")
    assert "folder, option '--json': is a folder; give a file name (for example " in line

    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    assert main(["evaluate", str(sample_run), str(sample_windows), "--json",
                 str(tmp_path / "m.json")]) == 2
    assert "m.json: the disk is full" in _one_line_error(capsys, "evaluate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


@pytest.mark.slow
def test_export_on_a_full_disk(sample_run, tmp_path, monkeypatch, capsys):
    from exermote_sgan.export import coreml_package

    def full(model, directory):
        (Path(directory) / "half").write_bytes(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(coreml_package, "stage_mlpackage", full)
    assert main(["export", str(sample_run), "--out", str(tmp_path / "Model"),
                 "--precision", "fp32"]) == 2
    assert "Model.mlpackage: the disk is full" in _one_line_error(capsys, "export")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_predict_out_into_a_folder(sample_run, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    recording = sorted(SAMPLE.glob("*.csv"))[-1]
    assert main(["predict", str(sample_run), str(recording), "--out",
                 str(tmp_path / "folder")]) == 2
    assert "folder, option '--out': is a folder; give a file name" in _one_line_error(
        capsys, "predict")
    assert list((tmp_path / "folder").iterdir()) == []


def _can_mount_tmpfs() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def _in_small_tmpfs(folder: Path, size: str, command: list[str], *, fill: bool = False):
    """Run ``exermote-sgan COMMAND`` with a tmpfs of ``size`` mounted on ``folder``."""
    folder.mkdir(exist_ok=True)
    filler = f"cat /dev/zero > {folder}/filler 2>/dev/null; " if fill else ""
    script = (f"mount -t tmpfs -o size={size} tmpfs {folder} && {filler}"
              f"exec {sys.executable} -m exermote_sgan \"$@\"; ")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script,
                           "sh", *command], capture_output=True, text=True, env=env,
                          timeout=600)


def _assert_disk_full_line(result, command):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines()
             if line.startswith(f"exermote-sgan {command}: error:")]
    assert len(lines) == 1 and "the disk is full" in lines[0], result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_tmpfs(), reason="no unprivileged tmpfs mount here")
def test_a_real_full_tmpfs(sample_run, sample_windows, tmp_path):
    mount = tmp_path / "small"
    # preprocess: the windows file does not fit in 64 KiB
    result = _in_small_tmpfs(mount, "64k", ["preprocess", str(SAMPLE), "--out",
                                            str(mount / "w.h5"), "--no-progress"])
    _assert_disk_full_line(result, "preprocess")
    # train: the run does not fit in 96 KiB
    result = _in_small_tmpfs(mount, "96k", ["train", str(sample_windows), "--out",
                                            str(mount / "run")] + TINY_TRAIN)
    _assert_disk_full_line(result, "train")
    # evaluate --json onto a disk already full
    result = _in_small_tmpfs(mount, "64k", ["evaluate", str(sample_run), str(sample_windows),
                                            "--json", str(mount / "m.json")], fill=True)
    _assert_disk_full_line(result, "evaluate")
    # export onto a disk already full
    result = _in_small_tmpfs(mount, "64k", ["export", str(sample_run), "--out",
                                            str(mount / "Model"), "--precision", "fp32"],
                             fill=True)
    _assert_disk_full_line(result, "export")


# -- temporaries of killed writers -----------------------------------------------------------------
def test_kill_9_during_preprocess_leaves_a_temporary_the_next_run_removes(tmp_path):
    """The child is killed by SIGKILL while the real preprocess writes its windows file."""
    out = tmp_path / "windows.h5"
    child = (
        "import os, signal, h5py\n"
        "from exermote_sgan.cli import main\n"
        "real = h5py.File.create_dataset\n"
        "def then_die(self, *a, **k):\n"
        "    real(self, *a, **k)\n"
        "    self.file.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "h5py.File.create_dataset = then_die\n"
        f"main(['preprocess', {str(SAMPLE)!r}, '--out', {str(out)!r}, '--no-progress'])\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True,
                            timeout=300)
    assert result.returncode == -signal.SIGKILL
    left = _temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".windows.h5.") and not out.exists()
    # a temporary whose writer still runs (this process) is never touched
    alive = tmp_path / f".windows.h5.{os.getpid()}.abcd.tmp"
    alive.write_bytes(b"being written")

    assert main(["preprocess", str(SAMPLE), "--out", str(out), "--stride", "8",
                 "--no-progress"]) == 0
    assert _temporaries(tmp_path) == [alive.name]
    assert out.is_file()


def test_stale_temporaries_are_only_those_of_dead_writers(tmp_path):
    dead_pid = 999_999_999  # above any pid_max
    (tmp_path / f".a.csv.{dead_pid}.x1.tmp").write_text("dead")
    (tmp_path / f".a.csv.{os.getpid()}.x2.tmp").write_text("alive")
    (tmp_path / f".b.csv.{dead_pid}.x3.tmp").write_text("another file's")
    (tmp_path / ".a.csv.tmp").write_text("not ours")
    (tmp_path / f".a.csv.{dead_pid}.x4.old").mkdir()
    removed = remove_stale_temporaries(tmp_path, "a.csv")
    assert sorted(p.name for p in removed) == [f".a.csv.{dead_pid}.x1.tmp",
                                               f".a.csv.{dead_pid}.x4.old"]
    with atomic_output(tmp_path / "b.csv") as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".a.csv.{os.getpid()}.x2.tmp", ".a.csv.tmp", "b.csv"]


def test_an_output_file_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(ExermoteInputError, match="out.csv: is a folder; give a file name"):
        with atomic_output(tmp_path / "out.csv"):
            pass
    assert list((tmp_path / "out.csv").iterdir()) == []


# -- a truncated classifier --------------------------------------------------------------------
@pytest.mark.slow
def test_a_truncated_classifier_is_named_truncated_with_the_fix(sample_run, sample_windows,
                                                                tmp_path, capsys):
    broken = tmp_path / "run"
    shutil.copytree(sample_run, broken)
    data = (broken / "classifier.keras").read_bytes()
    (broken / "classifier.keras").write_bytes(data[: len(data) // 2])
    assert main(["evaluate", str(broken), str(sample_windows)]) == 2
    line = _one_line_error(capsys, "evaluate")
    assert "classifier.keras: the file is truncated or corrupt" in line
    assert "retrain the run" in line and "restore the file" in line
    assert "not found" not in line.lower()


# -- options checked before any work -----------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    (["--epochs", "0"], "option '--epochs': must be at least 1"),
    (["--features", "heartRate"], "no feature heartRate"),
    (["--features", "pitch,roll", "--augment-rotation", "30"], "rotation needs 3-axis"),
    (["--labeled-fraction", "0"], "must be in"),
])
def test_demo_checks_every_option_before_writing_anything(tmp_path, capsys, options, message):
    assert main(["demo", "--out", str(tmp_path / "demo")] + options) == 2
    assert message in _one_line_error(capsys, "demo")
    assert list(tmp_path.iterdir()) == []


def test_a_tiny_labeled_fraction_warns_with_the_fraction_used(sample_windows):
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.training.train_lib import LabeledFractionWarning, TrainConfig, split_roles

    window_set = load_windows(sample_windows)
    config = TrainConfig(windows_path=sample_windows, test_subjects=(4,),
                         labeled_fraction=0.0001)
    with pytest.warns(LabeledFractionWarning) as caught:
        _, _, _, labeled, _, _ = split_roles(window_set, config)
    message = str(caught[0].message)
    assert "--labeled-fraction 0.0001 labels" in message and f"({len(labeled)} of" in message
    assert "whole exercise sets" in message
    # a fraction that whole sets can meet closely says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabeledFractionWarning)
        split_roles(window_set, TrainConfig(windows_path=sample_windows, test_subjects=(4,),
                                            labeled_fraction=1.0))
    assert np.all(np.isin(labeled, np.arange(len(window_set))))


def test_train_and_compare_print_the_labeled_fraction_warning_as_one_line(capsys):
    from exermote_sgan.cli.train import show_package_warnings
    from exermote_sgan.training.train_lib import LabeledFractionWarning

    for command in ("train", "compare"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as a user's -W ignore would
            with show_package_warnings(command):
                warnings.warn("--labeled-fraction 0.0001 labels 3.3%", LabeledFractionWarning)
        err = capsys.readouterr().err.splitlines()
        assert err == [f"exermote-sgan {command}: warning: --labeled-fraction 0.0001 labels "
                       "3.3%"]
