"""Does the semi-supervised GAN beat the supervised baseline when few windows are labeled?

For every labeled fraction and seed each model is trained on the same labeled windows (the
training library draws them from the seed and the fraction alone, and each run's
``split.json`` records a hash of them, which is checked here) and evaluated on the same
held-out subjects.  The comparison writes

``results.csv``
    one row per held-out fold, fraction, seed and model: ``test_subjects`` (``"4"``, or
    ``"1+2"`` for two), ``accuracy``, ``macro_f1``, ``n_labeled``, ``labeled_hash``,
    ``run_dir``;
``summary.md``
    mean ± standard deviation over seeds per fraction and model, and the SGAN-minus-baseline
    macro-F1 difference per fraction, paired by seed (and held-out subject), with a Wilcoxon
    signed-rank test; for a leave-each-subject-out grid also the per-subject table
    (:mod:`~exermote_sgan.experiments.grid_report`);
``compare.png``
    both figures against the labeled fraction (:func:`~exermote_sgan.experiments.grid_report.
    plot_compare`); ``subjects.png`` per held-out subject for a leave-each-subject-out grid;
``runs/<model>-f<fraction>-s<seed>/``
    each trained run (``runs/test<N>/<model>-f<fraction>-s<seed>/`` when each subject is
    held out in turn).

With ``leave_each_subject_out`` every subject (or each of those given) is the test subject in
turn and the others train: the grid behind a leave-one-person-out table.

A run whose ``metrics.json`` and ``split.json`` exist is not trained again, and a run
interrupted during training continues from its last epoch, so an interrupted comparison picks
up where it stopped.  The settings shared by all runs are kept in ``compare_settings.json``;
continuing with other settings in the same directory is refused rather than mixing runs that
are not comparable.  The runs go one after another in this process (``backend="serial"``) or
as Ray tasks (``backend="ray"``, :mod:`~exermote_sgan.experiments.grid`), with the same results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import (atomic_output, atomic_write_text, check_replaceable_dir,
                      ensure_writable_dir)
from ..errors import ExermoteInputError
from ..runs import METRICS_FILE, SPLIT_FILE
# paired_differences and wilcoxon_p stay importable from here, where they used to live
from .statistics import format_p, paired_difference, pm


#: the networks, and the reference random forest (:mod:`.forest`) beside them
MODELS = ("baseline", "sgan", "forest")
RESULT_COLUMNS = ("test_subjects", "labeled_fraction", "seed", "model", "accuracy", "macro_f1",
                  "n_labeled", "labeled_hash", "run_dir")
RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.md"
PLOT_FILE = "compare.png"
SUBJECTS_PLOT_FILE = "subjects.png"
SETTINGS_FILE = "compare_settings.json"


def run_name(model: str, fraction: float, seed: int) -> str:
    """Directory name of one run of the comparison, e.g. ``sgan-f0.05-s1``."""
    return f"{model}-f{float(fraction):g}-s{int(seed)}"


def fold_name(test_subjects) -> str:
    """The ``test_subjects`` value of a fold in ``results.csv``: ``"4"``, ``"1+2"``."""
    return "+".join(str(int(s)) for s in test_subjects)


# -- validation ---------------------------------------------------------------------------------

def _check_options(windows_path, test_subjects, leave_each_subject_out, labeled_fractions,
                   seeds, models, epochs):
    """Check the options; return ``(folds, fractions, seeds, models)``."""
    from ..errors import as_sequence

    for option, value, example in (("test_subjects", test_subjects, "[4]"),
                                   ("labeled_fractions", labeled_fractions, "[0.05, 1.0]"),
                                   ("seeds", seeds, "[0, 1, 2]"), ("models", models,
                                                                    "['baseline', 'sgan']")):
        if value is not None:
            as_sequence(value, option=option, example=example)
    if leave_each_subject_out not in (None, True, False):
        as_sequence(leave_each_subject_out, option="leave_each_subject_out",
                    example="True (every subject) or [1, 2]")
    if leave_each_subject_out is not None and leave_each_subject_out is not False:
        if test_subjects:
            raise ExermoteInputError("give test subjects or leave each subject out, not both",
                                     option="test_subjects")
    elif not test_subjects:
        raise ExermoteInputError("give at least one test subject (or leave each subject out "
                                 "in turn): the comparison evaluates on subjects that no model "
                                 "trains on", option="test_subjects")
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
    from ..training.config import TrainConfig

    for seed in seeds:  # train's rule for a seed, before anything is written
        TrainConfig(windows_path=Path(windows_path), seed=seed).validate()
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
    from ..data.windows_file import check_subjects, read_subjects

    present = sorted(int(s) for s in read_subjects(windows_path))
    if test_subjects:
        folds = [tuple(int(s) for s in test_subjects)]
    else:
        chosen = present if leave_each_subject_out is True else sorted(
            {int(s) for s in leave_each_subject_out})
        if len(present) < 2:
            raise ExermoteInputError(
                f"holds one subject ({present[0] if present else 'none'}): leaving each "
                "subject out needs at least two", path=windows_path, column="subjects")
        if not chosen:
            raise ExermoteInputError("name at least one subject to hold out, or none for "
                                     "every subject", option="leave_each_subject_out")
        folds = [(subject,) for subject in chosen]
    for fold in folds:
        check_subjects(fold, present, path=windows_path, test=True)
    return folds, fractions, seeds, models


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


def _result_row(model: str, fraction: float, seed: int, run_dir: Path,
                test_subjects=(), windows_sha256: str | None = None) -> dict:
    metrics = _read_json(run_dir / METRICS_FILE)
    split_path = run_dir / SPLIT_FILE
    split = _read_json(split_path)
    for key in ("accuracy", "macro_f1"):
        if not isinstance(metrics.get(key), (int, float)):
            raise ExermoteInputError(f"has no numeric {key!r}", path=run_dir / METRICS_FILE)
    _check_same_data(split, split_path, windows_sha256)
    return {"test_subjects": fold_name(test_subjects),
            "labeled_fraction": float(fraction), "seed": int(seed), "model": model,
            "accuracy": float(metrics["accuracy"]), "macro_f1": float(metrics["macro_f1"]),
            "n_labeled": int(_split_value(split, "n_labeled", int, split_path)),
            "labeled_hash": _split_value(split, "labeled_sha256", str, split_path),
            "run_dir": str(run_dir)}


def _check_same_data(split: dict, split_path: Path, windows_sha256: str | None) -> None:
    """Refuse a finished run trained on other data than the windows file holds now (the file
    was replaced under the same name); warn about a run too old to tell."""
    if windows_sha256 is None:
        return
    recorded = split.get("windows_sha256")
    if recorded is None:
        import warnings

        from ..training.train_lib import TrainingDataWarning

        warnings.warn(f"{split_path} records no content hash of its windows file (a run from "
                      "before it was recorded): it is reused although this comparison cannot "
                      "tell whether the file changed since; delete the run to retrain it",
                      TrainingDataWarning, stacklevel=3)
    elif recorded != windows_sha256:
        raise ExermoteInputError(
            f"was trained on other data than {split.get('windows_path')} holds now (its "
            "windows_sha256 differs): the windows file was replaced; compare into a new "
            "output directory, or delete its runs/ to retrain them", path=split_path)


def _check_train_options(windows_path, test_subjects, models, epochs, train_options) -> None:
    """Let the training library refuse bad options before any run starts."""
    from ..training import train_lib

    for model in models:
        try:  # the forest takes the windows of a baseline with the same options
            config = train_lib.TrainConfig(windows_path=Path(windows_path),
                                           model="baseline" if model == "forest" else model,
                                           test_subjects=tuple(test_subjects), epochs=epochs,
                                           **train_options)
        except TypeError as exc:
            raise ValueError(f"compare: train_options: {exc}") from None
        config.validate()


def _finished(run_dir: Path) -> bool:
    from .grid import finished

    return finished(run_dir)


def _settings_options(train_options: dict) -> dict:
    """The training options that set something: those that differ from the defaults, so a
    comparison continued from the command line (which passes every default) matches one
    started from Python (which passes only what it changes)."""
    from dataclasses import MISSING, fields

    from ..training.config import TrainConfig

    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    chosen = {k: v for k, v in train_options.items()
              if k != "verbose" and not (k in defaults and _same(v, defaults[k]))}
    return json.loads(json.dumps(chosen, default=str))


def _same(value, default) -> bool:
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) == list(default)
    return type(value) is type(default) and value == default or (
        value is None and default is None)


def _check_settings(out_dir: Path, settings: dict) -> None:
    """Refuse to mix finished runs of different settings in one output directory."""
    path = out_dir / SETTINGS_FILE
    runs_dir = out_dir / "runs"
    # runs/<run>/ for one fold, runs/test<N>/<run>/ when each subject is held out in turn
    finished = runs_dir.is_dir() and any(_finished(split.parent)
                                         for split in runs_dir.rglob(SPLIT_FILE))
    if path.is_file() and finished:
        previous = _read_json(path)
        if "windows_sha256" not in previous:  # written before the hash was recorded
            settings = {k: v for k, v in settings.items() if k != "windows_sha256"}
        elif previous["windows_sha256"] != settings.get("windows_sha256"):
            raise ExermoteInputError(
                f"holds runs trained on other data than {settings['windows_path']} holds now "
                "(windows_sha256 differs: the windows file was replaced); compare into a new "
                "output directory, or delete this one's runs/ to retrain them", path=path)
        if isinstance(previous.get("train_options"), dict):  # as written by older versions
            previous["train_options"] = _settings_options(previous["train_options"])
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

def compare(windows_path, *, test_subjects=None, leave_each_subject_out=None,
            labeled_fractions=(0.02, 0.05, 0.1, 0.25, 1.0), seeds=(0, 1, 2), out_dir,
            models=MODELS, epochs: int | None = None, train_options: dict | None = None,
            progress: bool = False, backend: str = "serial", ray_options=None):
    """Train every model on every labeled fraction and seed; return the results table.

    Either ``test_subjects`` (one fold: those subjects are held out) or
    ``leave_each_subject_out`` (``True``: every subject of the windows file is held out in
    turn; a list: each of those subjects) says what is tested.  ``train_options`` go to
    :class:`~exermote_sgan.training.train_lib.TrainConfig` as they are (``batch_size``,
    ``labeled_unit``, ``verbose``, tuning fields); the comparison sets ``windows_path``,
    ``model``, ``out_dir``, ``test_subjects``, ``labeled_fraction``, ``epochs`` and ``seed``
    itself.  ``backend`` is ``"serial"`` (this process, one run at a time) or ``"ray"`` (Ray
    tasks, where ``ray_options`` is a :class:`~exermote_sgan.experiments.ray_backend.RayOptions`).
    With ``progress`` a progress bar goes to stderr.  Returns a :class:`pandas.DataFrame` with
    :data:`RESULT_COLUMNS`, also written to ``out_dir/results.csv`` with ``summary.md`` and
    the plots.
    """
    import pandas as pd

    from .grid import BACKENDS, GridRun, run_grid

    if backend not in BACKENDS:
        raise ExermoteInputError(f"must be one of {', '.join(BACKENDS)}, got {backend!r}",
                                 option="backend")
    if ray_options is not None:
        ray_options.validate()
    folds, fractions, seeds, models = _check_options(
        windows_path, test_subjects, leave_each_subject_out, labeled_fractions, seeds, models,
        epochs)
    train_options = dict(train_options or {})
    reserved = {"windows_path", "model", "out_dir", "test_subjects", "labeled_fraction",
                "epochs", "seed"} & set(train_options)
    if reserved:
        raise ValueError(f"compare: train_options may not set {', '.join(sorted(reserved))}; "
                         "the comparison sets them")
    for fold in folds:
        _check_train_options(windows_path, fold, models, epochs, train_options)
    check_replaceable_dir(out_dir, markers=(SETTINGS_FILE, RESULTS_FILE, "runs"),
                          what="a comparison folder")  # never write among the user's files
    out_dir = ensure_writable_dir(out_dir)
    held_out = ({"test_subjects": sorted(folds[0])} if test_subjects else
                {"leave_each_subject_out": [fold[0] for fold in folds]})
    from ..data.windows_file import content_sha256

    windows_sha256 = content_sha256(windows_path)
    _check_settings(out_dir, {"windows_path": str(Path(windows_path).resolve()),
                              "windows_sha256": windows_sha256, **held_out,
                              "epochs": None if epochs is None else int(epochs),
                              "train_options": _settings_options(train_options)})
    runs_dir = ensure_writable_dir(out_dir / "runs")

    def directory(fold):
        return runs_dir if test_subjects else runs_dir / f"test{fold_name(fold)}"

    plan = [GridRun(model=m, labeled_fraction=f, seed=s, test_subjects=tuple(fold),
                    run_dir=directory(fold) / run_name(m, f, s),
                    windows_path=Path(windows_path), epochs=epochs, train_options=train_options)
            for fold in folds for f in fractions for s in seeds for m in models]
    order = {run: i for i, run in enumerate(plan)}
    rows: dict[int, dict] = {}

    def on_finished(run):
        rows[order[run]] = _result_row(run.model, run.labeled_fraction, run.seed, run.run_dir,
                                       run.test_subjects, windows_sha256)
        # keep results.csv current so an interrupted comparison still leaves its figures
        _write_results(out_dir, _frame(pd, [rows[i] for i in sorted(rows)]))

    run_grid(plan, backend=backend, ray_options=ray_options, on_finished=on_finished,
             progress=progress, description="compare")
    results = _frame(pd, [rows[i] for i in sorted(rows)])
    _check_same_labeled_windows(results)
    write_report(results, out_dir)
    return results


def _frame(pd, rows):
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def read_results(path):
    """``results.csv`` as written by :func:`compare` (held-out subjects kept as text)."""
    import pandas as pd

    return pd.read_csv(path, dtype={"test_subjects": str})


def _write_results(out_dir: Path, results) -> Path:
    path = out_dir / RESULTS_FILE
    with atomic_output(path) as tmp:
        results.to_csv(tmp, index=False)
    return path


def _check_same_labeled_windows(results) -> None:
    mismatched = [
        f"test subjects {fold}, fraction {fraction:g}, seed {seed}"
        for (fold, fraction, seed), group in results.groupby(
            ["test_subjects", "labeled_fraction", "seed"])
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
        n_labeled=("n_labeled", "mean"), seeds=("seed", "nunique"),
        runs=("macro_f1", "count"))
    summary = summary.reset_index()
    # the networks first, then the forest that they are measured against
    rank = {m: i for i, m in enumerate(MODELS)}
    order = sorted(range(len(summary)), key=lambda i: (
        summary["labeled_fraction"].iloc[i], rank.get(summary["model"].iloc[i], len(rank)),
        str(summary["model"].iloc[i])))
    return summary.iloc[order].reset_index(drop=True)


def format_summary(results) -> str:
    """``summary.md``: the results as Markdown tables."""
    summary = summarize(results)
    folds = results["test_subjects"].nunique() if "test_subjects" in results else 1
    if folds <= 1:
        lines = ["# SGAN versus supervised baseline", "",
                 "Mean ± standard deviation over seeds, on the held-out test subjects. For each "
                 "fraction and seed every model was trained on the same labeled windows.", "",
                 "| labeled fraction | model | labeled windows | accuracy | macro F1 | seeds |",
                 "|---|---|---|---|---|---|"]
    else:
        lines = ["# SGAN versus supervised baseline, each subject held out in turn", "",
                 f"Mean ± standard deviation over all runs ({folds} held-out subjects x seeds), "
                 "each run scored on its held-out subject. For each held-out subject, fraction "
                 "and seed every model was trained on the same labeled windows.", "",
                 "| labeled fraction | model | labeled windows | accuracy | macro F1 | runs |",
                 "|---|---|---|---|---|---|"]
    for row in summary.itertuples(index=False):
        lines.append(f"| {row.labeled_fraction:g} | {row.model} | {row.n_labeled:.0f} | "
                     f"{pm(row.accuracy_mean, row.accuracy_std)} | "
                     f"{pm(row.macro_f1_mean, row.macro_f1_std)} | "
                     f"{row.seeds if folds <= 1 else row.runs} |")
    if "forest" in set(results["model"]):
        lines += ["", "The forest is the reference: 300 trees on each window's mean, sd, min and "
                      "max per feature and per 3-axis magnitude, trained on the same labeled "
                      "windows and scored on the same test subjects."]
    names = {"sgan": "SGAN", "baseline": "baseline", "forest": "forest"}
    for better, worse in (("sgan", "baseline"), ("baseline", "forest"), ("sgan", "forest")):
        lines += _difference_lines(results, names[better], names[worse],
                                   paired_difference(results, better=better, worse=worse),
                                   folds)
    if folds > 1:
        from .grid_report import format_subject_tables

        lines += ["", format_subject_tables(results).rstrip("\n")]
    return "\n".join(lines) + "\n"


def _difference_lines(results, better: str, worse: str, difference, folds: int) -> list[str]:
    """The Markdown table of ``better`` minus ``worse`` macro F1 (none when either is absent)."""
    if not len(difference):
        return []
    paired_by = "seed" if folds <= 1 else "held-out subject and seed"
    unit = "seeds" if folds <= 1 else "pairs"
    lines = ["", f"## {better} minus {worse}, macro F1 (paired by {paired_by})", "",
             f"| labeled fraction | difference | {better} better in | Wilcoxon p |",
             "|---|---|---|---|"]
    for row in difference.itertuples(index=False):
        lines.append(f"| {row.labeled_fraction:g} | {pm(row.mean, row.std)} | "
                     f"{row.wins} of {row.seeds} {unit} | {format_p(row.wilcoxon_p)} |")
    return lines


def write_report(results, out_dir) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.md`` and ``compare.png`` of ``results`` to ``out_dir``,
    and ``subjects.png`` when more than one fold was held out."""
    from .grid_report import plot_compare

    out_dir = ensure_writable_dir(out_dir)
    written = {"results": _write_results(out_dir, results),
               "summary": atomic_write_text(out_dir / SUMMARY_FILE, format_summary(results)),
               "plot": plot_compare(results, out_dir / PLOT_FILE)}
    if "test_subjects" in results and results["test_subjects"].nunique() > 1:
        from .grid_report import plot_subjects

        written["subjects_plot"] = plot_subjects(results, out_dir / SUBJECTS_PLOT_FILE)
    return written
