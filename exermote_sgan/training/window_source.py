"""Scaled windows cut from the rows on the fly, batch by batch, for training and evaluation.

Training used to scale every window of the file into one ``(N, timesteps, features)`` array and
feed slices of it to tf.data: memory grew with rows x timesteps.  Here the windows stay a
:class:`~exermote_sgan.data.windows_file.RowWindows` view of the rows (memory-mapped from the
windows file); a batch is gathered from the rows by its windows' start rows and scaled when
tf.data asks for it, so only a few batches exist at any time.

The batches are the same, number for number, as those of
:func:`~exermote_sgan.training.datasets.baseline_dataset` and
:func:`~exermote_sgan.training.datasets.sgan_dataset` on the scaled array: tf.data shuffles
window *positions* with the same seed and buffer as it shuffled the windows (its order does not
depend on what the elements hold), the scaling is the same float64 affine map applied per
number, and augmentation maps the gathered batches exactly as before.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ScaledWindows", "fit_scaler_on_rows", "rows_are_finite", "gathered_batches",
           "shuffled_positions", "EXACT_SHUFFLE_LIMIT",
           "baseline_dataset", "sgan_dataset", "prediction_dataset"]


class ScaledWindows:
    """Windows of a :class:`RowWindows` view, scaled by a fitted scaler when gathered.

    ``scaled[index]`` (an integer, slice, integer array or mask) returns float32 windows equal
    to ``scaler.transform(windows[index])``; nothing is gathered before it is asked for.
    """

    def __init__(self, row_windows, scaler):
        self.windows = row_windows
        self.scaler = scaler

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def shape(self):
        return self.windows.shape

    def gather(self, index) -> np.ndarray:
        return self.scaler.transform(self.windows.gather(index))

    def __getitem__(self, key) -> np.ndarray:
        return self.scaler.transform(self.windows[key])


def fit_scaler_on_rows(scaler, row_windows, *, block_rows: int = 1 << 20):
    """Fit a min-max ``scaler`` on the windows of ``row_windows`` without gathering them.

    The minimum and maximum over the windows are those over the rows the windows cover, so
    the rows are read once each, block by block; the fitted scaler equals
    ``scaler.fit(np.asarray(row_windows))``.  Returns ``scaler``.
    """
    low = high = None
    for block in row_windows.iter_rows(block_rows=block_rows):
        block = np.asarray(block, dtype=np.float64)
        if not len(block):
            continue
        b_low, b_high = block.min(axis=0), block.max(axis=0)
        low = b_low if low is None else np.minimum(low, b_low)
        high = b_high if high is None else np.maximum(high, b_high)
    if low is None:
        return scaler.fit(np.zeros((0, row_windows.shape[2])))  # its "no data" error
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return scaler.fit(np.array([low, high]))  # its NaN error
    return scaler.fit(np.stack([low, high]))


def rows_are_finite(row_windows, *, block_rows: int = 1 << 20) -> bool:
    """Whether every number of every window is finite, checked on the rows, block by block."""
    return all(np.all(np.isfinite(block)) for block in row_windows.iter_rows(block_rows=block_rows))


#: up to this many windows, positions are shuffled by tf.data exactly as the windows were
#: (same seed, same order); its shuffle buffer holds about 230 bytes per position, so beyond
#: it a seeded NumPy permutation per pass (8 bytes per position) orders them instead
EXACT_SHUFFLE_LIMIT = 1 << 20


def shuffled_positions(n: int, *, batch_size: int, seed: int, limit: int | None = None):
    """Endless batches of the positions ``0 .. n - 1``, reshuffled each pass, as tf.data.

    Up to ``limit`` (default :data:`EXACT_SHUFFLE_LIMIT`) positions the order is that of
    ``Dataset.shuffle(n, seed).repeat().batch(drop_remainder=True)``, the order in which
    training always took its windows.  Beyond it, pass ``k`` takes the positions in the order
    of ``numpy.random.default_rng([seed, k]).permutation(n)``: memory stays at 8 bytes per
    position, the order is just as reproducible, but it is not tf.data's.  Batches run across
    the end of a pass, as with ``repeat`` before ``batch``.
    """
    import tensorflow as tf

    limit = EXACT_SHUFFLE_LIMIT if limit is None else int(limit)
    if n <= limit:
        return (tf.data.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
                .shuffle(n, seed=seed, reshuffle_each_iteration=True)
                .repeat()
                .batch(batch_size, drop_remainder=True))

    def batches():
        carry, epoch = np.zeros(0, dtype=np.int64), 0
        while True:
            order = np.concatenate([carry, np.random.default_rng([seed, epoch]).permutation(n)])
            epoch += 1
            full = len(order) - len(order) % batch_size
            for lo in range(0, full, batch_size):
                yield order[lo:lo + batch_size]
            carry = order[full:]

    return tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((batch_size,), tf.int64))


def _gather_map(scaled: ScaledWindows, index: np.ndarray):
    """A tf.data map from a batch of positions into ``index`` to the scaled windows."""
    import tensorflow as tf

    index = np.asarray(index, dtype=np.int64)
    timesteps, features = scaled.shape[1:]

    def gather(positions):
        return scaled.gather(index[positions])

    def windows(positions):
        out = tf.numpy_function(gather, [positions], tf.float32, stateful=False)
        # the static batch size of the positions (drop_remainder) as the windows' own: the
        # model's graph, and so its arithmetic, is then that of the array path
        out.set_shape(tuple(positions.shape[:1]) + (timesteps, features))
        return out

    return windows


def gathered_batches(scaled: ScaledWindows, index, *, batch_size: int, seed: int, extras=()):
    """Endless shuffled batches ``(windows, *extras)`` of the windows ``index``.

    The positions ``0 .. len(index) - 1`` are shuffled and batched by
    :func:`shuffled_positions` (up to a million windows exactly as
    :func:`~exermote_sgan.training.datasets.baseline_dataset` shuffles the windows themselves);
    each batch of positions then becomes the gathered, scaled
    windows and the matching entries of each array in ``extras`` (labels, weights).
    """
    import tensorflow as tf

    windows = _gather_map(scaled, index)
    extras = tuple(tf.constant(e) for e in extras)
    data = shuffled_positions(len(index), batch_size=batch_size, seed=seed)
    if not extras:
        return data.map(windows)
    return data.map(lambda p: (windows(p),) + tuple(tf.gather(e, p) for e in extras))


def baseline_dataset(scaled: ScaledWindows, index, labels, weights, *, batch_size: int,
                     seed: int, augment=None):
    """:func:`~exermote_sgan.training.datasets.baseline_dataset` of ``scaled[index]``."""
    import tensorflow as tf

    data = gathered_batches(scaled, index, batch_size=batch_size, seed=seed,
                            extras=(np.asarray(labels, np.int32), np.asarray(weights, np.float32)))
    if augment is not None:
        data = data.map(lambda x, y, w: (augment(x), y, w))
    return data.prefetch(tf.data.AUTOTUNE)


def sgan_dataset(scaled: ScaledWindows, labeled_index, labels, weights, unlabeled_index, *,
                 batch_size: int, seed: int, augment=None):
    """:func:`~exermote_sgan.training.datasets.sgan_dataset` of ``scaled[labeled_index]`` and
    ``scaled[unlabeled_index]``."""
    import tensorflow as tf

    labeled = gathered_batches(scaled, labeled_index, batch_size=batch_size, seed=seed,
                               extras=(np.asarray(labels, np.int32),
                                       np.asarray(weights, np.float32)))
    unlabeled = gathered_batches(scaled, unlabeled_index, batch_size=batch_size, seed=seed + 1)
    if augment is not None:
        labeled = labeled.map(lambda x, y, w: (augment(x), y, w))
        unlabeled = unlabeled.map(augment)
    return tf.data.Dataset.zip(labeled, unlabeled).prefetch(tf.data.AUTOTUNE)


def prediction_dataset(scaled: ScaledWindows, index, *, batch_size: int):
    """The windows ``index`` in order, scaled, in batches of ``batch_size`` (for ``predict``)."""
    import tensorflow as tf

    n = len(index)
    windows = _gather_map(scaled, index)
    return (tf.data.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
            .batch(batch_size).map(windows).prefetch(tf.data.AUTOTUNE))
