"""``exermote-sgan evaluate``: a trained run's accuracy, F1 and confusion matrix on windows."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run on a windows file",
        description="Evaluate the classifier of a run directory on the windows of a windows "
                    "file: accuracy, macro F1, precision/recall/F1 per class, confusion "
                    "matrix, accuracy per subject, and how many errors are timing errors "
                    "(a boundary between two activities placed a little early or late).  By "
                    "default only the run's test subjects are evaluated.")
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="run directory written by 'exermote-sgan train'")
    parser.add_argument("windows", metavar="WINDOWS.h5",
                        help="windows file written by 'exermote-sgan preprocess'")
    parser.add_argument("--subjects", type=int, nargs="+", default=None, metavar="N",
                        help="evaluate only these subjects' windows (default: the run's test "
                             "subjects, or every window if the run recorded none)")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="also write the metrics as JSON to FILE")
    parser.add_argument("--tolerance", type=float, default=None, metavar="SECONDS",
                        help="an error is a timing error when the predicted class is the true "
                             "class of a window of the same session at most this far away "
                             "(default: 0.2 s, two rows at 10 Hz)")
    parser.add_argument("--batch-size", type=int, default=512, metavar="N",
                        help="windows per prediction batch (default: 512)")
    parser.set_defaults(run=run)
    return parser


def seen_subjects(provenance, subjects) -> list[int]:
    """The requested subjects whose windows the run (its :class:`~exermote_sgan.runs.
    Provenance`) trained or validated on."""
    seen = set(provenance.training_subjects or ()) | set(provenance.validation_subjects or ())
    return sorted(int(s) for s in set(subjects or ()) & {int(s) for s in seen})


def _warn_if_seen(run_dir, provenance, subjects) -> None:
    seen = seen_subjects(provenance, subjects)
    if seen:
        print(f"exermote-sgan evaluate: warning: {run_dir} trained on subject(s) "
              f"{', '.join(map(str, seen))}; their figures measure recall of seen people, not "
              "recognition of a new person (evaluate the run's test subjects for that)",
              file=sys.stderr)


def run(args) -> int:
    from ..atomic import atomic_write_text, check_output_file
    from ..data.windows_file import load_windows
    from ..errors import ExermoteInputError
    from ..runs import check_windows_unchanged, load_run, with_classifier
    from ..training.evaluation import (DEFAULT_TOLERANCE_S, check_tolerance,
                                       evaluate_classifier, format_metrics_table)

    if args.batch_size < 1:
        raise ExermoteInputError(f"--batch-size must be at least 1, got {args.batch_size}")
    tolerance = check_tolerance(DEFAULT_TOLERANCE_S if args.tolerance is None
                                else args.tolerance)
    if args.json:  # a folder given as --json is refused before anything is computed
        check_output_file(args.json, option="--json", example="metrics.json")
    # read the cheap files first so a wrong path fails before TensorFlow loads
    header = load_run(args.run_dir, load_classifier=False)
    window_set = load_windows(args.windows)
    check_windows_unchanged(args.run_dir, header.preprocessing.provenance, args.windows,
                            fix="retrain the run on it, or evaluate on the file it was "
                                "trained on")
    trained = with_classifier(header)
    subjects = args.subjects
    if subjects is None:
        subjects = list(trained.preprocessing.provenance.test_subjects or ()) or None
        if subjects is None:
            print(f"exermote-sgan evaluate: warning: {args.run_dir} records no test subjects; "
                  "evaluating every window, which may include the run's training subjects",
                  file=sys.stderr)
    else:
        _warn_if_seen(args.run_dir, trained.preprocessing.provenance, subjects)
    metrics = evaluate_classifier(trained.classifier, trained.preprocessing, window_set,
                                  subjects=subjects, batch_size=args.batch_size,
                                  tolerance_s=tolerance, path=args.windows)
    print(format_metrics_table(metrics))
    if args.json:
        atomic_write_text(args.json, json.dumps(metrics, indent=2) + "\n")
        print(f"metrics written to {args.json}")
    return 0
