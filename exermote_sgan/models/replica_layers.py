"""Keras layers that split their random draws and batch statistics over ``tf.distribute`` replicas.

Under ``train --distribute`` with ``R`` replicas each replica holds ``b = B / R`` windows of
every global batch of ``B``.  A Keras :class:`~keras.random.SeedGenerator` holds the same state
on every replica (its variable is mirrored, and every replica advances it alike), so a plain
dropout draw of ``b`` rows gives every replica the *same* mask.  :class:`GlobalBatchDropout`
draws the mask of the global batch instead (``R * b`` rows: the very draw one process makes
from the same seed state) and keeps this replica's rows ``r * b .. r * b + b - 1``, ``r``
being its ``replica_id_in_sync_group``; :class:`GlobalBatchNormalization` normalises with the
global batch's statistics.  Without a strategy (``R = 1``) both are the plain Keras layers,
number for number, so one-process training and its exact resume are unchanged.

:mod:`exermote_sgan.training.global_batch` does the same for the SGAN's noise and losses.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
from keras import layers, ops


# sizes of the blocks of the batch a layer is called on (the SGAN concatenates its labeled,
# unlabeled and generated windows), each of which is split over the replicas on its own
_SEGMENTS: contextvars.ContextVar = contextvars.ContextVar("global_batch_segments",
                                                           default=None)


def replica():
    """``(replica index, replicas in sync)``: ``(0, 1)`` without a strategy or outside a step."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context: not inside one replica's step
        return 0, 1
    return context.replica_id_in_sync_group, int(context.num_replicas_in_sync)


def replica_rows(sizes, index, replicas):
    """Positions, in the global batch, of replica ``index``'s rows of each block of ``sizes``
    (per-replica sizes; the global batch holds each block's ``replicas * size`` rows in turn),
    and the global batch's size."""
    import tensorflow as tf

    rows, offset = [], 0
    for size in sizes:
        size = tf.cast(size, tf.int32)
        start = offset + tf.cast(index, tf.int32) * size
        rows.append(start + tf.range(size))
        offset = offset + replicas * size
    return tf.concat(rows, axis=0), offset


@contextlib.contextmanager
def segments(*sizes):
    """Within the block, :class:`GlobalBatchDropout` treats its input as the concatenation of
    blocks of these (per-replica) sizes, each split over the replicas on its own."""
    token = _SEGMENTS.set(tuple(sizes))
    try:
        yield
    finally:
        _SEGMENTS.reset(token)


@keras.saving.register_keras_serializable(package="exermote_sgan")
class GlobalBatchDropout(layers.Dropout):
    """:class:`keras.layers.Dropout` whose mask, under a strategy, is this replica's rows of
    the mask drawn for the global batch (see the module's docstring); without one it is
    ``Dropout`` itself, draw for draw."""

    def call(self, inputs, training=False):
        index, replicas = replica()
        # (a noise_shape, which this package never sets, keeps the plain layer)
        if replicas == 1 or not training or not self.rate or self.noise_shape is not None:
            return super().call(inputs, training=training)
        import tensorflow as tf

        sizes = _SEGMENTS.get() or (tf.shape(inputs)[0],)
        rows, total = replica_rows(sizes, index, replicas)
        global_shape = tf.concat([[total], tf.shape(inputs)[1:]], axis=0)
        # the one-process layer computes inputs * scale * keep; ones give scale * keep
        mask = keras.random.dropout(tf.ones(global_shape, inputs.dtype), self.rate,
                                    seed=self.seed_generator)
        return inputs * tf.gather(mask, rows)


@keras.saving.register_keras_serializable(package="exermote_sgan")
class GlobalBatchNormalization(layers.BatchNormalization):
    """:class:`keras.layers.BatchNormalization` whose batch statistics, under a strategy, are
    those of the global batch (Keras' ``synchronized`` moments: all-reduced sums and counts);
    without one it is ``BatchNormalization`` itself, number for number (Keras' synchronized
    moments take another summation path even without a strategy, hence not simply
    ``synchronized=True``)."""

    def _moments(self, inputs, mask):
        if mask is None and replica()[1] > 1:
            return ops.moments(inputs, axes=self._reduction_axes, synchronized=True)
        return super()._moments(inputs, mask)
