"""``exermote-sgan ensemble``: one run whose classifier averages several runs' classifiers."""

from __future__ import annotations

import argparse
import shlex
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "ensemble",
        help="combine runs (e.g. other seeds) into one run that averages their classifiers",
        description="Combine finished runs of the same windows (typically one training "
                    "command with different --seed) into one run directory whose classifier "
                    "is the mean of their class probabilities. The result is an ordinary run: "
                    "evaluate, export, predict and evaluate-reps take it. Its test subjects "
                    "are those every member held out; it is scored on them (metrics.json) "
                    "when the members share a windows file.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run directories written by 'exermote-sgan train' (at least 2)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="the ensemble's run directory (replaced as a whole when complete)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from ..experiments.ensemble import ensemble_runs
    from ..training.evaluation import format_metrics_table

    def say(message: str) -> None:
        if not args.quiet:
            print(f"ensemble: {message}", file=sys.stderr, flush=True)

    command = shlex.join(["exermote-sgan", "ensemble", *map(str, args.runs), "--out",
                          str(args.out)])
    result = ensemble_runs(args.runs, args.out, command=command, progress=say)
    print(f"wrote {result.run_dir}: the mean of {len(result.members)} classifiers")
    if result.metrics is not None:
        print(format_metrics_table(result.metrics))
    elif result.note:
        print(result.note)
    return 0
