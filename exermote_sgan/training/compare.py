"""Does the semi-supervised GAN beat the supervised baseline when few windows are labeled?

For every labeled fraction and seed each model is trained on the same labeled windows (the
training library draws them from the seed and the fraction alone, and each run's
``split.json`` records a hash of them, which is checked here) and evaluated on the same
held-out subjects.  The comparison writes

``results.csv``
    one row per fraction, seed and model: ``accuracy``, ``macro_f1``, ``n_labeled``,
    ``labeled_hash``, ``run_dir``;
``summary.md``
    mean ± standard deviation over seeds per fraction and model, and the SGAN-minus-baseline
    macro-F1 difference per fraction, paired by seed;
``compare.png``
    both figures against the labeled fraction (:func:`~exermote_sgan.training.plots.
    plot_compare`);
``runs/<model>-f<fraction>-s<seed>/``
    each trained run.

A run whose ``metrics.json`` and ``split.json`` exist is not trained again, and a run
interrupted during training continues from its last epoch, so an interrupted comparison picks
up where it stopped.  The settings shared by all runs are kept in ``compare_settings.json``;
continuing with other settings in the same directory is refused rather than mixing runs that
are not comparable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_output, atomic_write_text, ensure_writable_dir
from ..errors import ExermoteInputError

__all__ = ["compare", "run_name", "summarize", "paired_difference", "format_summary",
           "write_report", "MODELS", "RESULT_COLUMNS"]

MODELS = ("baseline", "sgan")
RESULT_COLUMNS = ("labeled_fraction", "seed", "model", "accuracy", "macro_f1", "n_labeled",
                  "labeled_hash", "run_dir")
RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.md"
PLOT_FILE = "compare.png"
SETTINGS_FILE = "compare_settings.json"
SPLIT_FILE = "split.json"


def run_name(model: str, fraction: float, seed: int) -> str:
    """Directory name of one run of the comparison, e.g. ``sgan-f0.05-s1``."""
    return f"{model}-f{float(fraction):g}-s{int(seed)}"


# -- validation ---------------------------------------------------------------------------------

def _check_options(windows_path, test_subjects, labeled_fractions, seeds, models, epochs):
    if not test_subjects:
        raise ExermoteInputError("give at least one test subject: the comparison evaluates on "
                                 "subjects that no model trains on", option="test_subjects")
    fractions = [float(f) for f in labeled_fractions]
    if not fractions:
        raise ExermoteInputError("give at least one labeled fraction",
                                 option="labeled_fractions")
    bad = [f for f in fractions if not (0.0 < f <= 1.0) or math.isnan(f)]
    if bad:
        raise ExermoteInputError(f"labeled fractions must lie in (0, 1], got "
                                 f"{', '.join(f'{f:g}' for f in bad)}",
                                 option="labeled_fractions")
    if len({f"{f:g}" for f in fractions}) != len(fractions):
        raise ExermoteInputError("labeled fractions repeat", option="labeled_fractions")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ExermoteInputError("give one or more distinct seeds", option="seeds")
    models = [str(m) for m in models]
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models or len(set(models)) != len(models):
        raise ExermoteInputError(f"models must be distinct names among {', '.join(MODELS)}, "
                                 f"got {', '.join(models) or '(none)'}", option="models")
    if epochs is not None and int(epochs) < 1:
        raise ExermoteInputError(f"epochs must be at least 1, got {epochs}", option="epochs")
    test_subjects = [int(s) for s in test_subjects]
    from ..data.windows_file import check_subjects, read_subjects

    check_subjects(test_subjects, read_subjects(windows_path), path=windows_path, test=True)
    return tuple(test_subjects), fractions, seeds, models


# -- one run ------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    from ..runs import read_json_object

    return read_json_object(path, missing_hint="the training run did not write it",
                            invalid_hint="; delete the run directory to train it again")


def _split_value(split: dict, key: str, kind, path: Path):
    value = split.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ExermoteInputError(f"has no {key!r}; delete the run directory to train it again",
                                 path=path)
    return value


def _result_row(model: str, fraction: float, seed: int, run_dir: Path) -> dict:
    metrics = _read_json(run_dir / "metrics.json")
    split_path = run_dir / SPLIT_FILE
    split = _read_json(split_path)
    for key in ("accuracy", "macro_f1"):
        if not isinstance(metrics.get(key), (int, float)):
            raise ExermoteInputError(f"has no numeric {key!r}", path=run_dir / "metrics.json")
    return {"labeled_fraction": float(fraction), "seed": int(seed), "model": model,
            "accuracy": float(metrics["accuracy"]), "macro_f1": float(metrics["macro_f1"]),
            "n_labeled": int(_split_value(split, "n_labeled", int, split_path)),
            "labeled_hash": _split_value(split, "labeled_sha256", str, split_path),
            "run_dir": str(run_dir)}


def _train_one(windows_path, *, model, fraction, seed, run_dir, test_subjects, epochs,
               train_options):
    from . import train_lib

    interrupted = train_lib.can_resume(run_dir)
    config = train_lib.TrainConfig(
        windows_path=Path(windows_path), model=model, out_dir=Path(run_dir),
        test_subjects=tuple(test_subjects), labeled_fraction=float(fraction),
        epochs=None if epochs is None else int(epochs), seed=int(seed),
        resume=interrupted, **train_options)
    return train_lib.train(config)


def _check_train_options(windows_path, test_subjects, models, epochs, train_options) -> None:
    """Let the training library refuse bad options before any run starts."""
    from . import train_lib

    for model in models:
        try:
            config = train_lib.TrainConfig(windows_path=Path(windows_path), model=model,
                                           test_subjects=tuple(test_subjects), epochs=epochs,
                                           **train_options)
        except TypeError as exc:
            raise ValueError(f"compare: train_options: {exc}") from None
        config.validate()


def _finished(run_dir: Path) -> bool:
    # train writes metrics.json, then split.json: a run is done when both are there
    return (run_dir / "metrics.json").is_file() and (run_dir / SPLIT_FILE).is_file()


def _check_settings(out_dir: Path, settings: dict) -> None:
    """Refuse to mix finished runs of different settings in one output directory."""
    path = out_dir / SETTINGS_FILE
    runs_dir = out_dir / "runs"
    finished = runs_dir.is_dir() and any(_finished(d) for d in runs_dir.iterdir() if d.is_dir())
    if path.is_file() and finished:
        previous = _read_json(path)
        changed = sorted(k for k in set(previous) | set(settings)
                         if previous.get(k) != settings.get(k))
        if changed:
            raise ExermoteInputError(
                "holds a comparison made with other settings (" + "; ".join(
                    f"{k}: was {previous.get(k)!r}, now {settings.get(k)!r}" for k in changed)
                + "); choose another output directory or give the same settings", path=path)
    else:
        atomic_write_text(path, json.dumps(settings, indent=2) + "\n")


# -- the comparison -----------------------------------------------------------------------------

def compare(windows_path, *, test_subjects, labeled_fractions=(0.02, 0.05, 0.1, 0.25, 1.0),
            seeds=(0, 1, 2), out_dir, models=MODELS, epochs: int | None = None,
            train_options: dict | None = None, progress: bool = False):
    """Train every model on every labeled fraction and seed; return the results table.

    ``train_options`` go to :class:`~exermote_sgan.training.train_lib.TrainConfig` as they
    are (``batch_size``, ``labeled_unit``, ``verbose``, tuning fields); the comparison sets
    ``windows_path``, ``model``, ``out_dir``, ``test_subjects``, ``labeled_fraction``,
    ``epochs`` and ``seed`` itself.  With ``progress`` a progress bar goes to stderr.  Returns
    a :class:`pandas.DataFrame` with :data:`RESULT_COLUMNS`, also written to
    ``out_dir/results.csv`` with ``summary.md`` and ``compare.png``.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    test_subjects, fractions, seeds, models = _check_options(
        windows_path, test_subjects, labeled_fractions, seeds, models, epochs)
    train_options = dict(train_options or {})
    reserved = {"windows_path", "model", "out_dir", "test_subjects", "labeled_fraction",
                "epochs", "seed"} & set(train_options)
    if reserved:
        raise ValueError(f"compare: train_options may not set {', '.join(sorted(reserved))}; "
                         "the comparison sets them")
    _check_train_options(windows_path, test_subjects, models, epochs, train_options)
    out_dir = ensure_writable_dir(out_dir)
    _check_settings(out_dir, {"windows_path": str(Path(windows_path).resolve()),
                              "test_subjects": sorted(test_subjects),
                              "epochs": None if epochs is None else int(epochs),
                              "train_options": json.loads(json.dumps(
                                  {k: v for k, v in train_options.items() if k != "verbose"},
                                  default=str))})
    runs_dir = ensure_writable_dir(out_dir / "runs")

    plan = [(f, s, m) for f in fractions for s in seeds for m in models]
    rows = []
    for fraction, seed, model in tqdm(plan, desc="compare", unit="run", disable=not progress):
        run_dir = runs_dir / run_name(model, fraction, seed)
        if not _finished(run_dir):
            _train_one(windows_path, model=model, fraction=fraction, seed=seed,
                       run_dir=run_dir, test_subjects=test_subjects, epochs=epochs,
                       train_options=train_options)
        rows.append(_result_row(model, fraction, seed, run_dir))
        # keep results.csv current so an interrupted comparison still leaves its figures
        _write_results(out_dir, pd.DataFrame(rows, columns=list(RESULT_COLUMNS)))

    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    _check_same_labeled_windows(results)
    write_report(results, out_dir)
    return results


def _write_results(out_dir: Path, results) -> Path:
    path = out_dir / RESULTS_FILE
    with atomic_output(path) as tmp:
        results.to_csv(tmp, index=False)
    return path


def _check_same_labeled_windows(results) -> None:
    mismatched = [
        f"fraction {fraction:g}, seed {seed}"
        for (fraction, seed), group in results.groupby(["labeled_fraction", "seed"])
        if group["labeled_hash"].nunique() > 1]
    if mismatched:
        raise RuntimeError(
            "the models were not trained on the same labeled windows for "
            + "; ".join(mismatched) + " (their split.json hashes differ), so the comparison "
            "would not be fair; delete those run directories and run the comparison again")


def summarize(results):
    """Mean and standard deviation over seeds of each figure, per fraction and model."""
    grouped = results.groupby(["labeled_fraction", "model"], sort=True)
    summary = grouped.agg(
        accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
        macro_f1_mean=("macro_f1", "mean"), macro_f1_std=("macro_f1", "std"),
        n_labeled=("n_labeled", "mean"), seeds=("seed", "nunique"))
    return summary.reset_index()


def paired_difference(results, *, better: str = "sgan", worse: str = "baseline"):
    """Per fraction, ``better`` minus ``worse`` macro F1 paired by seed: mean, std, wins."""
    import pandas as pd

    wide = results.pivot_table(index=["labeled_fraction", "seed"], columns="model",
                               values="macro_f1")
    if better not in wide.columns or worse not in wide.columns:
        return pd.DataFrame(columns=["labeled_fraction", "mean", "std", "wins", "seeds"])
    diff = (wide[better] - wide[worse]).dropna().rename("difference").reset_index()
    table = diff.groupby("labeled_fraction")["difference"].agg(
        mean="mean", std="std", wins=lambda d: int(np.sum(d > 0)), seeds="count")
    return table.reset_index()


def _pm(mean, std) -> str:
    return f"{mean:.3f} ± {std:.3f}" if np.isfinite(std) else f"{mean:.3f}"


def format_summary(results) -> str:
    """``summary.md``: the results as Markdown tables."""
    summary = summarize(results)
    lines = ["# SGAN versus supervised baseline", "",
             "Mean ± standard deviation over seeds, on the held-out test subjects. For each "
             "fraction and seed every model was trained on the same labeled windows.", "",
             "| labeled fraction | model | labeled windows | accuracy | macro F1 | seeds |",
             "|---|---|---|---|---|---|"]
    for row in summary.itertuples(index=False):
        lines.append(f"| {row.labeled_fraction:g} | {row.model} | {row.n_labeled:.0f} | "
                     f"{_pm(row.accuracy_mean, row.accuracy_std)} | "
                     f"{_pm(row.macro_f1_mean, row.macro_f1_std)} | {row.seeds} |")
    difference = paired_difference(results)
    if len(difference):
        lines += ["", "## SGAN minus baseline, macro F1 (paired by seed)", "",
                  "| labeled fraction | difference | SGAN better in |", "|---|---|---|"]
        for row in difference.itertuples(index=False):
            lines.append(f"| {row.labeled_fraction:g} | {_pm(row.mean, row.std)} | "
                         f"{row.wins} of {row.seeds} seeds |")
    return "\n".join(lines) + "\n"


def write_report(results, out_dir) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.md`` and ``compare.png`` of ``results`` to ``out_dir``."""
    from .plots import plot_compare

    out_dir = ensure_writable_dir(out_dir)
    return {"results": _write_results(out_dir, results),
            "summary": atomic_write_text(out_dir / SUMMARY_FILE, format_summary(results)),
            "plot": plot_compare(results, out_dir / PLOT_FILE)}
