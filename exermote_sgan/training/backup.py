"""End-of-epoch backups that survive a kill at any instant, and what makes a resume exact.

Keras' ``BackupAndRestore`` rewrites one weights file in place, so a kill during that write
leaves a truncated file next to metadata that claims the epoch finished.  Here each backup is a
new *generation*, a folder ``epoch-NNNNN`` written under a temporary name and renamed into
place only when complete; the previous generation is kept until the next one is complete.  At
any instant the newest complete generation is a consistent snapshot, so a resume loses at most
the epoch in progress.  A kill before the first generation is complete (while it is written,
after ``history.csv`` already lists the epoch) leaves none: a resume then starts over from
epoch 0 in the same folder (:meth:`TrainingBackup.restart`), which repeats the unbroken
training exactly, so every kill is resumable.

A generation holds the model's and optimizers' weights (``state.weights.h5``), a hard link to the
best weights so far (``best.weights.h5``) and ``state.json``: the epochs completed, the history
rows, the best validation score and the early-stopping counters.  What is random in an epoch
(dropout, the SGAN's noise) is reseeded from ``(seed, epoch)`` when the epoch begins
(:class:`EpochSeeds`), and the input pipeline draws from ``(seed, step)``
(:mod:`~exermote_sgan.training.datasets`), so a resumed training repeats the unbroken one.

``EXERMOTE_SGAN_TEST_BACKUP_PAUSE_S`` (tests only) pauses inside each backup write, so a test
can kill the process while a generation is half written.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ..atomic import atomic_output, remove_stale_temporaries


PAUSE_ENV = "EXERMOTE_SGAN_TEST_BACKUP_PAUSE_S"
WEIGHTS_FILE = "state.weights.h5"
BEST_FILE = "best.weights.h5"
STATE_FILE = "state.json"
_GENERATION = re.compile(r"^epoch-(\d{5,})$")


def _pause() -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        time.sleep(float(seconds))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain(value):
    """A JSON-safe copy of a logs value (NumPy scalars, NaN and infinities included)."""
    value = float(value) if isinstance(value, (np.floating, np.integer, float, int)) else value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'nan', 'inf': json.dumps would write invalid JSON
    return value


def _unplain(value):
    return float(value) if value in ("nan", "inf", "-inf") else value


@dataclass
class Backup:
    """A complete generation: its folder, the epochs it completed and its saved state."""

    path: Path
    epoch: int
    state: dict

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def best_weights(self) -> Path | None:
        best = self.path / BEST_FILE
        return best if best.is_file() else None


def _generations(directory: Path) -> list[tuple[int, Path]]:
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    found = [(int(m.group(1)), e) for e in entries if (m := _GENERATION.match(e.name))]
    return sorted(found, reverse=True)


def has_generations(directory) -> bool:
    """Whether ``directory`` holds any generation folder, readable or not."""
    return bool(_generations(Path(directory)))


def latest_backup(directory) -> Backup | None:
    """The newest complete generation in ``directory`` that can be read, or ``None``.

    A generation whose ``state.json`` cannot be parsed or whose weights are missing is skipped
    for the one before it (it cannot happen by a kill, only by a damaged disk).
    """
    for epoch, path in _generations(Path(directory)):
        try:
            state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (isinstance(state, dict) and state.get("epoch") == epoch
                and (path / WEIGHTS_FILE).is_file()):
            return Backup(path, epoch, state)
    return None


def restore_weights(model, directory) -> Backup | None:
    """Load the newest loadable generation's weights into ``model``; return that generation."""
    tried = set()
    while True:
        backup = latest_backup(directory)
        if backup is None or backup.path in tried:
            return None
        tried.add(backup.path)
        try:
            model.load_weights(str(backup.weights))
            return backup
        except (OSError, ValueError):
            # damaged on disk: set it aside and fall back to the generation before it
            backup.path.rename(backup.path.with_name(f".{backup.path.name}.{os.getpid()}."
                                                     "damaged.old"))


# -- the parts of the training state that a generation records -----------------------------------
class HistoryFile(keras.callbacks.Callback):
    """``history.csv`` (as ``CSVLogger`` writes it), rewritten atomically after every epoch.

    Unlike ``CSVLogger(append=True)`` it can be put back to the rows of a backup, so the epochs
    a kill cut short are not listed twice after a resume.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": int(epoch)}
        row.update({k: _plain(v) for k, v in sorted((logs or {}).items())})
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        self.write()

    def write(self) -> None:
        import pandas as pd

        frame = pd.DataFrame([{k: _unplain(v) for k, v in r.items()} for r in self.rows])
        with atomic_output(self.path) as tmp:
            frame.to_csv(tmp, index=False)

    def state(self) -> list[dict]:
        return list(self.rows)

    def restore(self, rows) -> None:
        self.rows = list(rows)
        if self.rows:
            self.write()
        elif self.path.exists():  # no epoch kept: no file, as before the first epoch
            self.path.unlink()


#: room a weights file needs beyond its expected size (HDF5 metadata, the state file)
SPACE_MARGIN_BYTES = 256 * 1024


def require_space(directory, model, *, previous=None) -> None:
    """Raise ``OSError(ENOSPC)`` before a weights file is written that cannot fit.

    HDF5 does not always survive a disk that fills *during* a write (h5py crashed the process
    in its clean-up on a full tmpfs), so a full disk is detected before Keras starts writing,
    and the caller's disk-full handling turns it into the one-line error.  The expected size
    is the previous file of the same kind, or four bytes per weight and optimizer variable.
    """
    need = 4 * sum(int(np.prod(w.shape)) for w in model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "variables", None) is not None:
        need += 4 * sum(int(np.prod(v.shape)) for v in optimizer.variables)
    if previous is not None and Path(previous).is_file():
        need = max(need, Path(previous).stat().st_size)
    free = shutil.disk_usage(directory).free
    if free < need + SPACE_MARGIN_BYTES:
        raise OSError(errno.ENOSPC, f"{free} bytes free, a weights file needs about "
                                    f"{need + SPACE_MARGIN_BYTES}", str(directory))


class BestWeights(keras.callbacks.Callback):
    """The weights of the epoch with the best ``monitor`` so far, replaced atomically.

    ``ModelCheckpoint(save_best_only=True, save_weights_only=True)`` writes in place; this
    writes a temporary and renames it, so a kill never leaves a truncated best-weights file.
    """

    def __init__(self, path, *, monitor: str):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self.best is None or float(value) > self.best:
            with atomic_output(self.path) as tmp:
                require_space(tmp.parent, self.model, previous=self.path)
                keras_tmp = tmp.with_name(tmp.name + ".weights.h5")  # Keras wants the suffix
                try:
                    self.model.save_weights(str(keras_tmp))
                    keras_tmp.replace(tmp)
                finally:
                    if keras_tmp.exists():
                        keras_tmp.unlink()
            self.best, self.best_epoch = float(value), int(epoch)

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def restore(self, state) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` whose counters can be saved and put back after a resume."""

    _restored: dict | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._restored:
            self.wait = int(self._restored["wait"])
            self.best = self._restored["best"]
            self.best_epoch = int(self._restored["best_epoch"])

    def state(self) -> dict:
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch)}

    def restore(self, state) -> None:
        self._restored = dict(state)


class EpochSeeds(keras.callbacks.Callback):
    """At the start of each epoch, reseed every random generator of the model from
    ``(seed, epoch)``: dropout masks and the SGAN's noise then depend on the epoch alone, not
    on how many draws an earlier process made, so a resumed epoch draws what it drew before."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        states = [v for v in self.model.variables if v.name == "seed_generator_state"]
        for k, state in enumerate(states):
            words = np.random.SeedSequence([self.seed, int(epoch), k]).generate_state(2)
            state.assign(np.array([words[0] & 0x7FFFFFFF, 0], dtype=state.dtype))


# -- the backup itself ----------------------------------------------------------------------------
class TrainingBackup(keras.callbacks.Callback):
    """Write a new generation after every epoch; keep it and the one before.

    ``parts`` maps a name to an object with ``state()`` and ``restore(state)`` (the history,
    the best weights, early stopping): their state goes into ``state.json``.  ``best_path`` is
    the best-weights file, hard-linked (or copied) into each generation so that a resume also
    gets back the best weights of the epochs it keeps.
    """

    def __init__(self, directory, *, parts: dict, best_path=None, extra: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.parts = dict(parts)
        self.best_path = None if best_path is None else Path(best_path)
        self.extra = dict(extra or {})

    def on_epoch_end(self, epoch, logs=None):
        self.save(int(epoch) + 1)

    def save(self, epochs_done: int) -> Path:
        """Write generation ``epoch-<epochs_done>`` atomically; drop all but the last two."""
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.directory)
        final = self.directory / f"epoch-{epochs_done:05d}"
        state = {"epoch": epochs_done, "stopped": bool(getattr(self.model, "stop_training",
                                                               False)),
                 "parts": {name: part.state() for name, part in self.parts.items()},
                 **self.extra}
        newest = _generations(self.directory)[:1]
        with atomic_output(final, directory=True) as tmp:
            require_space(tmp, self.model,
                          previous=newest[0][1] / WEIGHTS_FILE if newest else None)
            weights = tmp / WEIGHTS_FILE
            self.model.save_weights(str(weights))
            _fsync(weights)
            _pause()
            if self.best_path is not None and self.best_path.is_file():
                try:
                    os.link(self.best_path, tmp / BEST_FILE)
                except OSError:
                    shutil.copy2(self.best_path, tmp / BEST_FILE)
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
            _fsync(tmp / STATE_FILE)
            _pause()
        for _, older in _generations(self.directory)[2:]:
            aside = older.with_name(f".{older.name}.{os.getpid()}.drop.old")
            older.rename(aside)  # out of sight in one step, then removed
            shutil.rmtree(aside, ignore_errors=True)
        return final

    def restart(self) -> None:
        """Start over from epoch 0 in the same folder (a kill came before the first backup
        was complete): the history, the best weights and the counters of the epoch it cut
        short are dropped, so they can never disagree with the weights."""
        for name, part in self.parts.items():
            part.restore([] if isinstance(part, HistoryFile) else {})
        if self.best_path is not None and self.best_path.exists():
            self.best_path.unlink()

    def restore(self, backup: Backup) -> None:
        """Give the parts their state from ``backup`` (the weights are loaded separately)."""
        for name, part in self.parts.items():
            if name in backup.state.get("parts", {}):
                part.restore(backup.state["parts"][name])
        if self.best_path is None:
            return
        if backup.best_weights is not None:
            with atomic_output(self.best_path) as tmp:
                shutil.copyfile(backup.best_weights, tmp)
        elif self.best_path.exists():  # written by the epoch the kill cut short
            self.best_path.unlink()
