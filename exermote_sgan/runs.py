"""The run directory: what ``exermote-sgan train`` writes and every later command reads.

``RUN_DIR/classifier.keras``
    the inference classifier, a baseline-architecture Keras model (trunk + K-way softmax
    ``scores``) taking SCALED windows ``(timesteps, features)``;
``RUN_DIR/preprocessing.json``
    ``classes``, ``features``, ``timesteps``, ``label_offset``, ``sample_rate_hz``, ``scaler``
    (see :class:`~exermote_sgan.data.scaler.MinMaxScaler`), ``model`` (``baseline`` or
    ``sgan``), ``training_command``, ``rest_class`` (None: no rest class) and ``reader`` (how
    the training recordings were read: format, columns, path pattern, rate...; absent in runs
    from before it was recorded, which read the Exermote format);
``RUN_DIR/metrics.json``
    the run's evaluation on its test subjects (absent when every subject trained).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from .atomic import atomic_output, atomic_write_text, ensure_writable_dir
from .data.scaler import MinMaxScaler
from .errors import ExermoteInputError

__all__ = ["Preprocessing", "TrainedRun", "load_run", "with_classifier", "save_run",
           "read_json_object", "CLASSIFIER_FILE",
           "PREPROCESSING_FILE", "METRICS_FILE"]

CLASSIFIER_FILE = "classifier.keras"
PREPROCESSING_FILE = "preprocessing.json"
METRICS_FILE = "metrics.json"


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
    extra: dict = field(default_factory=dict)
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
                "rest_class": self.rest_class, "reader": self.reader, **self.extra}

    @classmethod
    def from_dict(cls, state: dict, *, path=None) -> "Preprocessing":
        required = ("classes", "features", "timesteps", "label_offset", "sample_rate_hz",
                    "scaler")
        missing = [k for k in required if k not in state]
        if missing:
            raise ExermoteInputError(f"missing keys {', '.join(missing)}", path=path)
        known = set(required) | {"model", "training_command", "rest_class", "reader"}
        try:
            scaler = MinMaxScaler.from_dict(state["scaler"])
        except ExermoteInputError as exc:
            raise ExermoteInputError(exc.message, path=path, column="scaler") from None
        if scaler.num_features != len(state["features"]):
            raise ExermoteInputError(
                f"scaler has {scaler.num_features} features, 'features' lists "
                f"{len(state['features'])}", path=path, column="scaler")
        return cls(classes=tuple(state["classes"]), features=tuple(state["features"]),
                   timesteps=int(state["timesteps"]), label_offset=int(state["label_offset"]),
                   sample_rate_hz=float(state["sample_rate_hz"]), scaler=scaler,
                   model=state.get("model", "baseline"),
                   training_command=state.get("training_command", ""),
                   extra={k: v for k, v in state.items() if k not in known},
                   rest_class=state.get("rest_class", "auto"), reader=state.get("reader"))


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
