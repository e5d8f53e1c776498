"""Personalise a trained run to a new user from their own unlabeled recordings.

An app has a new user's recordings but never their labels.  :func:`personalize` takes a run
written by ``exermote-sgan train`` (its ``checkpoints/train_config.json`` names the windows file
and every setting) and the user's recordings, windows the recordings exactly as the run's
windows were cut (timesteps, stride, label offset, sampling rate, gap rules), and trains the
SGAN again with the run's labeled windows and settings, the user's windows joining its unlabeled
pool.  Labels in the recordings, if any, are never read.  The result is an ordinary run
directory: ``evaluate``, ``export`` and ``predict`` accept it.

Why retrain rather than fine-tune: on individual 4 the SGAN given the person's own unlabeled
first day beat the baseline on their second day by 4.1 points of macro-F1 at 5% labels and by
6.7 with all labels (README, "Results"); ``benchmarks/personalize.py`` measures it for every
person and on the watch data (docs/personalize.md).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from ..errors import ExermoteInputError
from ..runs import (CHECKPOINTS_DIR, CONFIG_FILE, PERSONAL_WINDOWS_FILE, PERSONALIZE_FILE,
                    PREPROCESSING_FILE, SPLIT_FILE)


FORMATS = ("exermote", "generic")
#: how a run can be personalised (see :func:`personalize`)
METHODS = ("self-training", "scaler", "sgan")
#: the method chosen on validation people (docs/personalize.md, "How the default was chosen")
DEFAULT_METHOD = "self-training"
#: self-training's settings when not given: those of the variant that lost least to the general
#: model on the Exermote validation folds (docs/personalize.md, "How the default was chosen")
SELF_TRAINING_DEFAULTS = {"threshold": 0.9, "class_share": 1.0, "rounds": 1, "smooth_s": 2.0,
                          "adapt_scaler": False, "user_share": 0.25, "learning_rate": 1e-4,
                          "epochs": 5, "steps_per_epoch": 50}
_PLACEHOLDER_SUBJECT = -1  # the new user is none of the training subjects
_UNLABELED = "unlabeled"  # the one placeholder class of the user's windows


@dataclass
class PersonalizeResult:
    """What :func:`personalize` produced: the training result and the user's windows."""

    train: object          # exermote_sgan.training.train_lib.TrainResult
    run_dir: Path
    n_windows: int         # the user's windows
    recordings: list[str]
    method: str = "sgan"
    details: dict = field(default_factory=dict)  # what the method did (personalize.json)


def _is_ensemble(run_dir: Path) -> bool:
    """Whether the run was written by ``exermote-sgan ensemble`` (its preprocessing.json says)."""
    from ..runs import PREPROCESSING_FILE, read_json_object

    try:
        return "ensemble_of" in read_json_object(run_dir / PREPROCESSING_FILE)
    except ExermoteInputError:
        return False


def run_config(run_dir):
    """The :class:`~exermote_sgan.training.config.TrainConfig` a run was trained with.

    Settings a newer or older package added are dropped with a fall-back to the defaults.
    """
    from ..training.config import TrainConfig

    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINTS_DIR / CONFIG_FILE
    if not run_dir.is_dir():
        raise ExermoteInputError("no such run directory (train one with 'exermote-sgan "
                                 "train')", path=run_dir)
    if not path.is_file():
        if _is_ensemble(run_dir):
            raise ExermoteInputError("an ensemble (written by 'exermote-sgan ensemble') is not "
                                     "personalised as a whole; personalise each of its members "
                                     "(ensemble_of in its preprocessing.json) and combine "
                                     "those", path=run_dir)
        raise ExermoteInputError(f"not a run written by 'exermote-sgan train': its "
                                 f"{CHECKPOINTS_DIR}/{CONFIG_FILE} is missing", path=run_dir)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExermoteInputError(f"cannot read the run's training configuration ({exc}); "
                                 "retrain the run", path=path) from None
    known = {f.name for f in fields(TrainConfig)}
    if not isinstance(saved, dict) or "windows_path" not in saved:
        raise ExermoteInputError("not a training configuration (no windows_path); retrain the "
                                 "run", path=path)
    try:
        return TrainConfig(**{k: v for k, v in saved.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise ExermoteInputError(f"invalid training configuration ({exc}); retrain the run",
                                 path=path) from None


def _read_unlabeled(path: Path, *, input_format: str, columns, reader: dict):
    """The recordings of one file with their timestamps and features (labels never used),
    read through the data layer's reader registry in its mode for recordings to recognise:
    files may lack the label and subject columns."""
    from ..recordings.pipeline import check_value_range
    from ..recordings.readers import read_recording_file
    from ..recordings.schema import TIMESTAMP_COLUMN

    generic = input_format == "generic"
    found = read_recording_file(
        path, format=input_format, columns=columns, for_prediction=True,
        duplicate_timestamps=(reader.get("duplicate_timestamps") or "refuse") if generic
        else "refuse")
    found = [check_value_range(r, max_abs_value=reader.get("max_abs_value", 1e6),
                               policy=reader.get("out_of_range", "refuse"))[0] for r in found]
    return ([replace(r, subject=_PLACEHOLDER_SUBJECT, labels=np.full(len(r), _UNLABELED),
                     sub_labels=None) for r in found],
            columns.timestamp if generic else TIMESTAMP_COLUMN)


def read_unlabeled_windows(recordings, *, features, timesteps: int, stride: int,
                           label_offset: int, sample_rate_hz: float, format: str | None = None,
                           columns=None, reader: dict | None = None):
    """Window a user's recordings (files or folders of CSVs) like a run's windows, unlabeled.

    ``reader`` is the run's record of how its recordings were read (the windows file's
    ``reader``: format, columns, gap and value limits, rate tolerance, resampling); ``format``
    ("exermote" or "generic") and ``columns`` (a
    :class:`~exermote_sgan.recordings.readers.ColumnSpec`) override it, and without either the
    Exermote format is read.  Label and subject columns may be absent, and their values are
    ignored when present.  Gaps and sampling rate are handled as ``preprocess`` does (short
    gaps interpolated, long ones split the session, a rate off by more than the tolerance is
    an error unless the run resampled).  Returns a
    :class:`~exermote_sgan.data.windows_file.WindowSet` whose labels are placeholders (0) and
    whose subject is -1.
    """
    from ..recordings.cleaning import check_sampling_rate, clean_recording
    from ..recordings.readers import ColumnSpec, find_csv_files
    from ..recordings.windowing import cut_windows

    reader = dict(reader or {})
    if columns is None and reader.get("columns"):
        columns = ColumnSpec(**reader["columns"])
    input_format = format or (
        "generic" if columns is not None and reader.get("format") != "exermote"
        else reader.get("format", "exermote"))
    if input_format not in FORMATS:
        raise ExermoteInputError(f"must be one of {', '.join(FORMATS)}, got {input_format!r}",
                                 option="format")
    if input_format == "generic" and not isinstance(columns, ColumnSpec):
        raise ExermoteInputError("the generic format needs the run's columns file (the one "
                                 "'preprocess --columns-file' read)", option="columns_file")
    max_gap = int(reader.get("max_gap", 3))
    rate_tolerance = float(reader.get("rate_tolerance", 0.2))
    resample = bool(reader.get("resample", False))
    features = tuple(features)
    files = find_csv_files(recordings)
    segments, session_names = [], []
    for path in files:
        found, time_column = _read_unlabeled(Path(path), input_format=input_format,
                                             columns=columns, reader=reader)
        for recording in found:
            missing = [f for f in features if f not in recording.features]
            if missing:
                raise ExermoteInputError(
                    f"has no feature {missing[0]!r}, which the run trains on (it reads "
                    f"{', '.join(features)})", path=path, column=missing[0])
            keep = [recording.features.index(f) for f in features]
            recording = replace(recording, features=features, values=recording.values[:, keep])
            rate = check_sampling_rate(recording.timestamps, expected_rate_hz=sample_rate_hz,
                                       strict=False)
            if not resample and abs(rate.rate_hz - sample_rate_hz) > \
                    rate_tolerance * sample_rate_hz:
                raise ExermoteInputError(
                    f"recorded at {rate.rate_hz:.3g} Hz, but the run's windows are at "
                    f"{sample_rate_hz:g} Hz; record (or resample) the user's data at "
                    f"{sample_rate_hz:g} Hz", path=path, column=time_column)
            pieces, _report = clean_recording(
                recording, session=len(session_names), classes=(_UNLABELED,),
                label_map={}, squat_rule=False, max_gap=max_gap,
                expected_rate_hz=sample_rate_hz, rate_tolerance=rate_tolerance,
                resample=resample, min_rows=timesteps, timestamp_column=time_column,
                max_pause_s=reader.get("max_pause_seconds"))
            if not pieces:
                raise ExermoteInputError(
                    f"session {recording.session_name!r} has no stretch of {timesteps} rows "
                    "without a long gap; record at least one window's worth", path=path)
            segments.extend(pieces)
            session_names.append(recording.session_name)
    window_set = cut_windows(segments, classes=(_UNLABELED,), features=features,
                             timesteps=timesteps, stride=stride, label_offset=label_offset,
                             sample_rate_hz=sample_rate_hz, session_names=session_names)
    return window_set, [str(f) for f in files]


def _strings(value) -> tuple[str, ...]:
    """An HDF5 attribute (text or bytes, one value or many) as a tuple of ``str``."""
    return tuple(x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(value))


def _windows_attributes(path: Path):
    """The window settings (and reader settings, when recorded) of a windows file, read
    without its windows."""
    import h5py

    from ..data.windows_file import check_exists

    check_exists(path)
    names = ("features", "timesteps", "stride", "label_offset", "sample_rate_hz", "classes")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: f.attrs[k] for k in names + ("reader",) if k in f.attrs}
    except OSError as exc:
        raise ExermoteInputError(f"cannot read as HDF5 ({exc})", path=path) from None
    if not set(names) <= set(attrs):
        raise ExermoteInputError("not a windows file (its window settings are missing); "
                                 "re-create it with 'exermote-sgan preprocess'", path=path)
    reader = None
    if "reader" in attrs:
        try:
            reader = json.loads(_strings(attrs["reader"])[0])
        except json.JSONDecodeError as exc:
            raise ExermoteInputError(f"its reader settings are not JSON ({exc}); re-create "
                                     "it with 'exermote-sgan preprocess'", path=path) from None
    return {"features": _strings(attrs["features"]), "classes": _strings(attrs["classes"]),
            "timesteps": int(attrs["timesteps"]), "stride": int(attrs["stride"]),
            "label_offset": int(attrs["label_offset"]),
            "sample_rate_hz": float(attrs["sample_rate_hz"]), "reader": reader}


def _check_run_windows(run_dir, windows_path: Path) -> None:
    """Refuse a windows file that is not the one the run trained on (replaced since, or
    another file): personalising recovers the run's labeled windows from it."""
    from ..runs import check_windows_unchanged, load_run

    if not (Path(run_dir) / PREPROCESSING_FILE).is_file():
        return  # reported where the run is loaded, after the checks of the user's input
    provenance = load_run(run_dir, load_classifier=False).preprocessing.provenance
    check_windows_unchanged(run_dir, provenance, windows_path, require_same=True,
                            fix="pass the file it was trained on (--windows FILE), or retrain "
                                "the run on this one and personalise that")


def _repoint(run_dir: Path, moves: dict[str, str]) -> None:
    """Rewrite the paths ``moves`` maps (old prefix -> new) in the run's JSON records."""
    from ..atomic import atomic_write_text

    def moved(value):
        if isinstance(value, str):
            for old, new in moves.items():
                if value == old or value.startswith(old + "/"):
                    return new + value[len(old):]
            return value
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value

    for name in (PREPROCESSING_FILE, SPLIT_FILE, f"{CHECKPOINTS_DIR}/{CONFIG_FILE}"):
        path = run_dir / name
        if path.is_file():
            state = json.loads(path.read_text(encoding="utf-8"))
            atomic_write_text(path, json.dumps(moved(state), indent=2) + "\n")


def _default_format(features) -> str:
    """The recordings' format for a windows file that does not record it: Exermote when every
    feature is an Exermote feature, else the caller must say."""
    from ..training.config import is_core_motion

    if is_core_motion(features):
        return "exermote"
    raise ExermoteInputError(
        "the run's windows file does not record how its recordings were read and its "
        "features are not Exermote features; pass --format generic --columns-file FILE (the "
        "columns file the run's recordings were preprocessed with)", option="format")


#: the options each method takes
_OPTIONS = {"self-training": ("threshold", "class_share", "rounds", "smooth_s", "adapt_scaler",
                              "user_share", "learning_rate", "epochs", "steps_per_epoch"),
            "scaler": (), "sgan": ("epochs", "steps_per_epoch")}


def _check_options(method, *, threshold, class_share, rounds, smooth_s, adapt_scaler,
                   user_share, learning_rate, epochs, steps_per_epoch) -> dict:
    """The method's settings, defaults filled in; one-line errors naming a bad option."""
    if method not in METHODS:
        raise ExermoteInputError(f"must be one of {', '.join(METHODS)}, got {method!r}",
                                 option="method")
    given = {"threshold": threshold, "class_share": class_share, "rounds": rounds,
             "smooth_s": smooth_s, "adapt_scaler": adapt_scaler, "user_share": user_share,
             "learning_rate": learning_rate, "epochs": epochs,
             "steps_per_epoch": steps_per_epoch}
    applies = _OPTIONS[method]
    for name, value in given.items():
        if value is not None and name not in applies:
            users = [m for m in METHODS if name in _OPTIONS[m]]
            raise ExermoteInputError(f"does not apply to method {method!r}, only to "
                                     f"{' and '.join(users)}; drop it or choose that method",
                                     option=name)
    settings = {k: v for k, v in given.items() if k in applies}
    if method != "self-training":
        return settings
    settings = {k: SELF_TRAINING_DEFAULTS[k] if v is None else v for k, v in settings.items()}

    def number(name, kind, low, high=None, *, low_open=False):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (kind is int and not float(value).is_integer()):
            raise ExermoteInputError(f"must be {'an integer' if kind is int else 'a number'}, "
                                     f"got {value!r}", option=name)
        value = kind(value)
        if (value <= low if low_open else value < low) or (high is not None and value > high):
            bounds = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high else "")
            raise ExermoteInputError(f"must be {bounds}, got {value!r}", option=name)
        settings[name] = value

    number("threshold", float, 0.0, 1.0)
    number("class_share", float, 0.0, 1.0, low_open=True)
    number("rounds", int, 1, 10)
    number("smooth_s", float, 0.0)
    number("user_share", float, 0.0, 1.0, low_open=True)
    if settings["user_share"] >= 1.0:
        raise ExermoteInputError("must be below 1 (the run's labeled windows keep a share of "
                                 f"each batch), got {settings['user_share']!r}",
                                 option="user_share")
    if settings["learning_rate"] is not None:
        number("learning_rate", float, 0.0, low_open=True)
    number("epochs", int, 1)
    number("steps_per_epoch", int, 1)
    if not isinstance(settings["adapt_scaler"], bool):
        raise ExermoteInputError(f"must be True or False, got {settings['adapt_scaler']!r}",
                                 option="adapt_scaler")
    return settings


@dataclass(frozen=True)
class _Request:
    """One personalisation's checked inputs, grouped: what :func:`personalize`'s options
    resolve to once the run, its windows file and the output folder have been checked."""

    run_dir: object          # as given: the general run
    out: Path                # the personalised run to write
    method: str
    settings: dict           # the method's settings (:func:`_check_options`)
    config: object           # the run's TrainConfig, pointed at ``out``, overrides applied
    windows_path: Path       # the run's windows file
    attrs: dict              # its windowing (:func:`_windows_attributes`)
    features: tuple          # the features the run trained on
    format: str | None       # the format asked for (None: as the windows file records)
    input_format: str | None  # the format the recordings are read in (None: as recorded)
    columns: object          # a ColumnSpec overriding the recorded columns, or None
    verbose: int


def personalize(run_dir, recordings, *, out, method: str = DEFAULT_METHOD,
                threshold: float | None = None, class_share: float | None = None,
                rounds: int | None = None,
                smooth_s: float | None = None, adapt_scaler: bool | None = None,
                user_share: float | None = None, learning_rate: float | None = None,
                windows=None, format: str | None = None, columns=None,
                epochs: int | None = None, steps_per_epoch: int | None = None,
                seed: int | None = None, verbose: int = 0,
                training_command: str = "") -> PersonalizeResult:
    """Personalise the run ``run_dir`` to the user who made ``recordings``; write it to ``out``.

    ``run_dir`` is a run written by ``exermote-sgan train`` (baseline or SGAN); its windows
    file (``windows``, when it moved) provides the labeled windows, its settings everything
    else.  ``recordings`` are CSV files or folders of them, read as the run's recordings were
    (the windows file's reader settings; ``format``, "exermote" or "generic", and ``columns``,
    a :class:`~exermote_sgan.recordings.readers.ColumnSpec`, override them, e.g. for windows files
    from before they were recorded).  Their labels are never read.

    ``method`` (see docs/personalize.md for what each measured):

    - ``"self-training"`` (the default): the run's classifier labels the user's windows, the
      confident ones (smoothed top probability over ``smooth_s`` seconds >= ``threshold``,
      and at most the ``class_share`` most confident of each predicted class) keep their
      class and the classifier is fine-tuned from its weights for ``epochs`` x
      ``steps_per_epoch`` batches at ``learning_rate`` on the run's labeled windows plus
      them (``user_share`` of each batch), ``rounds`` times (each round relabels with the
      last model and fine-tunes the run's classifier again);
      ``adapt_scaler`` also gives the user the scaler of ``"scaler"``;
    - ``"scaler"``: the run's classifier unchanged, with a scaler that gives the user's rows
      the training rows' per-feature mean and sd (no training);
    - ``"sgan"``: the SGAN trained again from scratch with the run's settings and labeled
      windows, the user's windows in its unlabeled pool (``epochs``, ``steps_per_epoch``
      override the run's).

    ``seed`` overrides the run's.  ``out`` must be a new or empty directory; it receives a
    normal run directory (``evaluate``, ``export`` and ``predict`` accept it; the user's
    scaler, when adapted, is its scaler) plus ``personal_windows.h5`` (the user's windows)
    and ``personalize.json``, complete or not at all.  Nothing is written when an input is
    bad.
    """
    settings = _check_options(method, threshold=threshold, class_share=class_share,
                              rounds=rounds, smooth_s=smooth_s,
                              adapt_scaler=adapt_scaler, user_share=user_share,
                              learning_rate=learning_rate, epochs=epochs,
                              steps_per_epoch=steps_per_epoch)
    request = _request(run_dir, recordings, out=out, method=method, settings=settings,
                       windows=windows, format=format, columns=columns, seed=seed,
                       verbose=verbose, training_command=training_command)
    attrs = request.attrs
    personal, files = read_unlabeled_windows(
        recordings, features=request.features, timesteps=attrs["timesteps"],
        stride=attrs["stride"], label_offset=attrs["label_offset"],
        sample_rate_hz=attrs["sample_rate_hz"], format=request.input_format,
        columns=request.columns, reader=attrs["reader"])
    if len(personal) == 0:
        raise ExermoteInputError("the recordings hold no full window; record longer",
                                 option="recordings")
    result, details = _write_personal_run(request, personal, files)
    out = request.out
    split = json.loads((out / SPLIT_FILE).read_text(encoding="utf-8"))
    return PersonalizeResult(train=replace(result, run_dir=out, split=split), run_dir=out,
                             n_windows=len(personal), recordings=files, method=method,
                             details=details)


def _request(run_dir, recordings, *, out, method: str, settings: dict, windows, format,
             columns, seed, verbose: int, training_command: str) -> _Request:
    """Check the run, its windows file, the output folder and the options (in that order,
    before anything is read or written) and resolve them into one :class:`_Request`."""
    from ..recordings.readers import ColumnSpec
    from ..errors import as_path, as_sequence
    from ..training.config import training_features

    if not isinstance(recordings, (str, Path)):
        as_sequence(recordings, option="recordings", example="['user_recordings/']")
    config = run_config(as_path(run_dir, option="run_dir"))
    out = _checked_out(as_path(out, option="out"), run_dir)
    windows_path = Path(windows) if windows is not None else Path(config.windows_path)
    if not windows_path.is_file():
        raise ExermoteInputError(
            "the run's windows file is missing; personalising needs the labeled windows the "
            "run trained on (pass windows=/--windows with its new place)", path=windows_path)
    if columns is not None and not isinstance(columns, ColumnSpec):
        raise ExermoteInputError("must be a ColumnSpec "
                                 "(exermote_sgan.recordings.readers.ColumnSpec)",
                                 option="columns")
    _check_run_windows(run_dir, windows_path)
    attrs = _windows_attributes(windows_path)
    trained_features = training_features(config, attrs["features"])
    input_format = format
    if format is None and columns is None and attrs["reader"] is None:
        input_format = _default_format(trained_features)  # a windows file from before readers
    overrides = {"seed": seed} if seed is not None else {}
    if method == "sgan":
        overrides.update({k: settings[k] for k in ("epochs", "steps_per_epoch")
                          if settings.get(k) is not None})
    config = replace(config, windows_path=windows_path, out_dir=out, resume=False,
                     verbose=int(verbose), training_command=training_command, **overrides)
    if method == "sgan":
        config = replace(config, model="sgan")
    config.validate()
    return _Request(run_dir=run_dir, out=out, method=method, settings=settings, config=config,
                    windows_path=windows_path, attrs=attrs, features=trained_features,
                    format=format, input_format=input_format, columns=columns,
                    verbose=int(verbose))


def _checked_out(out: Path, run_dir) -> Path:
    """``out``, refused when it is the run itself, a file, or a non-empty folder: a
    personalised run never writes over another run."""
    if out.resolve() == Path(run_dir).resolve():
        raise ExermoteInputError("is the run being personalised; give a new directory so the "
                                 "general run is kept", option="out", path=out)
    if out.exists() and not out.is_dir():
        raise ExermoteInputError("exists and is not a directory; give a new directory",
                                 option="out", path=out)
    if out.is_dir() and any(out.iterdir()):
        raise ExermoteInputError("is not empty; give a new directory (a personalised run is "
                                 "never written over another)", option="out", path=out)
    return out


def _write_personal_run(request: _Request, personal, files: list[str]):
    """Build the personalised run aside (the user's windows, the method's run,
    ``personalize.json``) and move it into place whole: it is complete or absent.
    Returns ``(TrainResult, details)``."""
    import tempfile

    from ..atomic import ensure_writable_dir, replace_directory
    from ..data.windows_file import save_windows

    final = request.out.absolute()
    ensure_writable_dir(final.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".personalize",
                                 dir=final.parent))
    try:
        staged_windows = work / PERSONAL_WINDOWS_FILE
        save_windows(staged_windows, personal)
        built = work / "run"
        if request.method == "sgan":
            from ..training.train_lib import train

            result = train(replace(request.config, out_dir=built,
                                   unlabeled_windows=staged_windows))
            details = {}
        else:
            from .user_run import adapt_run

            result, details = adapt_run(request.run_dir, request.config, personal,
                                        out_dir=built, final_dir=final, method=request.method,
                                        settings=request.settings, verbose=request.verbose)
        staged_windows.rename(built / PERSONAL_WINDOWS_FILE)
        _repoint(built, {str(staged_windows.resolve()): str(final / PERSONAL_WINDOWS_FILE),
                         str(staged_windows): str(final / PERSONAL_WINDOWS_FILE),
                         str(built.resolve()): str(final), str(built): str(final)})
        _write_personalize_json(built, request, personal, files, details)
        replace_directory(built, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result, details


def _write_personalize_json(built: Path, request: _Request, personal, files: list[str],
                            details: dict) -> None:
    """``personalize.json``: where the personalised run came from, what was read and how the
    method adapted it."""
    from ..atomic import atomic_write_text

    method = request.method
    atomic_write_text(built / PERSONALIZE_FILE, json.dumps({
        "from_run": str(Path(request.run_dir).resolve()),
        "windows_path": str(request.windows_path.resolve()),
        "recordings": files,
        "format": request.format or (request.attrs["reader"] or {}).get("format", "exermote"),
        "personal_windows": PERSONAL_WINDOWS_FILE,
        "n_personal_windows": int(len(personal)),
        "personal_sessions": list(personal.session_names),
        "labels": "not read: the recordings' label columns, if any, are ignored",
        "method": method,
        "settings": request.settings,
        "model": "sgan" if method == "sgan" else "the run's classifier, adapted",
        "seed": int(request.config.seed),
        **details,
    }, indent=2) + "\n")
