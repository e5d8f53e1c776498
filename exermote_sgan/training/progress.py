"""Training progress: one line per epoch, and which epoch a run kept.

Training used to be silent for minutes (Keras' bar was off in the demo and ``compare``, and
on in ``train`` only as a bar redrawn per step).  :func:`progress_callbacks` gives
:func:`~exermote_sgan.training.train_lib.train` an :class:`EpochLines` callback that prints, on
stderr, one line per epoch: its number, its wall time, the training losses, the validation
macro-F1 (the figure model selection keeps the best epoch by) and whether it is the best so
far.  ``verbose`` selects: 0 nothing, 1 these lines (the default), 2 Keras' own bar as well.

:func:`selected_epoch` reads from a run's history which epoch was kept, as
``ModelCheckpoint(save_best_only=True, mode="max")`` chose it: the first epoch with the
highest validation macro-F1.  It needs pandas only, so plots and commands use it without
TensorFlow.
"""

from __future__ import annotations

import math
import sys
import time


MONITOR = "val_macro_f1"
# the figures an epoch line shows, in this order, when the logs hold them
SHOWN = ("loss", "d_loss", "g_loss", "accuracy", "val_accuracy", MONITOR)


def selected_epoch(history, monitor: str = MONITOR) -> tuple[int, float] | None:
    """``(epoch, value)`` of the epoch a run kept (epochs numbered from 1, as printed), or
    ``None`` when the history has no finite ``monitor`` value.  ``history`` is a
    ``pandas.DataFrame`` as in ``history.csv``."""
    if history is None or monitor not in getattr(history, "columns", ()):
        return None
    values = history[monitor].astype(float)
    values = values[values.apply(math.isfinite)]
    if values.empty:
        return None
    row = values.idxmax()  # the first maximum, as ModelCheckpoint keeps it
    epoch = int(history.loc[row, "epoch"]) + 1 if "epoch" in history.columns else \
        int(history.index.get_loc(row)) + 1
    return epoch, float(values.loc[row])


def stop_reason(history, *, cap: int, patience: int, monitor: str = MONITOR) -> str:
    """Why a run's training ended, in one line: it converged (``patience`` epochs without a
    better ``monitor`` after the kept one) or it reached the cap of ``cap`` epochs.  ``history``
    is as in ``history.csv`` (its rows are the epochs trained, a resumed run's included)."""
    kept = selected_epoch(history, monitor)
    ran = 0 if history is None else len(history)
    if kept is None:
        return f"trained {ran} of at most {cap} epochs; no epoch had a finite {monitor}"
    since = ran - kept[0]
    if since >= patience:
        return (f"converged at epoch {kept[0]}: {monitor} did not improve in the {since} "
                f"epochs after it (patience {patience}); stopped at epoch {ran} of at most {cap}")
    still = (" and was still improving in its last epoch" if kept[0] == ran else
             f", {since} epochs after the kept epoch {kept[0]}")
    return (f"reached the cap of {cap} epochs{still} (patience {patience}): it may not have "
            "converged; raise --epochs")


def format_epoch_line(epoch: int, epochs: int, seconds: float, logs: dict, *,
                      best: bool) -> str:
    """``epoch  3/30   4.1 s  d_loss 1.234  g_loss 0.012  val_macro_f1 0.812  best so far``."""
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}", f"{seconds:5.1f} s"]
    for name in SHOWN:
        if name in (logs or {}):
            parts.append(f"{name} {float(logs[name]):.3f}")
    if best:
        parts.append("best so far")
    return "  ".join(parts)


def keras_verbose(verbose: int) -> int:
    """The ``verbose`` to give ``Model.fit``: Keras' bar only at ``verbose >= 2``."""
    return 1 if int(verbose) >= 2 else 0


def progress_callbacks(verbose: int, *, stream=None) -> list:
    """The progress callbacks for a run with this ``verbose`` (none at 0)."""
    return [EpochLines(stream=stream)] if int(verbose) >= 1 else []


def EpochLines(*, stream=None, monitor: str = MONITOR):  # noqa: N802 (a class factory)
    """A Keras callback printing one :func:`format_epoch_line` per epoch on ``stream``
    (stderr by default).  Keras is imported here, not when this module is."""
    import keras

    class _EpochLines(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = -math.inf
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            value = float(logs.get(monitor, math.nan))
            best = math.isfinite(value) and value > self.best
            if best:
                self.best = value
            epochs = int((self.params or {}).get("epochs") or epoch + 1)
            print(format_epoch_line(epoch + 1, epochs, time.perf_counter() - self.started,
                                    logs, best=best),
                  file=stream or sys.stderr, flush=True)

    return _EpochLines()
