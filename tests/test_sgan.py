"""The SGAN's training step on tiny networks and a tiny learnable problem."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from exermote_sgan.models.networks import build_discriminator, build_generator
from exermote_sgan.training.sgan import SGAN

T, F, K = 8, 2, 3


def _problem(n: int, seed: int):
    """Windows whose class is the level of their values: 0.2, 0.5 or 0.8 (plus noise)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, n)
    windows = (0.2 + 0.3 * labels)[:, None, None] + 0.05 * rng.standard_normal((n, T, F))
    return np.clip(windows, 0, 1).astype(np.float32), labels.astype(np.int32)


def _sgan(seed: int = 0, trunk: str = "lstm", **kwargs) -> SGAN:
    keras.utils.set_random_seed(seed)
    disc = build_discriminator(T, F, K, conv_filters=4, lstm_units=6, dropout=0.0, trunk=trunk)
    gen = build_generator(T, F, noise_dim=4, architecture="conv", conv_filters=(4, 4))
    sgan = SGAN(disc, gen, seed=seed, **kwargs)
    sgan.compile(keras.optimizers.Adam(1e-2, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    return sgan


def _batch(windows, labels, weights, unlabeled):
    return ((windows, labels, weights.astype(np.float32)), unlabeled)


def test_sizes_live_on_the_model_and_metrics_are_mean_trackers():
    sgan = _sgan()
    assert (sgan.timesteps, sgan.num_features, sgan.num_classes, sgan.noise_dim) == (T, F, K, 4)
    assert [m.name for m in sgan.metrics] == ["d_loss", "g_loss", "supervised_loss",
                                              "unsupervised_loss", "accuracy"]
    assert all(isinstance(m, keras.metrics.Mean) for m in sgan.metrics)
    assert isinstance(sgan.seed_generator, keras.random.SeedGenerator)


@pytest.mark.parametrize("trunk", ["lstm", "pool", "multiscale"])
def test_train_step_reduces_supervised_loss(trunk):
    import tensorflow as tf

    x, y = _problem(64, seed=1)
    x_val, y_val = _problem(64, seed=2)
    sgan = _sgan(trunk=trunk)
    before = sgan.evaluate(x_val, y_val, verbose=0, return_dict=True)
    data = tf.data.Dataset.from_tensors(_batch(x, y, np.ones(len(y)), x)).repeat()
    history = sgan.fit(data, steps_per_epoch=100, epochs=1, verbose=0, shuffle=False)
    after = sgan.evaluate(x_val, y_val, verbose=0, return_dict=True)
    assert set(history.history) >= {"d_loss", "g_loss", "supervised_loss", "unsupervised_loss",
                                    "accuracy"}
    assert after["supervised_loss"] < 0.5 * before["supervised_loss"]
    assert after["accuracy"] > 0.9


def test_unlabeled_batch_trains_the_discriminator_when_labels_carry_no_weight():
    x, y = _problem(16, seed=3)
    unlabeled, _ = _problem(16, seed=4)
    sgan = _sgan()
    d_before = [w.copy() for w in sgan.discriminator.get_weights()]
    g_before = [w.copy() for w in sgan.generator.get_weights()]
    logs = sgan.train_step(_batch(x, y, np.zeros(len(y)), unlabeled))
    assert float(logs["supervised_loss"]) == 0.0  # zero-weighted labeled batch
    assert float(logs["unsupervised_loss"]) > 0.0
    changed = [not np.array_equal(a, b) for a, b in zip(d_before,
                                                        sgan.discriminator.get_weights())]
    assert any(changed)
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, sgan.generator.get_weights()))


def test_different_unlabeled_batches_give_different_updates():
    x, y = _problem(16, seed=3)
    results = []
    for unlabeled_seed in (4, 5):
        unlabeled, _ = _problem(16, seed=unlabeled_seed)
        sgan = _sgan(seed=0)
        sgan.train_step(_batch(x, y, np.zeros(len(y)), unlabeled))
        results.append(sgan.discriminator.get_layer("lstm2").get_weights()[0])
    assert not np.allclose(results[0], results[1])
    # and the same unlabeled batch with the same seed gives the same update
    unlabeled, _ = _problem(16, seed=4)
    sgan = _sgan(seed=0)
    sgan.train_step(_batch(x, y, np.zeros(len(y)), unlabeled))
    np.testing.assert_allclose(sgan.discriminator.get_layer("lstm2").get_weights()[0],
                               results[0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("generator_loss", ["adversarial", "both"])
def test_other_generator_losses_update_the_generator(generator_loss):
    x, y = _problem(16, seed=3)
    sgan = _sgan(generator_loss=generator_loss, fake_logit="learned", entropy_weight=0.5)
    g_before = [w.copy() for w in sgan.generator.get_weights()]
    logs = sgan.train_step(_batch(x, y, np.ones(len(y)), x))
    assert np.isfinite(float(logs["g_loss"])) and float(logs["g_loss"]) > 0
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, sgan.generator.get_weights()))


def test_generated_batch_size_and_generate():
    sgan = _sgan(generated_batch_size=5)
    windows = sgan.generate(3, seed=1)
    assert windows.shape == (3, T, F)
    assert windows.min() >= 0.0 and windows.max() <= 1.0
    np.testing.assert_array_equal(windows, sgan.generate(3, seed=1))
    x, y = _problem(16, seed=3)
    logs = sgan.train_step(_batch(x, y, np.ones(len(y)), x))
    assert np.isfinite(float(logs["d_loss"]))


def test_shape_mismatch_and_bad_options_are_refused():
    disc = build_discriminator(T, F, K, conv_filters=4, lstm_units=4)
    wrong = build_generator(T + 4, F, noise_dim=4, architecture="conv", conv_filters=(4, 4))
    with pytest.raises(ValueError, match="generator makes windows of shape"):
        SGAN(disc, wrong)
    gen = build_generator(T, F, noise_dim=4, architecture="conv", conv_filters=(4, 4))
    with pytest.raises(ValueError, match="generator_loss"):
        SGAN(disc, gen, generator_loss="wasserstein")
    with pytest.raises(ValueError, match="label_smoothing"):
        SGAN(disc, gen, label_smoothing=1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        SGAN(disc, gen, ema_decay=1.0)
    with pytest.raises(ValueError, match="prior_weight needs class_prior"):
        SGAN(disc, gen, prior_weight=1.0)
    with pytest.raises(ValueError, match="class_prior must be 3 non-negative"):
        SGAN(disc, gen, prior_weight=1.0, class_prior=[0.5, 0.5])
    with pytest.raises(ValueError, match="class_prior must be 3 non-negative"):
        SGAN(disc, gen, prior_weight=1.0, class_prior=[0.5, -0.1, 0.6])


def test_prior_matching_term_joins_the_discriminator_loss():
    from exermote_sgan.training import losses

    x, y = _problem(12, seed=3)
    unlabeled, _ = _problem(10, seed=4)
    generated = np.full((6, T, F), 0.5, np.float32)
    sgan = _sgan(prior_weight=2.0, class_prior=[6, 3, 1])  # counts are normalised
    np.testing.assert_allclose(sgan.class_prior, [0.6, 0.3, 0.1], rtol=1e-6)
    total, supervised, unsupervised, outputs, n_lab, n_unl = sgan.discriminator_losses(
        x, y, np.ones(len(y), np.float32), unlabeled, generated, training=False)
    prior_term = losses.prior_matching_loss(
        outputs["scores_logits"][n_lab:n_lab + n_unl], [0.6, 0.3, 0.1])
    assert float(total) == pytest.approx(
        float(supervised) + float(unsupervised) + 2.0 * float(prior_term), rel=1e-5)
    assert float(prior_term) > 0


def _unlabeled_class_mix(sgan, windows):
    from keras import ops

    return ops.convert_to_numpy(ops.softmax(sgan(windows), axis=-1)).mean(axis=0)


def test_prior_matching_pulls_the_unlabeled_class_mix_to_the_prior():
    # labels carry no weight: only the unlabeled terms train; a prior far from the even mix
    # the untrained network predicts must be approached with prior matching, not without it
    x, y = _problem(30, seed=3)
    unlabeled, _ = _problem(60, seed=4)
    prior = np.array([0.8, 0.1, 0.1])
    kl = {}
    for weight in (0.0, 1.0):
        sgan = _sgan(prior_weight=weight, class_prior=prior)
        for _ in range(30):
            sgan.train_step(_batch(x, y, np.zeros(len(y)), unlabeled))
        mix = _unlabeled_class_mix(sgan, unlabeled)
        kl[weight] = float((prior * np.log(prior / mix)).sum())
    assert kl[1.0] < 0.05 < kl[0.0]


def _disc_weights(sgan):
    return [np.array(v) for v in sgan.discriminator.trainable_variables]


def test_moving_average_follows_the_ramped_decay():
    x, y = _problem(16, seed=4)
    batch = _batch(x, y, np.ones(len(y)), x)
    sgan = _sgan(ema_decay=0.9)
    sgan.train_step(batch)  # step 0: decay 0, the average is the updated weights
    first = _disc_weights(sgan)
    for average, weight in zip(sgan.averaged_weights, first):
        np.testing.assert_allclose(np.array(average), weight, rtol=1e-6, atol=1e-7)
    sgan.train_step(batch)  # step 1: decay min(0.9, 1 / 11)
    second = _disc_weights(sgan)
    for average, w1, w2 in zip(sgan.averaged_weights, first, second):
        np.testing.assert_allclose(np.array(average), w1 / 11 + w2 * 10 / 11,
                                   rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(np.array(a), w) for a, w in zip(sgan.averaged_weights, second))


def test_swapping_averaged_weights_in_and_out_restores_both():
    x, y = _problem(16, seed=5)
    batch = _batch(x, y, np.ones(len(y)), x)
    sgan = _sgan(ema_decay=0.5)
    for _ in range(3):
        sgan.train_step(batch)
    weights = _disc_weights(sgan)
    averages = [np.array(a) for a in sgan.averaged_weights]
    sgan.swap_averaged_weights()
    for w, a in zip(_disc_weights(sgan), averages):
        np.testing.assert_array_equal(w, a)
    sgan.swap_averaged_weights()
    for w, before in zip(_disc_weights(sgan), weights):
        np.testing.assert_array_equal(w, before)


def test_no_moving_average_by_default():
    sgan = _sgan()
    assert sgan.ema_decay == 0.0 and sgan.averaged_weights == []
    before = _disc_weights(sgan)
    sgan.swap_averaged_weights()
    for w, b in zip(_disc_weights(sgan), before):
        np.testing.assert_array_equal(w, b)
