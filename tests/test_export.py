"""Core ML export: both file kinds are written, read back and shown to compute what Keras does."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.data.windows_file import WindowSet, save_windows
from exermote_sgan.runs import Preprocessing, Provenance, save_run

CLASSES = ("Break", "Burpee", "Situp", "Squat")
FEATURES = tuple(f"Device: {name}" for name in (
    "xGravity", "yGravity", "zGravity", "xAcceleration", "yAcceleration", "zAcceleration",
    "pitch", "roll", "yaw", "xRotationRate", "yRotationRate", "zRotationRate"))
T, F, K = 40, 12, 4

pytestmark = pytest.mark.realdata  # verification runs on windows of the real recordings


def _real_window_set(recordings, *, per_file: int = 60) -> WindowSet:
    """Windows of real sensor values (stride 7) from three recordings of different people."""
    import pandas as pd

    chosen, seen = [], set()
    for path in recordings:
        individual = int(pd.read_csv(path, usecols=["individual"], nrows=2)["individual"].iloc[0])
        if individual not in seen:
            seen.add(individual)
            chosen.append((path, individual))
        if len(chosen) == 3:
            break
    windows, labels, subjects, sessions, ends = [], [], [], [], []
    for session, (path, individual) in enumerate(chosen):
        frame = pd.read_csv(path, usecols=list(range(54, 67)))
        values = frame.iloc[1:, :12].to_numpy(np.float32)
        kinds = frame.iloc[1:, 12].replace({"setBreak": "Break"}).to_numpy()
        for end in range(T - 1, min(len(values), T - 1 + 7 * per_file), 7):
            windows.append(values[end - T + 1:end + 1])
            labels.append(CLASSES.index(kinds[end - 20]))
            subjects.append(individual)
            sessions.append(session)
            ends.append(end)
    return WindowSet(np.stack(windows), np.array(labels), np.array(subjects),
                     np.array(sessions), np.array(ends), CLASSES, FEATURES, T,
                     stride=7, label_offset=20, sample_rate_hz=10.0,
                     session_names=tuple(p.name for p, _ in chosen))


@pytest.fixture(scope="module")
def real_windows(real_recordings, tmp_path_factory):
    window_set = _real_window_set(real_recordings)
    path = save_windows(tmp_path_factory.mktemp("windows") / "windows.h5", window_set)
    return path, window_set


def _train_briefly(model, x, y):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return model


def _make_run(run_dir, classifier, window_set, windows_path, *, model="baseline",
              test_subject=None, timesteps=T):
    train = window_set.subjects != test_subject
    scaler = MinMaxScaler().fit(window_set.windows[train])
    prep = Preprocessing(CLASSES, window_set.features, timesteps, 20, 10.0, scaler, model=model,
                         training_command=f"exermote-sgan train --model {model}",
                         provenance=Provenance(
                             windows_path=str(windows_path),
                             test_subjects=() if test_subject is None else (int(test_subject),)))
    save_run(run_dir, classifier, prep, metrics={"accuracy": 0.5, "macro_f1": 0.4})
    return prep


@pytest.fixture(scope="module")
def baseline_run(real_windows, tmp_path_factory):
    import keras

    from exermote_sgan.models.networks import build_baseline

    path, window_set = real_windows
    keras.utils.set_random_seed(2)
    test_subject = int(window_set.subjects.max())
    scaler = MinMaxScaler().fit(window_set.windows)
    classifier = _train_briefly(build_baseline(T, F, K), scaler.transform(window_set.windows),
                                window_set.labels)
    run_dir = tmp_path_factory.mktemp("baseline_run")
    _make_run(run_dir, classifier, window_set, path, test_subject=test_subject)
    return run_dir


@pytest.fixture(scope="module")
def sgan_run(real_windows, tmp_path_factory):
    import keras

    from exermote_sgan.models.networks import build_discriminator, classifier_from_discriminator

    path, window_set = real_windows
    keras.utils.set_random_seed(3)
    disc = build_discriminator(T, F, K)
    rng = np.random.default_rng(1)
    # weights well away from Keras's initial ones (non-zero biases included)
    disc.set_weights([w + rng.normal(0, 0.15, w.shape).astype(np.float32)
                      for w in disc.get_weights()])
    run_dir = tmp_path_factory.mktemp("sgan_run")
    _make_run(run_dir, classifier_from_discriminator(disc), window_set, path, model="sgan",
              test_subject=None)
    return run_dir


def test_baseline_export_fp16_is_verified_on_real_test_windows(baseline_run, real_windows,
                                                               tmp_path):
    import coremltools as ct

    from exermote_sgan.export.exporter import export_run

    report = export_run(baseline_run, tmp_path / "Exermote", author="tests", version="1.2",
                        license="MIT")
    _, window_set = real_windows
    n_test = int(np.sum(window_set.subjects == window_set.subjects.max()))
    check = report.mlpackage_check
    assert check.passed and check.windows == n_test and report.passed
    assert check.max_abs_diff <= 5e-2
    assert check.differing_labels == check.near_tie_disagreements
    assert "test subjects" in report.windows_source
    assert report.mlpackage == tmp_path / "Exermote.mlpackage" and report.mlpackage.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Exermote.mlmodel",
                                                          "Exermote.mlpackage"]

    spec = ct.utils.load_spec(str(report.mlpackage))
    assert spec.WhichOneof("Type") == "mlProgram"
    (inp,) = spec.description.input
    assert inp.name == "accelerations"
    assert list(inp.type.multiArrayType.shape) == [1, T, F]
    assert inp.type.multiArrayType.dataType == ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    outputs = {o.name: o for o in spec.description.output}
    assert set(outputs) == {"scores", "classLabel", "classProbabilities"}
    assert spec.description.predictedFeatureName == "classLabel"
    assert spec.description.predictedProbabilitiesName == "classProbabilities"
    assert outputs["classLabel"].type.WhichOneof("Type") == "stringType"
    assert list(outputs["scores"].type.multiArrayType.shape) == [1, K]
    assert outputs["scores"].type.multiArrayType.dataType == inp.type.multiArrayType.dataType
    meta = spec.description.metadata
    assert meta.author == "tests" and meta.versionString == "1.2" and meta.license == "MIT"
    assert "Core Motion" in meta.shortDescription and "10 Hz" in meta.shortDescription
    assert "CMDeviceMotion.gravity.x" in inp.shortDescription and "RAW" in inp.shortDescription
    user = dict(meta.userDefined)
    assert json.loads(user["features"]) == list(FEATURES)
    assert json.loads(user["classes"]) == list(CLASSES)
    assert user["timesteps"] == "40" and user["label_offset"] == "20"
    assert float(user["sample_rate_hz"]) == 10.0
    assert user["training_command"] == "exermote-sgan train --model baseline"
    assert json.loads(user["test_metrics"]) == {"accuracy": 0.5, "macro_f1": 0.4}


def test_sgan_export_fp32_with_flexible_batch_matches_keras_to_1e4(sgan_run, real_windows,
                                                                   tmp_path):
    import coremltools as ct

    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.mil_evaluator import MILEvaluator, load_mil_program
    from exermote_sgan.export.weights import extract_weights, reference_forward
    from exermote_sgan.runs import load_run

    report = export_run(sgan_run, tmp_path / "sgan", precision="fp32", flexible_batch=True,
                        app_model="no", max_windows=50, tflite=True)
    check = report.mlpackage_check
    assert check.passed and check.windows == 50  # no test subjects: a sample of the file
    assert check.max_abs_diff <= 1e-4 and check.label_agreement == 1.0
    assert not (tmp_path / "sgan.mlmodel").exists()
    assert report.tflite == tmp_path / "sgan.tflite" and report.tflite.is_file()
    assert report.tflite_check.passed and report.tflite_check.max_abs_diff <= 1e-4
    spec = ct.utils.load_spec(str(report.mlpackage))
    ranges = spec.description.input[0].type.multiArrayType.shapeRange.sizeRanges
    assert (ranges[0].lowerBound, ranges[0].upperBound) == (1, 4096)

    # the NumPy program evaluator agrees with an independent float64 forward pass on a batch
    _, window_set = real_windows
    run = load_run(sgan_run)
    raw = window_set.windows[:64]
    _, program = load_mil_program(report.mlpackage)
    scores = MILEvaluator(program).evaluate({"accelerations": raw})["scores"]
    expected = reference_forward(extract_weights(run.classifier),
                                 run.preprocessing.scaler.transform(raw))
    assert np.abs(scores - expected).max() <= 1e-4
    assert np.array_equal(scores.argmax(1), expected.argmax(1))


@pytest.fixture(scope="module")
def pool_run(real_windows, tmp_path_factory):
    """An SGAN classifier with the pool trunk, its weights well away from their initial ones."""
    return _moved_sgan_run(real_windows, tmp_path_factory.mktemp("pool_run"), seeds=(4, 2),
                           trunk="pool", conv_filters=16)


def _moved_sgan_run(real_windows, run_dir, *, seeds, **network):
    """A run of an SGAN discriminator's classifier built with ``network`` options, its weights
    moved by noise away from their initial ones."""
    import keras

    from exermote_sgan.models.networks import build_discriminator, classifier_from_discriminator

    path, window_set = real_windows
    keras.utils.set_random_seed(seeds[0])
    disc = build_discriminator(T, F, K, **network)
    rng = np.random.default_rng(seeds[1])
    disc.set_weights([w + rng.normal(0, 0.15, w.shape).astype(np.float32)
                      for w in disc.get_weights()])
    _make_run(run_dir, classifier_from_discriminator(disc), window_set, path, model="sgan",
              test_subject=int(window_set.subjects.max()))
    return run_dir


def test_pool_trunk_exports_as_mean_and_max_reductions(pool_run, real_windows, tmp_path):
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.mil_evaluator import MILEvaluator, load_mil_program
    from exermote_sgan.export.weights import extract_weights, reference_forward
    from exermote_sgan.inference.forward import NumpyClassifier
    from exermote_sgan.runs import load_run

    report = export_run(pool_run, tmp_path / "pool", precision="fp32", flexible_batch=True,
                        tflite=True)
    assert report.passed and report.mlpackage_check.max_abs_diff <= 1e-4
    assert report.tflite_check.passed and report.tflite_check.max_abs_diff <= 1e-4
    assert report.app_model is None and not (tmp_path / "Exermote.mlmodel").exists()
    assert report.app_model_skipped == [
        "the trunk is 'pool', the app's model has two LSTMs (train with --trunk lstm)"]
    _, program = load_mil_program(report.mlpackage)
    ops = {op.op_type for op in program.functions["main"].operations}
    assert {"reduce_mean", "reduce_max"} <= ops and "lstm" not in ops

    run = load_run(pool_run)
    _, window_set = real_windows
    raw = window_set.windows[:64]
    scaled = run.preprocessing.scaler.transform(raw)
    weights = extract_weights(run.classifier)
    assert weights.trunk == "pool" and weights.lstm_units is None
    expected = reference_forward(weights, scaled)
    keras_probabilities = run.classifier.predict(scaled, verbose=0)
    assert np.abs(expected - keras_probabilities).max() <= 1e-5
    scores = MILEvaluator(program).evaluate({"accelerations": raw})["scores"]
    assert np.abs(scores - expected).max() <= 1e-4
    streamed = NumpyClassifier.from_keras(run.classifier)
    assert np.abs(streamed(scaled) - keras_probabilities).max() <= 1e-5
    assert np.array_equal(streamed(scaled[0]), streamed(scaled[:1])[0])  # one window or many


@pytest.mark.parametrize("run_name", ["pool_run", "multiscale_run"])
def test_an_export_whose_head_reads_its_pooled_halves_swapped_fails(
        run_name, request, tmp_path, monkeypatch):
    """pool: the head reads the max where it expects the mean; multiscale: the short branch
    where it expects the long one.  Verification catches either."""
    import exermote_sgan.export.weights as weights_module
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.verify import VerificationError

    extract = weights_module.extract_weights

    def swapped(*args, **kwargs):
        weights = extract(*args, **kwargs)
        half = weights.dense_kernel.shape[0] // 2
        kernel = np.concatenate([weights.dense_kernel[half:], weights.dense_kernel[:half]])
        return replace(weights, dense_kernel=kernel)

    monkeypatch.setattr(weights_module, "extract_weights", swapped)
    with pytest.raises(VerificationError, match="swapped.mlpackage FAILED, not written"):
        export_run(request.getfixturevalue(run_name), tmp_path / "swapped", precision="fp32",
                   max_windows=40)
    assert not list(tmp_path.iterdir())


def test_only_the_mean_then_max_pooling_is_taken_for_the_pool_trunk(tmp_path):
    import keras

    from exermote_sgan.errors import ExermoteInputError
    from exermote_sgan.export.weights import extract_weights
    from exermote_sgan.inference.forward import NumpyClassifier

    inputs = keras.Input((T, F))
    x = keras.layers.Conv1D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv1D(8, 3, activation="relu")(x)
    mean, top = keras.layers.GlobalAveragePooling1D()(x), keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Concatenate()([top, mean])  # max first: not what the exporters compute
    x = keras.layers.Dropout(0.2)(x)
    other = keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(x))
    with pytest.raises(ExermoteInputError, match="not a baseline-architecture classifier"):
        extract_weights(other, path=tmp_path / "classifier.keras")
    with pytest.raises(ExermoteInputError, match="not a baseline-architecture classifier"):
        NumpyClassifier.from_keras(other)  # streaming refuses it by the export's own check


@pytest.fixture(scope="module")
def multiscale_run(real_windows, tmp_path_factory):
    """An SGAN classifier with the multiscale trunk (widths 7 and 3), weights moved away."""
    return _moved_sgan_run(real_windows, tmp_path_factory.mktemp("multiscale_run"),
                           seeds=(5, 3), trunk="multiscale", conv_filters=8, kernel_size=7)


def test_multiscale_trunk_exports_as_two_branches_of_mean_and_max(multiscale_run, real_windows,
                                                                  tmp_path):
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.mil_evaluator import MILEvaluator, load_mil_program
    from exermote_sgan.export.weights import extract_weights, reference_forward
    from exermote_sgan.inference.forward import NumpyClassifier
    from exermote_sgan.runs import load_run

    report = export_run(multiscale_run, tmp_path / "multiscale", precision="fp32",
                        flexible_batch=True, tflite=True)
    assert report.passed and report.mlpackage_check.max_abs_diff <= 1e-4
    assert report.tflite_check.passed and report.tflite_check.max_abs_diff <= 1e-4
    assert report.app_model is None and report.app_model_skipped == [
        "the trunk is 'multiscale', the app's model has two LSTMs (train with --trunk lstm)"]
    _, program = load_mil_program(report.mlpackage)
    ops = [op.op_type for op in program.functions["main"].operations]
    assert ops.count("conv") == 4 and ops.count("reduce_mean") == 2
    assert ops.count("reduce_max") == 2 and "lstm" not in ops

    run = load_run(multiscale_run)
    _, window_set = real_windows
    raw = window_set.windows[:64]
    scaled = run.preprocessing.scaler.transform(raw)
    weights = extract_weights(run.classifier)
    assert weights.trunk == "multiscale" and weights.conv1_short.kernel.shape == (3, F, 8)
    assert weights.conv1.kernel.shape == (7, F, 8) and weights.dense_kernel.shape == (32, K)
    expected = reference_forward(weights, scaled)
    keras_probabilities = run.classifier.predict(scaled, verbose=0)
    assert np.abs(expected - keras_probabilities).max() <= 1e-5
    without_short = replace(weights, conv1_short=None, conv2_short=None,
                            dense_kernel=weights.dense_kernel[:16])
    assert np.abs(reference_forward(without_short, scaled) - expected).max() > 1e-3
    scores = MILEvaluator(program).evaluate({"accelerations": raw})["scores"]
    assert np.abs(scores - expected).max() <= 1e-4
    streamed = NumpyClassifier.from_keras(run.classifier)
    assert np.abs(streamed(scaled) - keras_probabilities).max() <= 1e-5


def test_only_the_multiscale_wiring_the_exporters_compute_is_taken(tmp_path):
    import keras

    from exermote_sgan.errors import ExermoteInputError
    from exermote_sgan.export.weights import extract_weights
    from exermote_sgan.inference.forward import NumpyClassifier

    def branch(inputs, width, suffix):
        x = keras.layers.Conv1D(4, width, strides=2, activation="relu", name=f"conv1{suffix}")(
            inputs)
        x = keras.layers.Conv1D(4, width, activation="relu", name=f"conv2{suffix}")(x)
        return keras.layers.Concatenate(name=f"pooled{suffix}")(
            [keras.layers.GlobalAveragePooling1D(name=f"mean_pool{suffix}")(x),
             keras.layers.GlobalMaxPooling1D(name=f"max_pool{suffix}")(x)])

    inputs = keras.Input((T, F))
    long_, short = branch(inputs, 7, ""), branch(inputs, 3, "_short")
    x = keras.layers.Concatenate(name="scales")([short, long_])  # short first: not the order
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    other = keras.Model(inputs, keras.layers.Dense(K, activation="softmax", name="scores")(x))
    with pytest.raises(ExermoteInputError, match="not wired as the multiscale trunk"):
        extract_weights(other, path=tmp_path / "classifier.keras")
    with pytest.raises(ExermoteInputError, match="not a baseline-architecture classifier"):
        NumpyClassifier.from_keras(other)  # streaming refuses it by the export's own check


def test_fp16_export_for_a_later_target_keeps_float32_input_and_output(sgan_run, tmp_path):
    import coremltools as ct

    from exermote_sgan.export.exporter import export_run

    report = export_run(sgan_run, tmp_path / "ios17", target="iOS17", app_model="no",
                        max_windows=40)
    assert report.mlpackage_check.passed and report.mlpackage_check.max_abs_diff <= 1e-2
    spec = ct.utils.load_spec(str(report.mlpackage))
    float32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    assert spec.specificationVersion >= 8  # iOS 17
    assert spec.description.input[0].type.multiArrayType.dataType == float32
    scores = {o.name: o for o in spec.description.output}["scores"]
    assert scores.type.multiArrayType.dataType == float32


def test_app_model_has_the_exermote_app_interface(baseline_run, real_windows, tmp_path):
    import coremltools as ct

    from exermote_sgan.export.app_model import app_scaling_coefficients
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.nn_evaluator import NeuralNetworkEvaluator
    from exermote_sgan.runs import load_run

    # whatever --out is called, the app model is the app's Exermote.mlmodel (class Exermote)
    report = export_run(baseline_run, tmp_path / "PredictionModel", precision="fp32",
                        author="A. Developer", license="MIT", version="2.0")
    assert report.app_model == tmp_path / "Exermote.mlmodel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Exermote.mlmodel",
                                                          "PredictionModel.mlpackage"]
    assert report.app_model_check.passed and report.app_model_check.max_abs_diff <= 1e-4
    spec = ct.utils.load_spec(str(report.app_model))
    meta = spec.description.metadata
    assert (meta.author, meta.license, meta.versionString) == ("A. Developer", "MIT", "2.0")
    assert "Exermote.mlmodel" in meta.shortDescription
    described = {f.name: f.shortDescription for f in list(spec.description.input)
                 + list(spec.description.output)}
    assert all(described.values()), described
    assert "Break, Burpee, Situp, Squat" in described["scores"]
    assert "[40, 1, 12]" in described["accelerations"]
    assert "PREDICTION_MANAGER_SCALING_COEFFICIENTS" in described["accelerations"]
    assert "zRotationRate" in described["accelerations"]
    assert "hidden state of LSTM 2" in described["lstm_2_h_in"]
    assert "scaler_scale" not in meta.shortDescription  # no keys only the .mlpackage has
    assert spec.specificationVersion == 1 and spec.WhichOneof("Type") == "neuralNetwork"
    double = ct.proto.FeatureTypes_pb2.ArrayFeatureType.DOUBLE
    inputs = [(f.name, list(f.type.multiArrayType.shape), f.type.multiArrayType.dataType,
               f.type.isOptional) for f in spec.description.input]
    assert inputs == [("accelerations", [12], double, False)] + [
        (f"lstm_{k}_{s}_in", [32], double, True) for k in (1, 2) for s in ("h", "c")]
    outputs = [(f.name, list(f.type.multiArrayType.shape), f.type.multiArrayType.dataType)
               for f in spec.description.output]
    assert outputs == [("scores", [4], double)] + [
        (f"lstm_{k}_{s}_out", [32], double) for k in (1, 2) for s in ("h", "c")]

    # fed like the app: one window as [40, 1, 12] of scaled values and zero LSTM states
    run = load_run(baseline_run)
    _, window_set = real_windows
    scaled = run.preprocessing.scaler.transform(window_set.windows[5])
    zeros = np.zeros(32)
    out = NeuralNetworkEvaluator(spec).evaluate(
        {"accelerations": scaled.reshape(40, 1, 12), "lstm_1_h_in": zeros, "lstm_1_c_in": zeros,
         "lstm_2_h_in": zeros, "lstm_2_c_in": zeros})
    keras_scores = run.classifier.predict(scaled[None], verbose=0)
    assert np.abs(out["scores"] - keras_scores).max() <= 1e-5
    multiply, add = app_scaling_coefficients(run.preprocessing.scaler)
    assert np.allclose(window_set.windows[5] * np.array(multiply) + np.array(add), scaled,
                       atol=1e-6)
    assert "PREDICTION_MANAGER_SCALING_COEFFICIENTS" in report.swift_scaling


def _vector_feature_run(real_windows, tmp_path, features):
    """A briefly trained run reading only ``features`` (a subset of the 12, any order)."""
    import keras

    from exermote_sgan.models.networks import build_baseline

    _, window_set = real_windows
    columns = [FEATURES.index(f) for f in features]
    subset = replace(window_set, windows=np.ascontiguousarray(window_set.windows[..., columns]),
                     features=tuple(features))
    path = save_windows(tmp_path / "subset.h5", subset)
    keras.utils.set_random_seed(4)
    scaler = MinMaxScaler().fit(subset.windows)
    classifier = _train_briefly(build_baseline(T, len(features), K),
                                scaler.transform(subset.windows), subset.labels)
    run_dir = tmp_path / "subset_run"
    _make_run(run_dir, classifier, subset, path, test_subject=int(subset.subjects.max()))
    return run_dir, subset


def test_app_model_of_a_feature_subset_reads_the_apps_12_features(real_windows, tmp_path,
                                                                  capsys):
    import coremltools as ct

    from exermote_sgan.export.nn_evaluator import NeuralNetworkEvaluator
    from exermote_sgan.runs import load_run

    # the nine 3-axis vectors, rotation rates first: not the app's order
    vectors = [FEATURES[k] for k in (9, 10, 11, 0, 1, 2, 3, 4, 5)]
    run_dir, subset = _vector_feature_run(real_windows, tmp_path, vectors)
    assert _cli(run_dir, "--out", tmp_path / "Classifier", "--precision", "fp32",
                "--app-model", "yes") == 0
    out = capsys.readouterr().out
    assert "does not read pitch, roll, yaw" in out and "OK:" in out
    spec = ct.utils.load_spec(str(tmp_path / "Exermote.mlmodel"))
    assert "ignores pitch, roll, yaw" in spec.description.input[0].shortDescription
    assert list(spec.description.input[0].type.multiArrayType.shape) == [12]

    # fed exactly as the app does: all 12 raw features, scaled with the printed coefficients
    from exermote_sgan.export.exporter import export_run

    report = export_run(run_dir, tmp_path / "again", precision="fp32", max_windows=30)
    assert report.app_unused_features == ["pitch", "roll", "yaw"]
    multiply, add = (np.array(c) for c in report.scaling_coefficients)
    assert multiply.shape == (12,) and not multiply[6:9].any() and not add[6:9].any()
    _, window_set = real_windows
    run = load_run(run_dir)
    evaluator = NeuralNetworkEvaluator(spec)
    for k in (3, 77, 140):
        app_input = window_set.windows[k] * multiply + add
        expected = run.classifier.predict(
            run.preprocessing.scaler.transform(subset.windows[k])[None], verbose=0)
        scores = evaluator.evaluate({"accelerations": app_input.reshape(T, 1, 12)})["scores"]
        assert np.abs(scores - expected).max() <= 1e-5
        # whatever arrives in the unused inputs, the scores stay the same
        app_input[:, 6:9] = np.random.default_rng(k).normal(0, 3, (T, 3))
        noisy = evaluator.evaluate({"accelerations": app_input.reshape(T, 1, 12)})["scores"]
        assert np.abs(noisy - scores).max() <= 1e-12


def test_app_model_refuses_features_the_app_does_not_feed(real_windows, tmp_path, capsys):
    features = list(FEATURES[:6]) + ["heartRate"]
    _, window_set = real_windows
    renamed = replace(window_set, windows=np.ascontiguousarray(window_set.windows[..., :7]),
                      features=tuple(features))
    path = save_windows(tmp_path / "renamed.h5", renamed)
    from exermote_sgan.models.networks import build_baseline

    run_dir = tmp_path / "renamed_run"
    _make_run(run_dir, build_baseline(T, 7, K), renamed, path, test_subject=None)
    assert _cli(run_dir, "--out", tmp_path / "m", "--app-model", "yes") == 2
    assert "heartRate" in capsys.readouterr().err and not list(tmp_path.glob("m.*"))
    assert _cli(run_dir, "--out", tmp_path / "m", "--max-windows", "20") == 0
    out = capsys.readouterr().out
    assert "no Exermote app model: features are" in out and "the app feeds only" in out
    assert (tmp_path / "m.mlpackage").is_dir() and not (tmp_path / "m.mlmodel").exists()


def _swap_lstm1_input_and_forget_gates(weights):
    lstm = weights.lstm1
    u = lstm.units

    def swap(a):
        a = a.copy()
        a[..., :u], a[..., u:2 * u] = a[..., u:2 * u].copy(), a[..., :u].copy()
        return a

    return replace(weights, lstm1=replace(lstm, kernel=swap(lstm.kernel),
                                          recurrent=swap(lstm.recurrent), bias=swap(lstm.bias)))


def test_wrong_export_is_caught_and_nothing_is_written(sgan_run, tmp_path, monkeypatch):
    import exermote_sgan.export.weights as weights_module
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.verify import VerificationError

    earlier = tmp_path / "wrong.mlpackage"  # an earlier export of the same name survives
    earlier.mkdir()
    (earlier / "marker").write_text("earlier export")
    (earlier / "Manifest.json").write_text("{}")  # what makes it a package, not user files
    extract = weights_module.extract_weights
    monkeypatch.setattr(weights_module, "extract_weights",
                        lambda *a, **k: _swap_lstm1_input_and_forget_gates(extract(*a, **k)))
    with pytest.raises(VerificationError, match="wrong.mlpackage FAILED, not written.*"
                                                "conversion is wrong") as caught:
        export_run(sgan_run, tmp_path / "wrong", precision="fp32")
    assert set(caught.value.report.failures) == {"mlpackage", "app_model"}
    assert "nothing written" in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == ["wrong.mlpackage"]
    assert sorted(p.name for p in earlier.iterdir()) == ["Manifest.json", "marker"]


def test_app_model_with_permuted_gates_fails_verification(sgan_run, real_windows, tmp_path):
    from exermote_sgan.export.app_model import build_app_spec, save_app_model
    from exermote_sgan.export.verify import keras_scores, verify_app_model
    from exermote_sgan.export.weights import extract_weights
    from exermote_sgan.runs import load_run

    run = load_run(sgan_run)
    _, window_set = real_windows
    scaled = run.preprocessing.scaler.transform(window_set.windows[:40])
    expected = keras_scores(run.classifier, scaled)
    spec = build_app_spec(extract_weights(run.classifier))
    good = verify_app_model(save_app_model(spec, tmp_path / "good.mlmodel"), scaled, expected)
    assert good.passed
    lstm = spec.neuralNetwork.layers[6].uniDirectionalLSTM.weightParams  # lstm_1
    input_gate = list(lstm.inputGateWeightMatrix.floatValue)
    output_gate = list(lstm.outputGateWeightMatrix.floatValue)
    lstm.inputGateWeightMatrix.floatValue[:] = output_gate
    lstm.outputGateWeightMatrix.floatValue[:] = input_gate
    bad = verify_app_model(save_app_model(spec, tmp_path / "bad.mlmodel"), scaled, expected)
    assert not bad.passed and bad.max_abs_diff > 1e-3


def test_evaluators_reject_ops_they_do_not_know():
    from coremltools.converters.mil import Builder as mb
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    from exermote_sgan.export.mil_evaluator import MILEvaluator, UnsupportedOpError
    from exermote_sgan.export.nn_evaluator import NeuralNetworkEvaluator

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def program(x):
        return mb.softmax(x=mb.sin(x=x), axis=-1)

    with pytest.raises(UnsupportedOpError, match="'sin'"):
        MILEvaluator(program)

    builder = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", datatypes.Array(4))])
    builder.add_unary("square", "x", "y", mode="power", alpha=2.0)
    with pytest.raises(UnsupportedOpError, match="'unary'"):
        NeuralNetworkEvaluator(builder.spec)


# -- bad input through the command line -----------------------------------------------------

def _cli(*args) -> int:
    return main(["export", *map(str, args)])


def test_missing_run_dir_and_missing_model_exit_2(tmp_path, baseline_run, capsys):
    assert _cli(tmp_path / "nope", "--out", tmp_path / "m") == 2
    assert "run directory not found" in capsys.readouterr().err
    no_model = tmp_path / "no_model"
    no_model.mkdir()
    (no_model / "preprocessing.json").write_text(
        (Path(baseline_run) / "preprocessing.json").read_text())
    assert _cli(no_model, "--out", tmp_path / "m") == 2
    assert "classifier.keras" in capsys.readouterr().err
    assert not list(tmp_path.glob("m.*")) and not list(tmp_path.glob(".m.*"))


def test_corrupt_model_and_other_architecture_exit_2(tmp_path, baseline_run, capsys):
    import keras

    prep = json.loads((Path(baseline_run) / "preprocessing.json").read_text())
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "preprocessing.json").write_text(json.dumps(prep))
    (corrupt / "classifier.keras").write_bytes(b"not a zip archive")
    assert _cli(corrupt, "--out", tmp_path / "m") == 2
    assert "classifier cannot be loaded" in capsys.readouterr().err

    inputs = keras.Input((T, F))
    x = keras.layers.GRU(8)(inputs)
    other = keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(x))
    from exermote_sgan.runs import Preprocessing as P

    save_run(tmp_path / "other", other, P.from_dict(prep))
    assert _cli(tmp_path / "other", "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert "not a baseline-architecture classifier" in err and "GRU" in err
    assert not list(tmp_path.glob("m.*"))


def test_unwritable_output_and_unfit_app_model_exit_2(tmp_path, baseline_run, real_windows,
                                                      capsys):
    from exermote_sgan.models.networks import build_baseline

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert _cli(baseline_run, "--out", blocker / "model") == 2
    assert "cannot create output directory" in capsys.readouterr().err

    path, window_set = real_windows
    short = replace(window_set, windows=window_set.windows[:, :20], timesteps=20)
    short_path = save_windows(tmp_path / "short.h5", short)
    run_dir = tmp_path / "short_run"
    _make_run(run_dir, build_baseline(20, F, K), short, short_path, timesteps=20)
    assert _cli(run_dir, "--out", tmp_path / "m", "--app-model", "yes") == 2
    assert "timesteps is 20, the app feeds 40" in capsys.readouterr().err
    assert not list(tmp_path.glob("m.*"))
    assert _cli(run_dir, "--out", tmp_path / "m", "--max-windows", "30") == 0
    out = capsys.readouterr().out
    assert "no Exermote app model: timesteps is 20" in out and "OK:" in out
    assert (tmp_path / "m.mlpackage").is_dir() and not (tmp_path / "m.mlmodel").exists()


def test_verification_windows_must_match_the_classifier(tmp_path, baseline_run, real_windows,
                                                        capsys):
    path, window_set = real_windows
    renamed = replace(window_set, features=window_set.features[:-1] + ("heartRate",))
    other = save_windows(tmp_path / "other.h5", renamed)
    assert _cli(baseline_run, "--out", tmp_path / "m", "--windows", other) == 2
    assert "classifier reads 40 steps of" in capsys.readouterr().err
    assert _cli(baseline_run, "--out", tmp_path / "m", "--windows", tmp_path / "none.h5") == 2
    assert "windows file not found" in capsys.readouterr().err
    assert not list(tmp_path.glob("m.*"))
    assert _cli(baseline_run, "--out", tmp_path / "m", "--windows", path, "--app-model", "no",
                "--max-windows", "25", "--precision", "fp32", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mlpackage_check"]["windows"] == 25 and report["mlpackage_check"]["passed"]
    assert report["app_model"] is None and report["app_model_skipped"] == ["not requested"]


# -- the precision rule catches genuinely wrong exports at the default FP16 -------------------

def _reversed_scaler(scaler):
    import copy

    wrong = copy.deepcopy(scaler)  # the feature ranges in reverse order
    wrong.data_min_, wrong.data_max_ = scaler.data_min_[::-1].copy(), scaler.data_max_[::-1].copy()
    return wrong


def _wrong_build(kind):
    """A ``build_mlpackage`` that converts a wrong classifier: the bug under test."""
    import exermote_sgan.export.coreml_package as package

    build = package.build_mlpackage

    def wrong(weights, prep, **kwargs):
        if kind == "permuted LSTM gates":
            weights = _swap_lstm1_input_and_forget_gates(weights)
        elif kind == "wrong scaler":
            prep = replace(prep, scaler=_reversed_scaler(prep.scaler))
        elif kind == "swapped class scores":
            kernel, bias = weights.dense_kernel.copy(), weights.dense_bias.copy()
            kernel[:, [0, 1]], bias[[0, 1]] = kernel[:, [1, 0]], bias[[1, 0]]
            weights = replace(weights, dense_kernel=kernel, dense_bias=bias)
        elif kind == "swapped class names":
            classes = list(prep.classes)
            classes[0], classes[1] = classes[1], classes[0]
            prep = replace(prep, classes=tuple(classes))
        return build(weights, prep, **kwargs)

    return wrong


@pytest.mark.parametrize("kind", ["permuted LSTM gates", "wrong scaler", "swapped class scores",
                                  "swapped class names"])
def test_a_wrong_fp16_package_fails_and_only_it_is_not_written(kind, baseline_run, tmp_path,
                                                              monkeypatch, capsys):
    # the barely trained baseline is the hard case: its outputs hardly vary, so a wrong graph
    # moves them by hundredths only (the SGAN's perturbed weights move them by tenths)
    import exermote_sgan.export.coreml_package as package

    monkeypatch.setattr(package, "build_mlpackage", _wrong_build(kind))
    assert _cli(baseline_run, "--out", tmp_path / "Out", "--max-windows", "200",
                "--precision", "fp16", "--quiet") == 2
    captured = capsys.readouterr()
    assert "Out.mlpackage FAILED, not written" in captured.err
    # the FP32 export is the test of the graph; a wrong label output is a conversion bug
    if kind == "swapped class names":
        assert "fix: the conversion is wrong" in captured.err
    else:
        assert "a wrong graph, or a model too sensitive" in captured.err
        assert "fix: re-export with --precision fp32" in captured.err
    assert "written: Exermote.mlmodel" in captured.err
    # the app model is right and was written on its own merits
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Exermote.mlmodel"]
    assert "wrote " + str(tmp_path / "Exermote.mlmodel") in captured.out


def test_auto_precision_writes_fp32_when_fp16_rounding_fails_its_check(baseline_run, tmp_path,
                                                                        monkeypatch):
    import exermote_sgan.export.verify as verify
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.verify import VerificationError

    # a limit FP16 cannot meet, as for a model whose scores FP16 weights move too far
    monkeypatch.setitem(verify.TOLERANCES, "fp16", 1e-9)
    report = export_run(baseline_run, tmp_path / "Out", max_windows=200, app_model="no")
    assert report.passed and report.precision == "fp32"
    assert "FP16 rounding" in report.precision_note
    assert report.mlpackage_check.tolerance == verify.TOLERANCES["fp32"]
    assert report.mlpackage_check.max_abs_diff <= 1e-4
    assert report.to_dict()["precision"] == "fp32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Out.mlpackage"]
    # asked for FP16 explicitly, the same model is refused with FP32 as the fix
    with pytest.raises(VerificationError, match="fix: re-export with --precision fp32"):
        export_run(baseline_run, tmp_path / "Fp16", precision="fp16", max_windows=200,
                   app_model="no")
    assert not (tmp_path / "Fp16.mlpackage").exists()


def test_auto_precision_does_not_hide_a_wrong_graph(baseline_run, tmp_path, monkeypatch, capsys):
    import exermote_sgan.export.coreml_package as package

    monkeypatch.setattr(package, "build_mlpackage", _wrong_build("permuted LSTM gates"))
    assert _cli(baseline_run, "--out", tmp_path / "Out", "--max-windows", "200",
                "--app-model", "no") == 2
    err = capsys.readouterr().err
    assert "so the ML Program is FP32" in err  # FP16 failed first, then FP32 failed too
    assert "Out.mlpackage FAILED, not written" in err and "fix: the conversion is wrong" in err
    assert not (tmp_path / "Out.mlpackage").exists()


def test_a_failed_file_leaves_the_others_and_the_json_says_which(sgan_run, tmp_path,
                                                                 monkeypatch, capsys):
    import exermote_sgan.export.app_model as app_model

    build = app_model.build_app_spec
    monkeypatch.setattr(app_model, "build_app_spec", lambda weights, **kw: build(
        _swap_lstm1_input_and_forget_gates(weights), **kw))
    assert _cli(sgan_run, "--out", tmp_path / "Out", "--max-windows", "60", "--tflite",
                "--json", "--quiet") == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert not report["passed"] and set(report["failures"]) == {"app_model"}
    assert report["mlpackage_check"]["passed"] and report["tflite_check"]["passed"]
    assert report["app_model"] is None and not report["app_model_check"]["passed"]
    assert "Exermote.mlmodel FAILED" in captured.err and "--app-model no" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Out.mlpackage", "Out.tflite"]


def test_progress_lines_and_one_runtime_line(baseline_run, tmp_path, capsys):
    assert _cli(baseline_run, "--out", tmp_path / "Out", "--max-windows", "30") == 0
    captured = capsys.readouterr()
    steps = [line for line in captured.err.splitlines() if line.startswith("export: ")]
    order = ["loading TensorFlow", "loading the run", "computing the Keras", "converting to an "
             "ML Program (fp16", "verifying Out.mlpackage", "wrote OK: Out.mlpackage",
             "building Exermote.mlmodel", "verifying Exermote.mlmodel", "wrote OK: Exermote"]
    found = [next(k for k, line in enumerate(steps) if text in line) for text in order]
    assert found == sorted(found), steps
    runtime = [line for line in (captured.out + captured.err).splitlines() if "Core ML" in line
               and "runtime" in line]
    assert len(runtime) == 1 and "only on macOS" in runtime[0], runtime
    assert _cli(baseline_run, "--out", tmp_path / "Out", "--max-windows", "30", "--quiet") == 0
    assert "export: " not in capsys.readouterr().err


class _FakeCoreML:
    """Stands in for ``coremltools.models.MLModel`` on Linux: predicts with the package's
    evaluators from the file it is given, through Core ML's ``predict`` dictionary interface;
    ``tamper`` changes what it returns (a Core ML that computes something else)."""

    loaded: list = []

    def __init__(self, path, tamper=None):
        import coremltools as ct

        self.path, self.tamper = path, tamper
        self.spec = ct.utils.load_spec(str(path))
        _FakeCoreML.loaded.append(path)

    def predict(self, inputs):
        from exermote_sgan.export.mil_evaluator import MILEvaluator, load_mil_program
        from exermote_sgan.export.nn_evaluator import NeuralNetworkEvaluator

        if self.spec.WhichOneof("Type") == "mlProgram":
            out = MILEvaluator(load_mil_program(self.path)[1]).evaluate(inputs)
            assert isinstance(out["classLabel"], str)  # one window: one label, as Core ML
        else:
            out = NeuralNetworkEvaluator(self.spec).evaluate(inputs)
        if self.tamper:
            out["scores"] = np.asarray(out["scores"])[..., ::-1]
        return out


@pytest.mark.parametrize("tamper", [False, True])
def test_on_a_mac_core_ml_runs_each_file_too(baseline_run, tmp_path, monkeypatch, tamper):
    import exermote_sgan.export.runtime as runtime
    from exermote_sgan.export.exporter import export_run
    from exermote_sgan.export.verify import VerificationError

    _FakeCoreML.loaded = []
    monkeypatch.setattr(runtime, "coreml_runtime_status", lambda: (True, ""))
    monkeypatch.setattr(runtime, "load_coreml_model", lambda path: _FakeCoreML(path, tamper))
    if not tamper:
        report = export_run(baseline_run, tmp_path / "Out", max_windows=12)
        assert report.runtime_note == ""
        for check in (report.mlpackage_runtime_check, report.app_model_runtime_check):
            assert check.evaluated_by == "coreml" and check.passed and check.windows == 12
        assert report.mlpackage_runtime_check.max_abs_diff <= 5e-2
        assert report.app_model_runtime_check.max_abs_diff <= 1e-4
    else:
        with pytest.raises(VerificationError, match=r"Out.mlpackage FAILED.*\(coreml\)") as caught:
            export_run(baseline_run, tmp_path / "Out", max_windows=12)
        assert set(caught.value.report.failures) == {"mlpackage", "app_model"}
        assert not list(tmp_path.iterdir())
    # Core ML was handed copies under the files' own names (it knows a model by its extension)
    assert sorted(Path(p).name for p in _FakeCoreML.loaded) == ["Exermote.mlmodel",
                                                                "Out.mlpackage"]


def test_the_app_model_name_is_an_option_checked_as_a_class_name(baseline_run, tmp_path, capsys):
    assert _cli(baseline_run, "--out", tmp_path / "m", "--app-model-name", "My Model") == 2
    assert "Swift class name" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert _cli(baseline_run, "--out", tmp_path / "m", "--app-model-name", "Squats2",
                "--max-windows", "20", "--quiet") == 0
    out = capsys.readouterr().out
    assert "generates the class Squats2 instead" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Squats2.mlmodel", "m.mlpackage"]
