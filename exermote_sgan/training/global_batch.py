"""One global batch split over ``tf.distribute`` replicas, computed as one process would.

Under a strategy with ``R`` replicas (``train --distribute``) each replica holds ``b = B / R``
windows of every global batch of ``B``.  Two things would otherwise make an R-replica SGAN
differ from a one-process run of the same global batch:

- **random draws.**  A Keras :class:`~keras.random.SeedGenerator` holds the same state on every
  replica (its variable is mirrored and every replica advances it alike), so a plain draw of
  ``b`` rows repeats the *same* numbers on all replicas: the same generator noise and the same
  dropout masks in every slice of the batch.  Here each replica draws the rows for the
  *global* batch (``R * b`` rows, the very draw a one-process run makes from the same seed
  state) and keeps rows ``r * b .. r * b + b - 1`` of it, ``r`` being its
  ``replica_id_in_sync_group``: the replicas' noise differs, and together it is the
  one-process noise, number for number.
- **batch statistics.**  A mean over the batch (a loss, the features that feature matching
  compares, the class mix that prior matching holds) taken over the replica's ``b`` windows is
  not the mean over the ``B`` windows when the loss is not linear in it.  :func:`batch_mean`
  all-reduces the replicas' sums and counts, so every replica computes the *global* value; a
  replica then differentiates that value divided by ``R`` (:func:`for_gradient`), since the
  optimizer sums the replicas' gradients and TensorFlow's all-reduce passes gradients back to
  every replica (the gradient of an all-sum is an all-sum).

Without a strategy (``R = 1``) every function here is the plain computation, so a
one-process run, and its exact resume, is unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
from keras import layers, ops

__all__ = ["replica", "normal", "segments", "GlobalBatchDropout", "GlobalBatchNormalization",
           "batch_mean", "for_gradient"]

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


def _rows(sizes, index, replicas):
    """Positions, in the global batch, of this replica's rows of each block of ``sizes``."""
    import tensorflow as tf

    rows, offset = [], 0
    for size in sizes:
        size = tf.cast(size, tf.int32)
        start = offset + tf.cast(index, tf.int32) * size
        rows.append(start + tf.range(size))
        offset = offset + replicas * size
    return tf.concat(rows, axis=0), offset


def normal(count, dim: int, *, seed):
    """``(count, dim)`` standard normal noise: this replica's rows of the global draw."""
    index, replicas = replica()
    if replicas == 1:
        return keras.random.normal((count, dim), seed=seed)
    import tensorflow as tf

    draws = keras.random.normal((replicas * count, dim), seed=seed)
    return tf.gather(draws, _rows((count,), index, replicas)[0])


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
        if replicas == 1 or not training or not self.rate or self.noise_shape is not None:
            return super().call(inputs, training=training)
        import tensorflow as tf

        sizes = _SEGMENTS.get() or (tf.shape(inputs)[0],)
        rows, total = _rows(sizes, index, replicas)
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


def batch_mean(values, sample_weight=None, *, axis=None):
    """The mean over the global batch of per-window ``values`` (weighted by ``sample_weight``).

    ``axis=None`` averages every number (weights: one per window, as
    ``losses._weighted_mean``); ``axis=0`` averages over the windows only.  Each replica sums
    its own rows and the sums are all-reduced, so every replica gets the global mean.
    """
    import tensorflow as tf

    values = ops.cast(values, "float32")
    if sample_weight is not None:
        sample_weight = ops.cast(ops.reshape(sample_weight, ops.shape(values)), "float32")
        total, count = ops.sum(values * sample_weight), ops.sum(sample_weight)
    else:
        total = ops.sum(values, axis=axis)
        count = ops.cast(ops.shape(values)[0] if axis == 0 else ops.size(values), "float32")
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        total, count = context.all_reduce("SUM", [total, count])
    return total / (ops.maximum(count, 1e-12) if sample_weight is not None else count)


def for_gradient(loss):
    """The share of a global loss (computed alike on every replica) that one replica
    differentiates: ``loss / R``, since the optimizer sums the replicas' gradients.  Take it
    inside the ``GradientTape``'s block, which must record the division."""
    _, replicas = replica()
    return loss if replicas == 1 else loss / float(replicas)

