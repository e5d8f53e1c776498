"""The results of a comparison: a table per held-out subject, and their plots.

For each labeled fraction :func:`subject_table` gives one row per held-out subject: each
model's macro F1 as mean ± standard deviation over seeds, the SGAN-minus-baseline difference
of every seed (in points, paired: same held-out subject, seed and labeled windows), their mean
and how many the SGAN won, and a last row over all runs.  :func:`format_subject_tables` writes
it in the layout of the README's leave-one-person-out table, followed by SciPy's Wilcoxon
signed-rank test over all pairs and each model's accuracy.  :func:`plot_subjects` draws the
per-subject means with their spread, :func:`plot_compare` each model's scores against the
labeled fraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .statistics import format_p, paired_differences, pm, wilcoxon_p


_NAMES = {"baseline": "baseline", "sgan": "SGAN", "forest": "forest"}


def _subject_order(folds) -> list[str]:
    def key(fold):
        return tuple(int(s) for s in str(fold).split("+"))

    return sorted({str(f) for f in folds}, key=key)


def subject_table(results, fraction: float):
    """Rows per held-out subject (and ``"all N"``) at ``fraction``, as a DataFrame.

    Columns: ``held_out``; ``<model>_mean``, ``<model>_std`` per model; and, when both models
    ran, ``differences`` (a tuple, per seed), ``difference_mean``, ``difference_std``, ``wins``,
    ``pairs``.
    """
    import pandas as pd

    at = results[np.isclose(results["labeled_fraction"].astype(float), float(fraction))]
    models = [m for m in _NAMES if m in set(at["model"])]
    diffs = paired_differences(at)
    rows = []
    for fold in _subject_order(at["test_subjects"]) + [None]:
        part = at if fold is None else at[at["test_subjects"].astype(str) == fold]
        row = {"held_out": f"all {int(part.groupby('model').size().max())}" if fold is None
               else fold}
        for model in models:
            scores = part.loc[part["model"] == model, "macro_f1"]
            row[f"{model}_mean"], row[f"{model}_std"] = scores.mean(), scores.std()
        if diffs is not None:
            own = diffs if fold is None else diffs[diffs["test_subjects"].astype(str) == fold]
            own = own.sort_values(["test_subjects", "seed"])
            row.update(differences=tuple(own["difference"]),
                       difference_mean=own["difference"].mean(),
                       difference_std=own["difference"].std(),
                       wins=int((own["difference"] > 0).sum()), pairs=len(own))
        rows.append(row)
    return pd.DataFrame(rows)


def _points(value) -> str:
    return f"{100 * value:+.1f}"


def format_subject_tables(results) -> str:
    """Markdown: one README-style leave-one-person-out table per labeled fraction."""
    lines = []
    for fraction in sorted(results["labeled_fraction"].astype(float).unique()):
        table = subject_table(results, fraction)
        models = [m for m in _NAMES if f"{m}_mean" in table]
        paired = "differences" in table
        seeds = sorted(results["seed"].unique())
        lines += [f"## Each subject held out in turn, {fraction:g} labeled", "",
                  f"Macro F1 on the held-out subject, mean ± sd over seeds "
                  f"{', '.join(map(str, seeds))}"
                  + ("; SGAN - baseline in points (x100), per seed, paired by held-out "
                     "subject and seed" if paired else "") + ".", ""]
        header = ["held out"] + [_NAMES[m] for m in models]
        if paired:
            header += ["SGAN - baseline, per seed", "mean", "SGAN wins"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        last = len(table) - 1
        best = max(models, key=lambda m: table[f"{m}_mean"].iloc[last]) if paired else None
        for i, row in enumerate(table.to_dict("records")):
            cells = [row["held_out"]]
            for model in models:
                text = pm(row[f"{model}_mean"], row[f"{model}_std"])
                cells.append(f"**{text}**" if i == last and model == best else text)
            if paired and i < last:
                cells += [", ".join(_points(d) for d in row["differences"]),
                          _points(row["difference_mean"]),
                          f"{row['wins']} of {row['pairs']}"]
            elif paired:
                spread = (f" ± {100 * row['difference_std']:.1f}"
                          if np.isfinite(row["difference_std"]) else "")
                cells += [f"**{_points(row['difference_mean'])}{spread}**", "",
                          f"{row['wins']} of {row['pairs']}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if paired:
            all_row = table.iloc[last]
            lines.append(f"A Wilcoxon signed-rank test over the {all_row['pairs']} pairs gives "
                         f"p = {format_p(wilcoxon_p(all_row['differences']))}.")
        at = results[np.isclose(results["labeled_fraction"].astype(float), fraction)]
        accuracy = ", ".join(
            f"{_NAMES[m]} {pm(at.loc[at['model'] == m, 'accuracy'].mean(), at.loc[at['model'] == m, 'accuracy'].std())}"  # noqa: E501
            for m in models)
        lines += [f"Accuracy: {accuracy}.", ""]
    return "\n".join(lines)


def plot_subjects(results, path):
    """Macro F1 per held-out subject (mean ± sd over seeds), a bar per model, a panel per
    labeled fraction; the last group of bars is over all runs."""
    from ..training.plots import new_figure, save_png

    fractions = sorted(results["labeled_fraction"].astype(float).unique())
    fig = new_figure(figsize=(max(6.0, 3.2 * len(fractions) + 2), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(fractions), sharey=True, squeeze=False)[0])
    for axis, fraction in zip(axes, fractions):
        table = subject_table(results, fraction)
        models = [m for m in _NAMES if f"{m}_mean" in table]
        x = np.arange(len(table))
        width = 0.8 / len(models)
        for k, model in enumerate(models):
            axis.bar(x + (k - (len(models) - 1) / 2) * width, table[f"{model}_mean"],
                     width, yerr=table[f"{model}_std"].fillna(0.0), capsize=3,
                     label=_NAMES[model])
        axis.set_xticks(x, [str(h) for h in table["held_out"]])
        axis.set_xlabel("held-out subject")
        axis.set_title(f"{fraction:g} labeled")
        axis.set_ylim(0.0, 1.0)
        axis.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("macro F1 on the held-out subject (mean ± sd over seeds)")
    axes[0].legend(loc="lower left")
    fig.set_layout_engine("tight")
    return save_png(fig, path)


def plot_compare(results, path) -> Path:
    """Accuracy and macro F1 (mean ± std over seeds) against labeled fraction, a line per model.

    ``results`` is a table with columns ``model``, ``labeled_fraction``, ``accuracy`` and
    ``macro_f1`` (one row per model, fraction and seed), as :func:`~exermote_sgan.experiments.
    compare.compare` returns it.
    """
    from ..training.plots import new_figure, save_png

    needed = {"model", "labeled_fraction", "accuracy", "macro_f1"}
    missing = needed - set(results.columns)
    if missing:
        raise ValueError(f"plot_compare: results lack columns {', '.join(sorted(missing))}")
    if len(results) == 0:
        raise ValueError("plot_compare: no results to plot")
    fig = new_figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2, sharex=True)
    for axis, metric, title in ((axes[0], "accuracy", "Accuracy"),
                                (axes[1], "macro_f1", "Macro F1")):
        for model_name, group in results.groupby("model", sort=True):
            stats = group.groupby("labeled_fraction")[metric].agg(["mean", "std", "count"])
            stats = stats.sort_index()
            std = stats["std"].fillna(0.0).to_numpy()
            axis.errorbar(stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(), yerr=std,
                          marker="o", capsize=4, label=str(model_name))
        axis.set_xscale("log")
        fractions = np.unique(results["labeled_fraction"].to_numpy(dtype=float))
        axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
        axis.minorticks_off()
        axis.set_xlabel("labeled fraction of the training data")
        axis.set_ylabel(metric)
        axis.set_title(f"{title} on held-out subjects (mean ± std over seeds)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.set_layout_engine("tight")
    return save_png(fig, path)
