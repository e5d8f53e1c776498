"""Train a supervised baseline or a semi-supervised GAN on a windows file, into a run directory.

:func:`train` is the whole recipe behind ``exermote-sgan train`` and ``exermote-sgan compare``:

1. split the windows by subject (test subjects are touched once, at the end), hold out a
   validation split from the training subjects, and choose the labeled windows among the rest
   as a deterministic function of (windows file, test subjects, labeled fraction, unit, seed),
   so a baseline and an SGAN with the same configuration see the same labels;
2. keep the features to train on (by default the 3-axis vectors, turned by random rotations
   in training: see :func:`training_features` and :func:`rotation_degrees`) and fit a
   :class:`~exermote_sgan.data.scaler.MinMaxScaler` on the training windows only, onto the
   generator's output range;
3. train with Keras callbacks: validation accuracy/loss/macro-F1 each epoch, the best epoch by
   validation macro-F1 kept, early stopping, ``history.csv``, ``TensorBoard``, and after every
   epoch a backup that a kill at any instant cannot damage (:mod:`.backup`), from which
   ``resume`` continues exactly as the unbroken training would have;
4. write the run directory (see :mod:`exermote_sgan.runs`) plus ``history.csv``, ``split.json``,
   ``plots/``, ``tensorboard/`` and ``checkpoints/``, and evaluate on the test subjects.

The run is built in the sibling folder ``<RUN_DIR>.partial`` (where an interrupted training
waits for ``resume``) and replaces ``RUN_DIR`` only once complete, so an interrupted retrain
leaves the previous run as it was.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text, disk_full_error, ensure_writable_dir, is_disk_full
from ..errors import DiskFullError, ExermoteInputError
from ..runs import (BACKUP_DIR, BEST_WEIGHTS, CHECKPOINTS_DIR, CLASSIFIER_FILE, CONFIG_FILE,
                    HISTORY_FILE, PLOTS_DIR, SPLIT_FILE, TENSORBOARD_DIR, is_run_dir, publish,
                    staging_dir)
from . import datasets, distribute, window_source
from .config import (TrainConfig, command_line, epoch_steps, rotation_degrees,
                     training_features)
from .progress import MONITOR, keras_verbose, progress_callbacks, stop_reason


class TrainingDataWarning(UserWarning):
    """Training data that trains, but not as asked or not as one might assume."""


class LabeledFractionWarning(TrainingDataWarning):
    """The labeled windows are a very different share of the training windows than asked."""


class SingleRecordingWarning(TrainingDataWarning):
    """All training windows come from one recording, which therefore also validates."""


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    run_dir: Path
    metrics: dict | None
    history: "object"  # pandas.DataFrame, as written to history.csv
    n_labeled: int
    n_unlabeled: int
    split: dict = field(default_factory=dict)
    features: tuple[str, ...] = ()       # the features trained on
    augment_rotation: float = 0.0        # the rotation augmentation's largest angle (degrees)
    stop_reason: str = ""                # converged at epoch k, or reached the epoch cap


# -- settings that must not change when a run is resumed --------------------------------------
_RESUME_IGNORES = ("out_dir", "resume", "verbose", "epochs", "patience", "training_command")


def labeled_selection_hash(indices) -> str:
    """SHA-256 of the sorted labeled window indices: equal hashes mean the same labeled windows."""
    data = np.sort(np.asarray(indices, dtype=np.int64)).astype("<i8").tobytes()
    return hashlib.sha256(data).hexdigest()


# -- splitting ---------------------------------------------------------------------------------
def split_roles(window_set, config: TrainConfig):
    """``(fit, validation, test, labeled, unlabeled, adaptation)`` window indices of a run.

    The one split every model of a comparison shares (the networks, the forest and
    personalisation call it), so that they see the same labeled windows and test people."""
    from ..data.splits import select_labeled, subject_split, validation_split
    from ..data.windows_file import check_subjects

    check_subjects(config.test_subjects, np.unique(window_set.subjects),
                   path=config.windows_path, test=True)
    if config.test_subjects:
        train_pool, test_idx = subject_split(window_set, list(config.test_subjects))
    else:
        train_pool = np.arange(len(window_set))
        test_idx = np.array([], dtype=np.int64)
    _check_training_pool(window_set, train_pool, config)
    fit_idx, val_idx = validation_split(window_set, train_pool,
                                        fraction=config.validation_fraction, seed=config.seed)
    labeled_idx, unlabeled_idx = select_labeled(window_set, fit_idx,
                                                fraction=config.labeled_fraction,
                                                seed=config.seed, unit=config.labeled_unit)
    if len(val_idx) == 0 or len(labeled_idx) == 0:
        raise ExermoteInputError(
            f"too few training windows ({len(train_pool)}) for a validation split of "
            f"{config.validation_fraction} and {config.labeled_fraction} labeled",
            path=config.windows_path)
    _warn_about_labeled_share(config, len(labeled_idx), len(fit_idx))
    adapt_idx, test_idx = _adaptation_split(window_set, np.asarray(test_idx), config)
    return (np.asarray(fit_idx), np.asarray(val_idx), test_idx, np.asarray(labeled_idx),
            np.concatenate([np.asarray(unlabeled_idx, dtype=np.int64), adapt_idx]), adapt_idx)


def _check_training_pool(window_set, train_pool: np.ndarray, config: TrainConfig) -> None:
    """Refuse training windows of a single class; warn when they are a single recording.

    One class leaves nothing to tell apart (every figure would be perfect or meaningless).  One
    recording (one subject, one session) is validated on its own tail (see
    :func:`~exermote_sgan.data.splits.validation_split`), so the best epoch and the validation
    figures describe the recording trained on, not a new one.
    """
    present = np.unique(window_set.labels[train_pool])
    if len(present) < 2:
        only = window_set.classes[int(present[0])] if len(present) else "none"
        raise ExermoteInputError(
            f"the training windows hold one class ({only}): a classifier needs at least two; "
            "preprocess recordings that hold several exercises (or fewer test subjects)",
            path=config.windows_path, column="labels")
    sessions = np.unique(window_set.sessions[train_pool])
    if len(sessions) == 1:
        subject = int(window_set.subjects[train_pool][0])
        warnings.warn(
            f"every training window comes from one recording (subject {subject}, session "
            f"{window_set.session_name(int(sessions[0]))!r}): validation is that recording's "
            "tail, so the best epoch and validation figures describe the recording trained "
            "on, not a new one; add recordings of other sessions or subjects",
            SingleRecordingWarning, stacklevel=3)


#: the labeled share may differ from ``labeled_fraction`` by this share of it (at least 2
#: points) before train warns: whole sets can only approach a fraction (5% labels 3.5-7.5%
#: of the training windows of the real recordings), but 36% for 25% asked is another setting
LABELED_SHARE_TOLERANCE = 0.4


def _warn_about_labeled_share(config: TrainConfig, n_labeled: int, n_training: int) -> None:
    """Warn when the labeled windows are far from ``labeled_fraction`` of the training windows.

    With whole sets as the unit, every subject labels at least one set (and a set of every
    class it lacks), so a tiny fraction labels far more than asked.
    """
    asked, used = float(config.labeled_fraction), n_labeled / max(1, n_training)
    if abs(used - asked) <= max(LABELED_SHARE_TOLERANCE * asked, 0.02):
        return
    why = ("whole exercise sets are the unit, and each training subject labels at least one "
           "set, plus one of each class it still lacks" if config.labeled_unit == "sets" else
           "each class keeps at least one labeled window")
    fix = ("--labeled-unit windows labels single windows (optimistic with overlapping windows)"
           if config.labeled_unit == "sets" else "choose a larger fraction")
    warnings.warn(
        f"--labeled-fraction {asked:g} labels {used:.1%} of the training windows ({n_labeled} of "
        f"{n_training}), not {asked:.2%}: {why}; the run records the fraction actually used "
        f"(split.json n_labeled); for fewer labels, {fix}",
        LabeledFractionWarning, stacklevel=3)


def _adaptation_split(window_set, test_idx: np.ndarray, config: TrainConfig):
    """``(adapt_idx, test_idx)``: the first ``adapt_sessions`` sessions (by name) of each test
    subject become unlabeled training windows; the rest stay for the test."""
    count = int(config.adapt_sessions)
    if count == 0:
        return np.array([], dtype=np.int64), test_idx
    adapt = []
    for subject in config.test_subjects:
        own = test_idx[window_set.subjects[test_idx] == subject]
        sessions = sorted(np.unique(window_set.sessions[own]),
                          key=lambda s: (window_set.session_name(s), s))
        if len(sessions) <= count:
            raise ExermoteInputError(
                f"test subject {subject} has {len(sessions)} session(s); --adapt-sessions "
                f"{count} must leave at least one to test on", path=config.windows_path,
                option="adapt_sessions")
        adapt.append(own[np.isin(window_set.sessions[own], sessions[:count])])
    adapt_idx = np.sort(np.concatenate(adapt)).astype(np.int64)
    return adapt_idx, np.setdiff1d(test_idx, adapt_idx)


def _extra_unlabeled(config: TrainConfig, window_set) -> np.ndarray:
    """The raw windows of ``config.unlabeled_windows`` (none: an empty array), in the features
    of ``window_set``; their labels are never read."""
    if config.unlabeled_windows is None:
        return np.empty((0, window_set.timesteps, len(window_set.features)), dtype=np.float32)
    from ..data.windows_file import load_windows

    path = config.unlabeled_windows
    extra = load_windows(path)
    if extra.timesteps != window_set.timesteps:
        raise ExermoteInputError(
            f"windows of {extra.timesteps} timesteps, but the training windows have "
            f"{window_set.timesteps}; window the recordings with the same settings",
            path=path, option="unlabeled_windows")
    extra = extra.select_features(window_set.features, path=path)
    windows = extra.row_windows.gather(np.arange(len(extra))) if len(extra) else None
    if windows is None or not np.all(np.isfinite(windows)):
        raise ExermoteInputError("holds no windows or NaN/infinite values; expected unlabeled "
                                 "windows (exermote-sgan personalize writes them)",
                                 path=path, option="unlabeled_windows")
    return np.asarray(windows, dtype=np.float32)


class WithExtraWindows:
    """The file's scaled windows followed by ``extra`` (already scaled) windows, gathered as
    :class:`~exermote_sgan.training.window_source.ScaledWindows` are: position
    ``len(scaled) + i`` is ``extra[i]``."""

    def __init__(self, scaled, extra):
        self.scaled, self.extra = scaled, np.asarray(extra, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.scaled) + len(self.extra)

    @property
    def windows(self):
        """The file's row windows (the tf.data gatherer releases their pages now and then)."""
        return self.scaled.windows

    @property
    def shape(self):
        return (len(self),) + tuple(self.scaled.shape[1:])

    def gather(self, index) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        own = index < len(self.scaled)
        out = np.empty((len(index),) + tuple(self.scaled.shape[1:]), dtype=np.float32)
        if own.any():
            out[own] = self.scaled.gather(index[own])
        if not own.all():
            out[~own] = self.extra[index[~own] - len(self.scaled)]
        return out


def _subjects(window_set, index) -> list[int]:
    return sorted(int(s) for s in np.unique(window_set.subjects[index]))


def split_summary(window_set, config, fit_idx, val_idx, test_idx, labeled_idx,
                  unlabeled_idx, adapt_idx) -> dict:
    """What ``split.json`` records of a split: subjects and class counts per role, the labeled
    windows' hash and the windows file's content hash."""
    def counts(index):
        return window_set.subset(index).class_counts() if len(index) else \
            {c: 0 for c in window_set.classes}

    from ..data.windows_file import content_sha256

    return {
        "windows_path": str(Path(config.windows_path).resolve()),
        # what lets compare, export, evaluate and personalize notice a replaced file
        "windows_sha256": content_sha256(config.windows_path),
        "seed": int(config.seed),
        "labeled_fraction": float(config.labeled_fraction),
        "labeled_unit": config.labeled_unit,
        "validation_fraction": float(config.validation_fraction),
        "training_subjects": _subjects(window_set, fit_idx),
        "validation_subjects": _subjects(window_set, val_idx),
        "test_subjects": sorted(int(s) for s in config.test_subjects),
        "n_training": int(len(fit_idx)),
        "n_labeled": int(len(labeled_idx)),
        "n_unlabeled": int(len(unlabeled_idx)),
        "n_validation": int(len(val_idx)),
        "n_test": int(len(test_idx)),
        "labeled_class_counts": counts(labeled_idx),
        "validation_class_counts": counts(val_idx),
        "test_class_counts": counts(test_idx),
        "labeled_sha256": labeled_selection_hash(labeled_idx),
        "adaptation_sessions": [window_set.session_name(s)
                                for s in np.unique(window_set.sessions[adapt_idx])],
        "n_adaptation": int(len(adapt_idx)),
        "test_sessions": [window_set.session_name(s)
                          for s in np.unique(window_set.sessions[test_idx])],
    }


# -- models ------------------------------------------------------------------------------------
def build_models(config: TrainConfig, *, timesteps: int, features: int, num_classes: int,
                 model: str | None = None, feature_range=(0.0, 1.0), class_prior=None):
    """The compiled Keras model that ``train`` fits: a baseline classifier or an :class:`SGAN`.

    ``class_prior`` (the labeled windows' class frequencies) is what the SGAN's prior matching
    holds the unlabeled predictions to; unused unless ``config.prior_weight`` is set.
    """
    import keras

    from ..models.networks import build_baseline, build_discriminator, build_generator

    model = model or config.model
    trunk = dict(conv_filters=int(config.conv_filters), kernel_size=int(config.kernel_size),
                 lstm_units=int(config.lstm_units), dropout=float(config.dropout),
                 trunk=config.trunk)
    try:
        if model == "baseline":
            # under a strategy each replica takes its rows of the global batch's dropout mask
            classifier = build_baseline(timesteps, features, num_classes, **trunk,
                                        global_batch_dropout=config.distribute != "none")
            classifier.compile(
                optimizer=keras.optimizers.Adam(config.learning_rate),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                jit_compile=config.jit_compile)
            return classifier
        from .sgan import SGAN

        discriminator = build_discriminator(timesteps, features, num_classes, **trunk)
        generator = build_generator(timesteps, features, noise_dim=config.noise_dim,
                                    architecture=config.generator_architecture,
                                    conv_filters=tuple(config.generator_filters),
                                    unroll=config.generator_architecture == "lstm",
                                    output_range=tuple(feature_range))
    except ValueError as exc:
        raise ExermoteInputError(str(exc), path=config.windows_path) from None
    g_shape = tuple(generator.output_shape[1:])
    if g_shape != (timesteps, features):
        raise ExermoteInputError(
            f"the generator makes windows of {g_shape[0]} timesteps x {g_shape[1]} features, "
            f"but the windows file holds {timesteps} timesteps x {features} features",
            path=config.windows_path)
    sgan = SGAN(discriminator, generator, generator_loss=config.generator_loss,
                fake_logit=config.fake_logit, label_smoothing=config.label_smoothing,
                unsupervised_weight=config.unsupervised_weight,
                entropy_weight=config.entropy_weight, prior_weight=config.prior_weight,
                class_prior=class_prior, generated_batch_size=config.generated_batch_size,
                seed=config.seed, ema_decay=config.ema_decay)
    sgan.compile(
        d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=config.beta_1),
        g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=config.beta_1),
        jit_compile=config.jit_compile)
    return sgan


def _warm_start(sgan, config: TrainConfig, data, *, steps: int, num_classes: int) -> None:
    """Train a baseline on the labeled windows and copy it into the SGAN's discriminator.

    The SGAN then starts from a classifier that already knows the labeled sets, and its
    adversarial training refines it with the unlabeled windows.
    """
    from ..models.networks import trunk_layers

    discriminator = sgan.discriminator
    baseline = build_models(config, timesteps=sgan.timesteps, features=sgan.num_features,
                            num_classes=num_classes, model="baseline")
    baseline.fit(data, epochs=int(config.warm_start_epochs), steps_per_epoch=steps,
                 verbose=config.verbose, shuffle=False)
    for name in trunk_layers(discriminator):
        discriminator.get_layer(name).set_weights(baseline.get_layer(name).get_weights())
    kernel, bias = discriminator.get_layer("scores_logits").get_weights()
    base_kernel, base_bias = baseline.get_layer("scores").get_weights()
    kernel[:, :num_classes], bias[:num_classes] = base_kernel, base_bias
    discriminator.get_layer("scores_logits").set_weights([kernel, bias])


def _inference_classifier(trained, model: str):
    from ..models.networks import build_like, classifier_from_discriminator

    if model != "baseline":
        return classifier_from_discriminator(trained.discriminator)
    dropout = trained.get_layer("dropout")
    if type(dropout).__name__ == "Dropout":
        return trained
    # trained under a strategy with the global batch's dropout: the same weights, plain Dropout
    classifier = build_like(trained, trained.get_layer("scores").units)
    classifier.set_weights(trained.get_weights())
    return classifier


# -- callbacks ---------------------------------------------------------------------------------
def _validation_callback(windows, labels, num_classes: int, *, model: str, batch_size: int):
    import keras
    from sklearn.metrics import f1_score

    class ValidationMetrics(keras.callbacks.Callback):
        """Adds ``val_loss``, ``val_accuracy`` and ``val_macro_f1`` to each epoch's logs."""

        def on_epoch_end(self, epoch, logs=None):
            averaged = bool(getattr(self.model, "averaged_weights", None))
            if averaged:  # validate (and so checkpoint) the moving average
                self.model.swap_averaged_weights()
            try:
                outputs = np.asarray(self.model.predict(windows, batch_size=max(batch_size, 256),
                                                        verbose=0), dtype=np.float64)
            finally:
                if averaged:
                    self.model.swap_averaged_weights()
            if model == "sgan":  # K real-class logits -> probabilities
                outputs = np.exp(outputs - outputs.max(axis=1, keepdims=True))
                outputs /= outputs.sum(axis=1, keepdims=True)
            predicted = outputs.argmax(axis=1)
            picked = np.clip(outputs[np.arange(len(labels)), labels], 1e-7, 1.0)
            if logs is not None:
                logs["val_loss"] = float(-np.mean(np.log(picked)))
                logs["val_accuracy"] = float(np.mean(predicted == labels))
                logs["val_macro_f1"] = float(f1_score(labels, predicted,
                                                      labels=list(range(num_classes)),
                                                      average="macro", zero_division=0))

    return ValidationMetrics()


# -- the run directory -------------------------------------------------------------------------
def can_resume(out_dir) -> bool:
    """Whether an interrupted training of ``out_dir`` can be continued.

    It can when its staging folder holds the saved settings and either a completed backup or
    no finished classifier: a kill before the first backup was complete (even while it was
    written, after ``history.csv`` listed the epoch) resumes from epoch 0, which repeats the
    unbroken training exactly since everything is seeded.
    """
    staging = staging_dir(out_dir)
    if not (staging / CHECKPOINTS_DIR / CONFIG_FILE).is_file():
        return False
    return not (staging / CLASSIFIER_FILE).exists() or _has_backup(out_dir)


def _has_backup(out_dir) -> bool:
    """Whether the staging folder of ``out_dir`` holds a completed epoch's backup."""
    from .backup import latest_backup

    return latest_backup(staging_dir(out_dir) / CHECKPOINTS_DIR / BACKUP_DIR) is not None


def _check_run_dir(config: TrainConfig) -> None:
    """Refuse an output folder a run must not replace, before any work is done."""
    out = Path(config.out_dir)
    staging_dir(out)
    if config.resume:
        if not can_resume(out):
            raise ExermoteInputError(
                f"nothing to resume: no interrupted training of this run directory (its "
                f"unfinished copy {staging_dir(out).name} is missing or already finished); "
                "train without --resume", path=out)
        return
    if out.exists() and not out.is_dir():
        raise ExermoteInputError("is a file; choose a folder for the run directory", path=out,
                                 option="out_dir")
    if out.is_dir() and not is_run_dir(out):
        raise ExermoteInputError(
            "exists and is not a run directory (no preprocessing.json, classifier.keras, "
            "metrics.json or history.csv): a new run would replace everything in it; choose a "
            "new or empty folder", path=out, option="out_dir")


def check_before_training(config: TrainConfig) -> None:
    """The checks :func:`train` makes before any work, without TensorFlow or a write: the
    options, the windows files, the test subjects and the run directory (for a caller that
    says "loading TensorFlow" only once they pass)."""
    from ..data.windows_file import check_subjects, read_subjects

    config.validate()
    present = read_subjects(config.windows_path)
    if config.unlabeled_windows is not None:
        read_subjects(config.unlabeled_windows)
    check_subjects(config.test_subjects, present, path=config.windows_path, test=True)
    _check_run_dir(config)


def _prepare_run_dir(config: TrainConfig) -> Path:
    """The staging folder the run is built in (see :func:`staging_dir`), ready to write."""
    staging = staging_dir(config.out_dir)
    saved_config = staging / CHECKPOINTS_DIR / CONFIG_FILE
    if config.resume:
        try:
            previous = json.loads(saved_config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ExermoteInputError(f"cannot read the saved training configuration ({exc})",
                                     path=saved_config) from None
        current = config.to_dict()
        # a setting newer than the interrupted run was at its default there
        defaults = TrainConfig(windows_path=config.windows_path).to_dict()
        changed = sorted(k for k in current if k not in _RESUME_IGNORES
                         and previous.get(k, defaults.get(k)) != current[k])
        if changed:
            raise ExermoteInputError(
                "cannot resume with different settings: " + ", ".join(
                    f"{k} was {previous.get(k)!r}, now {current[k]!r}" for k in changed),
                path=saved_config)
        return staging
    ensure_writable_dir(staging.parent)
    if staging.exists():  # an earlier unfinished run of this directory: a fresh run starts over
        shutil.rmtree(staging)
    ensure_writable_dir(staging / CHECKPOINTS_DIR)
    atomic_write_text(saved_config, json.dumps(config.to_dict(), indent=2) + "\n")
    return staging


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy, Keras and TensorFlow, and make TensorFlow's ops deterministic, so
    that a run (or its resumption) is repeatable from its seed."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def train(config: TrainConfig, *, callbacks=()) -> TrainResult:
    """Train the model ``config`` describes; write and return its run directory and metrics.

    ``callbacks`` are extra Keras callbacks appended after the package's own (tests use one to
    interrupt training).  A full disk is reported as one :class:`ExermoteInputError`; the
    unfinished run is kept for ``resume`` when it has a completed epoch, else removed.
    """
    from ..errors import require

    require(config, TrainConfig, option="config", fix="pass TrainConfig(windows_path=..., "
            "...) (TrainConfig(**options) for a dict)")
    config.validate()
    # before TensorFlow runs anything: a multi-worker strategy must be made first
    strategy = distribute.make_strategy(config)
    config = distribute.for_this_worker(config, strategy)
    _check_run_dir(config)
    try:
        return _train(config, callbacks, strategy)
    except BaseException as exc:
        staging = staging_dir(config.out_dir)
        # worth keeping with a completed epoch (a kill, without this handler, keeps it anyway)
        resumable = staging.exists() and can_resume(config.out_dir) and \
            _has_backup(config.out_dir)
        if not resumable and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)  # nothing in it worth keeping
        if isinstance(exc, DiskFullError) or (isinstance(exc, Exception)
                                              and is_disk_full(exc)):
            fix = (f"free some space and continue with --resume (the completed epochs are kept "
                   f"in {staging})" if resumable else
                   "free some space (or choose another disk) and run the command again")
            raise disk_full_error(config.out_dir, fix=fix) from None
        raise


def _provenance(split: dict, rotation: float):
    """The run's :class:`~exermote_sgan.runs.Provenance`, from its ``split.json``."""
    from ..runs import Provenance

    return Provenance(
        windows_path=split["windows_path"], windows_sha256=split["windows_sha256"],
        test_subjects=tuple(split["test_subjects"]),
        training_subjects=tuple(split["training_subjects"]),
        validation_subjects=tuple(split["validation_subjects"]),
        labeled_fraction=split["labeled_fraction"], labeled_unit=split["labeled_unit"],
        seed=split["seed"], augment_rotation=float(rotation),
        labeled_sha256=split["labeled_sha256"],
        adaptation_sessions=tuple(split["adaptation_sessions"]),
        unlabeled_windows=split["unlabeled_windows"])


# -- the recipe ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Split:
    """Which windows play which part (indices into the windows file), the user's extra
    unlabeled windows (raw), and the summary written to ``split.json``."""

    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray
    labeled: np.ndarray
    unlabeled: np.ndarray
    adapt: np.ndarray
    extra: np.ndarray
    summary: dict


@dataclass(frozen=True)
class _Checkpoints:
    """The callbacks that keep the run's state on disk: best weights, early stopping, history
    and the per-epoch backup that ``resume`` continues from."""

    folder: Path
    best_path: Path
    history_file: object
    best: object
    early_stopping: object
    backup: object


def _train(config: TrainConfig, callbacks, strategy=None) -> TrainResult:
    """The trainer's recipe, one step per line: windows, split, scaler, model, run folder,
    input stream and callbacks, fit, then the run evaluated, written and published."""
    window_set, rotation = _training_windows(config)
    split = _split_windows(window_set, config)
    set_determinism(config.seed)
    scaler = _fit_scaler(config, window_set, split)
    trained = _build_model(config, window_set, scaler, split, strategy)
    run_dir = _prepare_run_dir(config)  # every check passed: now the staging folder changes
    scaled = window_source.ScaledWindows(window_set.row_windows, scaler)  # gathered per batch
    weights, steps, augment = _batch_settings(config, window_set, split, scaler, rotation)
    state = _checkpoints(run_dir, config)
    start_epoch, stopped = _resume(trained, state) if config.resume else (0, False)
    labeled = (split.labeled, window_set.labels[split.labeled], weights)
    if not start_epoch and config.model == "sgan" and config.warm_start_epochs:
        _warm_start(trained, config, window_source.baseline_dataset(
            scaled, *labeled, batch_size=config.batch_size, seed=config.seed,
            augment=augment), steps=steps, num_classes=window_set.num_classes)
    # the input streams start at the first step of the first epoch still to train
    data = _training_stream(config, scaled, scaler, split, labeled, augment,
                            start_step=start_epoch * steps)
    own_callbacks = _own_callbacks(config, run_dir, state, scaled, window_set, split)
    distribute.prepare_fit(trained, data, strategy)
    if not stopped and start_epoch < config.resolved_epochs:
        trained.fit(data, epochs=config.resolved_epochs, initial_epoch=start_epoch,
                    steps_per_epoch=steps,
                    callbacks=own_callbacks + progress_callbacks(config.verbose) + list(callbacks),
                    verbose=keras_verbose(config.verbose), shuffle=False)
    return _finish_run(config, run_dir, trained, state.best_path, window_set, scaler, scaled,
                       split, rotation)


def _training_windows(config: TrainConfig):
    """``(window_set, rotation)``: the windows file's windows in the features trained on, and
    the rotation augmentation's largest angle; bad windows or options stop here."""
    from ..data.windows_file import load_windows

    window_set = load_windows(config.windows_path)
    if not window_source.rows_are_finite(window_set.row_windows):
        raise ExermoteInputError("windows contain NaN or infinite values",
                                 path=config.windows_path, column="windows")
    window_set = window_set.select_features(training_features(config, window_set.features),
                                            path=config.windows_path)
    rotation = rotation_degrees(config, window_set.features)
    if rotation and not datasets.vector_groups(window_set.features):
        raise ExermoteInputError(
            f"augment_rotation needs 3-axis vector features, three names that differ only in an "
            f"x, y, z (xGravity, acc_x_g); "
            f"the features trained on are {', '.join(window_set.features)}",
            path=config.windows_path, option="augment_rotation")
    return window_set, rotation


def _split_windows(window_set, config: TrainConfig) -> _Split:
    """The windows split by role (see :func:`split_roles`) with the extra unlabeled windows and the
    summary that ``split.json`` records."""
    fit_idx, val_idx, test_idx, labeled_idx, unlabeled_idx, adapt_idx = split_roles(
        window_set, config)
    extra = _extra_unlabeled(config, window_set)
    summary = split_summary(window_set, config, fit_idx, val_idx, test_idx, labeled_idx,
                            unlabeled_idx, adapt_idx)
    summary["unlabeled_windows"] = (None if config.unlabeled_windows is None
                                    else str(Path(config.unlabeled_windows).resolve()))
    summary["n_extra_unlabeled"] = int(len(extra))
    return _Split(fit=fit_idx, val=val_idx, test=test_idx, labeled=labeled_idx,
                  unlabeled=unlabeled_idx, adapt=adapt_idx, extra=extra, summary=summary)


def _fit_scaler(config: TrainConfig, window_set, split: _Split):
    """The input scaler, fitted on the rows of the training windows only, streamed: no window
    is gathered."""
    from ..data.scaler import MinMaxScaler

    return window_source.fit_scaler_on_rows(
        MinMaxScaler(feature_range=(0.0, 1.0), quantile=config.scaler_quantile),
        window_set.row_windows.take(split.fit))


def _build_model(config: TrainConfig, window_set, scaler, split: _Split, strategy):
    """The model to train (see :func:`build_models`), its variables mirrored on every replica
    of ``strategy``; the SGAN's class prior is the labeled windows' class counts."""
    num_classes = window_set.num_classes
    with distribute.strategy_scope(strategy):
        return build_models(config, timesteps=window_set.timesteps,
                            features=len(window_set.features), num_classes=num_classes,
                            feature_range=scaler.feature_range,
                            class_prior=np.bincount(window_set.labels[split.labeled],
                                                    minlength=num_classes))


def _batch_settings(config: TrainConfig, window_set, split: _Split, scaler, rotation):
    """``(weights, steps, augment)``: the labeled windows' balancing weights, the batches per
    epoch the data allows, and the amplitude and rotation augmentation of each batch."""
    labels = window_set.labels[split.labeled]
    class_weights = datasets.balanced_class_weights(labels, window_set.num_classes)
    steps = epoch_steps(config, len(split.fit), window_set.timesteps)  # the data's budget
    augment = datasets.chain_augmenters(
        datasets.amplitude_augmenter(scaler.offset_, scale=config.augment_scale,
                                     seed=config.seed),
        datasets.rotation_augmenter(scaler.scale_, scaler.offset_, window_set.features,
                                    max_degrees=rotation, seed=config.seed + 1))
    return class_weights[labels], steps, augment


def _checkpoints(run_dir: Path, config: TrainConfig) -> _Checkpoints:
    """The callbacks that keep the best weights, early stopping's counters, ``history.csv``
    and the per-epoch backup in ``run_dir``'s checkpoints folder."""
    from .backup import BestWeights, HistoryFile, ResumableEarlyStopping, TrainingBackup

    folder = run_dir / CHECKPOINTS_DIR
    best_path = folder / BEST_WEIGHTS
    history_file = HistoryFile(run_dir / HISTORY_FILE)
    best = BestWeights(best_path, monitor=MONITOR)
    early_stopping = ResumableEarlyStopping(monitor=MONITOR, mode="max",
                                            patience=config.resolved_patience)
    backup = TrainingBackup(folder / BACKUP_DIR, best_path=best_path,
                            parts={"history": history_file, "best": best,
                                   "early_stopping": early_stopping})
    return _Checkpoints(folder=folder, best_path=best_path, history_file=history_file,
                        best=best, early_stopping=early_stopping, backup=backup)


def _resume(trained, state: _Checkpoints):
    """``(start_epoch, stopped)`` from the newest complete backup: weights, optimizers,
    history and counters restored; ``(0, False)`` when killed before the first backup."""
    from .backup import has_generations, restore_weights

    folder = state.folder / BACKUP_DIR
    if getattr(trained, "optimizer", None) is not None and not trained.optimizer.built:
        trained.optimizer.build(trained.trainable_variables)
    restored = restore_weights(trained, folder)
    if restored is not None:
        state.backup.restore(restored)
        return restored.epoch, bool(restored.state.get("stopped"))
    if has_generations(folder):
        raise ExermoteInputError("cannot resume: no backup in this folder could be read; "
                                 "train again without --resume", path=folder)
    state.backup.restart()  # killed before the first backup was complete: as never begun
    return 0, False


def _training_stream(config: TrainConfig, scaled, scaler, split: _Split, labeled, augment, *,
                     start_step: int):
    """The batches to fit on from ``start_step``: labeled windows for the baseline; for the
    SGAN also the unlabeled pool (training and adaptation windows, then the user's extra)."""
    if config.model == "baseline":
        return window_source.baseline_dataset(scaled, *labeled, batch_size=config.batch_size,
                                              seed=config.seed, augment=augment,
                                              start_step=start_step)
    pool, source = np.concatenate([split.fit, split.adapt]), scaled
    if len(split.extra):  # the user's windows follow the file's, at positions len(scaled)...
        source = WithExtraWindows(scaled, scaler.transform(split.extra))
        pool = np.concatenate([pool, len(scaled) + np.arange(len(split.extra))])
    return window_source.sgan_dataset(source, *labeled, pool, batch_size=config.batch_size,
                                      seed=config.seed, augment=augment, start_step=start_step)


def _own_callbacks(config: TrainConfig, run_dir: Path, state: _Checkpoints, scaled,
                   window_set, split: _Split) -> list:
    """The package's callbacks in order (the backup, last of them, records what the others
    did): epoch seeds, validation metrics, checkpoints, then TensorBoard when installed."""
    from .backup import EpochSeeds

    own_callbacks = [
        EpochSeeds(config.seed),
        _validation_callback(window_source.prediction_dataset(
                                 scaled, split.val, batch_size=max(config.batch_size, 256)),
                             window_set.labels[split.val], window_set.num_classes,
                             model=config.model, batch_size=config.batch_size),
        state.best, state.early_stopping, state.history_file, state.backup,
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        import keras

        own_callbacks.append(keras.callbacks.TensorBoard(
            str(run_dir / TENSORBOARD_DIR), write_graph=False, profile_batch=0))
    else:
        warnings.warn("the tensorboard package is not installed: no TensorBoard logs "
                      f"in {run_dir / TENSORBOARD_DIR} (pip install tensorboard)", stacklevel=3)
    return own_callbacks


def _finish_run(config: TrainConfig, run_dir: Path, trained, best_path: Path, window_set,
                scaler, scaled, split: _Split, rotation) -> TrainResult:
    """The best epoch's classifier evaluated on the test subjects, the run written (model,
    preprocessing, metrics, ``split.json``, plots) and published in place of the old one."""
    import pandas as pd

    from ..runs import Preprocessing, save_run

    if best_path.is_file():
        trained.load_weights(str(best_path))
    if getattr(trained, "averaged_weights", None):
        trained.swap_averaged_weights()  # the classifier is the moving average
    classifier = _inference_classifier(trained, config.model)
    preprocessing = Preprocessing(
        classes=window_set.classes, features=window_set.features,
        timesteps=window_set.timesteps, label_offset=window_set.label_offset,
        sample_rate_hz=window_set.sample_rate_hz, scaler=scaler, model=config.model,
        training_command=config.training_command or command_line(config),
        rest_class=window_set.rest_class, reader=window_set.reader,
        provenance=_provenance(split.summary, rotation))
    metrics = None
    if len(split.test):
        from .evaluation import evaluate_classifier

        # the test windows only: sessions lent to the unlabeled pool are not scored
        metrics = evaluate_classifier(classifier, preprocessing, window_set.subset(split.test),
                                      subjects=list(config.test_subjects),
                                      path=config.windows_path)
    save_run(run_dir, classifier, preprocessing, metrics=metrics)
    atomic_write_text(run_dir / SPLIT_FILE, json.dumps(split.summary, indent=2) + "\n")

    history = pd.read_csv(run_dir / HISTORY_FILE)
    _plot(run_dir, config, history, trained, window_set, scaled, split.fit)
    run_dir = publish(run_dir, config.out_dir)  # the complete run replaces the old one
    return TrainResult(run_dir=run_dir, metrics=metrics, history=history,
                       n_labeled=len(split.labeled), n_unlabeled=len(split.unlabeled),
                       split=split.summary, features=tuple(window_set.features),
                       augment_rotation=rotation,
                       stop_reason=stop_reason(history, cap=config.resolved_epochs,
                                               patience=config.resolved_patience))


def _plot(run_dir: Path, config: TrainConfig, history, trained, window_set, scaled,
          fit_idx) -> None:
    from .plots import plot_generated_vs_real, plot_history

    plots = ensure_writable_dir(run_dir / PLOTS_DIR)
    plot_history({config.model: history}, plots / "history.png")
    if config.model == "sgan":
        rng = np.random.default_rng(config.seed)
        real_by_class = {}
        for k, name in enumerate(window_set.classes):
            members = fit_idx[window_set.labels[fit_idx] == k]
            if len(members):
                real_by_class[name] = scaled[rng.choice(members, min(4, len(members)),
                                                        replace=False)]
        plot_generated_vs_real(real_by_class, trained.generate(4, seed=config.seed),
                               window_set.features, plots / "generated_vs_real.png",
                               sample_rate_hz=window_set.sample_rate_hz)
