"""``exermote-sgan train``: train a baseline or an SGAN on a windows file into a run directory.

A thin flag parser: it builds a :class:`~exermote_sgan.training.config.TrainConfig` and calls
:func:`~exermote_sgan.training.train_lib.train`; every default is the recommended setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..training.config import (DEFAULT_EPOCHS, EPOCH_SAMPLES, FAKE_LOGITS,
                               GENERATOR_ARCHITECTURES, GENERATOR_LOSSES, LABELED_UNITS, MODELS,
                               TRUNKS, TrainConfig)
from ..training.distribute import DISTRIBUTE_MODES

#: every option's default, taken from TrainConfig (which imports no TensorFlow, so ``--help``
#: stays fast)
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING}


def parse_features(text: str):
    """``--features``: auto, all, or comma-separated names."""
    if text in ("auto", "all"):
        return text
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected auto, all or comma-separated feature "
                                         f"names, got {text!r}")
    return names


def parse_rotation(text: str):
    """``--augment-rotation``: auto or a number of degrees."""
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or degrees, got {text!r}") from None


NETWORK_OPTIONS = ("trunk", "conv_filters", "kernel_size", "lstm_units", "dropout")


def add_network_arguments(parser) -> None:
    """``--trunk``, ``--conv-filters``, ``--kernel-size``, ``--lstm-units``, ``--dropout``
    (NETWORK_OPTIONS)."""
    d = DEFAULTS
    network = parser.add_argument_group(
        "network (baseline and discriminator alike)")
    network.add_argument("--trunk", choices=TRUNKS, default=d["trunk"],
                         help="after the two convolutions: lstm = two LSTMs, as the original "
                              "(needed by the Exermote app's .mlmodel); pool = the mean and "
                              "the maximum over the window, which carried over to new people "
                              "better on the smartwatch example; multiscale = that pooling "
                              "of two convolution branches, widths --kernel-size and 3, side "
                              f"by side (default: {d['trunk']})")
    network.add_argument("--conv-filters", type=int, default=d["conv_filters"], metavar="N",
                         help=f"filters of each of the two convolutions (default: "
                              f"{d['conv_filters']}; the original Exermote model had 32)")
    network.add_argument("--kernel-size", type=int, default=d["kernel_size"], metavar="N",
                         help=f"width of the convolutions, in timesteps (default: "
                              f"{d['kernel_size']})")
    network.add_argument("--lstm-units", type=int, default=d["lstm_units"], metavar="N",
                         help="units of each of the two LSTMs; the Exermote app's .mlmodel "
                              f"interface needs {d['lstm_units']} (default: {d['lstm_units']})")
    network.add_argument("--dropout", type=float, default=d["dropout"], metavar="P",
                         help=f"dropout rate before the heads (default: {d['dropout']})")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """The ``train`` subcommand: the run's options, the network's, then the tuning options."""
    parser = subparsers.add_parser(
        "train", help="train a supervised baseline or a semi-supervised GAN",
        description="Train a supervised baseline or a semi-supervised GAN (SGAN) on a windows "
                    "file. Test subjects are held out and evaluated once at the end; a "
                    "validation split of the training subjects selects the best epoch (by "
                    "macro-F1) and stops training early. Writes RUN_DIR/classifier.keras, "
                    "preprocessing.json, metrics.json (with test subjects), history.csv, "
                    "split.json, plots/, tensorboard/ and checkpoints/.")
    _add_run_arguments(parser)
    add_network_arguments(parser)
    tuning = parser.add_argument_group("tuning (the defaults are the recommended settings)")
    _add_optimiser_tuning(tuning)
    _add_sgan_tuning(tuning)
    _add_data_tuning(tuning)
    parser.set_defaults(run=run)
    return parser


def _add_run_arguments(parser) -> None:
    """What to train, on which windows, where to, and for how long: the options most runs set."""
    d = DEFAULTS
    parser.add_argument("windows", metavar="WINDOWS.h5",
                        help="windows file written by 'exermote-sgan preprocess'")
    parser.add_argument("--model", choices=MODELS, default=d["model"],
                        help="baseline: supervised classifier on the labeled windows; sgan: "
                             "semi-supervised GAN that also learns from the unlabeled ones "
                             f"(default: {d['model']})")
    parser.add_argument("--out", metavar="RUN_DIR", default="run",
                        help="run directory to write (default: ./run)")
    parser.add_argument("--test-subjects", type=int, nargs="+", default=(), metavar="ID",
                        help="subjects held out for the final test (default: none; every "
                             "subject trains and no metrics.json is written)")
    parser.add_argument("--features", type=parse_features, default=d["features"],
                        metavar="auto|all|A,B,...",
                        help="features of the windows file to train on: auto = for the Core "
                             "Motion features their 3-axis vectors (gravity, user acceleration, "
                             "rotation rate; not pitch, roll, yaw), for any other recordings "
                             "every feature; all = every feature; or the names, "
                             "comma-separated (default: auto)")
    parser.add_argument("--labeled-fraction", type=float, default=d["labeled_fraction"],
                        metavar="F", help="fraction of the training windows whose labels are "
                                          f"used, in (0, 1] (default: {d['labeled_fraction']})")
    parser.add_argument("--labeled-unit", choices=LABELED_UNITS, default=d["labeled_unit"],
                        help="label whole exercise sets (realistic) or random windows "
                             f"(optimistic with overlapping windows) (default: "
                             f"{d['labeled_unit']})")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="cap on the epochs, one epoch being one pass over the "
                             f"training windows (at most {EPOCH_SAMPLES:,} samples); early "
                             "stopping on the validation macro-F1 ends training before it "
                             f"(default: {DEFAULT_EPOCHS['sgan']} for both models)")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="B",
                        help=f"windows per batch (default: {d['batch_size']})")
    parser.add_argument("--seed", type=int, default=d["seed"],
                        help="seed of the splits, the labeled selection, the initial weights "
                             f"and the noise; same seed, same result (default: {d['seed']})")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted training of RUN_DIR (kept in "
                             "RUN_DIR.partial until it completes) from its last completed "
                             "epoch, with the result an unbroken training would have given "
                             "(same settings required; --epochs and --patience may change)")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress output")


def _add_optimiser_tuning(tuning) -> None:
    """Model selection, the training budget, input scaling and the optimisers."""
    d = DEFAULTS
    tuning.add_argument("--validation-fraction", type=float, default=d["validation_fraction"],
                        metavar="F", help="share of the training subjects' windows held out "
                                          "(as whole sessions) for model selection (default: "
                                          f"{d['validation_fraction']})")
    tuning.add_argument("--patience", type=int, default=None, metavar="N",
                        help="epochs without a better validation macro-F1 before stopping "
                             "(default: 8 for the baseline, 10 for the SGAN)")
    tuning.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                        help="cap on the batches per epoch (default: one pass over the "
                             f"training windows, at most {EPOCH_SAMPLES:,} samples)")
    tuning.add_argument("--scaler-quantile", type=float, default=d["scaler_quantile"],
                        metavar="Q", help="map the training rows' Q and 1-Q quantiles onto the "
                                          "network's input range instead of their min and max, "
                                          "e.g. 0.01 for recordings with spikes (default: "
                                          f"{d['scaler_quantile']}, min and max)")
    tuning.add_argument("--learning-rate", type=float, default=d["learning_rate"],
                        metavar="LR", help="baseline Adam learning rate (default: "
                                           f"{d['learning_rate']})")
    tuning.add_argument("--d-learning-rate", type=float, default=d["d_learning_rate"],
                        metavar="LR", help="SGAN discriminator Adam learning rate (default: "
                                           f"{d['d_learning_rate']})")
    tuning.add_argument("--g-learning-rate", type=float, default=d["g_learning_rate"],
                        metavar="LR", help="SGAN generator Adam learning rate (default: "
                                           f"{d['g_learning_rate']})")
    tuning.add_argument("--beta-1", type=float, default=d["beta_1"],
                        help=f"SGAN Adam beta_1 (default: {d['beta_1']})")


def _add_sgan_tuning(tuning) -> None:
    """The SGAN's objective and generator."""
    d = DEFAULTS
    tuning.add_argument("--generator-loss", choices=GENERATOR_LOSSES,
                        default=d["generator_loss"],
                        help="feature_matching (Salimans et al. 2016), adversarial (fool the "
                             "valid head, the original's) or both (default: "
                             f"{d['generator_loss']})")
    tuning.add_argument("--fake-logit", choices=FAKE_LOGITS, default=d["fake_logit"],
                        help="fix the fake class's logit at 0 (Salimans et al.) or learn it "
                             f"(default: {d['fake_logit']})")
    tuning.add_argument("--label-smoothing", type=float, default=d["label_smoothing"],
                        help="one-sided label smoothing of the valid head on real windows "
                             f"(default: {d['label_smoothing']})")
    tuning.add_argument("--unsupervised-weight", type=float, default=d["unsupervised_weight"],
                        metavar="W", help="weight of the real/fake terms in the "
                                          "discriminator's loss (default: "
                                          f"{d['unsupervised_weight']})")
    tuning.add_argument("--entropy-weight", type=float, default=d["entropy_weight"],
                        metavar="W", help="weight of entropy minimisation on unlabeled windows "
                                          f"(default: {d['entropy_weight']})")
    tuning.add_argument("--prior-weight", type=float, default=d["prior_weight"], metavar="W",
                        help="weight of prior matching: keeps the class mix predicted on a "
                             "batch of unlabeled windows at the labeled windows' class "
                             f"frequencies (default: {d['prior_weight']})")
    tuning.add_argument("--generated-batch-size", type=int, default=None, metavar="N",
                        help="windows generated per SGAN step (default: the batch size)")
    tuning.add_argument("--noise-dim", type=int, default=d["noise_dim"], metavar="N",
                        help=f"generator noise size (default: {d['noise_dim']})")
    tuning.add_argument("--generator-architecture", choices=GENERATOR_ARCHITECTURES,
                        default=d["generator_architecture"],
                        help="conv: small convolutional generator (an SGAN step costs "
                             "3.4-3.9x a baseline step); lstm: the original Exermote LSTM "
                             "generator (15x; benchmarks/train_step.py) "
                             f"(default: {d['generator_architecture']})")
    tuning.add_argument("--generator-filters", type=int, nargs=2,
                        default=list(d["generator_filters"]), metavar=("N1", "N2"),
                        help="filters of the generator's two convolution blocks (default: "
                             f"{d['generator_filters'][0]} {d['generator_filters'][1]})")
    tuning.add_argument("--warm-start-epochs", type=int, default=d["warm_start_epochs"],
                        metavar="N", help="train the SGAN's discriminator as a supervised "
                                          "classifier for N epochs before the adversarial "
                                          f"training (default: {d['warm_start_epochs']})")


def _add_data_tuning(tuning) -> None:
    """Augmentation, extra unlabeled windows, weight averaging and where training runs."""
    d = DEFAULTS
    tuning.add_argument("--augment-scale", type=float, default=d["augment_scale"], metavar="S",
                        help="multiply each training window's raw values by a random factor "
                             f"in [1-S, 1+S] (default: {d['augment_scale']}, off)")
    tuning.add_argument("--augment-rotation", type=parse_rotation, default=d["augment_rotation"],
                        metavar="DEG|auto",
                        help="turn each training window's 3-axis vectors (gravity, "
                             "acceleration, rotation rate) by one random rotation of up to DEG "
                             "degrees, as a phone worn at a different angle would see them; "
                             "other features (pitch, roll, yaw) are left as they are; a "
                             "vector is three features whose names differ only in an x, y, z "
                             "(xGravity, acc_x_g); auto = 180 for the Core Motion features, "
                             "else 0 (default: auto)")
    tuning.add_argument("--adapt-sessions", type=int, default=d["adapt_sessions"], metavar="N",
                        help="per test subject, lend its first N sessions (by name) to the "
                             "SGAN's unlabeled pool without labels, as a new user's own "
                             "recordings; the test metrics cover its other sessions only "
                             f"(default: {d['adapt_sessions']})")
    tuning.add_argument("--unlabeled-windows", type=Path, default=None, metavar="FILE",
                        help="SGAN: a second windows file whose windows join the unlabeled "
                             "pool, their labels unread (a new user's own recordings; "
                             "'exermote-sgan personalize' writes one) (default: none)")
    tuning.add_argument("--ema-decay", type=float, default=d["ema_decay"], metavar="D",
                        help="SGAN: keep an exponential moving average of the discriminator's "
                             "weights with this decay per step and validate and save the "
                             f"average (Polyak averaging); 0 keeps none (default: "
                             f"{d['ema_decay']})")
    tuning.add_argument("--jit-compile", action="store_true",
                        help="XLA-compile the training step (measured slower on CPU)")
    tuning.add_argument("--distribute", choices=DISTRIBUTE_MODES, default=d["distribute"],
                        help="train on several devices with tf.distribute: mirrored = the GPUs "
                             "of this machine, multi-worker = the processes listed in "
                             "TF_CONFIG (start each with the same command); --batch-size stays "
                             "the global batch, split over the replicas, which train the model "
                             "one process trains (docs/cluster.md) (default: "
                             f"{d['distribute']})")


def config_from_args(args):
    """The :class:`TrainConfig` the parsed arguments describe."""
    return TrainConfig(
        windows_path=Path(args.windows), model=args.model, out_dir=Path(args.out),
        test_subjects=tuple(args.test_subjects), features=args.features,
        labeled_fraction=args.labeled_fraction,
        labeled_unit=args.labeled_unit, epochs=args.epochs, batch_size=args.batch_size,
        seed=args.seed, resume=args.resume, verbose=0 if args.quiet else 1,
        **{name: getattr(args, name) for name in NETWORK_OPTIONS},
        validation_fraction=args.validation_fraction, patience=args.patience,
        scaler_quantile=args.scaler_quantile,
        steps_per_epoch=args.steps_per_epoch, learning_rate=args.learning_rate,
        d_learning_rate=args.d_learning_rate, g_learning_rate=args.g_learning_rate,
        beta_1=args.beta_1, generator_loss=args.generator_loss, fake_logit=args.fake_logit,
        label_smoothing=args.label_smoothing, unsupervised_weight=args.unsupervised_weight,
        entropy_weight=args.entropy_weight, prior_weight=args.prior_weight,
        generated_batch_size=args.generated_batch_size,
        noise_dim=args.noise_dim, generator_architecture=args.generator_architecture,
        generator_filters=tuple(args.generator_filters),
        warm_start_epochs=args.warm_start_epochs, augment_scale=args.augment_scale,
        augment_rotation=args.augment_rotation, ema_decay=args.ema_decay,
        adapt_sessions=args.adapt_sessions, unlabeled_windows=args.unlabeled_windows,
        jit_compile=args.jit_compile, distribute=args.distribute)


def training_summary(model: str, result) -> str:
    """What a run trained on and which epoch it kept, in two lines.

    The baseline reads the labeled windows only; the SGAN's unlabeled stream is every
    training window with its label hidden (plus any adaptation sessions), not only the
    windows that were never labeled.
    """
    from ..training.progress import selected_epoch

    split = result.split or {}
    if model == "baseline":
        data = f"{result.n_labeled} labeled windows"
    else:
        stream = int(split.get("n_training", 0)) + int(split.get("n_adaptation", 0))
        data = (f"{result.n_labeled} labeled windows, with {stream} unlabeled ones (every "
                f"training window, label hidden; {result.n_unlabeled} never labeled")
        if split.get("n_adaptation"):
            data += f"; {split['n_adaptation']} from the adaptation sessions"
        data += ")"
    lines = [f"trained {model} on {data}; run directory: {result.run_dir}"]
    kept = selected_epoch(result.history)
    if kept is not None:
        lines.append(f"kept epoch {kept[0]} of {len(result.history)} (the best validation "
                     f"macro-F1, {kept[1]:.3f}): classifier.keras holds its weights")
    if getattr(result, "stop_reason", ""):
        lines.append(result.stop_reason)
    return "\n".join(lines)


def show_package_warnings(command: str):
    """A context in which the package's warnings print as ``exermote-sgan COMMAND: warning:
    ...`` (one line on stderr) and other warnings as Python shows them."""
    import contextlib
    import sys
    import warnings

    from ..training.train_lib import TrainingDataWarning

    @contextlib.contextmanager
    def showing():
        with warnings.catch_warnings():
            shown = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None):
                if issubclass(category, TrainingDataWarning):
                    print(f"exermote-sgan {command}: warning: {message}", file=sys.stderr)
                else:
                    shown(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            warnings.simplefilter("default", TrainingDataWarning)  # shown, whatever -W says
            yield

    return showing()


def run(args) -> int:
    from ..training.evaluation import format_metrics_table
    from ..training.train_lib import check_before_training, train

    config = config_from_args(args)
    check_before_training(config)  # before TensorFlow is imported or anything is written
    if config.verbose:  # TensorFlow takes seconds to load: say so rather than stay silent
        print(f"training {config.model} into {config.out_dir}: loading TensorFlow and "
              f"{config.windows_path}...", file=sys.stderr, flush=True)
    with show_package_warnings("train"):
        result = train(config)
    print(training_summary(config.model, result))
    rotation = (f"rotated by up to {result.augment_rotation:g} degrees"
                if result.augment_rotation else "no rotation augmentation")
    print(f"features ({len(result.features)}): {', '.join(result.features)}; {rotation}")
    if result.metrics is not None:
        print(f"test subjects {', '.join(map(str, config.test_subjects))}:")
        print(format_metrics_table(result.metrics))
    return 0
