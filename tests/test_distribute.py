"""``train --distribute``: tf.distribute strategies behind one option.

The slow tests start two worker processes on localhost with ``MultiWorkerMirroredStrategy``
(8 windows of every global batch of 16 on each) and check their model against ONE plain
process (``--distribute none``, 16 windows a step), for the baseline and for the SGAN, with
dropout and rotation augmentation on.  The two runs see the same windows in the same steps
(the input pipeline is split after it has drawn the global batch's order and rotations), and
each replica takes its rows of the dropout masks and generator noise drawn for the global
batch (``models/replica_layers.py``, ``training/global_batch.py``), so the only differences
are float32 rounding: the replicas' gradients are summed by an all-reduce, in another order
than one process sums them, and the SGAN's batch means are sums all-reduced then divided
(not one reduction).
Measured on this machine (docs/cluster.md): the histories differ by at most 7.4e-8 relative
(SGAN; baseline 1.1e-8) and the classifiers' weights by at most 3e-8 (2.6e-7 and 1.5e-8 in
other SGAN settings).  We allow 1e-5 relative on every logged loss and metric, 1e-5 absolute
on the weights (40-300 times what was measured, room for another CPU's summation order), and
at most one test window predicted differently (a window on a decision boundary).  A
difference of draws would be far larger: two replicas drawing the same noise and masks, as
before, moved the losses in the fourth digit.
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


def test_bad_values_are_refused_and_the_sgan_is_accepted():
    for model in ("sgan", "baseline"):
        for mode in ("none", "mirrored"):
            TrainConfig(windows_path="w.h5", model=model, distribute=mode).validate()
    with pytest.raises(ExermoteInputError, match=r"option 'distribute': must be one of none, "
                                                 r"mirrored, multi-worker, got 'ps'"):
        TrainConfig(windows_path="w.h5", model="sgan", distribute="ps").validate()


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


def test_the_global_batches_must_split_over_the_replicas():
    """--batch-size and the SGAN's --generated-batch-size are global batches."""

    class TwoReplicas:
        num_replicas_in_sync = 2

    sgan = TrainConfig(windows_path="w.h5", model="sgan", distribute="mirrored", batch_size=16,
                       generated_batch_size=8)
    assert distribute.for_this_worker(sgan, TwoReplicas()) is sgan
    with pytest.raises(ExermoteInputError, match=r"option 'batch_size': the batch size 15 .*"
                                                 r"use a multiple of 2, e.g. 14"):
        distribute.for_this_worker(TrainConfig(windows_path="w.h5", distribute="mirrored",
                                               batch_size=15), TwoReplicas())
    with pytest.raises(ExermoteInputError, match=r"option 'generated_batch_size': the generated "
                                                 r"batch size 7 is the global batch"):
        distribute.for_this_worker(TrainConfig(windows_path="w.h5", model="sgan",
                                               distribute="mirrored", batch_size=16,
                                               generated_batch_size=7), TwoReplicas())


def test_cli_refuses_before_loading_anything(tmp_path, capsys, monkeypatch):
    from exermote_sgan.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", str(tmp_path / "missing.h5"), "--model", "baseline",
                 "--distribute", "multi-worker", "--out", str(tmp_path / "run")]) == 2
    assert "--distribute multi-worker needs TF_CONFIG" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.h5"), "--model", "sgan", "--distribute",
                 "multi-worker", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "option 'distribute': --distribute multi-worker needs TF_CONFIG" in err
    assert len(err.strip().splitlines()) == 1
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


_TINY = ["--test-subjects", "3", "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "16",
         "--conv-filters", "4", "--lstm-units", "4", "--labeled-unit", "windows", "--quiet"]
# every term of the SGAN's step: both generator losses, entropy and prior matching, the moving
# average, a generated batch of its own size, the conv generator's batch normalisation
_SGAN = ["--noise-dim", "8", "--generator-filters", "8", "4", "--generator-loss", "both",
         "--entropy-weight", "0.1", "--prior-weight", "0.5", "--ema-decay", "0.9",
         "--generated-batch-size", "8"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["baseline", "sgan"])
def test_two_workers_on_localhost_match_one_process(tmp_path, model):
    """Dropout (0.2) and rotation augmentation on: each replica draws its slice of them."""
    windows = _forty_step_windows(tmp_path)
    base = [sys.executable, "-m", "exermote_sgan", "train", str(windows), "--model", model,
            *_TINY, *(_SGAN if model == "sgan" else [])]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def start(out, *extra, tf_config=None):
        env_here = {**env, "TF_CONFIG": tf_config} if tf_config else env
        return subprocess.Popen(base + ["--out", str(out), *extra], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=env_here)

    ports = _free_ports(2)  # distinct: gRPC servers share a reused port (SO_REUSEPORT)
    processes = [start(tmp_path / "two", "--distribute", "multi-worker",
                       tf_config=_tf_config(ports, i)) for i in (0, 1)]
    processes.append(start(tmp_path / "one"))  # one plain process: --distribute none
    for process in processes:
        try:
            _, err = process.communicate(timeout=500)
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise
        assert process.returncode == 0, err[-3000:]

    two, one = tmp_path / "two", tmp_path / "one"
    # the chief wrote the run directory; worker 1 its own copy beside it
    assert (two / "classifier.keras").is_file()
    assert (tmp_path / "two.worker-1" / "history.csv").is_file()
    h2, h1 = pd.read_csv(two / "history.csv"), pd.read_csv(one / "history.csv")
    assert len(h2) == len(h1) == 2 and list(h2.columns) == list(h1.columns)
    losses = ["loss"] if model == "baseline" else ["d_loss", "g_loss", "supervised_loss",
                                                   "unsupervised_loss"]
    for column in losses + ["accuracy", "val_loss", "val_accuracy", "val_macro_f1"]:
        np.testing.assert_allclose(h2[column], h1[column], rtol=1e-5, err_msg=column)
    np.testing.assert_allclose(_weights(two), _weights(one), atol=1e-5)
    m2 = json.loads((two / "metrics.json").read_text())
    m1 = json.loads((one / "metrics.json").read_text())
    # at most one test window predicted differently (a window on a decision boundary)
    moved = np.abs(np.subtract(m2["confusion_matrix"], m1["confusion_matrix"])).sum()
    assert moved <= 2
    assert abs(m2["accuracy"] - m1["accuracy"]) <= 1.0 / m1["n_windows"] + 1e-9


# Two replicas (two logical CPUs of one process, MirroredStrategy) draw noise and dropout
# masks; printed: each replica's draws and the one-process draws from the same seed states.
_REPLICA_DRAWS = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from exermote_sgan.models.networks import build_discriminator, build_generator
from exermote_sgan.models import replica_layers
from exermote_sgan.training.sgan import SGAN

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    sgan = SGAN(build_discriminator(40, 6, 4, conv_filters=4, lstm_units=4),
                build_generator(40, 6, noise_dim=8, architecture="conv", conv_filters=(8, 4)),
                seed=3)
    dropout = replica_layers.GlobalBatchDropout(0.5, seed=5)
plain_dropout = keras.layers.Dropout(0.5, seed=5)

def per_replica(fn):
    values = tf.function(lambda: strategy.run(fn))()
    return [np.asarray(v).tolist() for v in strategy.experimental_local_results(values)]

def noise():
    return sgan._noise(4)

def masks():
    with replica_layers.segments(2, 4):  # blocks of 2 and 4 windows per replica
        return dropout(tf.ones((6, 16)), training=True)

out = {"noise": per_replica(noise), "generated": per_replica(
    lambda: sgan.generator(sgan._noise(4), training=True)), "masks": per_replica(masks)}
sgan.seed_generator.state.assign(np.array([3, 0], sgan.seed_generator.state.dtype))
out["one_noise"] = np.asarray(keras.random.normal((8, 8), seed=sgan.seed_generator)).tolist()
out["one_masks"] = np.asarray(plain_dropout(tf.ones((12, 16)), training=True)).tolist()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_replicas_draw_their_slices_of_the_global_noise_and_masks():
    """Each replica's noise and dropout mask are its rows of what one process draws for the
    global batch: different on the two replicas, the one-process draw together."""
    done = subprocess.run([sys.executable, "-c", _REPLICA_DRAWS], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    draws = json.loads(done.stdout.strip().splitlines()[-1])
    noise = [np.array(n) for n in draws["noise"]]
    assert noise[0].shape == (4, 8) and not np.allclose(noise[0], noise[1])
    np.testing.assert_array_equal(np.concatenate(noise), draws["one_noise"])
    generated = [np.array(g) for g in draws["generated"]]
    assert generated[0].shape == (4, 40, 6) and not np.allclose(generated[0], generated[1])
    masks, one = [np.array(m) for m in draws["masks"]], np.array(draws["one_masks"])
    assert not np.array_equal(masks[0], masks[1])
    # the global batch holds the 2 + 2 windows of the first block, then the 4 + 4 of the second
    np.testing.assert_array_equal(masks[0], one[[0, 1, 4, 5, 6, 7]])
    np.testing.assert_array_equal(masks[1], one[[2, 3, 8, 9, 10, 11]])


@pytest.mark.slow
def test_mirrored_trains_on_the_devices_of_this_machine_as_one_process_does(tmp_path):
    """Without GPUs MirroredStrategy holds one replica (the CPU); the run is a complete one,
    equal number for number to ``--distribute none``.

    Keras' ``fit`` under a strategy opens the dataset twice (once to build the model from a
    batch, then for training); the input streams are pure functions of (seed, step), so the
    second iterator starts on the same batch (with ``shuffle(reshuffle_each_iteration=True)``
    it did not, and strategies differed in the fourth digit of the loss).
    """
    from exermote_sgan.training import train_lib

    windows = _forty_step_windows(tmp_path)
    runs = {}
    for mode in ("mirrored", "none"):
        config = TrainConfig(windows_path=windows, model="baseline", out_dir=tmp_path / mode,
                             test_subjects=(3,), epochs=2, steps_per_epoch=2, batch_size=16,
                             conv_filters=4, lstm_units=4, labeled_unit="windows", verbose=0,
                             distribute=mode)
        runs[mode] = train_lib.train(config)
    result = runs["mirrored"]
    assert result.metrics["n_windows"] == 24 and 0.0 <= result.metrics["accuracy"] <= 1.0
    assert (tmp_path / "mirrored" / "classifier.keras").is_file()
    saved = json.loads((tmp_path / "mirrored" / "checkpoints" / "train_config.json").read_text())
    assert saved["distribute"] == "mirrored"
    pd.testing.assert_frame_equal(result.history, runs["none"].history)
    np.testing.assert_array_equal(_weights(tmp_path / "mirrored"), _weights(tmp_path / "none"))


def test_a_second_iterator_of_the_training_stream_starts_on_the_same_batch():
    """Why the strategies agree (see the test above): Keras opens the stream twice."""
    from exermote_sgan.training import datasets

    windows = np.arange(50, dtype=np.float32).reshape(50, 1, 1)
    stream = datasets.sgan_dataset(windows[:20], np.zeros(20), np.ones(20), windows,
                                   batch_size=10, seed=0)
    first, second = next(iter(stream)), next(iter(stream))
    np.testing.assert_array_equal(first[0][0], second[0][0])
    np.testing.assert_array_equal(first[1], second[1])
