"""Experiment: choose watch settings across people, on inner folds that never touch a test subject.

Usage::

    python benchmarks/watch_inner.py --out EXP_DIR [--window-seconds 4 8 12] [--seeds 0]
        [--epochs 60] [--steps-per-epoch 100] [--set KEY=VALUE ...] [--forest] [--ensemble 3]
    python benchmarks/watch_inner.py --out EXP_DIR --summary-only

``benchmarks/watch.py`` chose its settings on validation *recordings of the training subjects*,
which score 0.93-0.98 and say little about a new person (0.79 on the test subjects).  This
experiment scores a setting on *training subjects held out*: for each outer fold of
``benchmarks/watch.py`` (subjects (1, 2), ..., (9, 10)), that fold's subjects are removed, the
baseline trains on six of the remaining eight subjects and is scored on the next fold's pair.
The outer test subjects are never read, so a setting chosen here may be reported on them.

``--forest`` adds a diagnostic on the same inner folds and windows: a random forest on
per-window statistics (mean, sd, min, max, 10th and 90th percentile of the six axes and of the
two magnitudes; the correlations between axes), the kind of model the study behind this data
used.  It is not a model of the package; it tells whether a gap is in the network or in the data.

``--ensemble N`` combines each inner fold's runs of N consecutive seeds (0-2, 3-5, ...) with
``exermote-sgan ensemble`` and scores them on the same inner pair (model ``ensemble-N``).

Each window length is one ``exermote-sgan preprocess`` of the whole folder (``watch.py``'s
command).  Every run appends a row to its inner fold's ``results.csv``; restarting skips finished
runs.  The summary gives, per window length and setting, the mean over the 5 inner folds per
seed, then mean ± sd over seeds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from watch import FOLDS, preprocess_command  # noqa: E402


def inner_folds(folds=FOLDS):
    """``(outer test subjects, inner validation subjects)``: the next fold's subjects score a
    setting (``folds``: the watch's pairs by default; ``benchmarks/defaults_inner.py`` passes
    the Exermote people too)."""
    folds = tuple(tuple(fold) for fold in folds)
    return [(fold, folds[(i + 1) % len(folds)]) for i, fold in enumerate(folds)]


def without_outer(window_set, outer, fold_dir: Path) -> Path:
    """``fold_dir/windows.h5``: the windows of every subject but the outer test ones (written
    once), so nothing trained or scored on it can read an outer test subject."""
    import numpy as np

    from exermote_sgan.data.windows_file import save_windows

    kept = Path(fold_dir) / "windows.h5"
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        save_windows(kept, window_set.subset(~np.isin(window_set.subjects, list(outer))))
    return kept


def setting_name(overrides: dict, *, epochs: int = 60, steps_per_epoch: int = 100) -> str:
    """The folder name of a setting: what differs from the adopted one, or ``default``."""
    budget = {"epochs": epochs, "steps_per_epoch": steps_per_epoch}
    changed = {k: v for k, v in budget.items() if v != {"epochs": 60, "steps_per_epoch": 100}[k]}
    return ",".join(f"{k}={v}" for k, v in sorted({**changed, **overrides}.items())) or "default"


def window_statistics(windows):
    """Per-window statistics ``(n, 63)`` of six-axis windows ``(n, timesteps, 6)``: six statistics
    of eight channels (the axes and the two magnitudes), then the 15 correlations between axes."""
    import numpy as np

    x = np.asarray(windows, dtype=np.float64)
    magnitudes = np.stack([np.linalg.norm(x[..., :3], axis=-1),
                           np.linalg.norm(x[..., 3:6], axis=-1)], axis=-1)
    z = np.concatenate([x, magnitudes], axis=-1)
    stats = [z.mean(1), z.std(1), z.min(1), z.max(1),
             np.percentile(z, 10, axis=1), np.percentile(z, 90, axis=1)]
    upper = np.triu_indices(x.shape[-1], 1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant axis: 0, below
        correlations = np.stack([np.corrcoef(w.T)[upper] for w in x])
    return np.nan_to_num(np.concatenate(stats + [correlations], axis=1))


def forest_scores(window_set, fit_subjects, scored_subjects, *, seed: int, every: int = 2):
    """Accuracy and macro-F1 of a random forest on window statistics (every ``every``-th window)."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score

    def part(subjects):
        idx = np.flatnonzero(np.isin(window_set.subjects, subjects))[::every]
        return window_statistics(window_set.windows[idx]), window_set.labels[idx]

    x_fit, y_fit = part(fit_subjects)
    x_scored, y_scored = part(scored_subjects)
    forest = RandomForestClassifier(200, min_samples_leaf=2, random_state=seed, n_jobs=1)
    predicted = forest.fit(x_fit, y_fit).predict(x_scored)
    return accuracy_score(y_scored, predicted), f1_score(y_scored, predicted, average="macro")


def summary(results) -> str:
    """Per window length and setting: 5-fold mean per seed, then mean ± sd over seeds."""
    lines = ["| window | setting | model | runs | accuracy | macro-F1 |",
             "|---|---|---|---|---|---|"]
    for (seconds, setting, model), g in results.groupby(["window_seconds", "setting", "model"],
                                                        sort=True):
        per_seed = g.groupby("seed")[["accuracy", "macro_f1"]].mean()
        complete = per_seed[g.groupby("seed").size() == len(FOLDS)]
        if complete.empty:
            continue

        def fmt(col):
            return f"{complete[col].mean():.3f} ± {complete[col].std(ddof=0):.3f}"
        lines.append(f"| {seconds:g} s | {setting} | {model} | {len(complete) * len(FOLDS)} | "
                     f"{fmt('accuracy')} | {fmt('macro_f1')} |")
    return "\n".join(lines)


def collect(out: Path):
    import pandas as pd

    frames = []
    for path in sorted(out.glob("w*s/outer*/*/results.csv")):
        frame = pd.read_csv(path, dtype={"test_subjects": str})
        frame["window_seconds"] = float(path.parents[2].name[1:-1])
        frame["setting"] = path.parent.name
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=str(ROOT.parent / "shared" / "data" / "watch" / "raw"),
                        help="the watch recordings folder (default: ../shared/data/watch/raw)")
    parser.add_argument("--out", required=True, help="experiment directory")
    parser.add_argument("--window-seconds", type=float, nargs="+", default=[4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a TrainConfig field, e.g. --set dropout=0.5")
    parser.add_argument("--forest", action="store_true",
                        help="also score the random-forest diagnostic on the same inner folds")
    parser.add_argument("--ensemble", type=int, default=None, metavar="N",
                        help="also score ensembles of N consecutive seeds on the inner folds")
    parser.add_argument("--summary-only", action="store_true",
                        help="print the table of EXP_DIR's results and stop")
    args = parser.parse_args(argv)

    out = Path(args.out)
    if not args.summary_only:
        import numpy as np
        import pandas as pd

        from exermote_sgan.data.windows_file import load_windows
        from sgan_vs_baseline import _parse_overrides, run_experiment
        from watch import add_ensembles

        extra = _parse_overrides(args.overrides)
        name = setting_name(extra, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
        for seconds in args.window_seconds:
            folder = out / f"w{seconds:g}s"
            folder.mkdir(parents=True, exist_ok=True)
            windows = folder / "watch.h5"
            if not windows.is_file():
                command = preprocess_command(args.raw, windows, window_seconds=seconds)
                print("$", " ".join(command), flush=True)
                subprocess.run(command, check=True)
            window_set = load_windows(windows)
            for outer, inner in inner_folds():
                fold_dir = folder / f"outer{outer[0]}+{outer[1]}"
                kept = without_outer(window_set, outer, fold_dir)  # no outer test subject
                run_experiment(kept, fold_dir / name, test_subjects=inner, seeds=args.seeds,
                               fractions=(1.0,), models=("baseline",), epochs=args.epochs,
                               overrides={"steps_per_epoch": args.steps_per_epoch, **extra})
                if args.ensemble:
                    add_ensembles(fold_dir / name / "results.csv", fold_dir / name, args.ensemble)
                if not args.forest:
                    continue
                forest_csv = fold_dir / "random-forest" / "results.csv"
                rows = pd.read_csv(forest_csv) if forest_csv.is_file() else pd.DataFrame()
                fit = [s for s in np.unique(window_set.subjects) if s not in outer + inner]
                for seed in args.seeds:
                    if not rows.empty and (rows["seed"] == seed).any():
                        continue
                    accuracy, macro_f1 = forest_scores(window_set, fit, inner, seed=seed)
                    row = {"test_subjects": f"{inner[0]}+{inner[1]}", "model": "random-forest",
                           "seed": seed, "accuracy": accuracy, "macro_f1": macro_f1}
                    rows = pd.concat([rows, pd.DataFrame([row])], ignore_index=True)
                    forest_csv.parent.mkdir(parents=True, exist_ok=True)
                    rows.to_csv(forest_csv, index=False)
                    print(f"outer {outer} inner {inner} random forest: accuracy {accuracy:.3f} "
                          f"macro-F1 {macro_f1:.3f}", flush=True)
    results = collect(out)
    print(summary(results) if not results.empty else f"no results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
