"""``exermote-sgan evaluate-reps``: counted vs labelled repetitions, beside the app's rule."""

from __future__ import annotations

from ..inference.counting import COUNTING_METHODS
from .predict import add_columns_file_argument


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate-reps",
        help="compare detected sets and repetition counts with the labelled ones",
        description="Recognise labelled recordings (read as the run's training files were) "
                    "with a trained run, match the "
                    "detected sets to the labelled ones (same exercise, overlapping in "
                    "time, largest total overlap) and report per exercise and overall: "
                    "sets found vs true, false sets, repetition-count MAE per true set "
                    "(missed sets count their true repetitions, false sets their detected "
                    "ones), the fraction of sets counted exactly and within one; for every "
                    "counting method on the same predictions, the chosen one first.  A "
                    "label the run does not know is refused.  Without a rest class the true "
                    "sets are runs of one label and repetitions are not counted (MAE and "
                    "exact: '-').")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by "
                        "'exermote-sgan train'")
    parser.add_argument("recordings", metavar="RECORDING", nargs="+",
                        help="labelled raw recording CSV file(s) in the run's format (for "
                             "Exermote with exerciseSubType), or folders of them")
    parser.add_argument("--counting", choices=COUNTING_METHODS, default="period",
                        help="counting method listed first (default: period); every "
                             "other method is reported after it on the same predictions")
    add_columns_file_argument(parser)
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the figures (overall, per_exercise, sets for the "
                             "chosen method, the same under app_rule and, per method, under "
                             "counters) to this JSON file")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    import json

    from ..atomic import atomic_write_text, check_output_file
    from ..recordings.readers import find_csv_files
    from ..recordings.readers import load_column_spec
    from ..inference.periods import with_run_profile
    from ..inference.recordings import reading_columns
    from ..inference.rep_evaluation import evaluate_recordings
    from ..inference.streaming import load_recognizer_parts

    paths = find_csv_files(args.recordings)
    if args.json:  # before TensorFlow loads (issue 33)
        check_output_file(args.json, option="--json", example="reps.json")
    columns = load_column_spec(args.columns_file) if args.columns_file else None
    preprocessing, classifier = load_recognizer_parts(args.run_dir)
    if columns is not None:
        preprocessing = reading_columns(preprocessing, columns)
    report = evaluate_recordings(paths, preprocessing, classifier, counting=args.counting,
                                 counting_options=with_run_profile(args.run_dir))
    report["run_dir"] = str(args.run_dir)
    print(format_table(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _cells(summary: dict) -> str:
    def share(key):
        return "-" if summary[key] is None else f"{summary[key]:.2f}"

    mae = "-" if summary["rep_mae"] is None else f"{summary['rep_mae']:.2f}"
    return (f"{summary['sets_found']:>5} {summary['sets_missed']:>6} {summary['false_sets']:>5} "
            f"{mae:>6} {share('exact_fraction'):>5} {share('within_one_fraction'):>5}")


def _title(method: str, chosen: str) -> str:
    notes = [n for n, yes in (("chosen", method == chosen), ("the app rule", method == "app"))
             if yes]
    return method + (f" ({', '.join(notes)})" if notes else "")


def format_table(report: dict) -> str:
    """The report as fixed-width tables, one per counter, the chosen one first."""
    counters = report.get("counters") or {report["counting"]: report,
                                          "app": report["app_rule"]}
    sub = (f"{'exercise':<9} {'sets':>4} {'reps':>5} | {'found':>5} {'missed':>6} "
           f"{'false':>5} {'MAE':>6} {'exact':>5} {'+-1':>5}")
    counted = report.get("rest_class", "Break") is not None
    lines = []
    for method, part in counters.items():
        lines += [_title(method, report["counting"]), sub, "-" * len(sub)]
        for name in list(part["per_exercise"]) + ["overall"]:
            mine = part["overall"] if name == "overall" else part["per_exercise"][name]
            reps = mine["reps_true"] if counted else "-"
            lines.append(f"{name:<9} {mine['sets_true']:>4} {reps:>5} | {_cells(mine)}")
        lines.append("")
    lines.append("MAE: mean |detected - true| repetitions per true set (missed sets count "
                 "their true reps, false sets their detected reps); exact, +-1: share of true "
                 "sets counted exactly, within one.")
    if not counted:
        lines.append("No rest class: a set is a run of one label, and repetitions are not "
                     "counted.")
    return "\n".join(lines)
