"""Experiment: leave subjects out on the smartwatch recordings (the second real dataset).

Usage::

    python benchmarks/watch.py --raw ../shared/data/watch/raw --out EXP_DIR
        [--phases all 0.1 0.25] [--seeds 0 1 2] [--epochs 60] [--steps-per-epoch 100]
        [--fraction-epochs 30] [--set KEY=VALUE] [--ensemble 3]

1. One ``exermote-sgan preprocess`` command reads the whole folder (examples/watch/columns.toml:
   subject, session and arm from the path; the left-arm recordings mirrored into the right
   arm's frame, the axes found on training subjects by ``benchmarks/watch_mirror.py``),
   resamples the 50 Hz rows to the 10 Hz the network was designed for (40-row windows of 4 s,
   a new one every 0.2 s).  Settings were chosen on the validation recordings of the training
   subjects (seed 0, mean over the 5 folds of the best validation macro-F1), never on a held-out
   subject: 60 epochs of 100 steps (0.934) over 30 of 60 (0.870); an amplitude augmentation
   of +-10% (0.919), 20 Hz (fold 1: 0.898 against 0.978), 6 s windows and dropout 0.5 were
   not adopted (docs in examples/watch/README.md).  The scaling, the network and the rotation
   augmentation (``--set`` options) were chosen later on held-out *training subjects*
   (``benchmarks/watch_inner.py``).
2. Subject-stratified 5-fold cross-validation as the study did: subjects (1, 2), (3, 4), ...,
   (9, 10) are held out in turn; the validation recordings come from the training subjects
   only, so nothing is chosen on a held-out subject.
3. Phases, in this order, so that an experiment stopped early keeps the most important part:
   ``all`` (the baseline with every label, every fold, every seed), then each labeled fraction
   (the baseline and the SGAN on the same labeled recordings: whole recordings are the
   labeled unit, since with no rest class a set is a recording).

4. ``--ensemble N``: after the phases, the all-labels baselines of each fold are combined by
   ``exermote-sgan ensemble`` in groups of N consecutive seeds (0-2, 3-5, ...; complete groups
   only), and each ensemble's test metrics become a row of model ``ensemble-N`` whose seed is
   its group's first; mean ± sd are then over the groups.

Every run appends a row to ``EXP_DIR/results.csv`` as it finishes (restarting skips finished
runs; see ``benchmarks/sgan_vs_baseline.py``).  The summary gives, per model and fraction,
the accuracy and macro-F1 over all held-out subjects: for each seed the mean over the 5 folds,
then mean ± sd over the seeds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))
CLASSES = "PEN,ABD,FEL,IR,ER,TRAP,ROW"


def preprocess_command(raw, out, *, rate=10, window_seconds=4,
                       stride_seconds=0.2) -> list[str]:
    """The one command that turns the whole folder into a windows file."""
    return ["exermote-sgan", "preprocess", str(raw), "--out", str(out), "--format", "generic",
            "--columns-file", str(ROOT / "examples" / "watch" / "columns.toml"),
            "--classes", CLASSES, "--label-map", "", "--expected-rate", f"{rate:g}",
            "--resample", "--window-seconds", f"{window_seconds:g}", "--stride-seconds",
            f"{stride_seconds:g}"]


def summary(results) -> str:
    """Per model and fraction: 5-fold mean per seed, then mean ± sd over seeds (markdown);
    then the SGAN against the baseline on the same folds, seeds and labeled recordings (mean ±
    sd of the pairs, wins, and the Wilcoxon signed-rank test of the macro-F1 differences)."""
    from scipy.stats import wilcoxon

    lines = ["| model | labeled | runs (folds x seeds) | accuracy | macro-F1 |",
             "|---|---|---|---|---|"]
    for (fraction, model), g in results.groupby(["labeled_fraction", "model"],
                                                sort=True):
        per_seed = g.groupby("seed")[["accuracy", "macro_f1"]].mean()
        folds = g.groupby("seed").size()
        complete = per_seed[folds == len(FOLDS)]
        note = "" if len(complete) == len(per_seed) else " (incomplete seeds left out)"

        def fmt(col):
            if len(complete) == 0:
                return "-"
            return f"{complete[col].mean():.3f} ± {complete[col].std(ddof=0):.3f}"
        lines.append(f"| {model} | {fraction:g} | {len(g)} ({len(complete)} complete seeds)"
                     f"{note} | {fmt('accuracy')} | {fmt('macro_f1')} |")
    lines += ["", "Paired on the same folds, seeds and labeled recordings (every finished pair):",
              "", "| labeled | pairs | folds | baseline acc / F1 | SGAN acc / F1 | "
              "SGAN - baseline acc / F1 | SGAN better (F1) | Wilcoxon p (F1) |",
              "|---|---|---|---|---|---|---|---|"]
    for fraction, g in results[results["labeled_fraction"] < 1].groupby("labeled_fraction"):
        paired = g.pivot_table(index=["test_subjects", "seed"], columns="model",
                               values=["accuracy", "macro_f1"]).dropna()
        if paired.empty or "sgan" not in paired["accuracy"]:
            continue

        def ms(values):
            return f"{values.mean():.3f} ± {values.std(ddof=0):.3f}"
        gain = paired["macro_f1"]["sgan"] - paired["macro_f1"]["baseline"]
        wins = int((gain > 0).sum())
        p_value = (f"{wilcoxon(gain).pvalue:.3g}" if len(gain) >= 5 and (gain != 0).any()
                   else "-")
        folds = ", ".join(sorted(set(paired.index.get_level_values(0)),
                                 key=lambda t: int(t.split("+")[0])))
        lines.append(
            f"| {fraction:g} | {len(paired)} | {folds} | "
            f"{ms(paired['accuracy']['baseline'])} / {ms(paired['macro_f1']['baseline'])} | "
            f"{ms(paired['accuracy']['sgan'])} / {ms(paired['macro_f1']['sgan'])} | "
            f"{ms(paired['accuracy']['sgan'] - paired['accuracy']['baseline'])} / "
            f"{ms(paired['macro_f1']['sgan'] - paired['macro_f1']['baseline'])} | "
            f"{wins} of {len(paired)} | {p_value} |")
    return "\n".join(lines)


def seed_groups(seeds, size: int) -> list[tuple[int, ...]]:
    """Consecutive groups of ``size`` of the sorted seeds; an incomplete last group is dropped."""
    seeds = sorted(set(int(s) for s in seeds))
    return [tuple(seeds[i:i + size]) for i in range(0, len(seeds) - size + 1, size)]


def add_ensembles(results_path: Path, out: Path, size: int):
    """Append an ``ensemble-<size>`` row per fold and complete seed group of the all-labels
    baselines in ``results_path`` (groups already there are skipped); return the table."""
    import pandas as pd

    from exermote_sgan.experiments.ensemble import ensemble_runs

    results = pd.read_csv(results_path, dtype={"test_subjects": str})
    model = f"ensemble-{size}"
    singles = results[(results["model"] == "baseline") & (results["labeled_fraction"] >= 1.0)]
    for tested, runs in singles.groupby("test_subjects"):
        by_seed = dict(zip(runs["seed"].astype(int), runs["run_dir"]))
        for group in seed_groups(by_seed, size):
            done = results[(results["model"] == model) & (results["test_subjects"] == tested)
                           & (results["seed"] == group[0])]
            if len(done):
                continue
            run_dir = out / f"test{tested}_{model}_f1_s{group[0]}-{group[-1]}"
            made = ensemble_runs([by_seed[s] for s in group], run_dir)
            row = {"test_subjects": tested, "model": model, "labeled_fraction": 1.0,
                   "seed": group[0], "accuracy": made.metrics["accuracy"],
                   "macro_f1": made.metrics["macro_f1"], "run_dir": str(run_dir)}
            print(f"test {tested} {model} seeds {group}: accuracy {row['accuracy']:.3f} "
                  f"macro-F1 {row['macro_f1']:.3f}", flush=True)
            results = pd.concat([results, pd.DataFrame([row])], ignore_index=True)
            results.to_csv(results_path, index=False)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=str(ROOT.parent / "shared" / "data" / "watch" / "raw"),
                        help="the watch recordings folder (default: ../shared/data/watch/raw)")
    parser.add_argument("--out", required=True, help="experiment directory")
    parser.add_argument("--phases", nargs="*", default=["all", "0.1", "0.25"],
                        help="'all' and/or labeled fractions, run in this order")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--fraction-epochs", type=int, default=None,
                        help="epochs per run in the labeled-fraction phases (default: --epochs)")
    parser.add_argument("--rate", type=float, default=10,
                        help="resample to this rate in Hz (default: 10)")
    parser.add_argument("--window-seconds", type=float, default=4)
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a TrainConfig field, e.g. --set augment_scale=0.1")
    parser.add_argument("--ensemble", type=int, default=None, metavar="N",
                        help="also combine the all-labels baselines of N consecutive seeds "
                             "into ensembles and score them")
    parser.add_argument("--summary-only", action="store_true",
                        help="print the table of EXP_DIR/results.csv and stop")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import pandas as pd
    from sgan_vs_baseline import _parse_overrides, run_experiment

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.summary_only:
        print(summary(pd.read_csv(out / "results.csv", dtype={"test_subjects": str})))
        return 0
    windows = out / "watch.h5"
    if not windows.is_file():
        command = preprocess_command(args.raw, windows, rate=args.rate,
                                     window_seconds=args.window_seconds)
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    overrides = {"steps_per_epoch": args.steps_per_epoch, **_parse_overrides(args.overrides)}
    for phase in args.phases:
        fraction = 1.0 if phase == "all" else float(phase)
        models = ("baseline",) if fraction >= 1.0 else ("baseline", "sgan")
        for fold in FOLDS:
            epochs = args.epochs if fraction >= 1.0 else (args.fraction_epochs or args.epochs)
            results = run_experiment(windows, out, test_subjects=fold, seeds=args.seeds,
                                     fractions=(fraction,), models=models, epochs=epochs,
                                     overrides=overrides)
        print(summary(results), flush=True)
    if args.ensemble:
        print(summary(add_ensembles(out / "results.csv", out, args.ensemble)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
