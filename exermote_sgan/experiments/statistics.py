"""The statistics behind a comparison's tables: paired differences and their Wilcoxon test.

:mod:`~exermote_sgan.experiments.compare` (the summary) and :mod:`~exermote_sgan.training.
grid_report` (the per-subject tables) both read them from here, so neither imports the other
for them: the tables import the statistics, never the reverse.
"""

from __future__ import annotations

import numpy as np


def paired_difference(results, *, better: str = "sgan", worse: str = "baseline"):
    """Per fraction, ``better`` minus ``worse`` macro F1, paired by held-out fold and seed.

    Columns: ``labeled_fraction``, ``mean``, ``std``, ``wins`` (pairs where ``better`` scored
    higher), ``seeds`` (the number of pairs) and ``wilcoxon_p``, the two-sided p-value of
    SciPy's Wilcoxon signed-rank test of the paired differences (NaN when every difference
    is 0).  With few pairs the test cannot reach small p-values (3 pairs: at best 0.25).
    """
    import pandas as pd

    columns = ["labeled_fraction", "mean", "std", "wins", "seeds", "wilcoxon_p"]
    diff = paired_differences(results, better=better, worse=worse)
    if diff is None:
        return pd.DataFrame(columns=columns)
    table = diff.groupby("labeled_fraction")["difference"].agg(
        mean="mean", std="std", wins=lambda d: int(np.sum(d > 0)), seeds="count",
        wilcoxon_p=wilcoxon_p)
    return table.reset_index()[columns]


def paired_differences(results, *, better: str = "sgan", worse: str = "baseline"):
    """One row per held-out fold, fraction and seed with ``better`` and ``worse`` both run:
    their macro-F1 ``difference``; ``None`` when one of the models is missing."""
    frame = results.copy()
    if "test_subjects" not in frame.columns:
        frame["test_subjects"] = ""
    wide = frame.pivot_table(index=["test_subjects", "labeled_fraction", "seed"],
                             columns="model", values="macro_f1")
    if better not in wide.columns or worse not in wide.columns:
        return None
    return (wide[better] - wide[worse]).dropna().rename("difference").reset_index()


def wilcoxon_p(differences) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test (SciPy); NaN if it is undefined."""
    import warnings

    from scipy.stats import wilcoxon

    values = np.asarray(differences, dtype=np.float64)
    if len(values) == 0 or not np.any(values != 0):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns that small samples are inexact
        return float(wilcoxon(values).pvalue)


def format_p(p: float) -> str:
    """A p-value as a table shows it."""
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else "< 0.001"


def pm(mean, std) -> str:
    """``mean ± std`` as the tables show it (the mean alone when ``std`` is undefined)."""
    return f"{mean:.3f} ± {std:.3f}" if np.isfinite(std) else f"{mean:.3f}"
