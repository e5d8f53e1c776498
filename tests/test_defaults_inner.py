"""The two-dataset inner-fold benchmark: its folds never read an outer test subject, its
candidates parse, and a setting wins only if it wins on both datasets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
spec = importlib.util.spec_from_file_location("defaults_inner",
                                              BENCHMARKS / "defaults_inner.py")
defaults_inner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(defaults_inner)


@pytest.mark.parametrize("dataset", ["exermote", "watch"])
def test_inner_folds_of_both_datasets_never_touch_an_outer_test_subject(dataset):
    outer_folds = defaults_inner.OUTER_FOLDS[dataset]
    folds = defaults_inner.inner_folds(outer_folds)
    assert [outer for outer, _ in folds] == [tuple(f) for f in outer_folds]
    for outer, inner in folds:
        assert inner and not set(outer) & set(inner)
    everyone = sorted(s for fold in outer_folds for s in fold)
    assert sorted(s for _, inner in folds for s in inner) == everyone  # each scores once


def test_the_outer_subjects_are_removed_from_the_windows_it_trains_and_scores_on(tmp_path):
    from test_compare import _window_set

    from exermote_sgan.data.windows_file import load_windows

    kept = defaults_inner.without_outer(_window_set(subjects=(1, 2, 3, 4)), (2,),
                                        tmp_path / "outer2")
    assert sorted(set(load_windows(kept).subjects.tolist())) == [1, 3, 4]


def test_candidates_parse_into_window_length_and_training_options():
    assert defaults_inner.parse_candidate("") == ("default", 4.0, {})
    name, seconds, options = defaults_inner.parse_candidate(
        "trunk=pool, scaler_quantile=0.01,window_seconds=2,augment_rotation=60")
    assert seconds == 2.0
    assert options == {"trunk": "pool", "scaler_quantile": 0.01, "augment_rotation": 60}
    assert name == "augment_rotation=60,scaler_quantile=0.01,trunk=pool,window_seconds=2.0"
    with pytest.raises(SystemExit, match="not a TrainConfig field"):
        defaults_inner.parse_candidate("trunks=pool")
    with pytest.raises(SystemExit, match="not KEY=VALUE"):
        defaults_inner.parse_candidate("pool")


def _results(scores):
    """Rows as compare writes them: ``scores[(dataset, candidate, model)] = [f1 per fold]``."""
    rows = []
    for (dataset, candidate, model), per_fold in scores.items():
        for fold, f1 in enumerate(per_fold):
            rows.append({"dataset": dataset, "windows": "w4s-stride0.2s",
                         "candidate": candidate, "model": model, "seed": 0,
                         "test_subjects": str(fold + 1), "accuracy": f1 + 0.1,
                         "macro_f1": f1})
    return pd.DataFrame(rows)


def test_a_setting_wins_only_if_it_wins_on_both_datasets():
    results = _results({
        ("exermote", "default", "baseline"): [0.80, 0.70],
        ("exermote", "trunk=pool", "baseline"): [0.90, 0.80],    # +10 on Exermote
        ("exermote", "forest", "forest"): [0.60, 0.60],
        ("watch", "default", "baseline"): [0.80, 0.80],
        ("watch", "trunk=pool", "baseline"): [0.70, 0.80],       # -5 on the watch
        ("watch", "forest", "forest"): [0.85, 0.85],
        ("exermote", "dropout=0.3", "baseline"): [0.80, 0.72],   # +1 and +1
        ("watch", "dropout=0.3", "baseline"): [0.81, 0.81],
    })
    text = defaults_inner.summary(results, ["default", "trunk=pool", "dropout=0.3"])
    assert "- `trunk=pool`: exermote +10.0, watch -5.0 -- does not win on both" in text
    assert "- `dropout=0.3`: exermote +1.0, watch +1.0 -- wins on both" in text
    # the forest beside each network: the margin over it, per dataset
    assert "| exermote | w4s-stride0.2s | default | 2 | 1 | 0.850 ± 0.000 | 0.750 ± 0.000 | " \
           "+15.0 |" in text
    assert "| watch | w4s-stride0.2s | default | 2 | 1 | 0.900 ± 0.000 | 0.800 ± 0.000 | " \
           "-5.0 |" in text
    assert "| watch | w4s-stride0.2s | forest (reference) |" in text
    assert "Not a choice" in text  # two inner folds of Exermote's four, of the watch's five
    # one dataset alone cannot decide
    only = results[results.dataset == "exermote"]
    assert "needs every candidate scored on both datasets" in defaults_inner.summary(
        only, ["default", "trunk=pool"])


def test_every_inner_fold_scored_makes_a_choice():
    results = _results({
        ("exermote", "default", "baseline"): [0.7] * 4,
        ("exermote", "pool", "baseline"): [0.8] * 4,
        ("watch", "default", "baseline"): [0.7] * 5,
        ("watch", "pool", "baseline"): [0.75] * 5,
    })
    text = defaults_inner.summary(results, ["default", "pool"])
    assert "Not a choice" not in text
    assert "- `pool`: exermote +10.0, watch +5.0 -- wins on both" in text
