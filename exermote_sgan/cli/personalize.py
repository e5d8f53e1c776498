"""``exermote-sgan personalize RUN_DIR RECORDING... --out NEW_RUN``: fit a run to a new user.

A thin flag parser over :func:`exermote_sgan.personalization.personalize.personalize`: by default
the run's classifier is fine-tuned on its labeled windows plus the user's own recordings, labelled
by itself where it is confident (self-training; labels in the recordings are never read); the
per-user scaler and the SGAN retrained with the user's windows are the other methods.
"""

from __future__ import annotations

import shlex


def add_parser(subparsers):
    from ..personalization.personalize import DEFAULT_METHOD, METHODS, SELF_TRAINING_DEFAULTS

    parser = subparsers.add_parser(
        "personalize", help="fit a trained run to a new user from their unlabeled recordings",
        description="Fit RUN_DIR's model to a new user from their own recordings, cut into "
                    "windows exactly as RUN_DIR's windows were (timesteps, stride, sampling "
                    "rate). The recordings' labels, if they have any, are never read. Methods: "
                    "self-training (default: the run's classifier labels the user's windows "
                    "and is fine-tuned on the confident ones plus the run's labeled windows; "
                    "seconds to a minute), scaler (the user's own input scaler, no training), "
                    "sgan (the SGAN retrained from scratch with the user's windows in its "
                    "unlabeled pool; as long as training the run). Writes NEW_RUN, a normal "
                    "run directory that 'evaluate', 'export' and 'predict' accept, with the "
                    "user's windows (personal_windows.h5) and personalize.json.")
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="run directory written by 'exermote-sgan train' (baseline or sgan)")
    parser.add_argument("recordings", metavar="RECORDING", nargs="+",
                        help="the user's recording CSV files, or folders of them, in the "
                             "format of the run's recordings")
    parser.add_argument("--out", required=True, metavar="NEW_RUN",
                        help="new run directory to write (must not exist or be empty)")
    parser.add_argument("--windows", metavar="WINDOWS.h5", default=None,
                        help="the run's windows file, when it is no longer where the run "
                             "recorded it (default: the path in RUN_DIR's train_config.json)")
    parser.add_argument("--format", choices=("exermote", "generic"), default=None,
                        help="format of the recordings (default: as the run's windows file "
                             "records; for a windows file without that record, exermote when "
                             "the run's features are Exermote features)")
    parser.add_argument("--columns-file", metavar="FILE", default=None,
                        help="generic format: a JSON/TOML columns file, overriding the "
                             "columns the run's windows file records (label and subject "
                             "columns may be absent from the recordings)")
    parser.add_argument("--method", default=DEFAULT_METHOD, metavar="METHOD",
                        help=f"how to personalise: {', '.join(METHODS)} (default: "
                             f"{DEFAULT_METHOD}, chosen on validation people; see "
                             "docs/personalize.md)")
    parser.add_argument("--threshold", type=float, default=None, metavar="P",
                        help="self-training: smallest smoothed class probability for a window "
                             f"of the user to be used (default: "
                             f"{SELF_TRAINING_DEFAULTS['threshold']})")
    parser.add_argument("--class-share", type=float, default=None, metavar="SHARE",
                        help="self-training: of each class the run's classifier finds in the "
                             "user's windows, keep at most this share, most confident first "
                             f"(default: {SELF_TRAINING_DEFAULTS['class_share']:g})")
    parser.add_argument("--rounds", type=int, default=None, metavar="N",
                        help="self-training: times to relabel and fine-tune (default: "
                             f"{SELF_TRAINING_DEFAULTS['rounds']})")
    parser.add_argument("--smooth-s", type=float, default=None, metavar="SECONDS",
                        help="self-training: class probabilities are averaged over this many "
                             "seconds of the same recording before the threshold (default: "
                             f"{SELF_TRAINING_DEFAULTS['smooth_s']:g})")
    parser.add_argument("--adapt-scaler", choices=("yes", "no"), default=None,
                        help="self-training: also give the user their own input scaler, as "
                             "--method scaler does (default: "
                             f"{'yes' if SELF_TRAINING_DEFAULTS['adapt_scaler'] else 'no'})")
    parser.add_argument("--user-share", type=float, default=None, metavar="SHARE",
                        help="self-training: share of each fine-tuning batch taken from the "
                             "user's pseudo-labelled windows (default: "
                             f"{SELF_TRAINING_DEFAULTS['user_share']:g})")
    parser.add_argument("--learning-rate", type=float, default=None, metavar="RATE",
                        help="self-training: fine-tuning learning rate (default: "
                             f"{SELF_TRAINING_DEFAULTS['learning_rate']:g})")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="self-training: fine-tuning epochs (default: "
                             f"{SELF_TRAINING_DEFAULTS['epochs']}); sgan: maximum epochs "
                             "(default: the run's)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                        help="self-training: batches per fine-tuning epoch (default: "
                             f"{SELF_TRAINING_DEFAULTS['steps_per_epoch']}); sgan: cap on the "
                             "batches per epoch (default: the run's)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed (default: the run's, so the same labeled windows)")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress output")
    parser.set_defaults(run=run)
    return parser


def _command(args) -> str:
    """The ``exermote-sgan personalize`` command ``args`` describe (recorded in the run)."""
    words = ["exermote-sgan", "personalize", str(args.run_dir), *map(str, args.recordings),
             "--out", str(args.out)]
    words += ["--method", args.method]
    for name in ("threshold", "class_share", "rounds", "smooth_s", "adapt_scaler", "user_share",
                 "learning_rate", "windows", "format",
                 "columns_file", "epochs", "steps_per_epoch", "seed"):
        value = getattr(args, name)
        if value is not None:
            words += ["--" + name.replace("_", "-"), str(value)]
    return shlex.join(words)


def _rounds_summary(rounds, n_labeled: int) -> str:
    """What self-training did, for the summary line ('' for the other methods)."""
    if not rounds:
        return ""
    last = rounds[-1]["n_pseudo_labeled"]
    if not last:
        return ("; none reached the threshold, so the run's classifier is kept (lower "
                "--threshold)")
    return (f"; {last} of them pseudo-labelled and the classifier fine-tuned on them and the "
            f"run's {n_labeled} labeled windows ({len(rounds)} round(s))")


def run(args) -> int:
    from ..recordings.readers import load_column_spec
    from ..errors import ExermoteInputError
    from ..personalization.personalize import personalize

    columns = load_column_spec(args.columns_file) if args.columns_file else None
    if args.format == "generic" and columns is None:
        raise ExermoteInputError("--format generic needs --columns-file (the columns file the "
                                 "run's recordings were preprocessed with)")
    if args.format == "exermote" and columns is not None:
        raise ExermoteInputError("--columns-file needs --format generic (or no --format)")
    adapt_scaler = None if args.adapt_scaler is None else args.adapt_scaler == "yes"
    result = personalize(
        args.run_dir, args.recordings, out=args.out, method=args.method,
        threshold=args.threshold, class_share=args.class_share, rounds=args.rounds,
        smooth_s=args.smooth_s, adapt_scaler=adapt_scaler, user_share=args.user_share,
        learning_rate=args.learning_rate, windows=args.windows, format=args.format,
        columns=columns, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        seed=args.seed, verbose=0 if args.quiet else 1,
        training_command=_command(args))
    trained = result.train
    if result.method == "sgan":
        print(f"personalised {args.run_dir} with {result.n_windows} unlabeled windows from "
              f"{len(result.recordings)} recording(s): the SGAN trained on "
              f"{trained.n_labeled} labeled windows, its unlabeled pool the "
              f"{trained.split['n_training']} training windows and the user's "
              f"{result.n_windows}")
    else:
        print(f"personalised {args.run_dir} ({result.method}) with {result.n_windows} "
              f"unlabeled windows from {len(result.recordings)} recording(s)"
              + _rounds_summary(result.details.get("rounds"), trained.n_labeled))
    if trained.metrics is not None:
        print(f"test subjects {', '.join(map(str, trained.split['test_subjects']))}: "
              f"accuracy {trained.metrics['accuracy']:.3f}, "
              f"macro F1 {trained.metrics['macro_f1']:.3f}")
    print(f"run directory: {result.run_dir}")
    return 0
