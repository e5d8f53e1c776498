"""train(): the run directory it writes, determinism, resume, bad arguments, the CLI."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.data.windows_file import content_sha256
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.training.train_lib import TrainConfig, can_resume, command_line, train

pytestmark = pytest.mark.slow

FAST = dict(epochs=2, batch_size=16, steps_per_epoch=2, verbose=0)


@pytest.fixture(scope="module")
def windows_path(tmp_path_factory):
    """A small windows file from synthetic recordings: 3 subjects x 3 sessions, stride 4."""
    from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
    from exermote_sgan.recordings.synthetic import write_synthetic_recordings
    from exermote_sgan.data.windows_file import save_windows

    root = tmp_path_factory.mktemp("train")
    paths = write_synthetic_recordings(root / "raw", subjects=(1, 2, 3), sessions_per_subject=3,
                                       rows_per_session=700)
    window_set, _ = preprocess(paths, config=PreprocessConfig(stride=4))
    return save_windows(root / "windows.h5", window_set)


@pytest.fixture(scope="module")
def sgan_run(windows_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sgan"
    config = TrainConfig(windows_path=windows_path, model="sgan", out_dir=out,
                         test_subjects=(3,), labeled_fraction=0.3, **FAST)
    return config, train(config)


def test_sgan_run_writes_every_artifact(sgan_run, windows_path):
    from exermote_sgan.runs import load_run

    config, result = sgan_run
    run_dir = result.run_dir
    for name in ("classifier.keras", "preprocessing.json", "metrics.json", "history.csv",
                 "split.json", "plots/history.png", "plots/generated_vs_real.png",
                 "checkpoints/best.weights.h5"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents*"))
    assert not (run_dir / "checkpoints" / "backup").exists()  # training completed

    run = load_run(run_dir)
    assert run.preprocessing.model == "sgan"
    assert run.classifier.output_shape == (None, 4)
    # by default: the nine 3-axis vector features, turned by rotations of up to 180 degrees
    assert run.preprocessing.features == tuple(
        f"{axis}{name}" for name in ("Gravity", "Acceleration", "RotationRate")
        for axis in "xyz")
    assert run.classifier.input_shape == (None, 40, 9)
    provenance = run.preprocessing.provenance
    assert provenance.augment_rotation == 180.0
    assert provenance.windows_path == str(windows_path.resolve())
    assert provenance.windows_sha256 == content_sha256(windows_path)
    assert provenance.test_subjects == (3,) and provenance.labeled_fraction == 0.3
    assert 3 not in provenance.training_subjects and 3 not in provenance.validation_subjects
    assert run.preprocessing.training_command.startswith("exermote-sgan train ")
    # the scaler was fitted on training windows: they map into [0, 1], but not exactly onto it
    assert run.preprocessing.scaler.feature_range == (0.0, 1.0)

    split = json.loads((run_dir / "split.json").read_text())
    assert split["n_labeled"] == result.n_labeled > 0
    assert split["n_unlabeled"] == result.n_unlabeled > 0
    assert split["test_subjects"] == [3] and split["n_test"] > 0
    assert len(split["labeled_sha256"]) == 64

    assert run.metrics == result.metrics
    assert set(result.metrics) >= {"accuracy", "macro_f1", "confusion_matrix", "per_subject"}
    assert list(result.metrics["per_subject"]) == ["3"]
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [0, 1]
    assert {"d_loss", "g_loss", "supervised_loss", "val_macro_f1", "val_accuracy"} <= set(
        history.columns)


def _validation_macro_f1(config, run_dir, windows_path) -> float:
    """The saved classifier's macro-F1 on the run's validation split."""
    from sklearn.metrics import f1_score

    from exermote_sgan.data.splits import subject_split, validation_split
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.runs import load_run

    run = load_run(run_dir)
    ws = load_windows(windows_path).select_features(run.preprocessing.features)
    train_pool, _ = subject_split(ws, list(config.test_subjects))
    _, val_idx = validation_split(ws, train_pool, fraction=config.validation_fraction,
                                  seed=config.seed)
    scaled = run.preprocessing.scaler.transform(ws.windows[val_idx])
    predicted = run.classifier.predict(scaled, verbose=0).argmax(axis=1)
    return f1_score(ws.labels[val_idx], predicted, labels=[0, 1, 2, 3], average="macro",
                    zero_division=0)


def test_saved_classifier_is_the_best_validation_epoch(sgan_run, windows_path):
    """classifier.keras reproduces the best epoch's validation macro-F1 on the validation split."""
    config, result = sgan_run
    assert _validation_macro_f1(config, result.run_dir, windows_path) == pytest.approx(
        result.history["val_macro_f1"].max(), abs=1e-6)


def test_with_a_moving_average_the_saved_classifier_is_the_validated_average(windows_path,
                                                                            tmp_path):
    from exermote_sgan.runs import load_run
    from exermote_sgan.training.train_lib import build_models

    config = TrainConfig(windows_path=windows_path, model="sgan", out_dir=tmp_path / "ema",
                         test_subjects=(3,), labeled_fraction=0.3, ema_decay=0.9,
                         **dict(FAST, steps_per_epoch=4))
    result = train(config)
    assert _validation_macro_f1(config, result.run_dir, windows_path) == pytest.approx(
        result.history["val_macro_f1"].max(), abs=1e-6)
    # the classifier holds the best checkpoint's averages, not its raw weights
    sgan = build_models(config, timesteps=40, features=9, num_classes=4)
    sgan.load_weights(str(result.run_dir / "checkpoints" / "best.weights.h5"))
    kernel = load_run(result.run_dir).classifier.get_layer("conv1").get_weights()[0]
    raw = sgan.discriminator.get_layer("conv1").get_weights()[0]
    average = np.array(sgan.averaged_weights[0])
    assert average.shape == kernel.shape
    np.testing.assert_array_equal(kernel, average)
    assert not np.allclose(kernel, raw)


def test_prior_matching_holds_the_unlabeled_mix_to_the_labeled_class_counts(windows_path,
                                                                           tmp_path,
                                                                           monkeypatch):
    from exermote_sgan.training import train_lib

    built = []
    build = train_lib.build_models

    def spy(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(train_lib, "build_models", spy)
    config = TrainConfig(windows_path=windows_path, model="sgan", out_dir=tmp_path / "prior",
                         test_subjects=(3,), labeled_fraction=0.3, prior_weight=0.5, **FAST)
    result = train(config)
    counts = np.array(list(result.split["labeled_class_counts"].values()), dtype=np.float64)
    assert built[0].prior_weight == 0.5
    np.testing.assert_allclose(built[0].class_prior, counts / counts.sum(), rtol=1e-6)
    assert np.isfinite(result.history["d_loss"]).all()


def test_baseline_sees_the_same_labeled_windows_and_is_deterministic(sgan_run, windows_path,
                                                                     tmp_path):
    config, sgan_result = sgan_run
    results = []
    for name in ("a", "b"):
        results.append(train(TrainConfig(
            windows_path=windows_path, model="baseline", out_dir=tmp_path / name,
            test_subjects=(3,), labeled_fraction=0.3, augment_scale=0.2, augment_rotation=30,
            **FAST)))
    a, b = results
    assert a.split["labeled_sha256"] == sgan_result.split["labeled_sha256"]
    assert a.n_labeled == sgan_result.n_labeled
    assert a.metrics == b.metrics
    pd.testing.assert_frame_equal(a.history, b.history)
    assert not (tmp_path / "a" / "plots" / "generated_vs_real.png").exists()
    # another seed draws other labeled windows
    other = train(TrainConfig(windows_path=windows_path, model="baseline",
                              out_dir=tmp_path / "c", test_subjects=(3,), labeled_fraction=0.3,
                              seed=1, **{**FAST, "epochs": 1}))
    assert other.split["labeled_sha256"] != a.split["labeled_sha256"]


def test_resume_continues_after_the_last_completed_epoch(windows_path, tmp_path):
    import keras

    class Interrupted(Exception):
        pass

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Interrupted("simulated interruption after the first epoch")

    class Epochs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(epoch)

    config = TrainConfig(windows_path=windows_path, model="sgan", out_dir=tmp_path / "run",
                         test_subjects=(3,), labeled_fraction=0.3, **{**FAST, "epochs": 3})
    with pytest.raises(Interrupted):
        train(config, callbacks=[Interrupt()])
    # the unfinished run waits beside the run directory, which does not exist yet
    assert can_resume(tmp_path / "run")
    assert (tmp_path / "run.partial" / "checkpoints" / "backup" / "epoch-00001").is_dir()
    assert not (tmp_path / "run").exists()

    # settings must match the interrupted run
    changed = TrainConfig(**{**config.__dict__, "resume": True, "labeled_fraction": 0.5})
    with pytest.raises(ExermoteInputError, match="labeled_fraction"):
        train(changed)

    epochs = Epochs()
    resumed = train(TrainConfig(**{**config.__dict__, "resume": True}), callbacks=[epochs])
    assert epochs.seen == [1, 2]
    assert list(resumed.history["epoch"]) == [0, 1, 2]
    assert (tmp_path / "run" / "classifier.keras").is_file()
    assert not (tmp_path / "run.partial").exists()
    # nothing left to resume now
    with pytest.raises(ExermoteInputError, match="nothing to resume"):
        train(TrainConfig(**{**config.__dict__, "resume": True}))


@pytest.mark.parametrize("overrides, message", [
    ({"test_subjects": (9,)}, "test subject.*9.*not in the windows file"),
    ({"test_subjects": (1, 2, 3)}, "every subject"),
    ({"labeled_fraction": 0.0}, "labeled_fraction.*must be in"),
    ({"labeled_fraction": 1.5}, "labeled_fraction.*must be in"),
    ({"model": "gan"}, "model.*baseline, sgan"),
    ({"labeled_unit": "rows"}, "labeled_unit"),
    ({"epochs": 0}, "epochs.*at least 1"),
    ({"batch_size": 1}, "batch_size"),
    ({"generator_loss": "l2"}, "generator_loss"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"adapt_sessions": 1}, "adapt_sessions.*needs test subjects"),
    ({"adapt_sessions": 3, "test_subjects": (3,)}, "test subject 3 has 3 session.*at least one"),
    ({"adapt_sessions": -1, "test_subjects": (3,)}, "adapt_sessions.*>= 0"),
    ({"prior_weight": -0.5}, "prior_weight.*>= 0"),
    ({"lstm_units": 0}, "lstm_units.*at least 1"),
    ({"dropout": 1.0}, r"dropout.*\[0, 1\)"),
    ({"scaler_quantile": 0.5}, r"scaler_quantile.*\[0, 0.5\)"),
    ({"trunk": "gru"}, "option 'trunk': must be one of lstm, pool, multiscale, got 'gru'"),
    ({"kernel_size": 15}, "40 timesteps are too short for convolutions of width 15.*at least 43"),
    ({"augment_rotation": 181}, "augment_rotation.*0, 180"),
    ({"features": "vectors"}, "features.*auto or all or a list"),
    ({"features": ("xGravity", "xGravity")}, "features.*distinct"),
    ({"features": ("xGravity", "heartRate")}, "no feature heartRate; they have xGravity"),
    ({"features": ("pitch", "roll"), "augment_rotation": 90},
     "augment_rotation needs 3-axis vector.*trained on are pitch, roll"),
])
def test_bad_arguments_are_refused_before_training(windows_path, tmp_path, overrides, message):
    config = TrainConfig(windows_path=windows_path, out_dir=tmp_path / "run",
                         **{**FAST, **overrides})
    with pytest.raises(ExermoteInputError, match=message):
        train(config)
    assert not (tmp_path / "run" / "checkpoints" / "backup").exists()


def test_a_bad_option_is_named_as_an_option_not_a_column(tmp_path):
    with pytest.raises(ExermoteInputError) as info:
        TrainConfig(windows_path=tmp_path / "w.h5", dropout=1.5).validate()
    assert (info.value.option, info.value.column) == ("dropout", None)
    assert str(info.value) == "option 'dropout': must be in [0, 1), got 1.5"


def test_missing_windows_file_and_nothing_to_resume(tmp_path, windows_path):
    with pytest.raises(ExermoteInputError, match="windows file not found"):
        train(TrainConfig(windows_path=tmp_path / "nope.h5", out_dir=tmp_path / "run"))
    with pytest.raises(ExermoteInputError, match="nothing to resume"):
        train(TrainConfig(windows_path=windows_path, out_dir=tmp_path / "fresh", resume=True))


def test_too_short_windows_for_the_networks(tmp_path):
    from exermote_sgan.data.windows_file import WindowSet, save_windows

    n = 60
    rng = np.random.default_rng(0)
    ws = WindowSet(windows=rng.random((n, 5, 2), dtype=np.float32),
                   labels=np.arange(n) % 2, subjects=np.repeat([1, 2, 3], n // 3),
                   sessions=np.repeat(np.arange(6), n // 6),
                   end_index=np.tile(np.arange(4, 4 + n // 6), 6), classes=("Break", "Move"),
                   features=("a", "b"), timesteps=5, session_names=tuple("abcdef"))
    path = save_windows(tmp_path / "short.h5", ws)
    with pytest.raises(ExermoteInputError, match="width 7; they need at least 19 timesteps"):
        train(TrainConfig(windows_path=path, out_dir=tmp_path / "run", labeled_unit="windows",
                          **FAST))
    # and features without a 3-axis vector cannot be rotated
    with pytest.raises(ExermoteInputError, match="augment_rotation needs 3-axis vector.*a, b"):
        train(TrainConfig(windows_path=path, out_dir=tmp_path / "run2", labeled_unit="windows",
                          augment_rotation=10, **FAST))
    assert not (tmp_path / "run2").exists()


@pytest.mark.parametrize("model", ["baseline", "sgan"])
def test_network_sizes_reach_the_saved_classifier(windows_path, tmp_path, model):
    from exermote_sgan.runs import load_run

    config = TrainConfig(windows_path=windows_path, model=model, out_dir=tmp_path / model,
                         test_subjects=(3,), labeled_fraction=0.5, conv_filters=5,
                         kernel_size=4, trunk="lstm", lstm_units=7, dropout=0.3, **FAST)
    train(config)
    classifier = load_run(config.out_dir).classifier
    conv1, conv2 = classifier.get_layer("conv1"), classifier.get_layer("conv2")
    assert (conv1.filters, conv1.kernel_size, conv2.filters, conv2.kernel_size) == (
        5, (4,), 5, (4,))
    assert classifier.get_layer("lstm1").units == classifier.get_layer("lstm2").units == 7
    assert classifier.get_layer("dropout").rate == pytest.approx(0.3)
    assert classifier.output_shape == (None, 4)


def test_cli_without_options_gives_the_train_config_defaults():
    from exermote_sgan.cli import build_parser
    from exermote_sgan.cli.train import config_from_args

    parsed = config_from_args(build_parser().parse_args(["train", "w.h5", "--out", "r"]))
    defaults = TrainConfig(windows_path="w.h5", out_dir="r")
    for f in fields(TrainConfig):
        if f.name not in ("verbose", "training_command"):
            assert getattr(parsed, f.name) == getattr(defaults, f.name), f.name


def test_cli_parses_into_the_config_and_command_line_round_trips():
    from exermote_sgan.cli import build_parser
    from exermote_sgan.cli.train import config_from_args

    argv = ["train", "w.h5", "--model", "baseline", "--out", "r", "--test-subjects", "4", "2",
            "--labeled-fraction", "0.05", "--epochs", "7", "--seed", "3", "--entropy-weight",
            "0.1", "--generator-filters", "32", "16", "--lstm-units", "64", "--kernel-size",
            "5", "--dropout", "0.1", "--conv-filters", "16", "--quiet"]
    config = config_from_args(build_parser().parse_args(argv))
    assert (config.model, config.test_subjects, config.labeled_fraction, config.epochs,
            config.seed, config.entropy_weight, config.generator_filters, config.verbose) == \
        ("baseline", (4, 2), 0.05, 7, 3, 0.1, (32, 16), 0)
    assert (config.conv_filters, config.kernel_size, config.lstm_units, config.dropout) == (
        16, 5, 64, 0.1)
    again = config_from_args(build_parser().parse_args(
        [*command_line(config).split()[1:], "--quiet"]))
    for f in fields(TrainConfig):
        assert getattr(again, f.name) == getattr(config, f.name), f.name

    parsed = config_from_args(build_parser().parse_args(
        ["train", "w.h5", "--features", "xGravity,yGravity,zGravity", "--augment-rotation", "30"]))
    assert parsed.features == ("xGravity", "yGravity", "zGravity")
    assert parsed.augment_rotation == 30.0
    again = config_from_args(build_parser().parse_args(command_line(parsed).split()[1:]))
    assert (again.features, again.augment_rotation) == (parsed.features, 30.0)
    auto = config_from_args(build_parser().parse_args(
        ["train", "w.h5", "--features", "auto", "--augment-rotation", "auto"]))
    assert (auto.features, auto.augment_rotation) == ("auto", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "w.h5", "--augment-rotation", "lots"])


def test_cli_reports_bad_input_with_exit_status_2(windows_path, tmp_path, capsys):
    from exermote_sgan.cli import main

    status = main(["train", str(windows_path), "--out", str(tmp_path / "run"),
                   "--test-subjects", "7", "--quiet"])
    assert status == 2
    err = capsys.readouterr().err
    assert "exermote-sgan train: error:" in err and "test subject(s) 7" in err
    status = main(["train", str(windows_path), "--out", str(tmp_path / "run"),
                   "--labeled-fraction", "2", "--quiet"])
    assert status == 2


def test_cli_trains_a_baseline(windows_path, tmp_path, capsys):
    from exermote_sgan.cli import main

    status = main(["train", str(windows_path), "--model", "baseline", "--out",
                   str(tmp_path / "run"), "--test-subjects", "3", "--epochs", "1",
                   "--batch-size", "16", "--steps-per-epoch", "2", "--quiet"])
    assert status == 0
    out = capsys.readouterr().out
    assert "run directory" in out and "accuracy" in out.lower()
    assert "features (9): xGravity, " in out and "rotated by up to 180 degrees" in out
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_warm_start_copies_a_trained_supervised_classifier_into_the_discriminator():
    import keras
    import tensorflow as tf

    from exermote_sgan.models.networks import classifier_from_discriminator
    from exermote_sgan.training.datasets import baseline_dataset
    from exermote_sgan.training.train_lib import _warm_start, build_models

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 96)
    windows = ((0.2 + 0.3 * labels)[:, None, None]
               + 0.05 * rng.standard_normal((96, 8, 2))).astype(np.float32)
    keras.utils.set_random_seed(0)
    config = TrainConfig(windows_path="unused.h5", batch_size=32, warm_start_epochs=20,
                         learning_rate=1e-2, kernel_size=3, verbose=0)
    sgan = build_models(config, timesteps=8, features=2, num_classes=3)

    def accuracy():
        classifier = classifier_from_discriminator(sgan.discriminator)
        return float(np.mean(classifier.predict(windows, verbose=0).argmax(1) == labels))

    before = accuracy()
    data = baseline_dataset(windows, labels, np.ones(96), batch_size=32, seed=0)
    _warm_start(sgan, config, data, steps=3, num_classes=3)
    assert isinstance(data, tf.data.Dataset)
    assert before < 0.6 and accuracy() > 0.9


def test_without_test_subjects_every_subject_trains_and_no_metrics_are_written(windows_path,
                                                                              tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"accuracy": 1.0}')  # left by an earlier run
    result = train(TrainConfig(windows_path=windows_path, model="baseline", out_dir=run_dir,
                               **{**FAST, "epochs": 1}))
    assert result.metrics is None
    assert not (run_dir / "metrics.json").exists()
    assert result.split["training_subjects"] == [1, 2, 3] and result.split["n_test"] == 0
    assert (run_dir / "classifier.keras").is_file()


def test_amplitude_augmenter_scales_raw_values_about_their_zero():
    import tensorflow as tf

    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.training.datasets import amplitude_augmenter, baseline_dataset

    assert amplitude_augmenter([0.5], scale=0.0, seed=0) is None
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(64, 8, 3)).astype(np.float32)
    scaler = MinMaxScaler().fit(raw)
    augment = amplitude_augmenter(scaler.offset_, scale=0.2, seed=0)
    data = baseline_dataset(scaler.transform(raw), np.zeros(64), np.ones(64), batch_size=16,
                            seed=0, augment=augment)
    x, _, _ = next(iter(data))
    back = scaler.inverse_transform(np.asarray(x))
    # each augmented window is a raw window times one factor in [0.8, 1.2]
    factors = []
    for window in back:
        matches = [w for w in raw if np.allclose(window / w, (window / w).mean(), rtol=1e-3,
                                                 atol=1e-3)]
        assert len(matches) == 1
        factors.append(float(np.median(window / matches[0])))
    assert all(0.8 - 1e-4 <= f <= 1.2 + 1e-4 for f in factors)
    assert np.std(factors) > 0.01
    assert isinstance(data, tf.data.Dataset)


def test_vector_groups_are_the_x_y_z_triples_of_a_name():
    from exermote_sgan.recordings.schema import EXERMOTE_FEATURES
    from exermote_sgan.training.datasets import vector_groups

    assert vector_groups(EXERMOTE_FEATURES) == [(0, 1, 2), (3, 4, 5), (9, 10, 11)]
    assert vector_groups(["zAcc", "pitch", "xAcc", "yAcc"]) == [(2, 3, 0)]
    assert vector_groups(["xAcc", "yAcc", "pitch"]) == []
    assert vector_groups(["x", "y", "z"]) == []
    # other devices' names: the axis letter anywhere, either case, one group per feature
    watch = ["acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s", "gyro_z_rad_s"]
    assert vector_groups(watch) == [(0, 1, 2), (3, 4, 5)]
    assert vector_groups(["gyroZ", "gyroX", "gyroY", "hr"]) == [(1, 2, 0)]
    assert vector_groups(["accX", "accy", "accZ"]) == []
    assert vector_groups(["max_x", "max_y", "max_z", "may_x"]) == [(0, 1, 2)]


def test_training_features_and_rotation_follow_the_options():
    from exermote_sgan.recordings.schema import EXERMOTE_FEATURES
    from exermote_sgan.training.train_lib import rotation_degrees, training_features

    def config(**options):
        return TrainConfig(windows_path="w.h5", **options)

    vectors = tuple(f for f in EXERMOTE_FEATURES if f not in ("pitch", "roll", "yaw"))
    assert training_features(config(), EXERMOTE_FEATURES) == vectors
    assert training_features(config(features="all"), EXERMOTE_FEATURES) == EXERMOTE_FEATURES
    assert training_features(config(features=["roll", "xGravity"]), EXERMOTE_FEATURES) == (
        "roll", "xGravity")
    # without any x/y/z triple, auto keeps every feature and rotates nothing
    assert training_features(config(), ("hr", "xAcc", "yAcc")) == ("hr", "xAcc", "yAcc")
    assert rotation_degrees(config(), vectors) == 180.0
    assert rotation_degrees(config(), ("hr", "xAcc", "yAcc")) == 0.0
    assert rotation_degrees(config(augment_rotation=0), vectors) == 0.0
    assert rotation_degrees(config(augment_rotation=45), EXERMOTE_FEATURES) == 45.0


def test_a_run_on_all_features_without_rotation_evaluates_on_the_same_file(windows_path,
                                                                              tmp_path):
    from exermote_sgan.recordings.schema import EXERMOTE_FEATURES
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.runs import load_run
    from exermote_sgan.training.evaluation import evaluate_classifier

    config = TrainConfig(windows_path=windows_path, model="baseline", out_dir=tmp_path / "r",
                         test_subjects=(3,), features="all", augment_rotation=0, **FAST)
    result = train(config)
    run = load_run(result.run_dir)
    assert run.preprocessing.features == EXERMOTE_FEATURES
    assert run.preprocessing.provenance.augment_rotation == 0.0
    command = run.preprocessing.training_command
    assert "--features all" in command and "--augment-rotation 0" in command
    again = evaluate_classifier(run.classifier, run.preprocessing, load_windows(windows_path),
                                subjects=[3])
    assert again == result.metrics


def test_rotation_augmenter_turns_every_vector_of_a_window_by_one_rotation():
    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.training.datasets import rotation_augmenter

    features = ("xA", "yA", "zA", "roll", "xB", "yB", "zB")
    assert rotation_augmenter([1.0] * 7, [0.0] * 7, features, max_degrees=0, seed=0) is None
    with pytest.raises(ValueError, match="no 3-axis vectors.*'roll'"):
        rotation_augmenter([1.0], [0.0], ("roll",), max_degrees=10, seed=0)
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(200, 6, 7)).astype(np.float32)
    scaler = MinMaxScaler().fit(raw)
    augment = rotation_augmenter(scaler.scale_, scaler.offset_, features, max_degrees=40,
                                 seed=0)
    out = scaler.inverse_transform(np.asarray(augment(scaler.transform(raw))))
    np.testing.assert_allclose(out[:, :, 3], raw[:, :, 3], atol=1e-5)  # not a vector: kept
    # one rotation R per window: every dot product between its vectors, across vectors and
    # time steps, is kept, so R^T R = I and R is shared
    def vectors(w):
        return np.concatenate([w[:, :, 0:3], w[:, :, 4:7]], axis=1)  # (N, 2 * timesteps, 3)
    before, after = vectors(raw), vectors(out)
    np.testing.assert_allclose(np.einsum("nik,njk->nij", after, after),
                               np.einsum("nik,njk->nij", before, before), atol=2e-4)
    # ... a proper rotation (no mirror), by at most 40 degrees, and a different one per window
    rotations = np.stack([np.linalg.lstsq(b, a, rcond=None)[0].T for a, b in zip(after, before)])
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-4)
    angles = np.degrees(np.arccos(np.clip((np.trace(rotations, axis1=1, axis2=2) - 1) / 2,
                                          -1, 1)))
    assert angles.max() <= 40 + 1e-2 and angles.mean() > 10
    assert np.std(angles) > 5


def test_chain_augmenters_applies_each_in_turn_and_skips_none():
    from exermote_sgan.training.datasets import chain_augmenters

    def double(x, key=0):
        return x * 2 + key

    def add_one(x, key=0):
        return x + 1

    assert chain_augmenters(None, None) is None
    assert chain_augmenters(None, double) is double
    assert chain_augmenters(double, None, add_one)(5) == 11
    assert chain_augmenters(add_one, double)(5) == 12
    assert chain_augmenters(add_one, double)(5, 100) == 112  # every step gets the key


def test_adaptation_sessions_join_the_unlabeled_pool_and_leave_the_test(windows_path, tmp_path):
    """--adapt-sessions: a test subject's first sessions train without labels, the rest test."""
    from exermote_sgan.data.windows_file import load_windows

    config = TrainConfig(windows_path=windows_path, model="sgan", out_dir=tmp_path / "adapt",
                         test_subjects=(3,), labeled_fraction=0.3, adapt_sessions=1, **FAST)
    result = train(config)
    split = result.split
    ws = load_windows(windows_path)
    names = [ws.session_names[s] for s in np.unique(ws.sessions[ws.subjects == 3])]
    assert split["adaptation_sessions"] == sorted(names)[:1]
    assert split["test_sessions"] == sorted(names)[1:]
    assert split["n_adaptation"] + split["n_test"] == int(np.sum(ws.subjects == 3))
    assert split["n_unlabeled"] == split["n_training"] - split["n_labeled"] + split["n_adaptation"]
    assert result.metrics["n_windows"] == split["n_test"]
    assert 3 not in split["training_subjects"] and 3 not in split["validation_subjects"]
    assert json.loads((result.run_dir / "split.json").read_text()) == split
