"""tf.data pipelines that feed the baseline and the SGAN, and the class weights they carry.

An epoch is one pass over the training windows (labeled and unlabeled together), whatever the
labeled fraction: the labeled windows are repeated as often as needed, so a baseline trained
on 5% of the labels takes as many steps as one trained on all of them, and an SGAN sees every
unlabeled window once per epoch.  Rare classes are balanced by per-window weights.

Every random draw of the input pipeline is a pure function of ``(seed, position in the
stream)``, so a resumed training can start the stream at any step and see exactly the batches
the unbroken training saw (see ``docs/reliability.md``):

- the order: pass ``p`` over ``n`` windows is the permutation drawn statelessly from
  ``(seed, p)`` (:func:`index_batches`); batch ``k`` holds elements ``k*B .. k*B+B-1`` of the
  concatenated passes;
- the augmentation: a map ``augment(windows, key)`` draws from ``(seed, key)`` with TensorFlow's
  stateless random ops, ``key`` being the batch's step (times two, plus one for the SGAN's
  unlabeled stream).

Where the windows come from is separate from which windows a batch holds: the streams yield
window INDICES and :func:`_gather` turns them into arrays.
"""

from __future__ import annotations

import math

import numpy as np


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

    The map is ``augment(windows, key=0)``: its factors are drawn statelessly from
    ``(seed, key)``, so the same key gives the same factors (see the module's docstring).
    """
    if not scale:
        return None
    import tensorflow as tf

    zero = tf.constant(np.asarray(zero_point, np.float32))

    def augment(windows, key=0):
        factor = tf.random.stateless_uniform((tf.shape(windows)[0], 1, 1), _seed_pair(seed, key),
                                             1.0 - scale, 1.0 + scale)
        return zero + (windows - zero) * factor

    return augment


def _seed_pair(seed: int, key):
    """The shape-[2] seed of TensorFlow's stateless random ops for ``(seed, key)``."""
    import tensorflow as tf

    return tf.stack([tf.constant(int(seed), tf.int64), tf.cast(key, tf.int64)])


def vector_groups(features) -> list[tuple[int, int, int]]:
    """Column indices ``(x, y, z)`` of each 3-axis vector among the feature names.

    A vector is three features whose names differ only in one letter that reads ``x``, ``y``
    and ``z`` (or ``X``, ``Y``, ``Z``): Core Motion's ``xGravity``/``yGravity``/``zGravity``, a
    watch's ``acc_x_g``/``acc_y_g``/``acc_z_g``, ``gyroX``/``gyroY``/``gyroZ``.  Other
    features (pitch, roll, yaw) are not vectors: they are angles of the device's attitude,
    which no rotation of the device on the body changes in a way this could reproduce.  A
    name that is only the axis letter (``x``) is not taken for a vector.
    """
    names = [str(f) for f in features]
    where = {name: i for i, name in enumerate(names)}
    used: set[int] = set()
    groups = []
    for i, name in enumerate(names):
        if len(name) < 2 or i in used:
            continue
        for pos, letter in enumerate(name):
            if letter not in "xX":
                continue
            y, z = ("yz" if letter == "x" else "YZ")
            j = where.get(name[:pos] + y + name[pos + 1:])
            k = where.get(name[:pos] + z + name[pos + 1:])
            if j is not None and k is not None and not {j, k} & used:
                groups.append((i, j, k))
                used.update((i, j, k))
                break
    return groups


def rotation_augmenter(scale, offset, features, *, max_degrees: float, seed: int):
    """A tf.data map that turns each window's 3-axis vectors by one random rotation.

    A phone strapped on at another angle sees the same movement in a rotated frame: every
    vector of a window (gravity, acceleration, rotation rate) turns by the same rotation.  Each
    window gets a rotation about a uniformly random axis by an angle drawn uniformly from
    ``[-max_degrees, max_degrees]``; the other features are left as they are.  Windows are
    min-max scaled (``raw * scale + offset``), so the rotation is applied to the raw values.
    ``max_degrees=0`` returns ``None`` (no augmentation); features without a vector raise
    ``ValueError``.  The map is ``augment(windows, key=0)``, drawing statelessly from
    ``(seed, key)`` like :func:`amplitude_augmenter`.
    """
    if not max_degrees:
        return None
    groups = vector_groups(features)
    if not groups:
        raise ValueError("rotation_augmenter: no 3-axis vectors (names that differ only in an "
                         f"x, y, z) among the features {list(features)}")
    import tensorflow as tf

    scale = tf.constant(np.asarray(scale, np.float32))
    offset = tf.constant(np.asarray(offset, np.float32))
    others = np.setdiff1d(np.arange(len(scale)), np.ravel(groups)).astype(np.int64)
    order = np.argsort(np.concatenate([np.ravel(groups), others]))  # back to feature order
    max_angle = float(np.deg2rad(max_degrees))

    def augment(windows, key=0):
        n = tf.shape(windows)[0]
        raw = (windows - offset) / scale
        axis_seed, angle_seed = tf.unstack(
            tf.random.experimental.stateless_split(_seed_pair(seed, key), num=2))
        axis = tf.math.l2_normalize(tf.random.stateless_normal((n, 3), axis_seed), axis=1)
        angle = tf.random.stateless_uniform((n, 1, 1), angle_seed, -max_angle, max_angle)
        zero = tf.zeros((n,))
        cross = tf.reshape(tf.stack([zero, -axis[:, 2], axis[:, 1],
                                     axis[:, 2], zero, -axis[:, 0],
                                     -axis[:, 1], axis[:, 0], zero], axis=1), (n, 3, 3))
        # Rodrigues: R = I + sin(a) K + (1 - cos(a)) K^2
        rotation = (tf.eye(3, batch_shape=[n]) + tf.sin(angle) * cross
                    + (1.0 - tf.cos(angle)) * tf.matmul(cross, cross))
        turned = [tf.einsum("ntj,nij->nti", tf.gather(raw, list(g), axis=2), rotation)
                  for g in groups]
        kept = [tf.gather(raw, others, axis=2)] if len(others) else []
        return tf.gather(tf.concat(turned + kept, axis=2), order, axis=2) * scale + offset

    return augment


def chain_augmenters(*augmenters):
    """One map ``augment(windows, key=0)`` applying the given augmenters in turn, each with the
    same ``key``, skipping ``None``; ``None`` if none."""
    chain = [a for a in augmenters if a is not None]
    if not chain:
        return None
    if len(chain) == 1:
        return chain[0]

    def augment(windows, key=0):
        for step in chain:
            windows = step(windows, key)
        return windows

    return augment


# -- the streams: which windows each batch holds --------------------------------------------------
def index_batches(n: int, *, batch_size: int, seed: int, start_step: int = 0):
    """Endless ``(step, indices)`` batches over ``n`` windows, from batch ``start_step`` on.

    Pass ``p`` over the windows is the permutation ``argsort(stateless_uniform(n, (seed, p)))``;
    the passes are concatenated and cut into batches of ``batch_size`` (a batch may straddle two
    passes).  Starting at ``start_step`` gives exactly the batches an iteration from step 0
    would give from that step on, which is what lets an interrupted training resume on the
    same data order.
    """
    import tensorflow as tf

    n, batch_size, start_step = int(n), int(batch_size), int(start_step)
    if n < 1 or batch_size < 1 or start_step < 0:
        raise ValueError(f"index_batches: needs n >= 1, batch_size >= 1, start_step >= 0; got "
                         f"{n}, {batch_size}, {start_step}")
    first_pass, offset = divmod(start_step * batch_size, n)

    def permutation(p):
        draws = tf.random.stateless_uniform((n,), tf.stack([tf.constant(int(seed), tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(draws, stable=True))

    return (tf.data.Dataset.range(first_pass, np.iinfo(np.int64).max)
            .flat_map(permutation)
            .skip(offset)
            .batch(batch_size, drop_remainder=True)
            .enumerate(start=start_step))


def _gather(arrays):
    """``gather(indices) -> tuple of batches``: where the windows of a batch come from."""
    import tensorflow as tf

    constants = tuple(tf.constant(a) for a in arrays)

    def gather(indices):
        return tuple(tf.gather(c, indices) for c in constants)

    return gather


def baseline_dataset(windows, labels, weights, *, batch_size: int, seed: int, augment=None,
                     start_step: int = 0):
    """Endless shuffled batches ``(windows, labels, weights)`` for ``keras.Model.fit``.

    ``augment`` (e.g. :func:`amplitude_augmenter`) maps a batch of windows to new windows; it
    is given the batch's key ``2 * step``.  ``start_step`` skips to that batch of the stream
    (a resumed training's first step), without computing the batches before it.
    """
    import tensorflow as tf

    gather = _gather((np.asarray(windows, np.float32), np.asarray(labels, np.int32),
                      np.asarray(weights, np.float32)))

    def batch(step, indices):
        x, y, w = gather(indices)
        return (x if augment is None else augment(x, 2 * step)), y, w

    return (index_batches(len(windows), batch_size=batch_size, seed=seed, start_step=start_step)
            .map(batch).prefetch(tf.data.AUTOTUNE))


def sgan_dataset(labeled_windows, labels, weights, unlabeled_windows, *, batch_size: int,
                 seed: int, augment=None, start_step: int = 0):
    """Endless batches ``((labeled, labels, weights), unlabeled)`` for the SGAN's ``train_step``.

    The two streams are shuffled independently (seeds ``seed`` and ``seed + 1``), so a labeled
    window also present among the unlabeled ones is not seen twice in the same step; their
    augmentation keys are ``2 * step`` and ``2 * step + 1``.  ``start_step`` as for
    :func:`baseline_dataset`.
    """
    import tensorflow as tf

    labeled = _gather((np.asarray(labeled_windows, np.float32), np.asarray(labels, np.int32),
                       np.asarray(weights, np.float32)))
    unlabeled = _gather((np.asarray(unlabeled_windows, np.float32),))

    def batch(labeled_batch, unlabeled_batch):
        (step, lab_idx), (_, unl_idx) = labeled_batch, unlabeled_batch
        x, y, w = labeled(lab_idx)
        (u,) = unlabeled(unl_idx)
        if augment is not None:
            x, u = augment(x, 2 * step), augment(u, 2 * step + 1)
        return (x, y, w), u

    return tf.data.Dataset.zip(
        index_batches(len(labeled_windows), batch_size=batch_size, seed=seed,
                      start_step=start_step),
        index_batches(len(unlabeled_windows), batch_size=batch_size, seed=seed + 1,
                      start_step=start_step)).map(batch).prefetch(tf.data.AUTOTUNE)
