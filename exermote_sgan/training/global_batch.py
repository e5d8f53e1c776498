"""One global batch split over ``tf.distribute`` replicas, computed as one process would.

Under a strategy with ``R`` replicas (``train --distribute``) each replica holds ``b = B / R``
windows of every global batch of ``B``.  Two things would otherwise make an R-replica SGAN
differ from a one-process run of the same global batch:

- **random draws.**  A Keras :class:`~keras.random.SeedGenerator` holds the same state on every
  replica, so a plain draw of ``b`` rows repeats the *same* numbers on all replicas.
  :func:`normal` draws the generator noise for the *global* batch (the draw one process makes
  from the same seed state) and keeps this replica's rows, as the layers of
  :mod:`exermote_sgan.models.replica_layers` do for dropout masks and batch statistics.
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

from ..models.replica_layers import replica, replica_rows


def normal(count, dim: int, *, seed):
    """``(count, dim)`` standard normal noise: this replica's rows of the global draw."""
    import keras

    index, replicas = replica()
    if replicas == 1:
        return keras.random.normal((count, dim), seed=seed)
    import tensorflow as tf

    draws = keras.random.normal((replicas * count, dim), seed=seed)
    return tf.gather(draws, replica_rows((count,), index, replicas)[0])


def batch_mean(values, sample_weight=None, *, axis=None):
    """The mean over the global batch of per-window ``values`` (weighted by ``sample_weight``).

    ``axis=None`` averages every number (weights: one per window, as
    ``losses._weighted_mean``); ``axis=0`` averages over the windows only.  Each replica sums
    its own rows and the sums are all-reduced, so every replica gets the global mean.
    """
    import tensorflow as tf
    from keras import ops

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

