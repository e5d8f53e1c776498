"""The known TensorFlow/coremltools noise is filtered; every other line still reaches stderr."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exermote_sgan import _quiet

REPO = Path(__file__).resolve().parents[1]

NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1795997229.575622    6333 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results.\n",
    b"I0000 00:00:1795997229.575875    6333 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.\n",
    b"E0000 00:00:1795997254.139385    6721 node_def_util.cc:682] NodeDef mentions attribute "
    b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>\n",
    b"E0000 00:00:1795997251.678846    6721 cuda_platform.cc:52] failed call to cuInit: "
    b"INTERNAL: CUDA error\n",
]
REAL = [
    b"E0000 00:00:1795997254.139385    6721 node_def_util.cc:682] NodeDef missing attr 'T'\n",
    b"W0000 00:00:1795997254.139385    6721 op_kernel.cc:1840] OP_REQUIRES failed: OOM\n",
    b"Traceback (most recent call last):\n",
    b"Epoch 1/3\n",
]


def _pumped(chunks) -> bytes:
    read_fd, write_fd = os.pipe()
    out_read, out_write = os.pipe()
    pump = _quiet._Pump(read_fd, out_write)
    for chunk in chunks:
        pump.feed(chunk)
    os.close(write_fd)
    pump.run()  # drains the (closed) pipe and flushes what it held back
    os.close(out_write)
    data = b""
    while True:
        piece = os.read(out_read, 65536)
        if not piece:
            break
        data += piece
    os.close(out_read)
    return data


def test_noise_lines_are_recognised_and_real_ones_are_not():
    assert all(_quiet.is_noise(line) for line in NOISE)
    assert not any(_quiet.is_noise(line) for line in REAL)


def test_the_pump_drops_noise_and_passes_everything_else_in_order():
    stream = b"".join([NOISE[0], REAL[0], NOISE[1], REAL[1], NOISE[3], REAL[2], REAL[3]])
    # fed in awkward pieces: lines split across reads must be judged whole
    chunks = [stream[i:i + 7] for i in range(0, len(stream), 7)]
    assert _pumped(chunks) == b"".join(REAL)


def test_a_partial_line_that_cannot_be_noise_is_passed_on_at_once():
    read_fd, write_fd = os.pipe()
    out_read, out_write = os.pipe()
    pump = _quiet._Pump(read_fd, out_write)
    pump.feed(b"\rtraining 40%|####")  # a progress bar: no newline yet
    assert os.read(out_read, 100) == b"\rtraining 40%|####"
    pump.feed(b"\n")
    assert os.read(out_read, 100) == b"\n"
    pump.feed(b"I0000 00:00:1.0    1 port.cc")  # may be noise: held back
    pump.feed(b":153] oneDNN custom operations are on.\n")
    pump.feed(b"done\n")
    assert os.read(out_read, 100) == b"done\n"
    for fd in (read_fd, write_fd, out_read, out_write):
        os.close(fd)


def test_log_records_filter_only_the_listed_messages():
    import logging

    noise = _quiet._LogNoise([p for name, p in _quiet.LOG_NOISE if name == "coremltools"])

    def record(message):
        return logging.LogRecord("coremltools", logging.WARNING, __file__, 1, message, None, None)

    assert not noise.filter(record("Failed to load _MLModelProxy: No module named "
                                   "'coremltools.libcoremlpython'"))
    assert not noise.filter(record("scikit-learn version 1.9.1 is not supported. Minimum "
                                   "required version: 0.17."))
    assert noise.filter(record("Failed to convert op 'lstm': unsupported"))


@pytest.mark.slow
def test_tensorflow_and_coremltools_imports_are_quiet_but_real_warnings_show():
    script = (
        "import os, sys, warnings, logging\n"
        "import exermote_sgan\n"
        "exermote_sgan.filter_library_noise()\n"   # the opt-in (the command line calls it)
        "import exermote_sgan.models.networks\n"      # imports Keras/TensorFlow
        "import tensorflow as tf, coremltools\n"
        "tf.data.Dataset.range(4).map(lambda x: x + 1, num_parallel_calls=2)"
        ".batch(2).reduce(tf.constant(0, tf.int64), lambda a, b: a + tf.reduce_sum(b))\n"
        "warnings.warn('a real warning')\n"
        "logging.getLogger('coremltools').warning('a real coremltools warning')\n"
        "os.write(2, b'E0000 00:00:1.0    1 some_kernel.cc:1] a real C++ error\\n')\n"
        "print('finished', flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(_quiet.ENV_VERBOSE, None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "finished" in done.stdout
    for noise in ("oneDNN", "absl::InitializeLog", "cuda drivers", "use_unbounded_threadpool",
                  "libcoremlpython", "has not been tested with coremltools",
                  "is not supported. Minimum required"):
        assert noise not in done.stderr, done.stderr
    for real in ("a real warning", "a real coremltools warning", "a real C++ error"):
        assert real in done.stderr, done.stderr

    # and EXERMOTE_SGAN_VERBOSE=1 turns the filter off
    loud = subprocess.run([sys.executable, "-c", "import exermote_sgan as e\n"
                           "e.filter_library_noise()\nimport exermote_sgan.models.networks"],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**env, _quiet.ENV_VERBOSE: "1"})
    assert "oneDNN" in loud.stderr


def test_noise_after_a_progress_bar_that_never_ends_its_line_is_cut_out():
    bar = b"\rRunning TensorFlow Graph Passes:   0%|          | 0/6"
    noise = (b"I0000 00:00:1795997852.663956   20935 mlir_graph_optimization_pass.cc:437] "
             b"MLIR V1 optimization pass is not enabled\n")
    after = b"\rRunning TensorFlow Graph Passes: 100%|##########| 6/6\n"
    stream = bar + noise + after
    for size in (1, 5, 64, len(stream)):
        chunks = [stream[i:i + size] for i in range(0, len(stream), size)]
        assert _pumped(chunks) == bar + after


def test_importing_the_library_leaves_stderr_and_the_import_system_alone():
    # a notebook, pytest or a host application owns file descriptor 2: importing the package
    # (its models load Keras and TensorFlow) and using its names must not swap it or add an
    # import hook of its own (TensorFlow adds some of its own)
    script = (
        "import os, sys\n"
        "def state():\n"
        "    st = os.fstat(2)\n"
        "    return (st.st_dev, st.st_ino, st.st_mode), [type(f).__module__ for f in "
        "sys.meta_path if type(f).__module__.startswith('exermote_sgan')]\n"
        "before = state()\n"
        "import exermote_sgan, exermote_sgan.models, exermote_sgan.export\n"
        "exermote_sgan.load_windows, exermote_sgan.train, exermote_sgan.models.build_baseline\n"
        "import tensorflow, coremltools\n"
        "after = state()\n"
        "print(before[0] == after[0], before[1] == after[1] == [], flush=True)\n"
        "exermote_sgan.filter_library_noise()\n"   # the opt-in does rewire it
        "print(os.fstat(2)[:2] != before[0][:2], flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(_quiet.ENV_VERBOSE, None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"], done.stdout + done.stderr


def _convert_tiny_graph():
    import coremltools as ct
    import numpy as np
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def double(x):
        return tf.nn.relu(x * 2.0 + 1.0)

    ct.convert([double.get_concrete_function()], source="tensorflow",
               convert_to="milinternal", minimum_deployment_target=ct.target.iOS15,
               inputs=[ct.TensorType(shape=(1, 4), dtype=np.float32)])


def test_coremltools_conversion_draws_no_progress_bars_in_the_block(capsys):
    importlib.import_module("tqdm")  # imported before, as in the demo: TQDM_DISABLE comes late

    with _quiet.no_converter_progress_bars():
        _convert_tiny_graph()
    quiet = capsys.readouterr().err
    _convert_tiny_graph()  # outside the block coremltools draws its bars again
    loud = capsys.readouterr().err
    assert "Running TensorFlow Graph Passes" in loud and "Running MIL" in loud
    assert "Running" not in quiet and "passes/s" not in quiet and " ops/s" not in quiet, quiet
