"""Training one model on several devices or machines with ``tf.distribute`` (``train --distribute``).

``none``
    the default: one process, TensorFlow's default device placement.
``mirrored``
    :class:`tf.distribute.MirroredStrategy` over the GPUs of this machine (the CPU when there
    is none): the model is copied onto each device and gradients are averaged every step.
``multi-worker``
    :class:`tf.distribute.MultiWorkerMirroredStrategy` across processes or machines, each
    started with the same command and its own ``TF_CONFIG`` (the cluster's ``worker``
    addresses and this process's ``task`` index).  Worker 0 (or the ``chief``) writes the run
    directory; every other worker writes its own copy to ``RUN_DIR.<type>-<index>`` beside it
    on its machine, where its backups let ``--resume`` continue all workers together.

``--batch-size`` stays the *global* batch: each of the ``R`` replicas gets ``batch_size / R``
windows of it, so a distributed run takes the same steps on the same batches as a single one
and its metrics match it up to floating-point summation order (see ``docs/cluster.md``).  The
batch size must therefore be a multiple of the number of replicas.

The semi-supervised GAN's step splits the global batch the same way (:mod:`.global_batch`):
each replica takes its rows of the generator noise and dropout masks drawn for the whole
batch, and its losses are those of the whole batch (all-reduced means), so R replicas train
the SGAN that one process trains, up to floating-point summation order.
"""

from __future__ import annotations

import contextlib
import json
import os

from ..errors import ExermoteInputError


DISTRIBUTE_MODES = ("none", "mirrored", "multi-worker")
_TF_CONFIG_HINT = ('set TF_CONFIG in each worker\'s environment, e.g. {"cluster": {"worker": '
                   '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}} '
                   "(see docs/cluster.md)")


def check_config(config) -> None:
    """Refuse a distribute mode this run cannot use (no TensorFlow needed)."""
    mode = getattr(config, "distribute", "none")
    if mode not in DISTRIBUTE_MODES:
        raise ExermoteInputError(f"must be one of {', '.join(DISTRIBUTE_MODES)}, got {mode!r}",
                                 option="distribute")
    if mode == "multi-worker":
        read_tf_config()


def read_tf_config(environ=None) -> dict:
    """``TF_CONFIG`` parsed and checked: a ``cluster`` with workers and this ``task``."""
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    if not text:
        raise ExermoteInputError(f"--distribute multi-worker needs TF_CONFIG: {_TF_CONFIG_HINT}",
                                 option="distribute")
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExermoteInputError(f"TF_CONFIG is not JSON ({exc.msg}); {_TF_CONFIG_HINT}",
                                 option="distribute") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers or not isinstance(task, dict):
        raise ExermoteInputError(f"TF_CONFIG needs cluster.worker (a list of host:port) and "
                                 f"task; {_TF_CONFIG_HINT}", option="distribute")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind) if isinstance(kind, str) else None
    if (not isinstance(members, list) or not isinstance(index, int) or isinstance(index, bool)
            or not 0 <= index < len(members)):
        raise ExermoteInputError(f"TF_CONFIG's task {task!r} is not one of its cluster's "
                                 f"members; {_TF_CONFIG_HINT}", option="distribute")
    return tf_config


def is_chief(config, environ=None) -> bool:
    """Whether this process writes the run directory: always, except a multi-worker run's
    workers other than the chief (``chief`` 0, or ``worker`` 0 when there is no chief)."""
    if getattr(config, "distribute", "none") != "multi-worker":
        return True
    tf_config = read_tf_config(environ)
    task = tf_config["task"]
    if "chief" in tf_config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def make_strategy(config):
    """The ``tf.distribute`` strategy of ``config.distribute``; ``None`` for ``none``.

    Called first in :func:`~exermote_sgan.training.train_lib.train`: the multi-worker
    strategy must exist before TensorFlow runs any operation in the process.
    """
    mode = getattr(config, "distribute", "none")
    check_config(config)
    if mode == "none":
        return None
    import tensorflow as tf

    if mode == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def strategy_scope(strategy):
    """``strategy.scope()``, or a context that does nothing without a strategy."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def per_replica_batch(batch_size: int, replicas: int, *, option: str = "batch_size") -> int:
    """Windows per replica of a global batch; the batch must split evenly."""
    batch_size, replicas = int(batch_size), int(replicas)
    if batch_size % replicas or batch_size // replicas < 1:
        what = option.replace("_", " ")
        raise ExermoteInputError(
            f"the {what} {batch_size} is the global batch and must split evenly over the "
            f"{replicas} replicas; use a multiple of {replicas}, e.g. "
            f"{max(replicas, batch_size // replicas * replicas)}", option=option)
    return batch_size // replicas


def for_this_worker(config, strategy):
    """``config`` for this process: a non-chief worker writes to ``RUN_DIR.worker-<i>``.

    Checks that the global batch (and the SGAN's generated batch) splits over the strategy's
    replicas.
    """
    if strategy is None:
        return config
    per_replica_batch(config.batch_size, strategy.num_replicas_in_sync)
    if config.model == "sgan" and config.generated_batch_size is not None:
        per_replica_batch(config.generated_batch_size, strategy.num_replicas_in_sync,
                          option="generated_batch_size")
    if is_chief(config):
        return config
    import dataclasses
    from pathlib import Path

    # beside the run directory, not in it: the chief replaces RUN_DIR whole when it finishes
    task = read_tf_config()["task"]
    out_dir = Path(config.out_dir)
    return dataclasses.replace(
        config, out_dir=out_dir.with_name(f"{out_dir.name}.{task['type']}-{task['index']}"))


def prepare_fit(model, dataset, strategy) -> None:
    """Let ``model.fit`` run under a multi-worker strategy (a no-op otherwise).

    Keras 3 (3.15) has two steps of ``fit`` that fail under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585): it builds the compiled loss and metrics from the first batch
    after averaging that batch across workers with ``strategy.reduce`` ("Attempt to convert a
    value (PerReplica...) to a Tensor"), and it averages each step's scalar logs with
    ``strategy.reduce("MEAN", value, axis=0)`` ("Invalid reduction dimension 0 for input with 0
    dimensions").  Here the model is built from one local batch, as Keras would build it, and
    the workers' logs are averaged whole (``axis=None``).  Both are needed only in a process
    that trains with this strategy, which is the only case that reaches them.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    batch = next(iter(dataset))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    _average_logs_across_workers()


def _average_logs_across_workers() -> None:
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "_exermote_multi_worker", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if (reduction in ("auto", "mean")
                and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica._exermote_multi_worker = True
    trainer.reduce_per_replica = reduce_per_replica
