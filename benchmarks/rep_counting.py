"""Benchmark: repetition counting, leave one person out over the four Exermote people.

Usage::

    python benchmarks/rep_counting.py spans [--raw DIR] [--json FILE]
    python benchmarks/rep_counting.py runs RUN_DIR ... [--inner-runs RUN_DIR ...] [--raw DIR]
        [--json FILE]
    python benchmarks/rep_counting.py profile --out FILE [--raw DIR]

For each held-out person, everything the period counter learns (period ranges, axes, polarity,
prominence, context, tolerance, edge and gap ratios with their inner leave-one-person-out
decision, the fewest repetitions of a set:
:func:`exermote_sgan.inference.periods.learn_profile`) is learned on the other three people's
labelled sets only, and scored on the held-out person's; what each fold learned is printed and
written under ``chosen`` in ``--json``:

- ``spans`` counts each labelled set of the held-out person within its labelled span (the
  ground-truth set spans), which isolates the counter from the classifier.  The rows are
  scaled by a min-max scaler fitted on the three training people's rows, as a run's are.
- ``runs`` takes trained runs (``exermote-sgan train --test-subjects P``, one held-out person
  each; several seeds allowed), learns the profile on the run's training people in the run's
  scaled feature space, and evaluates every counter (``hysteresis``, ``period``, ``app``,
  ``app-20s``) on the held-out person's recordings, with the sets the classifier finds
  (``evaluate-reps``' figures); per counter, the mean +- sd over the runs' seeds of the pooled
  folds.
- ``profile`` learns the profile on all four people (the default 9 features, min-max scaled on
  their rows) and writes it to ``--out`` (outside the repository: nothing learned from the
  recordings is committed; a run learns its own with ``exermote-sgan learn-reps``).

The figures are printed as markdown tables (exact share of sets, within +-1, MAE per true set,
missed and false sets, per exercise).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "exermote" / "raw"
DEFAULT_FEATURES = ("xGravity", "yGravity", "zGravity", "xAcceleration", "yAcceleration",
                    "zAcceleration", "xRotationRate", "yRotationRate", "zRotationRate")


def read_people(raw, features):
    """The raw recordings, their feature columns in ``features`` order."""
    from dataclasses import replace

    from exermote_sgan.recordings.readers import find_csv_files, read_exermote_csv

    out = []
    for path in find_csv_files([raw]):
        recording = read_exermote_csv(path)
        columns = [list(recording.features).index(f) for f in features]
        out.append(replace(recording, values=recording.values[:, columns],
                           features=tuple(features)))
    return out


def scaled_sets(recordings, scaler):
    from exermote_sgan.inference.periods import labelled_sets

    return labelled_sets(recordings, scale=scaler.scale_, offset=scaler.offset_)


def fit_scaler(recordings):
    from exermote_sgan.data.scaler import MinMaxScaler

    rows = np.concatenate([r.values for r in recordings])
    return MinMaxScaler().fit(rows[np.all(np.isfinite(rows), axis=1)])


def summary(rows) -> dict:
    """exact, within +-1, MAE, missed, false per exercise and overall (``evaluate-reps``'
    figures, :func:`~exermote_sgan.inference.rep_evaluation.summarize_matches`) of rows
    holding exercise, true_repetitions and detected_repetitions."""
    from exermote_sgan.inference.rep_evaluation import SetMatch, summarize_matches

    matches = [SetMatch(r["exercise"], r["true_repetitions"], r["detected_repetitions"])
               for r in rows]
    figures = summarize_matches(matches)
    out = {}
    for name, f in [*figures["per_exercise"].items(), ("all", figures["overall"])]:
        out[name] = {"sets": f["sets_true"], "exact": f["exact_fraction"],
                     "within1": f["within_one_fraction"], "mae": f["rep_mae"],
                     "missed": f["sets_missed"], "false": f["false_sets"]}
    return out


def table(title, stats) -> str:
    lines = [f"### {title}", "", "| | sets | exact | within +-1 | MAE | missed | false |",
             "|---|---|---|---|---|---|---|"]
    for name, s in stats.items():
        lines.append(f"| {name} | {s['sets']} | {s['exact']:.2f} | {s['within1']:.2f} | "
                     f"{s['mae']:.3f} | {s['missed']} | {s['false']} |")
    return "\n".join(lines)


def chosen_settings(profile) -> dict:
    """What a learned profile chose, short: settings, the fewest repetitions of a set, the
    inner gain of the edge rules, per exercise the period range, polarity, edge and gap
    ratio."""
    return {"prominence": profile.prominence, "context_s": profile.context_s,
            "tolerance_s": profile.tolerance_s,
            "min_set_repetitions": profile.min_set_repetitions,
            "edge_gain": profile.edge_gain,
            "periods": {k: [round(v.period_min_s, 2), round(v.period_max_s, 2), v.polarity,
                            v.rule, v.edge_ratio, v.gap_ratio if v.rule == "trim" else v.reach_s]
                        for k, v in profile.exercises.items()}}


def spans(args) -> dict:
    """Leave one person out with the labelled set spans."""
    from exermote_sgan.inference.periods import count_periods, learn_profile

    recordings = read_people(args.raw, DEFAULT_FEATURES)
    rows, chosen = [], {}
    for person in sorted({r.subject for r in recordings}):
        train = [r for r in recordings if r.subject != person]
        test = [r for r in recordings if r.subject == person]
        scaler = fit_scaler(train)
        profile = learn_profile(scaled_sets(train, scaler), features=DEFAULT_FEATURES)
        chosen[person] = chosen_settings(profile)
        for s in scaled_sets(test, scaler):
            n = len(count_periods(s.values, s.times, s.start, s.end, s.exercise, profile))
            rows.append({"exercise": s.exercise, "true_repetitions": s.repetitions,
                         "detected_repetitions": n, "subject": person})
        print(f"person {person}: {chosen[person]}", flush=True)
    stats = summary(rows)
    print(table("period counter, labelled set spans, leave one person out", stats))
    return {"stats": stats, "chosen": chosen, "sets": rows}


def inner_errors(inner_runs, prep, paths):
    """The span errors of the inner runs that belong to the run ``prep`` describes (tested on
    its training people, trained on none of its test people), None without any."""
    from exermote_sgan.inference.rep_learning import inner_span_errors, is_inner_run
    from exermote_sgan.runs import load_run

    mine = [inner for inner in inner_runs or ()
            if is_inner_run(load_run(inner, load_classifier=False).preprocessing, prep)]
    return inner_span_errors(mine, paths, run_prep=prep) if mine else None


def runs(args) -> dict:
    """Leave one person out with trained runs: every counter on the classifier's sets."""
    from exermote_sgan.inference.periods import learn_profile
    from exermote_sgan.inference.rep_evaluation import evaluate_recordings
    from exermote_sgan.inference.streaming import load_recognizer_parts

    by_seed = defaultdict(lambda: defaultdict(list))
    chosen = {}
    for run_dir in args.run_dirs:
        prep, classifier = load_recognizer_parts(run_dir)
        facts = json.loads((Path(run_dir) / "preprocessing.json").read_text())
        recordings = read_people(args.raw, prep.features)
        train = [r for r in recordings if r.subject in facts["training_subjects"]]
        test = [r.path for r in recordings if r.subject in facts["test_subjects"]]
        errors = inner_errors(args.inner_runs, prep, [r.path for r in train])
        profile = learn_profile(scaled_sets(train, prep.scaler), features=prep.features,
                                span_errors=errors)
        report = evaluate_recordings(test, prep, classifier, counting="period",
                                     counting_options={"profile": profile},
                                     methods=("hysteresis", "period", "app", "app-20s"))
        seed = facts.get("seed")
        for method, part in report["counters"].items():
            by_seed[method][seed] += part["sets"]
        chosen[str(run_dir)] = chosen_settings(profile)
        print(f"{run_dir}: test {facts['test_subjects']}, seed {seed}, learned "
              f"{chosen[str(run_dir)]}", flush=True)
    out = {"chosen": chosen}
    for method, seeds in by_seed.items():
        per_seed = {seed: summary(rows) for seed, rows in seeds.items()}
        out[method] = {"per_seed": per_seed, "sets": dict(seeds)}
        found = [r for rows in seeds.values() for r in rows
                 if r["true_repetitions"] is not None and r["detected_repetitions"] is not None]
        exact_found = np.mean([r["error"] == 0 for r in found]) if found else float("nan")
        names = next(iter(per_seed.values())).keys()
        lines = [f"### {method}: classifier sets, mean +- sd over seeds {sorted(per_seed)}", "",
                 "| | sets | exact | within +-1 | MAE | missed | false |",
                 "|---|---|---|---|---|---|---|"]
        for name in names:
            cells = []
            for key in ("exact", "within1", "mae", "missed", "false"):
                values = np.array([s[name][key] for s in per_seed.values()], dtype=float)
                cells.append(f"{values.mean():.2f} +- {values.std():.2f}")
            sets = next(iter(per_seed.values()))[name]["sets"]
            lines.append(f"| {name} | {sets} | " + " | ".join(cells) + " |")
        lines.append(f"\nSets the classifier found (all seeds): {len(found)}, counted "
                     f"exactly {exact_found:.2f}.")
        print("\n".join(lines) + "\n")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("spans", "runs", "profile"))
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR")
    parser.add_argument("--raw", type=Path, default=RAW)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--inner-runs", nargs="+", type=Path, default=(), metavar="RUN_DIR",
                        help="runs: inner leave-one-person-out runs (trained without a run's "
                             "test person, tested on one of its training people); each run "
                             "chooses its counting rules for the spans the inner runs that "
                             "belong to it find (learn-reps --inner-runs)")
    args = parser.parse_args(argv)
    if args.mode == "profile":
        from exermote_sgan.inference.periods import learn_profile

        if args.out is None:
            parser.error("profile needs --out FILE")
        recordings = read_people(args.raw, DEFAULT_FEATURES)
        scaler = fit_scaler(recordings)
        learn_profile(scaled_sets(recordings, scaler), features=DEFAULT_FEATURES).save(args.out)
        print(f"wrote {args.out}")
        return 0
    if args.mode == "runs" and not args.run_dirs:
        parser.error("runs needs RUN_DIR arguments")
    result = spans(args) if args.mode == "spans" else runs(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
