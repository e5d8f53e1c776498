"""A model that does not read Core Motion is not described as if it did.

Trained briefly on real smartwatch recordings (``../shared/data/watch/raw``: 6 accelerometer
and gyroscope columns at 50 Hz, 7 shoulder exercises, no rest class), its export names the
input ``sensorWindow`` and describes the watch's columns, rate and classes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from exermote_sgan.cli import main
from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.data.windows_file import WindowSet, save_windows
from exermote_sgan.export.naming import core_motion_names, describe_purpose, input_name
from exermote_sgan.runs import Preprocessing, Provenance, save_run

CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
FEATURES = ("acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s", "gyro_z_rad_s")
T = 100


def test_names_follow_the_features():
    assert input_name([f"Device: {n}" for n in ("xGravity", "pitch")]) == "accelerations"
    assert core_motion_names(["Device: xGravity", "yaw"]) == ["xGravity", "yaw"]
    assert input_name(FEATURES) == "sensorWindow" and core_motion_names(FEATURES) is None
    assert input_name(["xGravity", "heartRate"]) == "sensorWindow"
    text = describe_purpose(CLASSES, FEATURES, 100, 50.0)
    assert "2 s" in text and "50 Hz" in text and "Core Motion" not in text and "acc_x_g" in text


@pytest.fixture(scope="module")
def watch_run(watch_raw_dir, tmp_path_factory):
    import keras
    import pandas as pd

    from exermote_sgan.models.networks import build_baseline

    windows, labels, subjects, sessions, ends, names = [], [], [], [], [], []
    for subject in (1, 2, 3):
        for name in ("ABD_left.csv", "PEN_right.csv", "ROW_left.csv"):
            path = watch_raw_dir / f"subject_{subject:02d}" / name
            frame = pd.read_csv(path)
            values = frame[list(FEATURES)].to_numpy(np.float32)
            for end in range(T - 1, len(values), 100):
                windows.append(values[end - T + 1:end + 1])
                labels.append(CLASSES.index(frame["exercise"].iloc[end]))
                subjects.append(subject)
                sessions.append(len(names))
                ends.append(end)
            names.append(f"subject_{subject:02d}/{name}")
    window_set = WindowSet(np.stack(windows), np.array(labels), np.array(subjects),
                           np.array(sessions), np.array(ends), CLASSES, FEATURES, T, stride=100,
                           label_offset=50, sample_rate_hz=50.0, session_names=tuple(names))
    out = tmp_path_factory.mktemp("watch")
    path = save_windows(out / "watch.h5", window_set)
    train = window_set.subjects != 3
    scaler = MinMaxScaler().fit(window_set.windows[train])
    keras.utils.set_random_seed(5)
    classifier = build_baseline(T, len(FEATURES), len(CLASSES))
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    classifier.fit(scaler.transform(window_set.windows[train]), window_set.labels[train],
                   epochs=1, batch_size=32, verbose=0)
    # trained as the watch example reads: left-arm recordings mirrored
    reader = {"format": "generic",
              "columns": {"mirror_when": "side=left",
                          "mirror_columns": ["acc_x_g", "gyro_y_rad_s", "gyro_z_rad_s"]}}
    prep = Preprocessing(CLASSES, FEATURES, T, 50, 50.0, scaler, reader=reader,
                         provenance=Provenance(windows_path=str(path), test_subjects=(3,)))
    save_run(out / "run", classifier, prep)
    return out / "run"


@pytest.mark.realdata
def test_a_watch_model_is_described_as_what_it_reads(watch_run, tmp_path, capsys):
    import coremltools as ct

    assert main(["export", str(watch_run), "--out", str(tmp_path / "Shoulder"), "--tflite",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "no Exermote app model: timesteps is 100" in out and "classes are" in out
    assert not (tmp_path / "Exermote.mlmodel").exists()
    spec = ct.utils.load_spec(str(tmp_path / "Shoulder.mlpackage"))
    (inp,) = spec.description.input
    assert inp.name == "sensorWindow" and list(inp.type.multiArrayType.shape) == [1, T, 6]
    meta = spec.description.metadata
    for text in (inp.shortDescription, meta.shortDescription):
        assert "Core Motion" not in text and "50 Hz" in text and "2 s" in text
    assert "acc_x_g" in inp.shortDescription and "gyro_z_rad_s" in inp.shortDescription
    # an app must mirror what training mirrored
    assert ("side=left were MIRRORED in training: negate acc_x_g, gyro_y_rad_s, gyro_z_rad_s"
            in inp.shortDescription)
    assert "PEN, ABD, FEL, IR, ER, TRAP, ROW" in meta.shortDescription
    scores = {o.name: o.shortDescription for o in spec.description.output}["scores"]
    assert scores.endswith("PEN, ABD, FEL, IR, ER, TRAP, ROW")
    assert meta.author and meta.license and meta.versionString
    import tensorflow as tf

    with warnings.catch_warnings():  # its deprecation notice in favour of ai_edge_litert
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(str(tmp_path / "Shoulder.tflite"))
    runner = interpreter.get_signature_runner()
    assert list(runner.get_input_details()) == ["sensorWindow"]
