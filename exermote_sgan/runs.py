"""The run directory: what ``exermote-sgan train`` writes and every later command reads.

Every file and folder name of a run directory is declared here, and only here:

``RUN_DIR/classifier.keras`` (:data:`CLASSIFIER_FILE`)
    the inference classifier, a baseline-architecture Keras model (trunk + K-way softmax
    ``scores``) taking SCALED windows ``(timesteps, features)``;
``RUN_DIR/preprocessing.json`` (:data:`PREPROCESSING_FILE`)
    ``classes``, ``features``, ``timesteps``, ``label_offset``, ``sample_rate_hz``, ``scaler``
    (see :class:`~exermote_sgan.data.scaler.MinMaxScaler`), ``model`` (``baseline`` or
    ``sgan``), ``training_command``, ``rest_class`` (None: no rest class) and ``reader`` (how
    the training recordings were read: format, columns, path pattern, rate...; absent in runs
    from before it was recorded, which read the Exermote format), and the run's
    :class:`Provenance` (the windows file and its content hash, the split, the seed...);
``RUN_DIR/metrics.json`` (:data:`METRICS_FILE`)
    the run's evaluation on its test subjects (absent when every subject trained);
``RUN_DIR/split.json``, ``history.csv``, ``plots/``, ``tensorboard/``
    which windows trained, validated and tested; each epoch's figures; their plots and logs;
``RUN_DIR/checkpoints/train_config.json``, ``checkpoints/best.weights.h5``
    the training configuration and the best epoch's weights (``checkpoints/backup/`` holds the
    epoch backups while the run is built, in ``<RUN_DIR>.partial``: :func:`staging_dir`);
``RUN_DIR/personalize.json``, ``personal_windows.h5``
    in a personalised run: what was adapted from what, and the user's windows.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .atomic import atomic_output, atomic_write_text, ensure_writable_dir, replace_directory
from .data.scaler import MinMaxScaler
from .errors import ExermoteInputError


CLASSIFIER_FILE = "classifier.keras"
PREPROCESSING_FILE = "preprocessing.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"
HISTORY_FILE = "history.csv"
PLOTS_DIR = "plots"
TENSORBOARD_DIR = "tensorboard"
#: in ``checkpoints/``: the configuration, the best epoch's weights, the epoch backups
CHECKPOINTS_DIR = "checkpoints"
CONFIG_FILE = "train_config.json"
BEST_WEIGHTS = "best.weights.h5"
BACKUP_DIR = "backup"
#: a personalised run's record of what was adapted, and the user's windows
PERSONALIZE_FILE = "personalize.json"
#: the period counter's profile, learned on the run's training people (``learn-reps``)
PERIOD_PROFILE_FILE = "rep_periods.json"
PERSONAL_WINDOWS_FILE = "personal_windows.h5"
#: the run is built in the sibling folder ``<RUN_DIR>.partial``
PARTIAL_SUFFIX = ".partial"

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Provenance:
    """Where a run came from: the windows file (and its content hash), the split, the seed.

    Written into ``preprocessing.json`` beside the preprocessing (the same keys as before it
    was a type, so older runs load; a field a run does not record is None) and read back with
    every field's type checked.  ``windows_sha256`` (:func:`~exermote_sgan.data.windows_file.
    content_sha256`) is what lets ``evaluate``, ``export``, ``compare`` and ``personalize``
    notice that the file at ``windows_path`` is no longer the one the run trained on.
    """

    windows_path: str | None = None
    windows_sha256: str | None = None
    test_subjects: tuple[int, ...] | None = None
    training_subjects: tuple[int, ...] | None = None
    validation_subjects: tuple[int, ...] | None = None
    labeled_fraction: float | None = None
    labeled_unit: str | None = None
    seed: int | None = None
    augment_rotation: float | None = None
    labeled_sha256: str | None = None
    adaptation_sessions: tuple[str, ...] | None = None
    unlabeled_windows: str | None = None
    #: an ensemble: its members' run directories and seeds
    ensemble_of: tuple[str, ...] | None = None
    ensemble_seeds: tuple[int | None, ...] | None = None
    #: a personalised run: ``method``, ``from_run``, ``user_scaler``
    personalized: dict | None = None

    def to_dict(self) -> dict:
        """The fields that are set (not None), as JSON values (lists for tuples)."""
        state = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            state[item.name] = list(value) if isinstance(value, tuple) else value
        return state

    @classmethod
    def from_dict(cls, state: dict, *, path=None) -> "Provenance":
        """The provenance keys of ``state`` (a ``preprocessing.json``), each checked."""
        values = {}
        for name, check in _PROVENANCE_CHECKS.items():
            if state.get(name) is None:
                continue
            value = state[name]
            try:
                values[name] = check(value)
            except (TypeError, ValueError):
                raise ExermoteInputError(
                    f"{name} is {value!r}, not {_PROVENANCE_KINDS[name]}; retrain the run or "
                    "restore the file from a copy", path=path, column=name) from None
        return cls(**values)


def _ints(value) -> tuple[int, ...]:
    if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise TypeError(value)
    return tuple(value)


def _strs(value) -> tuple[str, ...]:
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise TypeError(value)
    return tuple(value)


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _digest(value) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise ValueError(value)
    return value


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(value)
    return float(value)


def _whole(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def _seeds(value) -> tuple:
    if not isinstance(value, list) or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in value):
        raise TypeError(value)
    return tuple(value)


def _object(value) -> dict:
    if not isinstance(value, dict):
        raise TypeError(value)
    return value


_PROVENANCE_CHECKS = {
    "windows_path": _text, "windows_sha256": _digest, "test_subjects": _ints,
    "training_subjects": _ints, "validation_subjects": _ints, "labeled_fraction": _number,
    "labeled_unit": _text, "seed": _whole, "augment_rotation": _number,
    "labeled_sha256": _digest, "adaptation_sessions": _strs, "unlabeled_windows": _text,
    "ensemble_of": _strs, "ensemble_seeds": _seeds, "personalized": _object}
_PROVENANCE_KINDS = {
    _text: "a text", _digest: "a SHA-256 hex digest", _ints: "a list of whole numbers",
    _number: "a finite number", _whole: "a whole number", _strs: "a list of texts",
    _seeds: "a list of whole numbers or nulls", _object: "a JSON object"}
_PROVENANCE_KINDS = {name: _PROVENANCE_KINDS[check] for name, check in _PROVENANCE_CHECKS.items()}


@dataclass
class Preprocessing:
    """How raw sensor rows become the classifier's input, and what its outputs mean."""

    classes: tuple[str, ...]
    features: tuple[str, ...]
    timesteps: int
    label_offset: int
    sample_rate_hz: float
    scaler: MinMaxScaler
    model: str = "baseline"
    training_command: str = ""
    #: where the run came from (windows file and hash, split, seed...)
    provenance: Provenance = field(default_factory=Provenance)
    #: the class between sets; "auto" (runs from before it was recorded): Break if a class
    rest_class: str | None = "auto"
    #: reader settings of the training recordings (None: the Exermote format)
    reader: dict | None = None

    def __post_init__(self):
        if self.rest_class == "auto":
            self.rest_class = "Break" if "Break" in tuple(self.classes) else None

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "features": list(self.features),
                "timesteps": int(self.timesteps), "label_offset": int(self.label_offset),
                "sample_rate_hz": float(self.sample_rate_hz), "scaler": self.scaler.to_dict(),
                "model": self.model, "training_command": self.training_command,
                "rest_class": self.rest_class, "reader": self.reader,
                **self.provenance.to_dict()}

    @classmethod
    def from_dict(cls, state: dict, *, path=None) -> "Preprocessing":
        required = ("classes", "features", "timesteps", "label_offset", "sample_rate_hz",
                    "scaler")
        missing = [k for k in required if k not in state]
        if missing:
            raise ExermoteInputError(f"missing keys {', '.join(missing)}", path=path)
        try:
            scaler = MinMaxScaler.from_dict(state["scaler"])
        except ExermoteInputError as exc:
            raise ExermoteInputError(exc.message, path=path, column="scaler") from None
        if scaler.num_features != len(state["features"]):
            raise ExermoteInputError(
                f"scaler has {scaler.num_features} features, 'features' lists "
                f"{len(state['features'])}", path=path, column="scaler")
        _check_scaler(scaler, path)
        return cls(classes=tuple(state["classes"]), features=tuple(state["features"]),
                   timesteps=_positive(state, "timesteps", path, whole=True),
                   label_offset=int(state["label_offset"]),
                   sample_rate_hz=_positive(state, "sample_rate_hz", path),
                   scaler=scaler, model=state.get("model", "baseline"),
                   training_command=state.get("training_command", ""),
                   provenance=Provenance.from_dict(state, path=path),
                   rest_class=state.get("rest_class", "auto"), reader=state.get("reader"))


_RESTORE = "retrain the run or restore the file from a copy"


def _positive(state: dict, key: str, path, *, whole: bool = False):
    """``state[key]`` as a finite number > 0 (a whole one with ``whole``), else bad input."""
    value = state[key]
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and \
        math.isfinite(value) and value > 0 and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a finite number"
        raise ExermoteInputError(f"{key} is {value!r}; it must be {kind} > 0; {_RESTORE}",
                                 path=path, column=key)
    return int(value) if whole else float(value)


def _check_scaler(scaler: MinMaxScaler, path) -> None:
    """Refuse a scaler that cannot be the one fitted on training windows: a range that is not
    finite, reversed, or empty for every feature (every input would map to one value)."""
    import numpy as np

    low, high = scaler.data_min_, scaler.data_max_
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ExermoteInputError(f"data_min or data_max is not finite; {_RESTORE}", path=path,
                                 column="scaler")
    reversed_ = np.flatnonzero(high < low)
    if len(reversed_):
        raise ExermoteInputError(
            f"data_max is below data_min for feature {int(reversed_[0])}; {_RESTORE}",
            path=path, column="scaler.data_max")
    if len(low) and np.all(high == low):
        raise ExermoteInputError(
            "data_max equals data_min for every feature, so every window would scale to the "
            f"same input; {_RESTORE}", path=path, column="scaler.data_max")


@dataclass
class TrainedRun:
    """A loaded run directory."""

    run_dir: Path
    classifier: object  # keras.Model
    preprocessing: Preprocessing
    metrics: dict | None = None


def save_run(run_dir, classifier, preprocessing: Preprocessing, *,
             metrics: dict | None = None) -> Path:
    """Write the classifier, its preprocessing and (optionally) its metrics, each atomically."""
    run_dir = ensure_writable_dir(run_dir)
    with atomic_output(run_dir / CLASSIFIER_FILE) as tmp:
        keras_tmp = tmp.with_name(tmp.name + ".keras")  # Keras insists on the extension
        try:
            classifier.save(keras_tmp)
            keras_tmp.replace(tmp)
        finally:
            if keras_tmp.exists():
                keras_tmp.unlink()
    atomic_write_text(run_dir / PREPROCESSING_FILE,
                      json.dumps(preprocessing.to_dict(), indent=2) + "\n")
    if metrics is not None:
        atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    return run_dir


def staging_dir(out_dir) -> Path:
    """Where the run for ``out_dir`` is built: the sibling folder ``<name>.partial``.

    It replaces ``out_dir`` when the run is complete (:func:`publish`); until then it holds the
    backups that ``resume`` continues from.
    """
    out = Path(out_dir).absolute()
    if not out.name or out.name in (".", ".."):
        raise ExermoteInputError("choose a named run directory (such as runs/baseline)",
                                 path=out_dir, option="out_dir")
    return out.with_name(out.name + PARTIAL_SUFFIX)


def publish(staging, out_dir) -> Path:
    """Put the complete run ``staging`` in place of ``out_dir`` (one step on Linux) and drop
    its epoch backups, which only an unfinished run needs."""
    run_dir = replace_directory(staging, out_dir)
    shutil.rmtree(run_dir / CHECKPOINTS_DIR / BACKUP_DIR, ignore_errors=True)
    return run_dir


def is_run_dir(path) -> bool:
    """An empty folder or one a training wrote: the only folders a new run may replace."""
    path = Path(path)
    try:
        empty = not any(path.iterdir())
    except OSError:
        return False
    return empty or any((path / name).exists() for name in (
        PREPROCESSING_FILE, CLASSIFIER_FILE, METRICS_FILE, HISTORY_FILE, SPLIT_FILE,
        f"{CHECKPOINTS_DIR}/{CONFIG_FILE}"))


def finished(run_dir) -> bool:
    """A run is done when ``train`` wrote both ``metrics.json`` and (after it) ``split.json``."""
    run_dir = Path(run_dir)
    return (run_dir / METRICS_FILE).is_file() and (run_dir / SPLIT_FILE).is_file()


def windows_status(provenance: Provenance, windows_path) -> str:
    """How the windows file ``windows_path`` relates to the one the run trained on:

    ``"same"`` (the content hash recorded in the run), ``"changed"`` (the run's own path, but
    other content: the file was replaced), ``"other"`` (another file with other content) or
    ``"unknown"`` (the run records no hash: trained before it was recorded).
    """
    if provenance.windows_sha256 is None:
        return "unknown"
    from .data.windows_file import content_sha256

    if content_sha256(windows_path) == provenance.windows_sha256:
        return "same"
    own = provenance.windows_path
    return "changed" if own and Path(own).resolve() == Path(windows_path).resolve() \
        else "other"


def check_windows_unchanged(run_dir, provenance: Provenance, windows_path, *, fix: str,
                            require_same: bool = False) -> str:
    """:func:`windows_status`, refusing a ``"changed"`` file (with ``require_same`` also any
    ``"other"`` one) with a one-line error that names the file, the run and ``fix``."""
    status = windows_status(provenance, windows_path)
    if status == "changed":
        raise ExermoteInputError(
            f"changed since {run_dir} was trained on it (its content hash is not the "
            f"windows_sha256 in {PREPROCESSING_FILE}): the file was replaced; {fix}",
            path=windows_path)
    if status == "other" and require_same:
        raise ExermoteInputError(
            f"is not the windows file {run_dir} was trained on (its content hash is not the "
            f"windows_sha256 in {PREPROCESSING_FILE}); {fix}", path=windows_path)
    return status


def read_json_object(path, *, missing_hint: str = "is this a run directory written by "
                                                  "'exermote-sgan train'?",
                     invalid_hint: str = "") -> dict:
    """Read a JSON object from ``path``; a missing, unreadable or non-object file is bad input."""
    path = Path(path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExermoteInputError(f"missing; {missing_hint}", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExermoteInputError(f"not valid JSON ({exc}){invalid_hint}", path=path) from None
    if not isinstance(state, dict):
        raise ExermoteInputError("expected a JSON object", path=path)
    return state


def load_run(run_dir, *, load_classifier: bool = True) -> TrainedRun:
    """Load a run directory; raise :class:`ExermoteInputError` naming what is missing or broken."""
    from .errors import as_path

    run_dir = as_path(run_dir, option="run_dir")
    if not run_dir.is_dir():
        raise ExermoteInputError("run directory not found", path=run_dir)
    preprocessing = Preprocessing.from_dict(read_json_object(run_dir / PREPROCESSING_FILE),
                                            path=run_dir / PREPROCESSING_FILE)
    metrics_path = run_dir / METRICS_FILE
    metrics = read_json_object(metrics_path) if metrics_path.exists() else None
    run = TrainedRun(run_dir, None, preprocessing, metrics)
    return with_classifier(run) if load_classifier else run


def with_classifier(run: TrainedRun) -> TrainedRun:
    """``run`` (loaded with ``load_classifier=False``) with its classifier loaded as well."""
    return replace(run, classifier=_load_classifier(run.run_dir / CLASSIFIER_FILE,
                                                    run.preprocessing))


def _archive_damage(path: Path) -> str | None:
    """Why ``path`` is not a complete ``.keras`` archive (a zip file), or ``None``.

    Keras reports a truncated archive as "File not found", which sends people looking for a
    file that is there; this names the real problem.
    """
    import zipfile

    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except zipfile.BadZipFile:
        return (f"the file is truncated or corrupt ({size} bytes, not a complete .keras zip "
                "archive)")
    except (OSError, EOFError, ValueError) as exc:
        return f"the file is truncated or corrupt ({exc})"
    if broken is not None:
        return f"the file is corrupt (its member {broken} fails its checksum)"
    return None


def _load_classifier(path: Path, preprocessing: Preprocessing):
    if not path.is_file():
        raise ExermoteInputError("missing; is this a run directory written by "
                                 "'exermote-sgan train'?", path=path)
    fix = ("retrain the run ('exermote-sgan train ... --out RUN_DIR'; the command is "
           f"training_command in {PREPROCESSING_FILE}) or restore the file from a copy")
    damage = _archive_damage(path)
    if damage:
        raise ExermoteInputError(f"{damage}, so the classifier cannot be loaded; {fix}",
                                 path=path)
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a corrupt archive
        raise ExermoteInputError(f"cannot load the classifier ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}); {fix}",
                                 path=path) from None
    expected_in = (None, preprocessing.timesteps, len(preprocessing.features))
    expected_out = (None, len(preprocessing.classes))
    if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != expected_out:
        raise ExermoteInputError(
            f"classifier maps {model.input_shape} -> {model.output_shape}, but "
            f"{PREPROCESSING_FILE} describes {expected_in} -> {expected_out}", path=path)
    return model
