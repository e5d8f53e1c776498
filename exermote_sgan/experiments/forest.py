"""A random forest on window statistics: the reference every comparison shows beside the networks.

A user with their own recordings should see whether a network is worth it.  The forest is the
classical answer to the same task: 300 trees (scikit-learn's
:class:`~sklearn.ensemble.RandomForestClassifier`, otherwise its defaults) on per-window mean,
standard deviation, minimum and maximum of each feature and of each 3-axis vector's magnitude
(the vectors :func:`~exermote_sgan.training.datasets.vector_groups` finds).  It is trained in
:func:`train_forest` on exactly the labeled windows a network of the same configuration gets
(the training library's own split, so the ``labeled_sha256`` in ``split.json`` is the
networks'), with the same features, and scored on the same test subjects with the same
metrics (:func:`~exermote_sgan.training.evaluation.metrics_from_predictions`).  It writes only
``metrics.json``, ``split.json`` and ``forest.json`` into its run directory: it is a reference,
not a model the package exports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text, ensure_writable_dir
from ..errors import ExermoteInputError


#: trees of the reference forest
FOREST_TREES = 300
#: what the forest was: its settings, features and training time (the run directory's record)
FOREST_FILE = "forest.json"
_CHUNK = 4096  # windows per block when computing statistics: bounded memory on large files


def statistic_names(features) -> list[str]:
    """The column names of :func:`window_statistics` for ``features``: ``mean(xGravity)``,
    ..., ``max(|Gravity|)``, one magnitude per 3-axis vector (named without its axis letter)."""
    from ..training.datasets import vector_groups

    features = [str(f) for f in features]
    channels = list(features)
    for i, _j, _k in vector_groups(features):
        name = features[i]
        axis = next(p for p, c in enumerate(name) if c in "xX" and
                    name[:p] + ("y" if c == "x" else "Y") + name[p + 1:] in features)
        channels.append(f"|{name[:axis] + name[axis + 1:]}|")
    return [f"{stat}({c})" for stat in ("mean", "std", "min", "max") for c in channels]


def window_statistics(windows, features) -> np.ndarray:
    """``(n, 4 * channels)`` float32: mean, std, min and max over time of each feature and of
    each 3-axis vector's magnitude, for ``windows`` of shape ``(n, timesteps, features)``.

    ``windows`` may be any object that :func:`numpy.asarray` turns into that array block by
    block (a :class:`~exermote_sgan.data.windows_file.RowWindows` as well): blocks of
    ``4096`` windows keep the memory bounded on large files.
    """
    from ..training.datasets import vector_groups

    groups = vector_groups(features)
    n = len(windows)
    blocks = []
    for start in range(0, n, _CHUNK):
        x = np.asarray(windows[start:start + _CHUNK], dtype=np.float64)
        if x.ndim != 3 or x.shape[-1] != len(features):
            raise ValueError(f"window_statistics: windows of shape {x.shape} do not hold "
                             f"{len(features)} features")
        channels = [x] + [np.linalg.norm(x[..., list(g)], axis=-1, keepdims=True)
                          for g in groups]
        z = np.concatenate(channels, axis=-1)
        blocks.append(np.concatenate([z.mean(1), z.std(1), z.min(1), z.max(1)], axis=1))
    width = 4 * (len(features) + len(groups))
    return (np.concatenate(blocks).astype(np.float32) if blocks
            else np.zeros((0, width), np.float32))


def train_forest(config, *, n_jobs: int = 1) -> dict:
    """Train the reference forest for the network run ``config`` describes; return its metrics.

    ``config`` is a :class:`~exermote_sgan.training.config.TrainConfig` (its ``model`` is
    ignored): its windows file, test subjects, features, labeled fraction, unit, validation
    fraction and seed choose the windows, as for a network.  The forest's ``random_state`` is
    the seed.  ``config.out_dir`` receives ``metrics.json``, then ``forest.json`` and, last,
    ``split.json`` (its presence marks the run finished, as for a network).  ``n_jobs`` is
    scikit-learn's (1: one core, the default on a shared machine).
    """
    import time

    from sklearn.ensemble import RandomForestClassifier

    from ..data.windows_file import load_windows
    from ..runs import METRICS_FILE
    from ..training.config import training_features
    from ..training.evaluation import metrics_from_predictions
    from ..training.train_lib import SPLIT_FILE, split_roles, split_summary

    if int(n_jobs) == 0:
        raise ExermoteInputError("must be a number of cores (or -1 for all), not 0",
                                 option="n_jobs")
    config.validate()
    if not config.test_subjects:
        raise ExermoteInputError("the forest needs test subjects to be scored on",
                                 option="test_subjects")
    window_set = load_windows(config.windows_path)
    window_set = window_set.select_features(training_features(config, window_set.features),
                                            path=config.windows_path)
    fit_idx, val_idx, test_idx, labeled_idx, unlabeled_idx, adapt_idx = split_roles(
        window_set, config)
    split = split_summary(window_set, config, fit_idx, val_idx, test_idx, labeled_idx,
                          unlabeled_idx, adapt_idx)
    rows = window_set.row_windows
    started = time.perf_counter()
    forest = RandomForestClassifier(FOREST_TREES, random_state=int(config.seed),
                                    n_jobs=int(n_jobs))
    forest.fit(window_statistics(rows.take(np.sort(labeled_idx)), window_set.features),
               window_set.labels[np.sort(labeled_idx)])
    test_idx = np.sort(test_idx)
    predicted = forest.predict(window_statistics(rows.take(test_idx), window_set.features))
    seconds = time.perf_counter() - started
    metrics = metrics_from_predictions(window_set.labels[test_idx], predicted,
                                       classes=window_set.classes,
                                       subjects=window_set.subjects[test_idx])
    out = ensure_writable_dir(Path(config.out_dir))
    atomic_write_text(out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    record = {"model": "forest", "trees": FOREST_TREES, "random_state": int(config.seed),
              "features": list(window_set.features),
              "statistics": statistic_names(window_set.features),
              "n_labeled": int(len(labeled_idx)), "seconds": round(seconds, 3)}
    atomic_write_text(out / FOREST_FILE, json.dumps(record, indent=2) + "\n")
    atomic_write_text(out / SPLIT_FILE, json.dumps(split, indent=2) + "\n")
    return metrics
