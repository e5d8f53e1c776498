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


_LOSS = re.compile(r"loss", re.IGNORECASE)
_SCORE = re.compile(r"acc|f1", re.IGNORECASE)


def new_figure(**kwargs):
    """A Matplotlib figure that needs no GUI backend (the plots of runs and comparisons)."""
    # A bare Figure draws with the Agg canvas and touches no pyplot state: no GUI backend is
    # needed, nothing leaks between calls, and a notebook's own backend stays as it is.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically; returns the path."""
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


# one marker per figure (its training and validation curves share it; validation is dashed)
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def plot_history(histories: dict, path, *, monitor: str = "val_macro_f1") -> Path:
    """Loss and accuracy/F1 curves of one or more training runs, e.g. ``{"baseline": df}``.

    Each value is a table as Keras's ``CSVLogger`` writes it (an ``epoch`` column and one column
    per tracked figure).  Every numeric column whose name mentions ``loss`` goes to the left
    panel, every one mentioning ``acc`` or ``f1`` to the right; other columns are ignored, and a
    run may lack any of them.  Each run has one colour; each figure one marker, solid for
    training and dashed for validation.  The epoch each run kept (the first best ``monitor``,
    as ``train`` selects it) is marked by a dotted vertical line in the run's colour and a star
    on its ``monitor`` curve.  The legends sit below the panels, where they cover no curve.
    """
    return save_png(history_figure(histories, monitor=monitor), path)


def history_figure(histories: dict, *, monitor: str = "val_macro_f1"):
    """The matplotlib ``Figure`` :func:`plot_history` writes."""
    from matplotlib.ticker import MaxNLocator

    from .progress import selected_epoch

    if not histories:
        raise ValueError("plot_history: no histories to plot")
    fig = new_figure(figsize=(12, 5))
    ax_loss, ax_score = fig.subplots(1, 2)
    bases: list[str] = []
    for index, (model_name, frame) in enumerate(histories.items()):
        if frame is None or len(frame) == 0:
            continue
        colour = f"C{index % 10}"
        epochs = (np.asarray(frame["epoch"]) + 1 if "epoch" in frame.columns
                  else np.arange(1, len(frame) + 1))
        losses, scores = _history_columns(frame)
        for axis, columns in ((ax_loss, losses), (ax_score, scores)):
            for column in columns:
                base = str(column).removeprefix("val_")
                if base not in bases:
                    bases.append(base)
                style = "--" if str(column).startswith("val_") else "-"
                axis.plot(epochs, np.asarray(frame[column], dtype=float), style, color=colour,
                          marker=_MARKERS[bases.index(base) % len(_MARKERS)], markersize=4,
                          label=f"{model_name}: {column}")
        kept = selected_epoch(frame, monitor)
        if kept is not None:
            for axis in (ax_loss, ax_score):
                axis.axvline(kept[0], color=colour, linestyle=":", linewidth=1.5,
                             label=f"{model_name}: kept epoch {kept[0]}")
            ax_score.plot([kept[0]], [kept[1]], marker="*", markersize=14, color=colour,
                          markeredgecolor="black", linestyle="none")
    for axis, title, ylabel in ((ax_loss, "Losses", "loss"),
                                (ax_score, "Accuracy and F1", "score")):
        axis.set_title(title)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14),
                        ncol=2, frameon=False)
        else:
            axis.text(0.5, 0.5, "nothing recorded", ha="center", va="center",
                      transform=axis.transAxes)
    fig.set_layout_engine("tight")
    return fig


def plot_generated_vs_real(real_by_class: dict, generated, features, path, *,
                           per_row: int = 4, sample_rate_hz: float | None = None) -> Path:
    """A grid of window heatmaps (features down, time across): a row per class, then fakes.

    ``real_by_class`` maps a class name to real windows ``(n, timesteps, features)``;
    ``generated`` holds generator output of the same shape.  Up to ``per_row`` windows of each
    are drawn, all on one colour scale, as the original Exermote SGAN showed its progress.  The
    first column names the features; the bottom row's time axis is in seconds when
    ``sample_rate_hz`` is given, else in time steps.
    """
    figure = generated_vs_real_figure(real_by_class, generated, features, per_row=per_row,
                                      sample_rate_hz=sample_rate_hz)
    return save_png(figure, path)


def generated_vs_real_figure(real_by_class: dict, generated, features, *, per_row: int = 4,
                             sample_rate_hz: float | None = None):
    """The matplotlib ``Figure`` :func:`plot_generated_vs_real` writes."""
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
    timesteps = rows[0][1].shape[1]
    finite = np.concatenate([w[:per_row].ravel() for _, w in rows])
    finite = finite[np.isfinite(finite)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    if sample_rate_hz:  # a tick per whole second
        every = max(1, int(round(float(sample_rate_hz))))
        tick_steps = np.arange(0, timesteps, every)
        tick_labels = [f"{step / float(sample_rate_hz):g}" for step in tick_steps]
        time_label = "time in the window (s)"
    else:
        tick_steps = np.linspace(0, timesteps - 1, 5).round().astype(int)
        tick_labels = [str(step) for step in tick_steps]
        time_label = "time step"
    fontsize = max(4.0, min(7.0, 160.0 / max(len(features), 1)))
    fig = new_figure(figsize=(2.8 * per_row + 1.5, max(2.4, 0.17 * len(features) + 0.9)
                              * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), per_row, squeeze=False)
    image = None
    for r, (name, windows) in enumerate(rows):
        for c in range(per_row):
            axis = axes[r, c]
            axis.set_yticks([])
            axis.set_xticks(tick_steps, tick_labels if r == len(rows) - 1 else [])
            axis.tick_params(labelsize=7)
            if c < len(windows):
                image = axis.imshow(windows[c].T, aspect="auto", cmap="viridis",
                                    vmin=vmin, vmax=vmax, interpolation="nearest")
            else:
                axis.set_axis_off()
            if c == 0:
                axis.set_yticks(np.arange(len(features)), features, fontsize=fontsize)
                axis.set_title(name, loc="left", fontsize=9, fontweight="bold")
            if r == len(rows) - 1:
                axis.set_xlabel(time_label, fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="scaled value")
    fig.suptitle(f"real windows by class (one row each) and generated windows "
                 f"({len(features)} features x {timesteps} time steps)")
    return fig

