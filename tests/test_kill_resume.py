"""``kill -9`` at random instants, backup writes included: every resume works, loses at most
the epoch in progress, and the finished run equals the one never killed.

The command under test is the real ``exermote-sgan train`` in a subprocess, killed with
SIGKILL.  ``EXERMOTE_SGAN_TEST_BACKUP_PAUSE_S`` makes each backup write pause twice (after the
weights, after the metadata) so that many kills land inside a write; the write path itself is
the one every training uses.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.atomic import _TEMPORARY
from exermote_sgan.training.backup import PAUSE_ENV, latest_backup
from exermote_sgan.training.train_lib import can_resume, staging_dir

pytestmark = pytest.mark.slow

KILLS = 20
EPOCHS = 5
PAUSE_S = 0.15
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def windows_path(tmp_path_factory):
    from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
    from exermote_sgan.recordings.synthetic import write_synthetic_recordings
    from exermote_sgan.data.windows_file import save_windows

    root = tmp_path_factory.mktemp("kill")
    paths = write_synthetic_recordings(root / "raw", subjects=(1, 2, 3), sessions_per_subject=3,
                                       rows_per_session=400)
    window_set, _ = preprocess(paths, config=PreprocessConfig(stride=4))
    return save_windows(root / "windows.h5", window_set)


def _command(windows_path, out, *, resume):
    return [sys.executable, "-m", "exermote_sgan", "train", str(windows_path), "--out", str(out),
            "--model", "baseline", "--epochs", str(EPOCHS), "--steps-per-epoch", "2",
            "--batch-size", "16", "--conv-filters", "4", "--lstm-units", "4",
            "--kernel-size", "3", "--test-subjects", "3", "--labeled-fraction", "0.3",
            "--augment-scale", "0.1"] + (["--resume"] if resume else [])


def _env():
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, PAUSE_ENV: str(PAUSE_S), "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}


def _epochs_reported(log: str) -> list[int]:
    """1-based epochs whose line ('epoch k/N ...') the command printed: it prints it after
    the epoch's backup is written."""
    return [int(k) for k in re.findall(rf"^epoch\s+(\d+)/{EPOCHS}\b", log, re.MULTILINE)]


def _wait_for_first_epoch(proc, log_path: Path, timeout: float) -> float:
    """Seconds until this process reports its first finished epoch (or ends)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and proc.poll() is None:
        if _epochs_reported(log_path.read_text(errors="replace")):
            break
        time.sleep(0.02)
    return time.monotonic() - started


def test_training_survives_kill_9_at_random_instants(windows_path, tmp_path):
    env = _env()
    reference = tmp_path / "reference"
    log_path = tmp_path / "log.txt"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(_command(windows_path, reference, resume=False), stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        startup = _wait_for_first_epoch(proc, log_path, 600)
        began = time.monotonic()
        assert proc.wait(timeout=600) == 0, log_path.read_text(errors="replace")
        training = time.monotonic() - began  # first epoch's end -> run complete
    assert _epochs_reported(log_path.read_text(errors="replace")) == list(range(1, EPOCHS + 1))

    rng = random.Random(20261130)
    run_dir = tmp_path / "run"
    kills = inside_backup_write = resumes = 0
    while True:
        resume = can_resume(run_dir)
        resumes += resume
        attempt_started = time.time()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(_command(windows_path, run_dir, resume=resume), stdout=log,
                                    stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
            killed = False
            if kills < KILLS:
                if rng.random() < 0.3:  # start-up (imports, reading, the staging folder)
                    delay = rng.uniform(0.3 * startup, startup)  # ... and the first epoch
                else:  # later epochs, backup writes, evaluation or the final swap
                    _wait_for_first_epoch(proc, log_path, 600)
                    delay = rng.uniform(0, training)
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed = True
            else:
                proc.wait(timeout=600)
        log = log_path.read_text(errors="replace")
        assert "Traceback" not in log, log
        if not killed:
            assert proc.returncode == 0, log
            if kills >= KILLS:
                break
            continue
        kills += 1
        # at most the epoch in progress is lost: every epoch reported finished is in a backup
        # (or the run is complete)
        reported = _epochs_reported(log)
        completed_seen = max(reported) if reported else 0
        staging = staging_dir(run_dir)
        backups = staging / "checkpoints" / "backup"
        if backups.is_dir() and any(p.name.startswith(".epoch-") and p.name.endswith(".tmp")
                                    for p in backups.iterdir()):
            inside_backup_write += 1
        saved = latest_backup(backups)
        # complete: the run is in place, and either nothing is left of the staging folder or the
        # run in place is this attempt's (a kill while the replaced older run, exchanged into
        # the staging folder's name, was being removed)
        classifier = run_dir / "classifier.keras"
        done = classifier.is_file() and (
            not staging.exists() or classifier.stat().st_mtime >= attempt_started)
        assert done or (saved is not None and saved.epoch >= completed_seen) or (
            completed_seen == 0), (completed_seen, saved, log)

    print(f"{kills} kills ({inside_backup_write} inside a backup write), {resumes} resumes")
    assert kills == KILLS and resumes >= 5
    assert inside_backup_write >= 1, "no kill landed inside a backup write"
    # the finished run is the reference run: same history, same weights
    a = pd.read_csv(reference / "history.csv")
    b = pd.read_csv(run_dir / "history.csv")
    assert list(b["epoch"]) == list(range(EPOCHS))
    np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), atol=1e-6, rtol=1e-6)
    from exermote_sgan.runs import load_run

    for x, y in zip(load_run(reference).classifier.get_weights(),
                    load_run(run_dir).classifier.get_weights(), strict=True):
        np.testing.assert_allclose(y, x, atol=1e-6, rtol=1e-6)
    # the temporaries of killed writes were removed by the writes after them
    assert not any(_TEMPORARY.match(p.name) for p in tmp_path.rglob("*")), sorted(
        p.name for p in tmp_path.rglob("*") if _TEMPORARY.match(p.name))


@pytest.mark.parametrize("model", ["baseline", "sgan"])
def test_a_kill_inside_the_first_backup_write_resumes(windows_path, tmp_path, model):
    """The first epoch is listed in history.csv before its backup is complete: a kill in
    between left nothing to resume.  Now --resume starts over and equals the unbroken run."""
    def command(out, *, resume):
        words = _command(windows_path, out, resume=resume)
        words[words.index("--model") + 1] = model
        return words

    env = _env()
    reference = tmp_path / "reference"
    subprocess.run(command(reference, resume=False), env={**env, PAUSE_ENV: ""}, cwd=tmp_path,
                   check=True, capture_output=True)
    run_dir = tmp_path / "run"
    backups = staging_dir(run_dir) / "checkpoints" / "backup"
    proc = subprocess.Popen(command(run_dir, resume=False), env={**env, PAUSE_ENV: "5"},
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < 600:
        if backups.is_dir() and any(p.name.startswith(".epoch-00001.") for p in
                                    backups.iterdir()):
            break  # the first backup is being written (it pauses 5 s inside)
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    history = pd.read_csv(staging_dir(run_dir) / "history.csv")
    assert list(history["epoch"]) == [0]  # the epoch looks finished ...
    assert latest_backup(backups) is None  # ... but no backup of it is complete
    assert can_resume(run_dir)

    resumed = subprocess.run(command(run_dir, resume=True), env={**env, PAUSE_ENV: ""},
                             cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = pd.read_csv(reference / "history.csv")
    b = pd.read_csv(run_dir / "history.csv")
    assert list(b["epoch"]) == list(range(EPOCHS))
    np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), atol=1e-6, rtol=1e-6)
    from exermote_sgan.runs import load_run

    for x, y in zip(load_run(reference).classifier.get_weights(),
                    load_run(run_dir).classifier.get_weights(), strict=True):
        np.testing.assert_allclose(y, x, atol=1e-6, rtol=1e-6)
