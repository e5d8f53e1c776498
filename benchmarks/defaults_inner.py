"""Experiment: choose one set of defaults on the inner folds of BOTH datasets at once.

Usage::

    python benchmarks/defaults_inner.py --out EXP_DIR \\
        --candidate "" --candidate "trunk=pool,scaler_quantile=0.01,augment_rotation=60" \\
        [--datasets exermote watch] [--seeds 0 1 2] [--epochs N] [--steps-per-epoch N]
        [--stride-seconds 0.2] [--outer-folds N]
    python benchmarks/defaults_inner.py --out EXP_DIR --summary-only

A candidate is a comma-separated list of ``KEY=VALUE``: ``window_seconds`` (the windows'
length; the rows per window follow from each dataset's rate) and any ``TrainConfig`` field
(``trunk``, ``scaler_quantile``, ``augment_rotation``, ``augment_scale``, ``conv_filters``, ...).
The empty candidate is today's defaults (4 s windows); the first candidate given is the
reference the others are measured against.

Both datasets in ``../shared`` are scored on inner folds that never read an outer test subject
(:func:`watch_inner.inner_folds`, :func:`watch_inner.without_outer`): for each outer fold its
subjects are removed, the baseline trains on the rest but the next fold's subjects, and is
scored on those.  Exermote's outer folds are its four people one at a time (inner: the next
person), the watch's the five pairs of ``benchmarks/watch.py`` (inner: the next pair).  Beside
every candidate the reference forest (:mod:`exermote_sgan.experiments.forest`) is scored on the
same inner folds and seeds, once per window length (it does not depend on the network's
settings).  Every run goes through ``exermote_sgan.experiments.compare.compare`` (the same
labeled windows for the network and the forest; finished runs are skipped when restarted).

The summary gives, per dataset and candidate, the mean over the inner folds per seed, then
mean ± sd over seeds, the margin over the forest, and the verdict: a candidate **wins only if
it beats the reference candidate on both datasets** (mean macro-F1).  Nothing here reads an
outer test subject, so the winner may then be run once on each dataset's outer folds.
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
from sgan_vs_baseline import _parse_overrides  # noqa: E402
from watch import FOLDS as WATCH_FOLDS  # noqa: E402
from watch import preprocess_command as watch_preprocess  # noqa: E402
from watch_inner import inner_folds, without_outer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
#: the outer folds of each dataset (held out in turn, never read by this experiment's scores)
OUTER_FOLDS = {"exermote": ((1,), (2,), (3,), (4,)), "watch": WATCH_FOLDS}
RAW = {"exermote": SHARED / "exermote" / "raw", "watch": SHARED / "watch" / "raw"}
DEFAULT_WINDOW_SECONDS = 4.0
FOREST_DIR = "forest"


def parse_candidate(text: str) -> tuple[str, float, dict]:
    """``(name, window_seconds, train_options)`` of ``"k=v,k=v"``; ``""`` is the defaults."""
    pairs = [p.strip() for p in str(text).split(",") if p.strip()]
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise SystemExit(f"defaults_inner: candidate {text!r}: {bad[0]!r} is not KEY=VALUE")
    options = _parse_overrides(pairs)
    seconds = float(options.pop("window_seconds", DEFAULT_WINDOW_SECONDS))
    if not seconds > 0:
        raise SystemExit(f"defaults_inner: candidate {text!r}: window_seconds must be > 0")
    from exermote_sgan.training.config import TrainConfig

    unknown = sorted(set(options) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise SystemExit(f"defaults_inner: candidate {text!r}: {', '.join(unknown)} is not a "
                         "TrainConfig field or window_seconds")
    shown = {**options, **({"window_seconds": seconds}
                           if seconds != DEFAULT_WINDOW_SECONDS else {})}
    name = ",".join(f"{k}={v}" for k, v in sorted(shown.items())) or "default"
    return name, seconds, options


def preprocess_command(dataset: str, raw, out, *, window_seconds: float,
                       stride_seconds: float) -> list[str]:
    """The one ``exermote-sgan preprocess`` command of a dataset's whole folder."""
    if dataset == "watch":
        return watch_preprocess(raw, out, window_seconds=window_seconds,
                                stride_seconds=stride_seconds)
    return ["exermote-sgan", "preprocess", str(raw), "--out", str(out), "--window-seconds",
            f"{window_seconds:g}", "--stride-seconds", f"{stride_seconds:g}", "--no-progress"]


def windows_file(out: Path, dataset: str, raw, *, window_seconds: float,
                 stride_seconds: float) -> Path:
    """The dataset's windows file for one window length (made once)."""
    folder = out / dataset / f"w{window_seconds:g}s-stride{stride_seconds:g}s"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "windows.h5"
    if not path.is_file():
        command = preprocess_command(dataset, raw, path, window_seconds=window_seconds,
                                     stride_seconds=stride_seconds)
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    return path


def score_inner_folds(dataset: str, windows: Path, name: str, options: dict, *, seeds,
                      epochs, steps_per_epoch, outer_folds=None) -> None:
    """The baseline of one candidate and the forest on each inner fold of ``dataset``."""
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.experiments.compare import compare

    window_set = load_windows(windows)
    folds = inner_folds(OUTER_FOLDS[dataset])[:outer_folds]
    train_options = {"verbose": 0, "steps_per_epoch": steps_per_epoch}
    for outer, inner in folds:
        fold_dir = windows.parent / ("outer" + "+".join(map(str, outer)))
        kept = without_outer(window_set, outer, fold_dir)  # no outer test subject in it
        common = dict(test_subjects=list(inner), labeled_fractions=[1.0], seeds=list(seeds))
        compare(kept, out_dir=fold_dir / name, models=("baseline",), epochs=epochs,
                train_options={**train_options, **options}, **common)
        compare(kept, out_dir=fold_dir / FOREST_DIR, models=("forest",), **common)
        print(f"{dataset}: outer {outer}, inner {inner}: {name} and the forest scored",
              flush=True)


def collect(out: Path):
    """Every inner-fold result: dataset, window folder, candidate, model, seed, figures."""
    import pandas as pd

    from exermote_sgan.experiments.compare import read_results

    frames = []
    for path in sorted(out.glob("*/w*s-stride*s/outer*/*/results.csv")):
        frame = read_results(path)
        window_dir, candidate = path.parents[2].name, path.parent.name
        frame["dataset"] = path.parents[3].name
        frame["windows"] = window_dir
        frame["candidate"] = candidate
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def candidate_scores(results, order):
    """Per dataset and candidate (and the forest per window folder): the mean over inner
    folds per seed, then mean and sd over the seeds (macro-F1 and accuracy)."""
    import pandas as pd

    rows = []
    for (dataset, windows, candidate, model), g in results.groupby(
            ["dataset", "windows", "candidate", "model"], sort=True):
        per_seed = g.groupby("seed")[["accuracy", "macro_f1"]].mean()
        rows.append({"dataset": dataset, "windows": windows, "candidate": candidate,
                     "model": model, "folds": g["test_subjects"].nunique(),
                     "seeds": len(per_seed), "accuracy": per_seed["accuracy"].mean(),
                     "accuracy_sd": per_seed["accuracy"].std(ddof=0),
                     "macro_f1": per_seed["macro_f1"].mean(),
                     "macro_f1_sd": per_seed["macro_f1"].std(ddof=0)})
    table = pd.DataFrame(rows)
    if not table.empty:
        rank = {name: i for i, name in enumerate(order)}
        table["rank"] = table["candidate"].map(lambda c: rank.get(c, len(rank)))
        table = table.sort_values(["dataset", "windows", "rank", "candidate"]).drop(
            columns="rank")
    return table


def summary(results, order) -> str:
    """The Markdown tables: every candidate beside the forest per dataset, then the verdict."""
    table = candidate_scores(results, order)
    if table.empty:
        return "no results yet"
    lines = ["| dataset | windows | candidate | inner folds | seeds | accuracy | macro-F1 | "
             "network - forest |", "|---|---|---|---|---|---|---|---|"]
    forest = {(r.dataset, r.windows): r.macro_f1 for r in table.itertuples()
              if r.model == "forest"}
    for r in table.itertuples():
        margin = ("" if r.model == "forest" or (r.dataset, r.windows) not in forest else
                  f"{100 * (r.macro_f1 - forest[(r.dataset, r.windows)]):+.1f}")
        name = "forest (reference)" if r.model == "forest" else r.candidate
        lines.append(f"| {r.dataset} | {r.windows} | {name} | {r.folds} | {r.seeds} | "
                     f"{r.accuracy:.3f} ± {r.accuracy_sd:.3f} | "
                     f"{r.macro_f1:.3f} ± {r.macro_f1_sd:.3f} | {margin} |")
    lines += ["", verdict(table, order)]
    return "\n".join(lines)


def verdict(table, order) -> str:
    """Which candidates beat the reference (the first) on BOTH datasets' inner folds."""
    networks = table[table["model"] != "forest"]
    scores = networks.pivot_table(index="candidate", columns="dataset", values="macro_f1")
    reference = next((c for c in order if c in scores.index), None)
    if reference is None or scores.shape[1] < 2 or scores.isna().any(axis=None):
        return ("Verdict: needs every candidate scored on both datasets "
                f"(have: {', '.join(scores.columns)}).")
    partial = sorted({r.dataset for r in networks.itertuples()
                      if r.folds < len(OUTER_FOLDS.get(r.dataset, ()))})
    lines = [f"Verdict against the reference `{reference}` (macro-F1 points, per dataset; a "
             "candidate wins only if it is better on both):", ""]
    if partial:
        lines[0] = (f"Not a choice: {', '.join(partial)} scored on only some inner folds "
                    "(--outer-folds). " + lines[0])
    for candidate in [c for c in order if c in scores.index and c != reference]:
        gains = 100 * (scores.loc[candidate] - scores.loc[reference])
        both = bool((gains > 0).all())
        lines.append(f"- `{candidate}`: " + ", ".join(
            f"{dataset} {gain:+.1f}" for dataset, gain in gains.items())
            + (" -- wins on both" if both else " -- does not win on both"))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="experiment directory")
    parser.add_argument("--candidate", dest="candidates", action="append", default=None,
                        metavar="K=V,...", help="a setting to score ('' = the defaults; the "
                                                "first is the reference); repeat")
    parser.add_argument("--datasets", nargs="+", choices=sorted(OUTER_FOLDS),
                        default=sorted(OUTER_FOLDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help="epoch cap (default: the training default; early stopping ends)")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="batches per epoch (default: the data's budget)")
    parser.add_argument("--stride-seconds", type=float, default=0.2,
                        help="seconds between windows (default: 0.2, both datasets' own)")
    parser.add_argument("--outer-folds", type=int, default=None, metavar="N",
                        help="only the first N outer folds' inner folds (a quick look; the "
                             "verdict needs all)")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args(argv)

    out = Path(args.out)
    candidates = [parse_candidate(c) for c in (args.candidates or [""])]
    order = [name for name, _, _ in candidates]
    if not args.summary_only:
        for dataset in args.datasets:
            for name, seconds, options in candidates:
                windows = windows_file(out, dataset, RAW[dataset], window_seconds=seconds,
                                       stride_seconds=args.stride_seconds)
                score_inner_folds(dataset, windows, name, options, seeds=args.seeds,
                                  epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                                  outer_folds=args.outer_folds)
    results = collect(out)
    text = summary(results, order) if not results.empty else f"no results in {out}"
    print(text)
    if not results.empty:
        (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
