"""``exermote-sgan compare``: SGAN against the supervised baseline as labels get scarce."""

from __future__ import annotations

import argparse
import logging

from ..training.config import LABELED_UNITS, MODELS
from .train import (DEFAULTS, NETWORK_OPTIONS, add_network_arguments, parse_features,
                    parse_rotation, show_package_warnings)

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="compare SGAN and baseline over labeled fractions and seeds",
        description="Train the supervised baseline and the semi-supervised GAN on the same "
                    "labeled windows for every labeled fraction and seed, evaluate them on "
                    "held-out test subjects and write results.csv, summary.md and "
                    "compare.png.  Runs already finished in OUT/runs are reused, so an "
                    "interrupted comparison resumes.")
    parser.add_argument("windows", metavar="WINDOWS.h5",
                        help="windows file written by 'exermote-sgan preprocess'")
    parser.add_argument("--test-subjects", type=int, nargs="+", required=True, metavar="N",
                        help="subjects held out for evaluation; no model trains on them")
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
                        help="models to train: baseline, sgan or both (default: both)")
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
    add_network_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    import tensorflow as tf

    from ..training.compare import format_summary

    # evaluating a fresh model per run makes TensorFlow warn about retracing; keep the
    # progress bar readable
    tf.get_logger().setLevel(logging.ERROR)
    with show_package_warnings("compare"):  # e.g. a labeled fraction far from the one asked
        results = _compare(args)
    print(format_summary(results))
    print(f"results, summary and plot written to {args.out}")
    return 0


def _compare(args):
    from ..training.compare import compare

    return compare(args.windows, test_subjects=args.test_subjects,
                   labeled_fractions=args.labeled_fractions, seeds=args.seeds,
                   out_dir=args.out, models=tuple(args.models), epochs=args.epochs,
                   train_options={"labeled_unit": args.labeled_unit,
                                  "batch_size": args.batch_size, "verbose": 0,
                                  "augment_rotation": args.augment_rotation,
                                  "features": args.features,
                                  **{name: getattr(args, name) for name in NETWORK_OPTIONS}},
                   progress=True)
