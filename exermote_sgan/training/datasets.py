"""tf.data pipelines that feed the baseline and the SGAN, and the class weights they carry.

An epoch is one pass over the training windows (labeled and unlabeled together), whatever the
labeled fraction: the labeled windows are repeated as often as needed, so a baseline trained
on 5% of the labels takes as many steps as one trained on all of them, and an SGAN sees every
unlabeled window once per epoch.  Rare classes are balanced by per-window weights.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["balanced_class_weights", "steps_per_epoch", "baseline_dataset", "sgan_dataset",
           "amplitude_augmenter"]


def balanced_class_weights(labels, num_classes: int) -> np.ndarray:
    """Weight per class ``n / (present_classes * count)``; 0 for a class without windows.

    Weighting the loss by these makes every class that has windows contribute equally
    (sklearn's ``class_weight="balanced"``), so Break (about 60% of windows) does not dominate.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = np.count_nonzero(counts)
    if present == 0:
        raise ValueError("balanced_class_weights: no labels")
    weights = np.zeros(num_classes, dtype=np.float64)
    nonzero = counts > 0
    weights[nonzero] = len(labels) / (present * counts[nonzero])
    return weights.astype(np.float32)


def steps_per_epoch(n_windows: int, batch_size: int, *, limit: int | None = None) -> int:
    """Batches in one pass over ``n_windows`` windows, at most ``limit``."""
    steps = max(1, math.ceil(int(n_windows) / int(batch_size)))
    return steps if limit is None else max(1, min(steps, int(limit)))


def amplitude_augmenter(zero_point, *, scale: float, seed: int):
    """A tf.data map that rescales each window's amplitude by a random factor in [1-s, 1+s].

    Windows are min-max scaled, so the factor is applied about ``zero_point`` (the scaled value
    of a raw 0 per feature, i.e. the scaler's ``offset_``): that is multiplying the raw sensor
    values, as a person moving more or less vigorously would.  Gravity is scaled too, which a
    small factor keeps plausible.  ``scale=0`` returns ``None`` (no augmentation).
    """
    if not scale:
        return None
    import tensorflow as tf

    zero = tf.constant(np.asarray(zero_point, np.float32))
    generator = tf.random.Generator.from_seed(seed)

    def augment(windows):
        factor = generator.uniform((tf.shape(windows)[0], 1, 1), 1.0 - scale, 1.0 + scale)
        return zero + (windows - zero) * factor

    return augment


def _shuffled_batches(tensors, *, batch_size: int, seed: int):
    import tensorflow as tf

    n = len(tensors[0])
    return (tf.data.Dataset.from_tensor_slices(tensors)
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size, drop_remainder=True))


def baseline_dataset(windows, labels, weights, *, batch_size: int, seed: int, augment=None):
    """Endless shuffled batches ``(windows, labels, weights)`` for ``keras.Model.fit``.

    ``augment`` (e.g. :func:`amplitude_augmenter`) maps a batch of windows to new windows.
    """
    import tensorflow as tf

    tensors = (np.asarray(windows, np.float32), np.asarray(labels, np.int32),
               np.asarray(weights, np.float32))
    data = _shuffled_batches(tensors, batch_size=batch_size, seed=seed)
    if augment is not None:
        data = data.map(lambda x, y, w: (augment(x), y, w))
    return data.prefetch(tf.data.AUTOTUNE)


def sgan_dataset(labeled_windows, labels, weights, unlabeled_windows, *, batch_size: int,
                 seed: int, augment=None):
    """Endless batches ``((labeled, labels, weights), unlabeled)`` for the SGAN's ``train_step``.

    The two streams are shuffled independently (different seeds), so a labeled window also
    present among the unlabeled ones is not seen twice in the same step.
    """
    import tensorflow as tf

    labeled = _shuffled_batches(
        (np.asarray(labeled_windows, np.float32), np.asarray(labels, np.int32),
         np.asarray(weights, np.float32)), batch_size=batch_size, seed=seed)
    unlabeled = _shuffled_batches((np.asarray(unlabeled_windows, np.float32),),
                                  batch_size=batch_size, seed=seed + 1).map(lambda x: x)
    if augment is not None:
        labeled = labeled.map(lambda x, y, w: (augment(x), y, w))
        unlabeled = unlabeled.map(augment)
    return tf.data.Dataset.zip(labeled, unlabeled).prefetch(tf.data.AUTOTUNE)
