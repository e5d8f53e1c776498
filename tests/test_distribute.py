"""``train --distribute``: tf.distribute strategies behind one option.

The slow test starts two worker processes on localhost with ``MultiWorkerMirroredStrategy``
and checks their model against a one-worker run of the same strategy.  Tolerance: the global
batch is the same (8 windows on each of the two workers against 16 on one), so the two runs
take the same steps on the same windows and differ only in the order in which the workers'
gradients are summed (float32 all-reduce).  We allow 1e-5 relative on losses, 1e-4 absolute
on the weights after training, and at most one test window predicted differently (accuracy
within 1 / number of test windows).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.training import distribute
from exermote_sgan.training.config import TrainConfig


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def test_the_sgan_is_refused_with_a_strategy_and_the_fix_is_named():
    config = TrainConfig(windows_path="w.h5", model="sgan", distribute="mirrored")
    with pytest.raises(ExermoteInputError, match=r"option 'distribute': the SGAN cannot be "
                                                 r"trained with --distribute mirrored.*"
                                                 r"--distribute none"):
        config.validate()
    TrainConfig(windows_path="w.h5", model="sgan").validate()  # none: fine
    TrainConfig(windows_path="w.h5", model="baseline", distribute="mirrored").validate()
    with pytest.raises(ExermoteInputError, match="must be one of none, mirrored, multi-worker"):
        TrainConfig(windows_path="w.h5", model="baseline", distribute="ps").validate()


@pytest.mark.parametrize("value, message", [
    (None, "needs TF_CONFIG"),
    ("{not json", "TF_CONFIG is not JSON"),
    ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "needs cluster.worker"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
     "is not one of its cluster's members"),
])
def test_multi_worker_needs_a_valid_tf_config(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    config = TrainConfig(windows_path="w.h5", model="baseline", distribute="multi-worker")
    with pytest.raises(ExermoteInputError, match=message) as error:
        config.validate()
    assert "set TF_CONFIG in each worker's environment" in str(error.value)


def test_chief_and_per_replica_batch():
    config = TrainConfig(windows_path="w.h5", model="baseline", distribute="multi-worker")
    two = {"cluster": {"worker": ["a:1", "b:1"]}}
    assert distribute.is_chief(config, {"TF_CONFIG": json.dumps(
        {**two, "task": {"type": "worker", "index": 0}})})
    assert not distribute.is_chief(config, {"TF_CONFIG": json.dumps(
        {**two, "task": {"type": "worker", "index": 1}})})
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["a:1"]}}
    assert not distribute.is_chief(config, {"TF_CONFIG": json.dumps(
        {**with_chief, "task": {"type": "worker", "index": 0}})})
    assert distribute.is_chief(TrainConfig(windows_path="w.h5"), {})  # not distributed
    assert distribute.per_replica_batch(100, 4) == 25
    with pytest.raises(ExermoteInputError, match="use a multiple of 3, e.g. 99"):
        distribute.per_replica_batch(100, 3)


def test_cli_refuses_before_loading_anything(tmp_path, capsys, monkeypatch):
    from exermote_sgan.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", str(tmp_path / "missing.h5"), "--model", "baseline",
                 "--distribute", "multi-worker", "--out", str(tmp_path / "run")]) == 2
    assert "--distribute multi-worker needs TF_CONFIG" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.h5"), "--model", "sgan", "--distribute",
                 "mirrored", "--out", str(tmp_path / "run")]) == 2
    assert "the SGAN cannot be trained" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _weights(run_dir):
    import keras

    model = keras.models.load_model(run_dir / "classifier.keras", compile=False)
    return np.concatenate([w.ravel() for w in model.get_weights()])


def _forty_step_windows(tmp_path) -> Path:
    """test_compare's tiny windows stretched to 40 steps (the networks' smallest useful length)."""
    from test_compare import _window_set

    from exermote_sgan.data.windows_file import WindowSet, save_windows

    ws = _window_set(per_class=3)
    long = WindowSet(windows=np.repeat(ws.windows, 5, axis=1), labels=ws.labels,
                     subjects=ws.subjects, sessions=ws.sessions, end_index=ws.end_index + 32,
                     classes=ws.classes, features=ws.features, timesteps=40,
                     session_names=ws.session_names)
    return save_windows(tmp_path / "windows.h5", long)


@pytest.mark.slow
def test_two_workers_on_localhost_match_one(tmp_path):
    windows = _forty_step_windows(tmp_path)
    # dropout and rotation off: each replica would draw its own masks and angles
    base = [sys.executable, "-m", "exermote_sgan", "train", str(windows), "--model",
            "baseline", "--test-subjects", "3", "--epochs", "2", "--steps-per-epoch", "3",
            "--batch-size", "16", "--dropout", "0", "--augment-rotation", "0",
            "--conv-filters", "4", "--lstm-units", "4", "--labeled-unit", "windows",
            "--quiet", "--distribute", "multi-worker"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def start(out, ports, index):
        return subprocess.Popen(base + ["--out", str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                env={**env, "TF_CONFIG": _tf_config(ports, index)})

    ports = _free_ports(3)  # distinct: gRPC servers share a reused port (SO_REUSEPORT)
    workers = [start(tmp_path / "two", ports[:2], i) for i in (0, 1)]
    single = start(tmp_path / "one", ports[2:], 0)
    for process in workers + [single]:
        try:
            _, err = process.communicate(timeout=500)
        except subprocess.TimeoutExpired:
            for p in workers + [single]:
                p.kill()
            raise
        assert process.returncode == 0, err[-3000:]

    two, one = tmp_path / "two", tmp_path / "one"
    # the chief wrote the run directory; worker 1 its own copy beside it
    assert (two / "classifier.keras").is_file()
    assert (tmp_path / "two.worker-1" / "history.csv").is_file()
    h2, h1 = pd.read_csv(two / "history.csv"), pd.read_csv(one / "history.csv")
    assert len(h2) == len(h1) == 2
    for column in ("loss", "val_loss"):
        np.testing.assert_allclose(h2[column], h1[column], rtol=1e-5)
    np.testing.assert_allclose(_weights(two), _weights(one), atol=1e-4)
    m2 = json.loads((two / "metrics.json").read_text())
    m1 = json.loads((one / "metrics.json").read_text())
    # at most one test window predicted differently (a window on a decision boundary)
    moved = np.abs(np.subtract(m2["confusion_matrix"], m1["confusion_matrix"])).sum()
    assert moved <= 2
    assert abs(m2["accuracy"] - m1["accuracy"]) <= 1.0 / m1["n_windows"] + 1e-9


@pytest.mark.slow
def test_mirrored_trains_on_the_devices_of_this_machine(tmp_path):
    """Without GPUs MirroredStrategy holds one replica (the CPU); the run is a complete one."""
    from exermote_sgan.training import train_lib

    windows = _forty_step_windows(tmp_path)
    config = TrainConfig(windows_path=windows, model="baseline", out_dir=tmp_path / "run",
                         test_subjects=(3,), epochs=1, steps_per_epoch=2, batch_size=16,
                         conv_filters=4, lstm_units=4, labeled_unit="windows", verbose=0,
                         distribute="mirrored")
    result = train_lib.train(config)
    assert result.metrics["n_windows"] == 24 and 0.0 <= result.metrics["accuracy"] <= 1.0
    assert (tmp_path / "run" / "classifier.keras").is_file()
    saved = json.loads((tmp_path / "run" / "checkpoints" / "train_config.json").read_text())
    assert saved["distribute"] == "mirrored"
