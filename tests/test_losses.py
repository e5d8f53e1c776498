"""The SGAN's losses, pinned to values computed by hand (NumPy, straight from the definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exermote_sgan.training import losses


def _np(x) -> float:
    from keras import ops

    return float(ops.convert_to_numpy(x))


# Two windows, K = 3 real classes + fake (last column).
LOGITS = np.array([[2.0, 0.5, -1.0, 0.3],
                   [-0.5, 1.5, 0.0, 1.0]], dtype=np.float32)
LABELS = np.array([0, 2])


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_binary_crossentropy_from_logits_matches_definition():
    z = np.array([-3.0, 0.0, 2.5], dtype=np.float32)
    p = 1 / (1 + np.exp(-z.astype(np.float64)))
    for t in (0.0, 0.9, 1.0):
        expected = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        got = np.asarray(losses.binary_crossentropy_from_logits(t, z))
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    # z = 0, target 1: -log(1/2)
    assert _np(losses.binary_crossentropy_from_logits(1.0, np.float32(0.0))) == \
        pytest.approx(math.log(2), rel=1e-6)


def test_binary_crossentropy_is_finite_for_extreme_logits():
    got = np.asarray(losses.binary_crossentropy_from_logits(1.0, np.float32([-200.0, 200.0])))
    np.testing.assert_allclose(got, [200.0, 0.0], atol=1e-5)


def test_supervised_loss_is_cross_entropy_over_k_plus_one_classes():
    p = _softmax(LOGITS.astype(np.float64))
    expected = -np.mean([np.log(p[0, 0]), np.log(p[1, 2])])
    assert _np(losses.supervised_loss(LABELS, LOGITS)) == pytest.approx(expected, rel=1e-5)


def test_supervised_loss_weighted_mean():
    p = _softmax(LOGITS.astype(np.float64))
    per = np.array([-np.log(p[0, 0]), -np.log(p[1, 2])])
    w = np.array([1.0, 3.0])
    expected = (per * w).sum() / w.sum()
    got = _np(losses.supervised_loss(LABELS, LOGITS, sample_weight=w.astype(np.float32)))
    assert got == pytest.approx(expected, rel=1e-5)
    # by hand for the first window: logsumexp(2, .5, -1, .3) - 2
    first = math.log(math.exp(2) + math.exp(.5) + math.exp(-1) + math.exp(.3)) - 2
    assert per[0] == pytest.approx(first)


def test_unsupervised_real_loss():
    valid = np.array([[1.0], [-2.0]], dtype=np.float32)
    p = _softmax(LOGITS.astype(np.float64))
    not_fake = -np.log(1 - p[:, -1]).mean()
    sig = 1 / (1 + np.exp(-valid[:, 0].astype(np.float64)))
    for smoothing in (0.0, 0.1):
        t = 1 - smoothing
        bce = -(t * np.log(sig) + (1 - t) * np.log(1 - sig)).mean()
        got = _np(losses.unsupervised_real_loss(valid, LOGITS, label_smoothing=smoothing))
        assert got == pytest.approx(bce + not_fake, rel=1e-5)


def test_unsupervised_fake_loss():
    valid = np.array([[1.0], [-2.0]], dtype=np.float32)
    p = _softmax(LOGITS.astype(np.float64))
    sig = 1 / (1 + np.exp(-valid[:, 0].astype(np.float64)))
    expected = -np.log(1 - sig).mean() - np.log(p[:, -1]).mean()
    assert _np(losses.unsupervised_fake_loss(valid, LOGITS)) == pytest.approx(expected, rel=1e-5)


def test_fix_fake_logit_gives_salimans_probability():
    fixed = np.asarray(losses.fix_fake_logit(LOGITS))
    np.testing.assert_array_equal(fixed[:, :-1], LOGITS[:, :-1])
    np.testing.assert_array_equal(fixed[:, -1], [0.0, 0.0])
    z = np.exp(LOGITS[:, :-1].astype(np.float64)).sum(axis=1)
    # P(fake) = 1 / (Z + 1): the fake loss on these logits is -log(1/(Z+1)) = log(Z+1)
    valid = np.zeros((2, 1), dtype=np.float32)
    expected = math.log(2) + np.log(z + 1).mean()
    assert _np(losses.unsupervised_fake_loss(valid, fixed)) == pytest.approx(expected, rel=1e-5)


def test_generator_adversarial_loss():
    valid = np.array([[0.0], [2.0]], dtype=np.float32)
    expected = np.mean([math.log(2), math.log(1 + math.exp(-2))])
    assert _np(losses.generator_adversarial_loss(valid)) == pytest.approx(expected, rel=1e-5)


def test_feature_matching_loss():
    real = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)   # mean (2, 3)
    fake = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]], dtype=np.float32)  # mean (1, 1)
    # ((2-1)^2 + (3-1)^2) / 2
    assert _np(losses.feature_matching_loss(real, fake)) == pytest.approx(2.5, rel=1e-6)
    assert _np(losses.feature_matching_loss(real, real)) == 0.0


def test_entropy_loss_ignores_fake_class():
    uniform = np.array([[0.0, 0.0, 0.0, 50.0]], dtype=np.float32)
    assert _np(losses.entropy_loss(uniform)) == pytest.approx(math.log(3), rel=1e-5)
    certain = np.array([[30.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    assert _np(losses.entropy_loss(certain)) == pytest.approx(0.0, abs=1e-6)
    p = _softmax(LOGITS[:, :-1].astype(np.float64))
    expected = -(p * np.log(p)).sum(axis=1).mean()
    assert _np(losses.entropy_loss(LOGITS)) == pytest.approx(expected, rel=1e-5)


def test_prior_matching_loss_is_kl_from_prior_to_mean_prediction():
    # K = 2 real classes; the fake logit (9.0) must not matter.  Probabilities (0.5, 0.5) and
    # (0.75, 0.25): batch mean (0.625, 0.375).
    logits = np.array([[0.0, 0.0, 9.0], [math.log(3.0), 0.0, -9.0]], dtype=np.float32)
    assert _np(losses.prior_matching_loss(logits, [0.5, 0.5])) == pytest.approx(
        0.5 * math.log(0.5 / 0.625) + 0.5 * math.log(0.5 / 0.375), rel=1e-5)
    assert _np(losses.prior_matching_loss(logits, [0.625, 0.375])) == pytest.approx(0.0,
                                                                                    abs=1e-6)
    # a class with prior 0 adds nothing (no NaN from 0 * log 0)
    assert _np(losses.prior_matching_loss(logits, [1.0, 0.0])) == pytest.approx(
        math.log(1.0 / 0.625), rel=1e-5)
    p = _softmax(LOGITS[:, :-1].astype(np.float64)).mean(axis=0)
    prior = np.array([0.6, 0.3, 0.1])
    assert _np(losses.prior_matching_loss(LOGITS, prior)) == pytest.approx(
        float((prior * np.log(prior / p)).sum()), rel=1e-5)
