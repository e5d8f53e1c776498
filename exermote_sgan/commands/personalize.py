"""``exermote-sgan personalize RUN_DIR RECORDING... --out NEW_RUN``: fit a run to a new user.

A thin flag parser over :func:`exermote_sgan.training.personalize.personalize`: the SGAN is
trained again with the run's labeled windows and settings, the user's own recordings (labels
never read) joining its unlabeled pool, into a normal run directory.
"""

from __future__ import annotations

import shlex

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "personalize", help="fit a trained run to a new user from their unlabeled recordings",
        description="Retrain RUN_DIR's model as an SGAN whose unlabeled pool also holds a new "
                    "user's own recordings, cut into windows exactly as RUN_DIR's windows were "
                    "(timesteps, stride, sampling rate). The recordings' labels, if they have "
                    "any, are never read. Writes NEW_RUN, a normal run directory that "
                    "'evaluate', 'export' and 'predict' accept, with the user's windows "
                    "(personal_windows.h5) and personalize.json.")
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
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="maximum epochs (default: the run's)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                        help="cap on the batches per epoch (default: the run's)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed (default: the run's, so the same labeled windows)")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress output")
    parser.set_defaults(run=run)
    return parser


def _command(args) -> str:
    """The ``exermote-sgan personalize`` command ``args`` describe (recorded in the run)."""
    words = ["exermote-sgan", "personalize", str(args.run_dir), *map(str, args.recordings),
             "--out", str(args.out)]
    for name in ("windows", "format", "columns_file", "epochs", "steps_per_epoch", "seed"):
        value = getattr(args, name)
        if value is not None:
            words += ["--" + name.replace("_", "-"), str(value)]
    return shlex.join(words)


def run(args) -> int:
    from ..data.readers import load_column_spec
    from ..errors import ExermoteInputError
    from ..training.personalize import personalize

    columns = load_column_spec(args.columns_file) if args.columns_file else None
    if args.format == "generic" and columns is None:
        raise ExermoteInputError("--format generic needs --columns-file (the columns file the "
                                 "run's recordings were preprocessed with)")
    if args.format == "exermote" and columns is not None:
        raise ExermoteInputError("--columns-file needs --format generic (or no --format)")
    result = personalize(
        args.run_dir, args.recordings, out=args.out, windows=args.windows, format=args.format,
        columns=columns, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        seed=args.seed, verbose=0 if args.quiet else 1,
        training_command=_command(args))
    trained = result.train
    print(f"personalised {args.run_dir} with {result.n_windows} unlabeled windows from "
          f"{len(result.recordings)} recording(s): the SGAN trained on {trained.n_labeled} "
          f"labeled windows, its unlabeled pool the {trained.split['n_training']} training "
          f"windows and the user's {result.n_windows}")
    if trained.metrics is not None:
        print(f"test subjects {', '.join(map(str, trained.split['test_subjects']))}: "
              f"accuracy {trained.metrics['accuracy']:.3f}, "
              f"macro F1 {trained.metrics['macro_f1']:.3f}")
    print(f"run directory: {result.run_dir}")
    return 0
