"""Scaled windows cut from the rows on the fly, batch by batch, for training and evaluation.

Training used to scale every window of the file into one ``(N, timesteps, features)`` array and
feed slices of it to tf.data: memory grew with rows x timesteps.  Here the windows stay a
:class:`~exermote_sgan.data.windows_file.RowWindows` view of the rows (memory-mapped from the
windows file); a batch is gathered from the rows by its windows' start rows and scaled when
tf.data asks for it, so only a few batches exist at any time.

The batches are the same, number for number, as those of
:func:`~exermote_sgan.training.datasets.baseline_dataset` and
:func:`~exermote_sgan.training.datasets.sgan_dataset` on the scaled array: both take the
window positions of each batch from :func:`~exermote_sgan.training.datasets.index_batches`
(a seeded permutation per pass, 12 bytes per window while it is drawn), the scaling is the same
float64 affine map applied per number, and augmentation maps the gathered batch with the same
key as before.  Only where a batch's windows come from differs.
"""

from __future__ import annotations

import numpy as np


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


def fit_scaler_on_rows(scaler, row_windows, *, block_rows: int = 1 << 20,
                       sample_rows: int = 1 << 20):
    """Fit a min-max ``scaler`` on the windows of ``row_windows`` without gathering them.

    The minimum and maximum over the windows are those over the rows the windows cover, so
    the rows are read once each, block by block; the fitted scaler equals
    ``scaler.fit(np.asarray(row_windows))``.  A scaler with a ``quantile`` is fitted on those
    rows when there are at most ``2 * sample_rows`` of them, else on an even sample of
    ``sample_rows`` to ``2 * sample_rows`` rows (memory stays bounded at any scale).
    Returns ``scaler``.
    """
    quantile = getattr(scaler, "quantile", 0.0) > 0
    sample, low, high = _even_row_sample(row_windows, block_rows=block_rows,
                                         limit=sample_rows if quantile else None)
    if low is None:
        return scaler.fit(np.zeros((0, row_windows.shape[2])))  # its "no data" error
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return scaler.fit(np.array([low, high]))  # its NaN error, sampled row or not
    if not quantile:
        return scaler.fit(np.stack([low, high]))
    scaler.fit(sample)
    scaler.seen_min_, scaler.seen_max_ = low, high  # over every row, not the sample
    return scaler


def _even_row_sample(row_windows, *, block_rows: int, limit: int | None):
    """``(sample, low, high)``: every ``step``-th row the windows cover, ``step`` doubling
    whenever more than ``2 * limit`` rows are kept (``limit=None``: no sample); and the
    minimum and maximum of all rows (None when there are none)."""
    kept, step, position, low, high = [], 1, 0, None, None
    for block in row_windows.iter_rows(block_rows=block_rows):
        block = np.asarray(block, dtype=np.float64)
        if not len(block):
            continue
        low = block.min(axis=0) if low is None else np.minimum(low, block.min(axis=0))
        high = block.max(axis=0) if high is None else np.maximum(high, block.max(axis=0))
        if limit is None:
            continue
        kept.append(block[(-position) % step::step])
        position += len(block)
        if sum(len(part) for part in kept) > 2 * limit:
            kept, step = [np.concatenate(kept)[::2]], step * 2
    sample = np.concatenate(kept) if kept else np.zeros((0, row_windows.shape[2]))
    return sample, low, high


def rows_are_finite(row_windows, *, block_rows: int = 1 << 20) -> bool:
    """Whether every number of every window is finite, checked on the rows, block by block."""
    return all(np.all(np.isfinite(block)) for block in row_windows.iter_rows(block_rows=block_rows))


def _gather_map(scaled: ScaledWindows, index: np.ndarray):
    """A tf.data map from a batch of positions into ``index`` to the scaled windows."""
    import tensorflow as tf

    index = np.asarray(index, dtype=np.int64)
    timesteps, features = scaled.shape[1:]

    calls = [0]

    def gather(positions):
        calls[0] += 1
        if calls[0] % 256 == 0:  # a pass over many windows: drop the mapped rows read
            scaled.windows.release_pages()
        return scaled.gather(index[positions])

    def windows(positions):
        out = tf.numpy_function(gather, [positions], tf.float32, stateful=False)
        # the static batch size of the positions (drop_remainder) as the windows' own: the
        # model's graph, and so its arithmetic, is then that of the array path
        out.set_shape(tuple(positions.shape[:1]) + (timesteps, features))
        return out

    return windows


def _gather_constants(arrays):
    """``gather(positions) -> tuple of batches`` of small per-window arrays (labels, weights)."""
    import tensorflow as tf

    constants = tuple(tf.constant(a) for a in arrays)
    return lambda positions: tuple(tf.gather(c, positions) for c in constants)


def baseline_dataset(scaled: ScaledWindows, index, labels, weights, *, batch_size: int,
                     seed: int, augment=None, start_step: int = 0):
    """:func:`~exermote_sgan.training.datasets.baseline_dataset` of ``scaled[index]``, gathered.

    The batches of positions are :func:`~exermote_sgan.training.datasets.index_batches` (the
    same order, augmentation keys and ``start_step`` as the array path); each batch's windows
    are then gathered from the rows and scaled.
    """
    import tensorflow as tf

    from .datasets import index_batches

    windows = _gather_map(scaled, index)
    extras = _gather_constants((np.asarray(labels, np.int32), np.asarray(weights, np.float32)))

    def batch(step, positions):
        x = windows(positions)
        y, w = extras(positions)
        return (x if augment is None else augment(x, 2 * step)), y, w

    return (index_batches(len(index), batch_size=batch_size, seed=seed, start_step=start_step)
            .map(batch).prefetch(tf.data.AUTOTUNE))


def sgan_dataset(scaled: ScaledWindows, labeled_index, labels, weights, unlabeled_index, *,
                 batch_size: int, seed: int, augment=None, start_step: int = 0):
    """:func:`~exermote_sgan.training.datasets.sgan_dataset` of ``scaled[labeled_index]`` and
    ``scaled[unlabeled_index]``, gathered batch by batch."""
    import tensorflow as tf

    from .datasets import index_batches

    labeled = _gather_map(scaled, labeled_index)
    unlabeled = _gather_map(scaled, unlabeled_index)
    extras = _gather_constants((np.asarray(labels, np.int32), np.asarray(weights, np.float32)))

    def batch(labeled_batch, unlabeled_batch):
        (step, lab_pos), (_, unl_pos) = labeled_batch, unlabeled_batch
        x, u = labeled(lab_pos), unlabeled(unl_pos)
        y, w = extras(lab_pos)
        if augment is not None:
            x, u = augment(x, 2 * step), augment(u, 2 * step + 1)
        return (x, y, w), u

    return tf.data.Dataset.zip(
        index_batches(len(labeled_index), batch_size=batch_size, seed=seed,
                      start_step=start_step),
        index_batches(len(unlabeled_index), batch_size=batch_size, seed=seed + 1,
                      start_step=start_step)).map(batch).prefetch(tf.data.AUTOTUNE)


def prediction_dataset(scaled: ScaledWindows, index, *, batch_size: int):
    """The windows ``index`` in order, scaled, in batches of ``batch_size`` (for ``predict``)."""
    import tensorflow as tf

    n = len(index)
    windows = _gather_map(scaled, index)
    return (tf.data.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
            .batch(batch_size).map(windows).prefetch(tf.data.AUTOTUNE))
