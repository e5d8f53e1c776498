"""Figures of a training run and of a comparison, written as PNG files.

Figures are drawn on matplotlib's file-only ``Agg`` canvas, chosen inside each function (never
at import) and without pyplot's global state, so plotting works on headless machines and leaves
a notebook's backend alone.  Each figure is written atomically; show it in a notebook with
``IPython.display.Image(path)``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_output

__all__ = ["plot_history", "plot_generated_vs_real", "plot_compare"]

_LOSS = re.compile(r"loss", re.IGNORECASE)
_SCORE = re.compile(r"acc|f1", re.IGNORECASE)


def _figure(**kwargs):
    # A bare Figure draws with the Agg canvas and touches no pyplot state: no GUI backend is
    # needed, nothing leaks between calls, and a notebook's own backend stays as it is.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return path


def _history_columns(frame) -> tuple[list[str], list[str]]:
    numeric = [c for c in frame.columns if str(c) != "epoch"
               and np.issubdtype(np.asarray(frame[c]).dtype, np.number)]
    losses = [c for c in numeric if _LOSS.search(str(c))]
    scores = [c for c in numeric if c not in losses and _SCORE.search(str(c))]
    return losses, scores


def plot_history(histories: dict, path) -> Path:
    """Loss and accuracy/F1 curves of one or more training runs, e.g. ``{"baseline": df}``.

    Each value is a table as Keras's ``CSVLogger`` writes it (an ``epoch`` column and one column
    per tracked figure).  Every numeric column whose name mentions ``loss`` goes to the left
    panel, every one mentioning ``acc`` or ``f1`` to the right; other columns are ignored, and a
    run may lack any of them.
    """
    from matplotlib.ticker import MaxNLocator

    if not histories:
        raise ValueError("plot_history: no histories to plot")
    fig = _figure(figsize=(12, 4.5))
    ax_loss, ax_score = fig.subplots(1, 2)
    for model_name, frame in histories.items():
        if frame is None or len(frame) == 0:
            continue
        epochs = (np.asarray(frame["epoch"]) + 1 if "epoch" in frame.columns
                  else np.arange(1, len(frame) + 1))
        losses, scores = _history_columns(frame)
        for axis, columns in ((ax_loss, losses), (ax_score, scores)):
            for column in columns:
                style = "--" if str(column).startswith("val_") else "-"
                axis.plot(epochs, np.asarray(frame[column], dtype=float), style, marker=".",
                          label=f"{model_name}: {column}")
    for axis, title, ylabel in ((ax_loss, "Losses", "loss"),
                                (ax_score, "Accuracy and F1", "score")):
        axis.set_title(title)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
        else:
            axis.text(0.5, 0.5, "nothing recorded", ha="center", va="center",
                      transform=axis.transAxes)
    fig.set_layout_engine("tight")
    return _save(fig, path)


def plot_generated_vs_real(real_by_class: dict, generated, features, path, *,
                           per_row: int = 4) -> Path:
    """A grid of window heatmaps (features down, time across): a row per class, then fakes.

    ``real_by_class`` maps a class name to real windows ``(n, timesteps, features)``;
    ``generated`` holds generator output of the same shape.  Up to ``per_row`` windows of each
    are drawn, all on one colour scale, as the original Exermote SGAN showed its progress.
    """
    per_row = int(per_row)
    if per_row < 1:
        raise ValueError(f"plot_generated_vs_real: per_row must be at least 1, got {per_row}")
    features = [str(f) for f in features]
    rows = [(str(name), np.asarray(w, dtype=np.float32)) for name, w in real_by_class.items()]
    rows.append(("generated", np.asarray(generated, dtype=np.float32)))
    for name, windows in rows:
        if windows.ndim != 3 or windows.shape[2] != len(features):
            raise ValueError(f"plot_generated_vs_real: {name} windows have shape "
                             f"{windows.shape}, expected (n, timesteps, {len(features)})")
    finite = np.concatenate([w[:per_row].ravel() for _, w in rows])
    finite = finite[np.isfinite(finite)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    fig = _figure(figsize=(2.6 * per_row, 2.2 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), per_row, squeeze=False)
    image = None
    for r, (name, windows) in enumerate(rows):
        for c in range(per_row):
            axis = axes[r, c]
            axis.set_xticks([])
            axis.set_yticks([])
            if c < len(windows):
                image = axis.imshow(windows[c].T, aspect="auto", cmap="viridis",
                                    vmin=vmin, vmax=vmax, interpolation="nearest")
            else:
                axis.set_axis_off()
            if c == 0:
                axis.set_ylabel(name, rotation=0, ha="right", va="center")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="scaled value")
    fig.suptitle(f"real windows by class and generated windows "
                 f"({len(features)} features x time)")
    return _save(fig, path)


def plot_compare(results, path) -> Path:
    """Accuracy and macro F1 (mean ± std over seeds) against labeled fraction, a line per model.

    ``results`` is a table with columns ``model``, ``labeled_fraction``, ``accuracy`` and
    ``macro_f1`` (one row per model, fraction and seed), as :func:`~exermote_sgan.training.
    compare.compare` returns it.
    """
    needed = {"model", "labeled_fraction", "accuracy", "macro_f1"}
    missing = needed - set(results.columns)
    if missing:
        raise ValueError(f"plot_compare: results lack columns {', '.join(sorted(missing))}")
    if len(results) == 0:
        raise ValueError("plot_compare: no results to plot")
    fig = _figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2, sharex=True)
    for axis, metric, title in ((axes[0], "accuracy", "Accuracy"),
                                (axes[1], "macro_f1", "Macro F1")):
        for model_name, group in results.groupby("model", sort=True):
            stats = group.groupby("labeled_fraction")[metric].agg(["mean", "std", "count"])
            stats = stats.sort_index()
            std = stats["std"].fillna(0.0).to_numpy()
            axis.errorbar(stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(), yerr=std,
                          marker="o", capsize=4, label=str(model_name))
        axis.set_xscale("log")
        fractions = np.unique(results["labeled_fraction"].to_numpy(dtype=float))
        axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
        axis.minorticks_off()
        axis.set_xlabel("labeled fraction of the training data")
        axis.set_ylabel(metric)
        axis.set_title(f"{title} on held-out subjects (mean ± std over seeds)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.set_layout_engine("tight")
    return _save(fig, path)
