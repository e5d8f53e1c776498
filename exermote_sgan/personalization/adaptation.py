"""Cheap personalisation of a trained classifier: the user's own scaler, and self-training.

Both start from the classifier a run already trained (``classifier.keras``), so personalising
costs seconds to a minute on a laptop CPU instead of a new SGAN training:

- :func:`user_scaler` ("scaler", AdaBN-like): the run's min-max scaler composed with a
  per-feature affine map that gives the user's rows the mean and standard deviation of the
  training rows.  It is still one affine map per feature (``raw * scale + offset``), so it is
  an ordinary :class:`~exermote_sgan.data.scaler.MinMaxScaler` and travels inside the run's
  ``preprocessing.json`` and so inside every exported model.
- :func:`pseudo_labels` and :func:`fine_tune` ("self-training"): the classifier labels the
  user's windows; the class probabilities are averaged over neighbouring windows of the same
  recording (exercise sets last many windows), windows whose smoothed top probability reaches
  a threshold keep their predicted class, and the classifier is fine-tuned from its own
  weights on the run's labeled windows plus those pseudo-labelled windows (half of each batch,
  by default, each group class-balanced), optionally relabelling and fine-tuning again.

The user's labels are never read: the windows come from
:func:`~exermote_sgan.personalization.personalize.read_unlabeled_windows`, whose labels are
placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def row_moments(row_windows, *, block_rows: int = 1 << 20):
    """Per-feature mean and standard deviation of the rows the windows cover (each row once)."""
    total = squares = None
    count = 0
    for block in row_windows.iter_rows(block_rows=block_rows):
        block = np.asarray(block, dtype=np.float64)
        if not len(block):
            continue
        total = block.sum(axis=0) if total is None else total + block.sum(axis=0)
        squares = (block ** 2).sum(axis=0) if squares is None else squares + (block ** 2).sum(0)
        count += len(block)
    if not count:
        raise ValueError("row_moments: no rows")
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))


def user_scaler(scaler, *, training_moments, user_moments):
    """``scaler`` preceded by the map giving the user's rows the training rows' mean and sd.

    Per feature, ``raw -> (raw - mean_user) * sd_train / sd_user + mean_train`` and then the
    run's min-max map: composed, one affine map, returned as a new fitted
    :class:`~exermote_sgan.data.scaler.MinMaxScaler` (same feature range).  A feature the user
    holds constant keeps its scale and only has its mean moved.
    """
    from ..data.scaler import MinMaxScaler

    (mean_t, sd_t), (mean_u, sd_u) = training_moments, user_moments
    gain = np.where((sd_u > 0) & (sd_t > 0), sd_t / np.where(sd_u > 0, sd_u, 1.0), 1.0)
    shift = mean_t - gain * mean_u
    scale = scaler.scale_ * gain
    offset = scaler.scale_ * shift + scaler.offset_
    low, high = scaler.feature_range
    adapted = MinMaxScaler(feature_range=scaler.feature_range, quantile=scaler.quantile)
    adapted.data_min_ = (low - offset) / scale
    adapted.data_max_ = adapted.data_min_ + (high - low) / scale
    # the training rows' extremes in the user's units: the inverse of raw -> gain * raw + shift
    adapted.seen_min_ = (scaler.seen_min_ - shift) / gain
    adapted.seen_max_ = (scaler.seen_max_ - shift) / gain
    return adapted


def class_probabilities(classifier, scaled_windows, *, batch_size: int = 512) -> np.ndarray:
    """The classifier's class probabilities ``(N, classes)`` for scaled windows."""
    scores = classifier.predict(np.asarray(scaled_windows, dtype=np.float32),
                                batch_size=batch_size, verbose=0)
    if isinstance(scores, dict):
        scores = scores["scores"]
    return np.asarray(scores, dtype=np.float64)


def smooth_along_time(probabilities, *, sessions, end_index, width: int) -> np.ndarray:
    """Each window's probabilities averaged with those of its ``width`` nearest windows in
    time (a centred moving average, ``width`` odd), within its own session only."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    width = int(width)
    if width <= 1 or not len(probabilities):
        return probabilities.copy()
    half = width // 2
    out = np.empty_like(probabilities)
    for session in np.unique(sessions):
        members = np.flatnonzero(sessions == session)
        members = members[np.argsort(end_index[members], kind="stable")]
        p = probabilities[members]
        padded = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
        lo = np.clip(np.arange(len(p)) - half, 0, len(p))
        hi = np.clip(np.arange(len(p)) + half + 1, 0, len(p))
        out[members] = (padded[hi] - padded[lo]) / (hi - lo)[:, None]
    return out


@dataclass
class PseudoLabels:
    """The user's windows that were given a class: their positions, classes and confidences."""

    index: np.ndarray       # positions among the user's windows
    labels: np.ndarray      # predicted class per kept window
    confidence: np.ndarray  # its smoothed top probability
    n_windows: int          # all the user's windows

    def class_counts(self, classes) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(classes))
        return {str(c): int(n) for c, n in zip(classes, counts)}


def pseudo_labels(probabilities, *, threshold: float, sessions, end_index, width: int,
                  class_share: float = 1.0) -> PseudoLabels:
    """Keep the windows whose time-smoothed top class probability is at least ``threshold``
    and, of each predicted class, at most its ``class_share`` most confident windows.

    The per-class share keeps every class the classifier finds in the user's recordings: a
    classifier trained with balanced class weights is seldom very sure of a new person, and
    an absolute threshold alone can leave a single class (and so teach the model that the
    user only ever does that exercise).
    """
    smoothed = smooth_along_time(probabilities, sessions=sessions, end_index=end_index,
                                 width=width)
    confidence, predicted = smoothed.max(axis=1), smoothed.argmax(axis=1)
    keep = confidence >= float(threshold)
    if class_share < 1.0:
        for k in np.unique(predicted):
            members = np.flatnonzero((predicted == k) & keep)
            allowed = int(np.ceil(class_share * np.count_nonzero(predicted == k)))
            if len(members) > allowed:
                ranked = members[np.argsort(-confidence[members], kind="stable")]
                keep[ranked[allowed:]] = False
    keep = np.flatnonzero(keep)
    return PseudoLabels(index=keep, labels=predicted[keep].astype(np.int64),
                        confidence=confidence[keep], n_windows=len(smoothed))


def _group_weights(labels, num_classes: int) -> np.ndarray:
    from ..training.datasets import balanced_class_weights

    return balanced_class_weights(labels, num_classes)[labels]


def fine_tune(classifier, *, labeled_source, labeled_index, labels, user_windows,
              pseudo: PseudoLabels, num_classes: int, learning_rate: float, batch_size: int,
              epochs: int, steps_per_epoch: int, seed: int, augment=None,
              user_share: float = 0.5):
    """Fine-tune ``classifier`` (a compiled copy is trained; the original is left as it was)
    on the run's labeled windows and the user's pseudo-labelled windows.

    ``labeled_source`` gathers the run's scaled windows (a
    :class:`~exermote_sgan.training.window_source.ScaledWindows`), ``user_windows`` are the
    user's windows scaled with the user's scaler.  The pseudo-labelled windows are repeated (or
    thinned) so that they make up about ``user_share`` of the windows drawn, and each group is
    class-balanced on its own.  Returns ``(model, history)`` (history: a DataFrame of the
    epochs' loss and accuracy on the training mix).
    """
    import keras
    import pandas as pd

    from ..training import window_source
    from ..training.train_lib import WithExtraWindows

    model = keras.models.clone_model(classifier)
    model.set_weights(classifier.get_weights())
    model.compile(optimizer=keras.optimizers.Adam(float(learning_rate)),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    labeled_index = np.asarray(labeled_index, dtype=np.int64)
    kept = np.asarray(user_windows, dtype=np.float32)[pseudo.index]
    source = WithExtraWindows(labeled_source, kept)
    # the user's windows, repeated (or thinned) to about user_share of the windows drawn
    wanted = max(1, int(round(user_share / (1 - user_share) * len(labeled_index))))
    picks = np.resize(np.arange(len(kept)), wanted) if wanted >= len(kept) else \
        np.random.default_rng(seed).choice(len(kept), wanted, replace=False)
    index = np.concatenate([labeled_index, len(labeled_source) + picks])
    all_labels = np.concatenate([np.asarray(labels, np.int64), pseudo.labels[picks]])
    weights = np.concatenate([_group_weights(np.asarray(labels, np.int64), num_classes),
                              _group_weights(pseudo.labels[picks], num_classes)])
    data = window_source.baseline_dataset(source, index, all_labels, weights,
                                          batch_size=int(batch_size), seed=int(seed),
                                          augment=augment)
    history = model.fit(data, epochs=int(epochs), steps_per_epoch=int(steps_per_epoch),
                        verbose=0, shuffle=False)
    return model, pd.DataFrame(history.history).rename_axis("epoch").reset_index()
