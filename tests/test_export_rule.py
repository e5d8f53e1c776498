"""The precision rule of ``exermote_sgan.export.verify`` on made-up probabilities.

Each case is built so that exactly one part of the rule decides; the arrays are small and the
expected verdicts follow from the rule's arithmetic, not from a run.
"""

import numpy as np
import pytest

from exermote_sgan.export.verify import GRAPH_TOLERANCE, TOLERANCES, compare_scores


def _keras(n=200, k=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, k))
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _near_tie(p):
    """Make window 0 a near-tie of its top two classes (gap 1e-4) and return (p, top, second)."""
    p = p.copy()
    top, second = np.argsort(p[0])[::-1][:2]
    p[0, second] = p[0, top] - 1e-4
    return p / p.sum(1, keepdims=True), top, second


def test_rounding_noise_that_flips_near_ties_passes_at_fp16():
    keras, top, second = _near_tie(_keras())
    exported = keras + np.random.default_rng(1).uniform(-2e-3, 2e-3, keras.shape)
    exported[0, second], exported[0, top] = keras[0, top] + 1e-3, keras[0, second] - 1e-3
    check = compare_scores("m", exported, keras, precision="fp16")
    assert check.differing_labels >= 1 and check.near_tie_disagreements == check.differing_labels
    assert check.passed and check.label_agreement < 1.0
    assert check.near_tie_gap == pytest.approx(2 * np.abs(exported - keras)[1:].max(), rel=0.5)


def test_a_flip_at_a_wide_gap_fails_though_the_scores_are_within_the_limit():
    keras = _keras()
    n = int(np.argmax(np.sort(keras, 1)[:, -1] - np.sort(keras, 1)[:, -2] < 0.04))
    gap = np.sort(keras[n])[-1] - np.sort(keras[n])[-2]
    assert 1e-3 < gap < 0.04  # a window whose top two are a few hundredths apart
    exported = keras + np.random.default_rng(2).uniform(-1e-4, 1e-4, keras.shape)
    top, second = np.argsort(keras[n])[::-1][:2]
    exported[n, top], exported[n, second] = keras[n, second], keras[n, top]  # swapped there
    check = compare_scores("m", exported, keras, precision="fp16")
    assert check.max_abs_diff <= TOLERANCES["fp16"]
    assert check.differing_labels == 1 and check.near_tie_disagreements == 0
    assert not check.passed and "more than the near-tie gap" in check.summary()


def test_scores_beyond_the_limit_or_not_finite_fail():
    keras = _keras()
    assert not compare_scores("m", keras + 2e-4, keras, precision="fp32").passed
    assert compare_scores("m", keras + 5e-5, keras, precision="fp32").passed
    assert not compare_scores("m", keras + 0.06, keras, precision="fp16").passed
    broken = keras.copy()
    broken[3, 1] = np.nan
    check = compare_scores("m", broken, keras, precision="fp16")
    assert not check.passed and "not finite" in check.summary()


def test_every_label_differing_fails_even_at_tiny_differences():
    keras = np.tile([0.25 + 1e-6, 0.25 - 1e-6, 0.25, 0.25], (5, 1))
    exported = np.tile([0.25 - 1e-6, 0.25 + 1e-6, 0.25, 0.25], (5, 1))
    check = compare_scores("m", exported, keras, precision="fp32")
    assert check.label_agreement == 0.0 and not check.passed  # no agreeing window: no eps


def test_the_graph_part_and_the_label_output_decide_on_their_own():
    from dataclasses import replace

    keras = _keras()
    check = compare_scores("m", keras, keras, precision="fp16")
    assert check.passed and check.graph_ok
    wrong_graph = replace(check, graph_max_abs_diff=3 * GRAPH_TOLERANCE)
    assert not wrong_graph.passed and "a wrong graph" in wrong_graph.summary()
    assert not replace(check, label_output_consistent=False).passed
    assert check.to_dict()["passed"] and not wrong_graph.to_dict()["passed"]
