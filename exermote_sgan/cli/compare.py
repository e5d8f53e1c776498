"""``exermote-sgan compare``: SGAN against the supervised baseline as labels get scarce."""

from __future__ import annotations

import argparse
import sys

from ..experiments.compare import MODELS
from ..training.config import LABELED_UNITS
from .train import (DEFAULTS, NETWORK_OPTIONS, add_network_arguments, parse_features,
                    parse_rotation, show_package_warnings)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="compare SGAN, baseline and a random forest over labeled fractions and seeds",
        description="Train the supervised baseline, the semi-supervised GAN and a reference "
                    "random forest on the same labeled windows for every labeled fraction "
                    "and seed, evaluate them on held-out test subjects and write "
                    "results.csv, summary.md and compare.png.  With --leave-each-subject-out every subject is held out "
                    "in turn (a per-subject table, a paired Wilcoxon test and subjects.png). "
                    "Runs already finished in OUT/runs are reused, so an interrupted "
                    "comparison resumes.  --backend ray runs each training run as a Ray task, "
                    "on this machine or on a cluster (pip install 'exermote_sgan[cluster]').")
    parser.add_argument("windows", metavar="WINDOWS.h5",
                        help="windows file written by 'exermote-sgan preprocess'")
    held_out = parser.add_mutually_exclusive_group(required=True)
    held_out.add_argument("--test-subjects", type=int, nargs="+", metavar="N",
                          help="subjects held out for evaluation; no model trains on them")
    held_out.add_argument("--leave-each-subject-out", type=int, nargs="*", metavar="N",
                          help="hold out every subject in turn (or each of those given), "
                               "training on all the others")
    parser.add_argument("--labeled-fractions", type=float, nargs="+",
                        default=[0.02, 0.05, 0.1, 0.25, 1.0], metavar="F",
                        help="fractions of the training data that keep their labels, each in "
                             "(0, 1] (default: 0.02 0.05 0.1 0.25 1.0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="S",
                        help="seeds; each draws its own labeled subset and initialisation "
                             "(default: 0 1 2)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output directory for results.csv, summary.md, compare.png and "
                             "runs/")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="training epochs per run (default: the training default)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        metavar="MODEL",
                        help="models to train: the networks baseline and sgan, and forest, "
                             "a random forest on window statistics as the reference "
                             "(default: all three)")
    parser.add_argument("--labeled-unit", default=DEFAULTS["labeled_unit"], choices=LABELED_UNITS,
                        help="what a labeled fraction counts: whole exercise sets or single "
                             f"windows (default: {DEFAULTS['labeled_unit']})")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], metavar="N",
                        help=f"training batch size (default: {DEFAULTS['batch_size']})")
    parser.add_argument("--features", type=parse_features, default=DEFAULTS["features"],
                        metavar="auto|all|A,B,...",
                        help="features to train on, for both models (see 'train --help'; "
                             "default: auto, the 3-axis vectors)")
    parser.add_argument("--augment-rotation", type=parse_rotation,
                        default=DEFAULTS["augment_rotation"], metavar="DEG|auto",
                        help="turn the training windows' 3-axis vectors by random rotations of "
                             "up to DEG degrees, for both models (see 'train --help'; "
                             "default: auto, 180 with vector features)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                        help="cap on the batches per epoch (default: one pass over the "
                             "training windows)")
    parser.add_argument("--scaler-quantile", type=float, default=DEFAULTS["scaler_quantile"],
                        metavar="Q", help="scale the inputs by the training rows' Q and 1-Q "
                                          "quantiles, for both models (see 'train --help')")
    add_network_arguments(parser)
    add_backend_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def add_backend_arguments(parser) -> None:
    """``--backend``, ``--workers``, ``--address``, ``--cpus-per-run``, ``--gpus-per-run``,
    ``--retries``: where the grid's training runs go."""
    from ..experiments.grid import BACKENDS

    group = parser.add_argument_group("running the grid (serial, or Ray tasks)")
    group.add_argument("--backend", choices=BACKENDS, default="serial",
                       help="serial: one run after another in this process; ray: every run "
                            "as a Ray task, on this machine or a cluster, same results "
                            "(default: serial)")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="ray: at most N runs at once (default: on this machine one per "
                            "CPU; on a cluster as many as its resources allow)")
    group.add_argument("--address", default=None, metavar="ADDR",
                       help="ray: an existing cluster (auto, HOST:PORT or ray://HOST:10001); "
                            "OUT must then be on a filesystem every node shares (default: "
                            "start Ray on this machine)")
    group.add_argument("--cpus-per-run", type=float, default=1.0, metavar="C",
                       help="ray: CPUs each run declares, and TensorFlow's threads in it "
                            "(default: 1)")
    group.add_argument("--gpus-per-run", type=float, default=0.0, metavar="G",
                       help="ray: GPUs each run declares; fractions share a GPU (default: 0)")
    group.add_argument("--retries", type=int, default=2, metavar="N",
                       help="ray: start a run again up to N times when its worker or node "
                            "dies (default: 2)")


def backend_options(args):
    """``(backend, RayOptions or None)`` from the parsed arguments."""
    from ..errors import ExermoteInputError

    if args.backend != "ray":
        given = [flag for flag, value, default in (
            ("--workers", args.workers, None), ("--address", args.address, None),
            ("--cpus-per-run", args.cpus_per_run, 1.0),
            ("--gpus-per-run", args.gpus_per_run, 0.0), ("--retries", args.retries, 2))
            if value != default]
        if given:
            raise ExermoteInputError(f"{', '.join(given)} apply to Ray: add --backend ray",
                                     option="backend")
        return args.backend, None
    from ..experiments.ray_backend import RayOptions

    options = RayOptions(address=args.address, workers=args.workers,
                         cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                         retries=args.retries)
    options.validate()
    return args.backend, options


def run(args) -> int:
    backend, ray_options = backend_options(args)  # before TensorFlow is imported
    from ..experiments.compare import format_summary
    from ..experiments.grid import GridFailed

    try:
        with show_package_warnings("compare"):  # e.g. a labeled fraction far from the one asked
            results = _compare(args, backend, ray_options)
    except GridFailed as exc:
        print(f"exermote-sgan compare: {exc}", file=sys.stderr)
        return 1
    print(format_summary(results))
    print(f"results, summary and plots written to {args.out}")
    return 0


def _compare(args, backend, ray_options):
    from ..experiments.compare import compare

    leave_out = args.leave_each_subject_out
    train_options = {"labeled_unit": args.labeled_unit, "batch_size": args.batch_size,
                     "verbose": 0, "augment_rotation": args.augment_rotation,
                     "features": args.features, "steps_per_epoch": args.steps_per_epoch,
                     "scaler_quantile": args.scaler_quantile,
                     **{name: getattr(args, name) for name in NETWORK_OPTIONS}}
    return compare(
        args.windows, test_subjects=args.test_subjects,
        leave_each_subject_out=None if leave_out is None else (leave_out or True),
        labeled_fractions=args.labeled_fractions, seeds=args.seeds, out_dir=args.out,
        models=tuple(args.models), epochs=args.epochs, train_options=train_options,
        progress=True, backend=backend, ray_options=ray_options)
