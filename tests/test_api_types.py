"""The Python API answers a wrong type as the command line answers a wrong option (issue 33,
item 11): one ExermoteInputError naming the argument and the fix, as docs/api.md promises, not
an AttributeError or TypeError from deep inside; and a float where a whole number belongs is
refused, not truncated (``TrainConfig(epochs=1.5)`` trained one epoch)."""

from __future__ import annotations

from pathlib import Path

import pytest

import exermote_sgan as ex
from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.runs import Preprocessing

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    window_set, _ = ex.preprocess([SAMPLE], config=ex.PreprocessConfig(stride=4))
    return ex.save_windows(tmp_path_factory.mktemp("api") / "windows.h5", window_set)


def _preprocessing(window_set):
    scaler = MinMaxScaler().fit(window_set.windows.reshape(-1, len(window_set.features)))
    return Preprocessing(classes=window_set.classes, features=window_set.features,
                         timesteps=window_set.timesteps, label_offset=window_set.label_offset,
                         sample_rate_hz=window_set.sample_rate_hz, scaler=scaler)


@pytest.mark.parametrize("options, message", [
    ({"epochs": 1.5}, "option 'epochs': must be a whole number, got float 1.5"),
    ({"test_subjects": 3}, "option 'test_subjects': must be a list of whole numbers, got int 3; "
                           "for example test_subjects=[3]"),
    ({"labeled_fraction": "0.5"}, "option 'labeled_fraction': must be a finite number"),
    ({"learning_rate": float("inf")}, "option 'learning_rate': must be a finite number"),
    ({"windows_path": {"path": "w.h5"}}, "option 'windows_path': must be a path"),
    ({"model": None}, "option 'model': must be a string"),
    ({"resume": "yes"}, "option 'resume': must be True or False"),
    ({"seed": -1}, "option 'seed': must be a whole number in [0, 2**32)"),
])
def test_train_config_refuses_a_wrong_type_by_name(options, message):
    with pytest.raises(ex.ExermoteInputError) as info:
        ex.TrainConfig(**{"windows_path": "w.h5", **options}).validate()
    assert message in str(info.value)


def test_a_whole_float_is_taken_as_an_int():
    config = ex.TrainConfig(windows_path="w.h5", epochs=2.0, test_subjects=[4.0])
    assert config.epochs == 2 and type(config.epochs) is int
    assert config.test_subjects == (4,)


def test_every_public_function_refuses_a_wrong_type_by_name(windows, tmp_path):
    window_set = ex.load_windows(windows)
    prep = _preprocessing(window_set)
    cases = [
        (lambda: ex.preprocess([SAMPLE], config={"stride": 2}),
         "option 'config': must be a PreprocessConfig, got dict"),
        (lambda: ex.preprocess(3), "option 'inputs': must be a list, got int 3"),
        (lambda: ex.save_windows(tmp_path / "x.h5", {"windows": []}),
         "option 'window_set': must be a WindowSet"),
        (lambda: ex.load_windows(3), "option 'path': must be a path"),
        (lambda: ex.read_exermote_csv(None), "option 'path': must be a path"),
        (lambda: ex.train({"windows_path": str(windows)}),
         "option 'config': must be a TrainConfig, got dict"),
        (lambda: ex.train(str(windows)), "option 'config': must be a TrainConfig, got str"),
        (lambda: ex.load_run(3), "option 'run_dir': must be a path"),
        (lambda: ex.evaluate_classifier(None, prep, str(windows)),
         "option 'window_set': must be a WindowSet, got str"),
        (lambda: ex.evaluate_classifier(None, prep.to_dict(), window_set),
         "option 'preprocessing': must be a Preprocessing, got dict"),
        (lambda: ex.evaluate_classifier(None, prep, window_set, subjects=4),
         "option 'subjects': must be a list, got int 4"),
        (lambda: ex.compare(windows, test_subjects=3, out_dir=tmp_path / "c"),
         "option 'test_subjects': must be a list, got int 3"),
        (lambda: ex.compare(windows, test_subjects=[4], seeds=0, out_dir=tmp_path / "c"),
         "option 'seeds': must be a list"),
        (lambda: ex.compare(windows, test_subjects=[4], labeled_fractions=0.5,
                            out_dir=tmp_path / "c"), "option 'labeled_fractions'"),
        (lambda: ex.ensemble_runs("runs/a", tmp_path / "e"),
         "option 'run_dirs': must be a list, got str"),
        (lambda: ex.export_run({"run": 1}, tmp_path / "X"), "option 'run_dir': must be a path"),
        (lambda: ex.export_run("run", tmp_path / "X", max_windows="5"),
         "option 'max_windows': must be a whole number"),
        (lambda: ex.personalize("run", 3, out=tmp_path / "p"),
         "option 'recordings': must be a list, got int 3"),
        (lambda: ex.personalize({}, SAMPLE, out=tmp_path / "p"),
         "option 'run_dir': must be a path"),
    ]
    for call, message in cases:
        with pytest.raises(ex.ExermoteInputError) as info:
            call()
        assert message in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
