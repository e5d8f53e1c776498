import json

import numpy as np
import pytest

from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.models import (build_baseline, build_discriminator, build_generator,
                                  classifier_from_discriminator)
from exermote_sgan.models import networks
from exermote_sgan.models.networks import trunk_layers, trunk_of
from exermote_sgan.runs import Preprocessing, Provenance, load_run, save_run


def test_discriminator_heads_and_trunk_follow_the_design():
    disc = build_discriminator(40, 12, 4)
    out = disc(np.zeros((2, 40, 12), np.float32))
    assert out["valid"].shape == (2, 1) and out["scores"].shape == (2, 5)
    assert out["features"].shape == (2, 32)
    assert [layer.name for layer in disc.layers[1:6]] == ["conv1", "conv2", "lstm1", "lstm2",
                                                          "dropout"]
    assert disc.get_layer("conv1").strides == (2,)


def test_the_trunks_the_settings_accept_are_the_ones_the_networks_build():
    from exermote_sgan.training.config import TRUNKS, TrainConfig

    assert TRUNKS is networks.TRUNKS  # one statement, not a copy
    for trunk in TRUNKS:
        model = build_baseline(40, 6, 3, conv_filters=8, lstm_units=4, trunk=trunk)
        assert trunk_of(model) == trunk
        assert set(trunk_layers(model)) <= {layer.name for layer in model.layers}
    with pytest.raises(ExermoteInputError, match="trunk"):
        TrainConfig(windows_path="w.h5", out_dir="o", trunk="gru").validate()


def test_pool_trunk_takes_the_mean_and_maximum_of_conv2_over_the_window():
    disc = build_discriminator(40, 6, 7, trunk="pool", conv_filters=16)
    assert [layer.name for layer in disc.layers[1:7]] == ["conv1", "conv2", "mean_pool",
                                                          "max_pool", "pooled", "dropout"]
    assert trunk_of(disc) == "pool" and trunk_layers(disc) == ("conv1", "conv2", "dropout")
    assert trunk_of(build_baseline(40, 6, 7)) == "lstm"
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 40, 6)).astype(np.float32)
    conv2 = np.asarray(keras_submodel(disc, "conv2")(x))  # (3, 17, 16)
    features = np.asarray(disc(x)["features"])
    np.testing.assert_allclose(features, np.concatenate([conv2.mean(1), conv2.max(1)], 1),
                               rtol=1e-5, atol=1e-6)
    # the inference classifier keeps the trunk and renormalises the real classes
    kernel, bias = disc.get_layer("scores_logits").get_weights()
    disc.get_layer("scores_logits").set_weights([rng.normal(size=kernel.shape) * 3, bias + 1])
    scores = np.asarray(disc(x)["scores"])
    classifier = classifier_from_discriminator(disc)
    assert trunk_of(classifier) == "pool" and classifier.get_layer("conv1").filters == 16
    np.testing.assert_allclose(np.asarray(classifier(x)),
                               scores[:, :7] / scores[:, :7].sum(1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="trunk must be one of lstm, pool, multiscale, got "
                                         "'gru'"):
        build_baseline(40, 6, 7, trunk="gru")


def test_multiscale_trunk_pools_a_long_and_a_short_branch_and_moves_both_by_name():
    disc = build_discriminator(40, 6, 5, trunk="multiscale", conv_filters=8, kernel_size=7)
    assert trunk_of(disc) == "multiscale"
    assert trunk_layers(disc) == ("conv1", "conv2", "conv1_short", "conv2_short", "dropout")
    widths = {name: disc.get_layer(name).kernel_size[0]
              for name in ("conv1", "conv2", "conv1_short", "conv2_short")}
    assert widths == {"conv1": 7, "conv2": 7, "conv1_short": 3, "conv2_short": 3}
    assert disc.get_layer("conv1_short").strides == (2,)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 40, 6)).astype(np.float32)
    long_ = np.asarray(keras_submodel(disc, "conv2")(x))  # (3, 11, 8)
    short = np.asarray(keras_submodel(disc, "conv2_short")(x))  # (3, 17, 8)
    assert long_.shape == (3, 11, 8) and short.shape == (3, 17, 8)
    expected = np.concatenate([long_.mean(1), long_.max(1), short.mean(1), short.max(1)], 1)
    np.testing.assert_allclose(np.asarray(disc(x)["features"]), expected, rtol=1e-5, atol=1e-6)
    # every trunk layer, the short branch's too, reaches the inference classifier by name
    for name in trunk_layers(disc)[:-1]:
        kernel, bias = disc.get_layer(name).get_weights()
        disc.get_layer(name).set_weights([rng.normal(size=kernel.shape) * 0.3,
                                          rng.normal(size=bias.shape) * 0.1])
    kernel, bias = disc.get_layer("scores_logits").get_weights()
    disc.get_layer("scores_logits").set_weights([rng.normal(size=kernel.shape) * 3, bias + 1])
    scores = np.asarray(disc(x)["scores"])
    classifier = classifier_from_discriminator(disc)
    assert trunk_of(classifier) == "multiscale"
    assert classifier.get_layer("conv1").kernel_size == (7,)
    np.testing.assert_allclose(np.asarray(classifier(x)),
                               scores[:, :5] / scores[:, :5].sum(1, keepdims=True),
                               rtol=1e-5, atol=1e-6)


def test_multiscale_trunk_needs_windows_long_enough_for_its_short_branch_too():
    build_baseline(7, 2, 3, trunk="multiscale", kernel_size=2, conv_filters=2)  # 3*3-2 steps
    with pytest.raises(ValueError, match="6 timesteps are too short for convolutions of "
                                         "width 3; they need at least 7"):
        build_baseline(6, 2, 3, trunk="multiscale", kernel_size=2, conv_filters=2)
    build_baseline(6, 2, 3, trunk="pool", kernel_size=2, conv_filters=2)  # 3*2-2 steps


@pytest.mark.parametrize("trunk", ["pool", "multiscale"])
def test_folding_an_input_scaling_keeps_the_function_of_raw_windows(trunk):
    from exermote_sgan.models.ensemble import fold_input_scaling

    member = build_baseline(40, 4, 3, trunk=trunk, conv_filters=6, kernel_size=7)
    rng = np.random.default_rng(3)
    member.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32)
                        for w in member.get_weights()])
    ratio, shift = rng.uniform(0.5, 2.0, 4), rng.normal(0, 0.5, 4)
    x = rng.uniform(size=(5, 40, 4)).astype(np.float32)
    folded = fold_input_scaling(member, ratio, shift)
    np.testing.assert_allclose(np.asarray(folded(x)),
                               np.asarray(member((x * ratio + shift).astype(np.float32))),
                               rtol=1e-4, atol=1e-5)


def keras_submodel(model, layer_name):
    import keras

    return keras.Model(model.input, model.get_layer(layer_name).output)


@pytest.mark.parametrize("output_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_generator_output_matches_the_scaled_data_range(output_range):
    gen = build_generator(40, 12, output_range=output_range)
    rng = np.random.default_rng(0)
    fake = np.asarray(gen(rng.normal(size=(8, 100)).astype(np.float32)))
    assert fake.shape == (8, 40, 12)
    assert fake.min() >= output_range[0] and fake.max() <= output_range[1]


def test_classifier_from_discriminator_renormalises_real_classes():
    disc = build_discriminator(20, 3, 4, lstm_units=8, conv_filters=4, kernel_size=5)
    rng = np.random.default_rng(0)
    # make the heads non-trivial so the fake class carries real probability mass
    kernel, bias = disc.get_layer("scores_logits").get_weights()
    disc.get_layer("scores_logits").set_weights([rng.normal(size=kernel.shape) * 3, bias + 1])
    x = rng.uniform(size=(6, 20, 3)).astype(np.float32)
    scores = np.asarray(disc(x)["scores"])
    classifier = classifier_from_discriminator(disc)
    expected = scores[:, :4] / scores[:, :4].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(classifier(x)), expected, rtol=1e-5, atol=1e-6)
    assert classifier.output_shape == (None, 4)
    assert classifier.get_layer("conv2").kernel_size == (5,)


@pytest.mark.parametrize("sizes, message", [
    (dict(kernel_size=8), "20 timesteps are too short for convolutions of width 8; they need "
                          "at least 22"),
    (dict(lstm_units=0), "build_baseline: lstm_units must be at least 1, got 0"),
    (dict(conv_filters=0), "conv_filters must be at least 1"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
])
def test_trunk_sizes_are_checked(sizes, message):
    with pytest.raises(ValueError, match=message):
        build_baseline(20, 3, 4, **sizes)
    # the shortest window each width allows: conv2 sees exactly kernel_size steps
    assert build_baseline(22, 3, 4, kernel_size=8).get_layer("conv2").output.shape[1] == 1


def _preprocessing(features=3, timesteps=20):
    rng = np.random.default_rng(1)
    scaler = MinMaxScaler().fit(rng.normal(size=(100, features)))
    return Preprocessing(classes=("Break", "Burpee", "Situp", "Squat"),
                         features=tuple(f"f{i}" for i in range(features)),
                         timesteps=timesteps, label_offset=10, sample_rate_hz=10.0,
                         scaler=scaler, model="baseline", training_command="test",
                         provenance=Provenance(test_subjects=(4,)))


def test_run_directory_round_trip(tmp_path):
    model = build_baseline(20, 3, 4, lstm_units=8, conv_filters=4)
    prep = _preprocessing()
    save_run(tmp_path / "run", model, prep, metrics={"accuracy": 0.5})
    run = load_run(tmp_path / "run")
    x = np.random.default_rng(2).uniform(size=(3, 20, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(run.classifier(x)), np.asarray(model(x)), rtol=1e-6)
    assert run.preprocessing.provenance == Provenance(test_subjects=(4,))
    assert run.metrics == {"accuracy": 0.5}
    np.testing.assert_array_equal(run.preprocessing.scaler.scale_, prep.scaler.scale_)


def test_broken_run_directories_are_explained(tmp_path):
    with pytest.raises(ExermoteInputError, match="run directory not found"):
        load_run(tmp_path / "nope")
    run_dir = tmp_path / "run"
    save_run(run_dir, build_baseline(20, 3, 4, lstm_units=8, conv_filters=4), _preprocessing())
    (run_dir / "classifier.keras").write_bytes(b"corrupt")
    with pytest.raises(ExermoteInputError,
                       match="classifier.keras: the file is truncated or corrupt.*retrain the run"):
        load_run(run_dir)
    save_run(run_dir, build_baseline(30, 3, 4, lstm_units=8, conv_filters=4), _preprocessing())
    with pytest.raises(ExermoteInputError, match="preprocessing.json describes"):
        load_run(run_dir)
    state = json.loads((run_dir / "preprocessing.json").read_text())
    del state["scaler"]
    (run_dir / "preprocessing.json").write_text(json.dumps(state))
    with pytest.raises(ExermoteInputError, match="missing keys scaler"):
        load_run(run_dir)
    (run_dir / "classifier.keras").unlink()
    (run_dir / "preprocessing.json").write_text(json.dumps(_preprocessing().to_dict()))
    with pytest.raises(ExermoteInputError, match="classifier.keras: missing"):
        load_run(run_dir)
