"""The streaming recogniser: NumPy forward pass, batch/stream agreement, timing, bad input.

A "label oracle" stands in for the classifier where predictions must be right: it returns the
true class of the row each window describes (looked up by the window's bytes), so the whole
path from raw rows through scaling, windowing, label_offset timing and counting is checked
against the labelled repetitions of real and synthetic recordings.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.recordings.readers import read_exermote_csv
from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.inference.ground_truth import true_sets
from exermote_sgan.inference.periods import labelled_sets, learn_profile
from exermote_sgan.inference.streaming import (SkippedRowWarning, StreamingRecognizer,
                                               recognize_recording)
from exermote_sgan.runs import Preprocessing

CLASSES = ("Break", "Burpee", "Situp", "Squat")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def class_index(labels):
    return np.array([CLASSES.index("Break" if x == "setBreak" else x) for x in labels])


def preprocessing_for(values, features, *, timesteps=40, label_offset=20):
    scaler = MinMaxScaler().fit(values[np.all(np.isfinite(values), axis=1)])
    return Preprocessing(classes=CLASSES, features=tuple(features), timesteps=timesteps,
                         label_offset=label_offset, sample_rate_hz=10.0, scaler=scaler)


class LabelOracle:
    """Windows -> one-hot of the true label of the row ``label_offset`` before their end."""

    def __init__(self, recording, preprocessing):
        values = recording.values
        scaled = values * preprocessing.scaler.scale_ + preprocessing.scaler.offset_
        valid = np.flatnonzero(np.all(np.isfinite(values), axis=1))
        truth = class_index(recording.labels)
        t, offset = preprocessing.timesteps, preprocessing.label_offset
        self.table = {}
        for k in range(t - 1, len(valid)):
            window = np.ascontiguousarray(scaled[valid[k - t + 1:k + 1]])
            self.table[window.tobytes()] = truth[valid[k] - offset]
        self.calls = 0

    def __call__(self, windows):
        windows = np.asarray(windows, dtype=np.float64)
        single = windows.ndim == 2
        batch = windows[None] if single else windows
        self.calls += len(batch)
        out = np.full((len(batch), len(CLASSES)), 0.02)
        for i, w in enumerate(batch):
            out[i, self.table[np.ascontiguousarray(w).tobytes()]] = 0.94
        return out[0] if single else out


def stream(recognizer, recording, values=None):
    values = recording.values if values is None else values
    events = []
    for row, time in zip(values, recording.timestamps):
        events += recognizer.push(row, time=time)
    return events + recognizer.finish()


# ----------------------------------------------------------------------------- oracle

@pytest.mark.realdata
@pytest.mark.parametrize("method", ["hysteresis", "period", "app"])
def test_oracle_counts_every_real_set_of_a_recording(real_recordings, method):
    recording = read_exermote_csv(real_recordings[21])  # an individual 4 recording
    prep = preprocessing_for(recording.values, recording.features)
    oracle = LabelOracle(recording, prep)
    options = None
    if method == "period":  # learned on the other people's recordings, in this scaled space
        others = [read_exermote_csv(p) for p in real_recordings]
        others = [r for r in others if r.subject != recording.subject]
        options = {"profile": learn_profile(labelled_sets(
            others, scale=prep.scaler.scale_, offset=prep.scaler.offset_),
            features=recording.features)}
        assert recording.subject not in options["profile"].trained_on
    recognizer = StreamingRecognizer(prep, oracle, counting=method, counting_options=options)
    events = stream(recognizer, recording)
    truth = true_sets(recording)
    found = recognizer.sets
    assert [s.exercise for s in found] == [s.exercise for s in truth]
    errors = [f.repetitions - t.repetitions for f, t in zip(found, truth)]
    if method == "period":
        # the signal counts, with what it learned from individuals 1-3; a repetition's
        # movement is not always one clean peak: here the first burpee of both burpee sets
        # is a weak peak (a fifth to a third of the others) that the learned edge ratio
        # leaves out, and the last situp set loses one at its edge
        # (docs/results.md: over all 161 labelled spans 89% are exact, 99% within one)
        assert all(-1 <= e <= 0 for e in errors) and errors.count(0) >= 0.4 * len(truth)
    else:
        assert errors == [0] * len(truth)
    # times are those of the described rows: spans line up with the labelled ones
    for f, t in zip(found, truth):
        assert abs(f.start - t.start) < 1.0, (f, t)
        assert abs(f.end - t.end) < 2.0, (f, t)
    assert [e.kind for e in events].count("repetition") == sum(s.repetitions for s in found)
    # one forward pass per row once the window is full (the first row has no values)
    assert oracle.calls == len(recording) - 1 - (prep.timesteps - 1)


def test_oracle_counts_the_synthetic_sample_exactly():
    for path in sorted(SAMPLE.glob("*.csv")):
        recording = read_exermote_csv(path)
        prep = preprocessing_for(recording.values, recording.features)
        result = recognize_recording(prep, LabelOracle(recording, prep), recording.values,
                                     times=recording.timestamps, counting="hysteresis")
        assert [(s.exercise, s.repetitions) for s in result.sets] == \
            [(s.exercise, s.repetitions) for s in true_sets(recording)], path.name


@pytest.mark.realdata
def test_nan_rows_mid_stream_are_skipped_with_a_warning(real_recordings):
    recording = read_exermote_csv(real_recordings[21])
    prep = preprocessing_for(recording.values, recording.features)
    oracle = LabelOracle(recording, prep)
    values = recording.values.copy()
    garbage = np.arange(1000, 1100)
    values[garbage, 3] = np.nan
    recognizer = StreamingRecognizer(prep, oracle, counting="hysteresis")
    with pytest.warns(SkippedRowWarning, match="row skipped"):
        for row, time in zip(values[:1100], recording.timestamps[:1100]):
            before = len(recognizer.predictions)
            events = recognizer.push(row, time=time)
            if np.isnan(row).any():
                assert events == [] and len(recognizer.predictions) == before
    assert recognizer.skipped_rows == [0] + garbage.tolist()
    rows = [p.row for p in recognizer.predictions]
    assert not set(rows) & set(garbage.tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the empty first row alone is skipped silently
        quiet = StreamingRecognizer(prep, oracle)
        for row in recording.values[:50]:
            quiet.push(row)


def test_garbage_only_stream_emits_nothing():
    prep = preprocessing_for(np.random.default_rng(0).normal(size=(100, 12)),
                             [f"f{i}" for i in range(12)])
    recognizer = StreamingRecognizer(prep, lambda w: pytest.fail("no window to predict"))
    with pytest.warns(SkippedRowWarning):
        events = [e for row in [np.zeros(12)] + [np.full(12, np.nan)] * 500
                  for e in recognizer.push(row)]
    assert events == [] and recognizer.finish() == [] and recognizer.predictions == []


# ----------------------------------------------------------------------------- timing

@pytest.mark.realdata
def test_prediction_times_describe_the_row_label_offset_before(real_recordings):
    recording = read_exermote_csv(real_recordings[0])
    prep = preprocessing_for(recording.values, recording.features, label_offset=20)
    result = recognize_recording(prep, LabelOracle(recording, prep), recording.values,
                                 times=recording.timestamps)
    # the file's first row has no values: the first window ends at row 40 and describes row 20
    assert result.rows[0] == 40 and result.described_rows[0] == 20
    np.testing.assert_array_equal(result.times, recording.timestamps[result.rows - 20])
    np.testing.assert_array_equal(np.argmax(result.scores, axis=1),
                                  class_index(recording.labels)[result.described_rows])


# ----------------------------------------------------------------------------- real model

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny baseline trained for a few epochs on the synthetic sample, saved as a run."""
    import keras

    from exermote_sgan.models.networks import build_baseline
    from exermote_sgan.runs import save_run

    keras.utils.set_random_seed(0)
    windows, labels, rows = [], [], []
    for path in sorted(SAMPLE.glob("*.csv")):
        recording = read_exermote_csv(path)
        values = recording.values[1:]
        truth = class_index(recording.labels)[1:]
        rows.append(values)
        for end in range(39, len(values), 2):
            windows.append(values[end - 39:end + 1])
            labels.append(truth[end - 20])
    prep = preprocessing_for(np.concatenate(rows), read_exermote_csv(path).features)
    model = build_baseline(40, 12, 4, conv_filters=8, lstm_units=8)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(prep.scaler.transform(np.asarray(windows)), np.asarray(labels), epochs=4,
              batch_size=64, verbose=0)
    run_dir = tmp_path_factory.mktemp("run")
    save_run(run_dir, model, prep)
    return run_dir


@pytest.mark.realdata
@pytest.mark.slow
def test_numpy_forward_pass_matches_keras_on_real_windows(tiny_run, real_recordings):
    from exermote_sgan.inference.forward import NumpyClassifier, check_against_keras
    from exermote_sgan.runs import load_run

    run = load_run(tiny_run)
    recording = read_exermote_csv(real_recordings[5])
    scaled = run.preprocessing.scaler.transform(recording.values[1:401])
    windows = np.lib.stride_tricks.sliding_window_view(scaled, 40, axis=0)[::7]
    windows = np.moveaxis(windows, -1, 1)
    classifier = NumpyClassifier.from_keras(run.classifier)
    assert check_against_keras(classifier, run.classifier, windows, atol=1e-5) < 1e-5


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("method", ["hysteresis", "period"])
def test_batch_and_streaming_agree_on_a_real_recording(tiny_run, real_recordings, method):
    recognizer = StreamingRecognizer.from_run(tiny_run, counting=method)
    recording = read_exermote_csv(real_recordings[23])
    events = stream(recognizer, recording)
    streamed = recognizer.result(events)
    batch = recognize_recording(recognizer.preprocessing, recognizer._classifier,
                                recording.values, times=recording.timestamps,
                                counting=method)
    assert len(set(batch.labels)) >= 2  # the model predicts more than one class
    assert streamed.labels == batch.labels
    np.testing.assert_array_equal(streamed.rows, batch.rows)
    np.testing.assert_array_equal(streamed.times, batch.times)
    np.testing.assert_allclose(streamed.scores, batch.scores, atol=1e-6)
    assert streamed.events == batch.events
    assert [(s.exercise, s.repetitions, s.start, s.end) for s in streamed.sets] == \
        [(s.exercise, s.repetitions, s.start, s.end) for s in batch.sets]


# ----------------------------------------------------------------------------- bad input

def test_wrong_number_of_features_is_rejected():
    prep = preprocessing_for(np.random.default_rng(0).normal(size=(100, 12)),
                             [f"f{i}" for i in range(12)])
    recognizer = StreamingRecognizer(prep, lambda w: np.full(4, 0.25))
    with pytest.raises(ExermoteInputError, match="has 11 values, expected 12"):
        recognizer.push(np.zeros(11))
    with pytest.raises(ExermoteInputError, match="rows have 13 values, expected 12"):
        recognize_recording(prep, lambda w: None, np.zeros((100, 13)))


def test_recording_shorter_than_one_window_is_rejected():
    prep = preprocessing_for(np.random.default_rng(0).normal(size=(100, 12)),
                             [f"f{i}" for i in range(12)])
    values = np.zeros((45, 12))
    values[10:20] = np.nan
    with pytest.raises(ExermoteInputError, match="35 rows with valid values, fewer than one "
                                                 "window of 40 rows"):
        recognize_recording(prep, lambda w: None, values, path="short.csv")


def test_from_run_rejects_a_missing_run(tmp_path):
    with pytest.raises(ExermoteInputError, match="run directory not found"):
        StreamingRecognizer.from_run(tmp_path / "nope")


def test_a_value_beyond_the_absurd_limit_is_refused_as_the_command_line_does():
    prep = preprocessing_for(np.random.default_rng(0).normal(size=(100, 12)),
                             [f"f{i}" for i in range(12)])
    recognizer = StreamingRecognizer(prep, lambda w: np.full(4, 0.25))
    recognizer.push(np.zeros(12))
    row = np.zeros(12)
    row[5] = 1e30
    with pytest.raises(ExermoteInputError, match=r"sample 1, feature 'f5': value 1e\+30 is "
                                                 r"beyond \+-1e\+06"):
        recognizer.push(row)
    prep.reader = {"out_of_range": "missing", "max_abs_value": 1e6}
    lenient = StreamingRecognizer(prep, lambda w: np.full(4, 0.25))
    lenient.push(np.zeros(12))
    with pytest.warns(SkippedRowWarning):
        assert lenient.push(row) == []
    assert lenient.skipped_rows == [1]


@pytest.mark.parametrize("method", ["hysteresis", "period"])
def test_a_long_pause_in_the_timestamps_closes_the_set(method):
    """A 5-hour pause inside a set: no set spans it, in batch and stream alike."""
    path = sorted(SAMPLE.glob("*.csv"))[0]
    recording = read_exermote_csv(path)
    prep = preprocessing_for(recording.values, recording.features)
    truth = true_sets(recording)
    middle = (truth[1].start + truth[1].end) / 2  # inside the squat set
    cut = int(np.searchsorted(recording.timestamps, middle))
    times = recording.timestamps.copy()
    times[cut:] += 5 * 3600.0
    gap = (times[cut - 1], times[cut])
    oracle = LabelOracle(recording, prep)
    batch = recognize_recording(prep, oracle, recording.values, times=times, counting=method)
    recognizer = StreamingRecognizer(prep, oracle, counting=method)
    events = []
    for row, time in zip(recording.values, times):
        events += recognizer.push(row, time=time)
    events += recognizer.finish()
    assert events == batch.events
    spans = [(s.start, s.end) for s in batch.sets]
    assert spans == [(s.start, s.end) for s in recognizer.sets]
    assert len(spans) >= 2 and not any(a < gap[1] and b > gap[0] for a, b in spans)
    assert any(b <= gap[0] for a, b in spans) and any(a >= gap[1] for a, b in spans)
    # no window spans the pause: the first prediction after it waits for a full window
    after = batch.rows[batch.rows >= cut]
    assert after[0] == cut + prep.timesteps - 1
