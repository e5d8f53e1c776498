"""Experiment: SGAN against the supervised baseline on the same labeled windows, over seeds.

Usage::

    python benchmarks/sgan_vs_baseline.py WINDOWS.h5 --out EXP_DIR [--test-subjects 4]
        [--seeds 0 1 2] [--fractions 1.0 0.05] [--models baseline sgan] [--epochs N]
        [--set key=value ...]
    python benchmarks/sgan_vs_baseline.py WINDOWS.h5 --out EXP_DIR --within 1 2 3 ...

Runs :func:`exermote_sgan.training.train_lib.train` one configuration at a time (the runs are
CPU-bound; never run two at once on a small machine), appends one row per run to
``EXP_DIR/results.csv`` as soon as it finishes (so an interrupted experiment keeps what it
measured; finished runs are skipped when restarted) and prints a mean ± std table per model and
labeled fraction.  The SGAN at fraction 1.0 is skipped: it is the all-labels reference of the
baseline that matters.  ``--set`` overrides any other TrainConfig field (e.g.
``--set entropy_weight=0.1``).

``--within 1 2 3`` is for choosing settings without ever touching the final test subject:
only those subjects' windows are used (copied to ``EXP_DIR/windows_within.h5``) and each of
them is the test subject in turn, trained on the others.  The summary also gives the SGAN's
paired gain over the baseline (same test subjects, seed and labeled windows).
"""

from __future__ import annotations

import argparse
import ast
import os
import time
from pathlib import Path

# TensorFlow's C++ log lines off (the command line filters its known noise instead, in
# exermote_sgan/_quiet.py, which a script can opt into with filter_library_noise())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

COLUMNS = ("test_subjects", "model", "labeled_fraction", "seed", "accuracy", "macro_f1", "best_val_macro_f1",
           "epochs_run", "n_labeled", "n_unlabeled", "labeled_sha256", "seconds", "run_dir")


def _parse_overrides(pairs) -> dict:
    overrides = {}
    for pair in pairs or ():
        key, _, value = pair.partition("=")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def run_experiment(windows_path, out_dir, *, test_subjects=(4,), seeds=(0, 1, 2),
                   fractions=(1.0, 0.05), models=("baseline", "sgan"), epochs=None,
                   overrides=None, verbose=0):
    """Train every (seed, fraction, model) not yet in ``results.csv``; return the results table."""
    import keras
    import pandas as pd

    from exermote_sgan.training.train_lib import TrainConfig, train

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.csv"
    # test subjects are text ("1+2"): read back as such, so old and new rows pair up
    done = (pd.read_csv(results_path, dtype={"test_subjects": str}) if results_path.is_file()
            else pd.DataFrame(columns=COLUMNS))
    for seed in seeds:
        for fraction in fractions:
            for model in models:
                if model == "sgan" and fraction >= 1.0:
                    continue
                tested = "+".join(map(str, test_subjects))
                if ((done["model"] == model) & (done["seed"] == seed)
                        & (done["labeled_fraction"] == fraction)
                        & (done["test_subjects"].astype(str) == tested)).any():
                    continue
                run_dir = out_dir / f"test{tested}_{model}_f{fraction:g}_s{seed}"
                config = TrainConfig(windows_path=windows_path, model=model, out_dir=run_dir,
                                     test_subjects=tuple(test_subjects),
                                     labeled_fraction=fraction, epochs=epochs, seed=seed,
                                     verbose=verbose, **(overrides or {}))
                start = time.perf_counter()
                result = train(config)
                keras.backend.clear_session()
                row = {"test_subjects": tested, "model": model, "labeled_fraction": fraction, "seed": seed,
                       "accuracy": result.metrics["accuracy"],
                       "macro_f1": result.metrics["macro_f1"],
                       "best_val_macro_f1": float(result.history["val_macro_f1"].max()),
                       "epochs_run": len(result.history), "n_labeled": result.n_labeled,
                       "n_unlabeled": result.n_unlabeled,
                       "labeled_sha256": result.split["labeled_sha256"][:12],
                       "seconds": round(time.perf_counter() - start, 1),
                       "run_dir": str(run_dir)}
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                done.to_csv(results_path, index=False)
                print(f"test {tested} {model} fraction={fraction:g} seed={seed}: accuracy "
                      f"{row['accuracy']:.3f} macro-F1 {row['macro_f1']:.3f} "
                      f"(val {row['best_val_macro_f1']:.3f}, {row['seconds']:.0f} s)", flush=True)
    return done


def summary(results) -> str:
    """Mean ± std over seeds per model and labeled fraction, as a markdown table."""
    grouped = results.groupby(["model", "labeled_fraction"])
    lines = ["| model | labeled | runs | accuracy | macro-F1 | val macro-F1 |",
             "|---|---|---|---|---|---|"]
    for (model, fraction), g in grouped:
        def fmt(col):
            return f"{g[col].mean():.3f} ± {g[col].std(ddof=0):.3f}"
        lines.append(f"| {model} | {fraction:g} | {len(g)} | {fmt('accuracy')} | "
                     f"{fmt('macro_f1')} | {fmt('best_val_macro_f1')} |")
    paired = results.pivot_table(index=["test_subjects", "labeled_fraction", "seed"],
                                 columns="model", values="macro_f1")
    if {"baseline", "sgan"} <= set(paired.columns):
        gain = (paired["sgan"] - paired["baseline"]).dropna()
        lines += ["", "| labeled | pairs | SGAN - baseline macro-F1 | per pair |", "|---|---|---|---|"]
        for fraction, g in gain.groupby(level="labeled_fraction"):
            pairs = ", ".join(f"{v:+.3f}" for v in g)
            lines.append(f"| {fraction:g} | {len(g)} | {g.mean():+.3f} ± {g.std(ddof=0):.3f} | "
                         f"{pairs} |")
    return "\n".join(lines)


def _within(windows_path, subjects, out_dir) -> Path:
    """A copy of the windows file holding only ``subjects``."""
    import numpy as np

    from exermote_sgan.data.windows_file import load_windows, save_windows

    window_set = load_windows(windows_path)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return save_windows(Path(out_dir) / "windows_within.h5",
                        window_set.subset(np.isin(window_set.subjects, subjects)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("windows", help="windows file (exermote-sgan preprocess)")
    parser.add_argument("--out", required=True, help="experiment directory")
    parser.add_argument("--test-subjects", type=int, nargs="+", default=[4],
                        help="subjects held out for testing")
    parser.add_argument("--within", type=int, nargs="+", metavar="ID",
                        help="use only these subjects and test on each in turn (settings are "
                             "chosen this way without touching the final test subject)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to run")
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.05],
                        help="labeled fractions")
    parser.add_argument("--models", nargs="+", default=["baseline", "sgan"],
                        choices=["baseline", "sgan"], help="models to train")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per run (default: train's recommended default)")
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a TrainConfig field, e.g. entropy_weight=0.1")
    parser.add_argument("--verbose", type=int, default=0, help="Keras verbosity per run")
    args = parser.parse_args(argv)
    folds = [[s] for s in args.within] if args.within else [args.test_subjects]
    windows = _within(args.windows, args.within, args.out) if args.within else args.windows
    for test_subjects in folds:
        results = run_experiment(windows, args.out, test_subjects=test_subjects,
                                 seeds=args.seeds, fractions=args.fractions, models=args.models,
                                 epochs=args.epochs, overrides=_parse_overrides(args.overrides),
                                 verbose=args.verbose)
    print(summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
