"""The settings of a training run: :class:`TrainConfig`, its checks and its command line.

Kept apart from :mod:`~exermote_sgan.training.train_lib` (the recipe that runs a config) so the
``train`` and ``compare`` commands can build and check a config, and print the equivalent
command, without loading TensorFlow.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import ExermoteInputError
from ..models.spec import TRUNKS
from . import datasets


MODELS = ("baseline", "sgan")
LABELED_UNITS = ("sets", "windows")
#: the SGAN generator's objective: Salimans et al.'s feature matching, the original's
#: "fool the valid head", or both
GENERATOR_LOSSES = ("feature_matching", "adversarial", "both")
#: the discriminator's fake-class logit: fixed at 0 (Salimans et al.) or a learned output
FAKE_LOGITS = ("zero", "learned")
GENERATOR_ARCHITECTURES = ("conv", "lstm")
#: the cap on epochs per model: a safety net, not the budget.  Training ends when the
#: validation macro-F1 has not improved for the patience below (the best epoch's weights are
#: kept); the cap is set far above where the runs measured converged, so that on ordinary data
#: it never binds (``train`` says which of the two ended a run).  It was 30, which the
#: smartwatch data hit while still improving.
DEFAULT_EPOCHS = {"baseline": 150, "sgan": 150}
#: epochs without a better validation macro-F1 before training stops, per model
DEFAULT_PATIENCE = {"baseline": 8, "sgan": 10}
#: samples (window steps) one epoch reads at most, unless ``steps_per_epoch`` says otherwise:
#: an epoch is one pass over the training windows, but no more than this many windows x
#: timesteps.  1.2 million is 300 batches of 100 Exermote windows of 40 steps (a pass over its
#: training windows at stride 2 is 297 batches, so its epochs are unchanged); 100 Hz windows
#: of one second read at most 120 batches, so an epoch's time stays bounded however many
#: windows (stride) or samples per window (rate) a file has, and early stopping is checked as
#: often on a large file as on a small one.
EPOCH_SAMPLES = 1_200_000
#: ``TrainConfig.features`` besides a list of names: the 3-axis vectors when there are any
#: ("auto", the default), or every feature of the windows file ("all")
FEATURE_CHOICES = ("auto", "all")
#: rotation augmentation when the training features hold 3-axis vectors and none is asked for:
#: any angle, i.e. any way of wearing the phone.  Chosen on individuals 1-3 (train on two, test
#: on the third; mean macro-F1 0.720 without, 0.753 at 30, 0.803 at 60, 0.767 at 90, 0.826 at
#: 180 degrees), never on individual 4.
AUTO_ROTATION_DEGREES = 180.0


@dataclass
class TrainConfig:
    """Everything that determines a training run; the defaults are the recommended settings."""

    windows_path: Path
    model: str = "sgan"
    out_dir: Path = Path("run")
    test_subjects: tuple[int, ...] = ()
    # "auto": the 3-axis vector features (all features when there are none); "all"; or names
    features: str | tuple[str, ...] = "auto"
    labeled_fraction: float = 1.0
    labeled_unit: str = "sets"
    # per test subject, this many sessions (the first by name) join the SGAN's unlabeled pool
    # without labels, as a new user's own recordings would; the test metrics cover the others
    adapt_sessions: int = 0
    # a second windows file whose windows join the SGAN's unlabeled pool, labels unread (a new
    # user's own recordings: see exermote_sgan.personalization.personalize); a baseline ignores them
    unlabeled_windows: Path | None = None
    epochs: int | None = None
    batch_size: int = 100
    seed: int = 0
    resume: bool = False
    verbose: int = 1
    # -- validation, model selection ---------------------------------------------------------
    validation_fraction: float = 0.15
    patience: int | None = None
    steps_per_epoch: int | None = None
    # -- input scaling: the training rows' q and 1-q quantiles map onto [0, 1], so that a few
    # spikes do not squeeze ordinary movement; 0 is the original's min and max (MinMaxScaler).
    # 0.01, with the pool trunk and kernel 7 below: the one candidate of the inner-fold search
    # (benchmarks/defaults_inner.py, docs/results.md) that beat the previous defaults on the
    # inner folds of BOTH datasets in ../shared (macro-F1 seeds 0-2: Exermote 0.835 vs 0.780,
    # watch 0.800 vs 0.730); no outer test person took part in the choice.
    scaler_quantile: float = 0.01
    # -- the classifier's trunk (baseline and discriminator) --------------------------------
    # 64 convolution filters, twice the original's: with rotation augmentation the network
    # must learn movements in any orientation.  Chosen on individuals 1-3 held out in turn,
    # never scored on individual 4: the baseline with all labels (seeds 0-2) reached a mean
    # macro-F1 of 0.840 against 0.824 with 32, better in 7 of 9 runs; the SGAN with 5% labels
    # (seeds 0-1) 0.818 against 0.809.  64 LSTM units as well gave 0.843 (6 of 9) and would
    # no longer fit the Exermote app's .mlmodel.
    conv_filters: int = 64
    kernel_size: int = 7                 # was 3: the inner-fold search above (pool k3 lost)
    lstm_units: int = 32                 # the Exermote app's .mlmodel passes states of 32
    # "multiscale": two pool trunks side by side, convolutions of width kernel_size and 3,
    # each pooled by mean and maximum over the window.  It beat "pool" (kernel 7) on the inner
    # folds of BOTH datasets (macro-F1 seeds 0-2: Exermote 0.839 vs 0.835, watch 0.834 vs
    # 0.800), where each dataset alone wanted another width (watch 3, Exermote 7);
    # "pool": one width; "lstm": the original's two LSTMs, which the Exermote app's drop-in
    # .mlmodel needs (train with --trunk lstm for that model; export says so otherwise)
    trunk: str = "multiscale"
    dropout: float = 0.2
    # -- optimisation ----------------------------------------------------------------------
    learning_rate: float = 1e-3          # baseline (Adam)
    # SGAN discriminator and generator (Adam, beta_1 below).  The original's 2e-4 learned the
    # classes too slowly here: 1e-3 gave a better validation macro-F1 (0.795 vs 0.748 at 5%
    # labels, 15 epochs, seed 0) -- see the experiment in benchmarks/sgan_vs_baseline.py.
    d_learning_rate: float = 1e-3
    g_learning_rate: float = 1e-3
    beta_1: float = 0.5                  # SGAN optimizers, as in the original
    # -- SGAN ------------------------------------------------------------------------------
    generator_loss: str = "feature_matching"
    fake_logit: str = "zero"
    label_smoothing: float = 0.1
    unsupervised_weight: float = 1.0
    entropy_weight: float = 0.0
    prior_weight: float = 0.0              # keep the unlabeled class mix at the labeled one
    generated_batch_size: int | None = None
    noise_dim: int = 100
    warm_start_epochs: int = 0             # supervised epochs of the discriminator first
    augment_scale: float = 0.0             # random amplitude factor in [1-s, 1+s] per window
    # random rotation of the 3-axis vectors, in degrees; None: AUTO_ROTATION_DEGREES when the
    # training features hold vectors, else 0 (see rotation_degrees)
    augment_rotation: float | None = None
    generator_architecture: str = "conv"   # "conv" (fast) or "lstm" (the original's)
    generator_filters: tuple[int, int] = (64, 32)
    ema_decay: float = 0.0                 # moving average of the discriminator's weights
    # -- execution -------------------------------------------------------------------------
    jit_compile: bool = False             # XLA on CPU was measured slower for these models
    # tf.distribute: "none", "mirrored" (the GPUs of this machine) or "multi-worker" (TF_CONFIG);
    # batch_size stays the global batch (training/distribute.py)
    distribute: str = "none"
    training_command: str = ""

    def __post_init__(self):
        _check_types(self)  # a wrong type is one ExermoteInputError, not a TypeError later
        self.windows_path = Path(self.windows_path)
        self.out_dir = Path(self.out_dir)
        if self.unlabeled_windows is not None:
            self.unlabeled_windows = Path(self.unlabeled_windows)
        self.test_subjects = tuple(int(s) for s in self.test_subjects)
        if not isinstance(self.features, str):
            self.features = tuple(str(f) for f in self.features)
        self.generator_filters = tuple(int(f) for f in self.generator_filters)

    @property
    def resolved_epochs(self) -> int:
        return DEFAULT_EPOCHS[self.model] if self.epochs is None else int(self.epochs)

    @property
    def resolved_patience(self) -> int:
        return DEFAULT_PATIENCE[self.model] if self.patience is None else int(self.patience)

    def validate(self) -> None:
        """Raise :class:`ExermoteInputError` for any option out of its range."""
        def bad(option, message):
            raise ExermoteInputError(message, option=option)

        if self.model not in MODELS:
            bad("model", f"must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.labeled_unit not in LABELED_UNITS:
            bad("labeled_unit", f"must be one of {', '.join(LABELED_UNITS)}, "
                                f"got {self.labeled_unit!r}")
        if not 0.0 < float(self.labeled_fraction) <= 1.0:
            bad("labeled_fraction", f"must be in (0, 1], got {self.labeled_fraction}")
        if not 0.0 <= float(self.scaler_quantile) < 0.5:
            bad("scaler_quantile", f"must be in [0, 0.5), e.g. 0.01, got {self.scaler_quantile}")
        if not 0.0 < float(self.validation_fraction) < 1.0:
            bad("validation_fraction", f"must be in (0, 1), got {self.validation_fraction}")
        if int(self.adapt_sessions) < 0:
            bad("adapt_sessions", f"must be >= 0, got {self.adapt_sessions}")
        if int(self.adapt_sessions) and not self.test_subjects:
            bad("adapt_sessions", "needs test subjects: it lends some of their sessions, "
                                  "without labels, to the unlabeled pool")
        for name in ("epochs", "patience", "steps_per_epoch", "generated_batch_size",
                     "conv_filters", "kernel_size", "lstm_units"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                bad(name, f"must be at least 1, got {value}")
        if self.trunk not in TRUNKS:
            bad("trunk", f"must be one of {', '.join(TRUNKS)}, got {self.trunk!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            bad("dropout", f"must be in [0, 1), got {self.dropout}")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            bad("ema_decay", f"must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= float(self.augment_scale) < 1.0:
            bad("augment_scale", f"must be in [0, 1), got {self.augment_scale}")
        if (self.augment_rotation is not None
                and not 0.0 <= float(self.augment_rotation) <= 180.0):
            bad("augment_rotation", f"must be in [0, 180] degrees, got {self.augment_rotation}")
        if isinstance(self.features, str) and self.features not in FEATURE_CHOICES:
            bad("features", f"must be {' or '.join(FEATURE_CHOICES)} or a list of feature "
                            f"names, got {self.features!r}")
        if not isinstance(self.features, str) and (
                not self.features or len(set(self.features)) != len(self.features)):
            bad("features", f"must name distinct features, got {list(self.features)}")
        if int(self.warm_start_epochs) < 0:
            bad("warm_start_epochs", f"must be >= 0, got {self.warm_start_epochs}")
        if int(self.batch_size) < 2:
            bad("batch_size", f"must be at least 2, got {self.batch_size}")
        if self.generated_batch_size is not None and int(self.generated_batch_size) < 2:
            bad("generated_batch_size", f"must be at least 2, got {self.generated_batch_size}")
        if int(self.noise_dim) < 1:
            bad("noise_dim", f"must be at least 1, got {self.noise_dim}")
        for name in ("learning_rate", "d_learning_rate", "g_learning_rate"):
            if not float(getattr(self, name)) > 0:
                bad(name, f"must be positive, got {getattr(self, name)}")
        if not 0.0 <= float(self.beta_1) < 1.0:
            bad("beta_1", f"must be in [0, 1), got {self.beta_1}")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            bad("label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        for name in ("unsupervised_weight", "entropy_weight", "prior_weight"):
            if float(getattr(self, name)) < 0:
                bad(name, f"must be >= 0, got {getattr(self, name)}")
        if self.generator_loss not in GENERATOR_LOSSES:
            bad("generator_loss", f"must be one of {', '.join(GENERATOR_LOSSES)}, "
                                  f"got {self.generator_loss!r}")
        if self.fake_logit not in FAKE_LOGITS:
            bad("fake_logit", f"must be one of {', '.join(FAKE_LOGITS)}, got {self.fake_logit!r}")
        if self.generator_architecture not in GENERATOR_ARCHITECTURES:
            bad("generator_architecture", f"must be one of {', '.join(GENERATOR_ARCHITECTURES)}, "
                                          f"got {self.generator_architecture!r}")
        if len(self.generator_filters) != 2 or min(self.generator_filters) < 1:
            bad("generator_filters", "must be two positive numbers of filters, "
                                     f"got {self.generator_filters}")
        from .distribute import check_config

        check_config(self)
        if len(set(self.test_subjects)) != len(self.test_subjects):
            bad("test_subjects", f"lists a subject twice: {list(self.test_subjects)}")
        if not 0 <= int(self.seed) < 2 ** 32:
            bad("seed", f"must be a whole number in [0, 2**32), e.g. 0, got {self.seed}")

    def to_dict(self) -> dict:
        state = asdict(self)
        state["windows_path"] = str(Path(self.windows_path).resolve())
        state["out_dir"] = str(self.out_dir)
        state["unlabeled_windows"] = (None if self.unlabeled_windows is None
                                      else str(Path(self.unlabeled_windows).resolve()))
        state["test_subjects"] = list(self.test_subjects)
        if not isinstance(self.features, str):
            state["features"] = list(self.features)
        state["generator_filters"] = list(self.generator_filters)
        return state


def epoch_steps(config: TrainConfig, n_windows: int, timesteps: int) -> int:
    """Batches per epoch for ``n_windows`` training windows of ``timesteps`` steps.

    One pass over the windows, at most :data:`EPOCH_SAMPLES` samples (at least one batch); an
    explicit ``config.steps_per_epoch`` caps the pass instead.  The budget thus follows the
    data: its windows (how many, at what stride) and its rate (steps per window).
    """
    limit = config.steps_per_epoch
    if limit is None:
        limit = max(1, EPOCH_SAMPLES // (int(config.batch_size) * max(1, int(timesteps))))
    return datasets.steps_per_epoch(n_windows, config.batch_size, limit=limit)


#: TrainConfig's fields by the type they take (the others are checked by validate())
_WHOLE = ("epochs", "batch_size", "seed", "verbose", "patience", "steps_per_epoch",
          "conv_filters", "kernel_size", "lstm_units", "generated_batch_size", "noise_dim",
          "warm_start_epochs", "adapt_sessions")
_REAL = ("labeled_fraction", "validation_fraction", "scaler_quantile", "dropout",
         "learning_rate", "d_learning_rate", "g_learning_rate", "beta_1", "label_smoothing",
         "unsupervised_weight", "entropy_weight", "prior_weight", "augment_scale",
         "augment_rotation", "ema_decay")
_CHOICE = ("model", "labeled_unit", "trunk", "generator_loss", "fake_logit",
           "generator_architecture", "distribute")


def _is_whole(value) -> bool:
    import numbers

    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())


def _check_types(config: TrainConfig) -> None:
    """Refuse a field of the wrong type (``epochs=1.5``, ``test_subjects=3``) by name.

    Whole numbers given as floats (``epochs=2.0``) become ints; an optional field (default
    None) may stay None.
    """
    import math
    import numbers

    from ..errors import wrong_type

    for name in _WHOLE:
        value = getattr(config, name)
        if value is None and name in ("epochs", "patience", "steps_per_epoch",
                                      "generated_batch_size"):
            continue
        if not _is_whole(value):
            raise wrong_type(name, value, "a whole number", f"for example {name}=2")
        setattr(config, name, int(value))
    for name in _REAL:
        value = getattr(config, name)
        if value is None and name == "augment_rotation":
            continue
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not math.isfinite(value)):
            raise wrong_type(name, value, "a finite number")
    for name in _CHOICE:
        if not isinstance(getattr(config, name), str):
            raise wrong_type(name, getattr(config, name), "a string",
                             "see TrainConfig's documentation for the choices")
    for name in ("windows_path", "out_dir", "unlabeled_windows"):
        value = getattr(config, name)
        if not isinstance(value, (str, os.PathLike)) and not (
                value is None and name == "unlabeled_windows"):
            raise wrong_type(name, value, "a path (str or pathlib.Path)")
    for name in ("test_subjects", "generator_filters"):
        value = getattr(config, name)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or not all(
                _is_whole(v) for v in value):
            raise wrong_type(name, value, "a list of whole numbers",
                             f"for example {name}=[3]" if name == "test_subjects" else "")
    for name in ("resume", "jit_compile"):
        if not isinstance(getattr(config, name), bool):
            raise wrong_type(name, getattr(config, name), "True or False")
    features = config.features
    if not isinstance(features, str) and (not hasattr(features, "__iter__") or not all(
            isinstance(f, str) for f in features)):
        raise wrong_type("features", features, "'auto', 'all' or a list of feature names")


def command_line(config: TrainConfig) -> str:
    """An ``exermote-sgan train`` command equivalent to ``config`` (options that differ from
    the defaults only)."""
    defaults = TrainConfig(windows_path=config.windows_path)
    words = ["exermote-sgan", "train", str(config.windows_path), "--model", config.model,
             "--out", str(config.out_dir)]
    if config.test_subjects:
        words += ["--test-subjects", *map(str, config.test_subjects)]
    for f in fields(TrainConfig):
        if f.name in ("windows_path", "model", "out_dir", "test_subjects", "training_command",
                      "verbose"):
            continue
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name == "features" and not isinstance(value, str):
            words += [flag, ",".join(value)]
        elif isinstance(value, bool):
            if value:
                words.append(flag)
        elif isinstance(value, (tuple, list)):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


# -- features and augmentation -----------------------------------------------------------------
def training_features(config: TrainConfig, available) -> tuple[str, ...]:
    """The features a run trains on, among the windows file's ``available`` ones.

    ``"auto"`` keeps the 3-axis vectors (``xGravity``, ``yGravity``, ``zGravity``: gravity, user
    acceleration and rotation rate for Core Motion), in the file's order, and drops the rest
    (pitch, roll and yaw describe how the phone is held, which rotation augmentation cannot
    change consistently); without vectors it keeps every feature.  Measured on leave-one-
    person-out folds, the nine vectors with rotation beat the 12 features without it for every
    held-out person (README, "Results").  Names the file lacks are reported by the caller.

    That choice is made only for the Core Motion features (:func:`is_core_motion`); for any
    other recordings ``"auto"`` keeps every feature, since what a feature means is not known.
    """
    available = tuple(available)
    if config.features == "all":
        return available
    if config.features == "auto":
        if not is_core_motion(available):
            return available
        columns = sorted(i for group in datasets.vector_groups(available) for i in group)
        return tuple(available[i] for i in columns) if columns else available
    return tuple(config.features)


def is_core_motion(features) -> bool:
    """Whether every feature is one of the Exermote (Core Motion device motion) features."""
    from ..recordings.schema import EXERMOTE_FEATURES

    return bool(tuple(features)) and set(features) <= set(EXERMOTE_FEATURES)


def rotation_degrees(config: TrainConfig, features) -> float:
    """The rotation augmentation's largest angle for a run on ``features`` (0: none).

    The rule: rotation is on by default (:data:`AUTO_ROTATION_DEGREES`) only when the
    features are Core Motion device-frame vectors (the Exermote names, :func:`is_core_motion`),
    for which it was chosen on validation people.  Anything else gets none unless asked for
    (``augment_rotation``): a feature named ``x...`` need not be an axis at all, and how far a
    device turns depends on where it is worn.  On the smartwatch recordings, across people,
    rotations of up to 60 degrees gained 4 points of accuracy and any angle (180) nothing
    (examples/watch/README.md).
    """
    if config.augment_rotation is not None:
        return float(config.augment_rotation)
    if not is_core_motion(features):
        return 0.0
    return AUTO_ROTATION_DEGREES if datasets.vector_groups(features) else 0.0
