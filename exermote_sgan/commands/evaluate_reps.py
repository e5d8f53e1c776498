"""``exermote-sgan evaluate-reps``: counted vs labelled repetitions, beside the app's rule."""

from __future__ import annotations

__all__ = ["add_parser", "run", "format_table"]


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
                    "ones) and the fraction of sets counted exactly; for the chosen method "
                    "and, on the same predictions, the Exermote app's rule.  A label the run "
                    "does not know is refused.  Without a rest class the true sets are runs "
                    "of one label and repetitions are not counted (MAE and exact: '-').")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by "
                        "'exermote-sgan train'")
    parser.add_argument("recordings", metavar="RECORDING", nargs="+",
                        help="labelled raw recording CSV file(s) in the run's format (for "
                             "Exermote with exerciseSubType), or folders of them")
    parser.add_argument("--counting", choices=("hysteresis", "app", "app-20s"),
                        default="hysteresis",
                        help="counting method to evaluate beside the app's rule "
                             "(default: hysteresis)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the figures (overall, per_exercise, sets, and the "
                             "same under app_rule) to this JSON file")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    import json

    from ..atomic import atomic_write_text, check_output_file
    from ..data.readers import find_csv_files
    from ..inference.rep_evaluation import evaluate_recordings
    from ..inference.streaming import load_recognizer_parts

    paths = find_csv_files(args.recordings)
    if args.json:  # before TensorFlow loads (issue 33)
        check_output_file(args.json, option="--json", example="reps.json")
    preprocessing, classifier = load_recognizer_parts(args.run_dir)
    report = evaluate_recordings(paths, preprocessing, classifier, counting=args.counting)
    report["run_dir"] = str(args.run_dir)
    print(format_table(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _cells(summary: dict) -> str:
    mae = "-" if summary["rep_mae"] is None else f"{summary['rep_mae']:.2f}"
    exact = "-" if summary["exact_fraction"] is None else f"{summary['exact_fraction']:.2f}"
    return (f"{summary['sets_found']:>5} {summary['false_sets']:>5} {mae:>7} {exact:>5}")


def format_table(report: dict) -> str:
    """The report as a fixed-width table: the chosen method and the app's rule side by side."""
    left, right = report["counting"], "app rule"
    head = f"{'':<9} {'true':>4} {'reps':>5} | {left:^25} | {right:^25}"
    sub = (f"{'exercise':<9} {'sets':>4} {'true':>5} | "
           + " | ".join([f"{'found':>5} {'false':>5} {'MAE':>7} {'exact':>5}"] * 2))
    lines = [head, sub, "-" * len(sub)]
    names = list(report["per_exercise"]) + ["overall"]
    counted = report.get("rest_class", "Break") is not None
    for name in names:
        mine = report["overall"] if name == "overall" else report["per_exercise"][name]
        app = (report["app_rule"]["overall"] if name == "overall"
               else report["app_rule"]["per_exercise"][name])
        if name == "overall":
            lines.append("-" * len(sub))
        reps = mine["reps_true"] if counted else "-"
        lines.append(f"{name:<9} {mine['sets_true']:>4} {reps:>5} | "
                     f"{_cells(mine)} | {_cells(app)}")
    lines.append("MAE: mean |detected - true| repetitions per true set (missed sets count "
                 "their true reps, false sets their detected reps); exact: share of true "
                 "sets counted exactly.")
    if not counted:
        lines.append("No rest class: a set is a run of one label, and repetitions are not "
                     "counted.")
    return "\n".join(lines)
