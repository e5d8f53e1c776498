"""Resume: an interrupted and resumed training equals the unbroken one; runs replace runs only
when complete; backups are generations written atomically.

Tolerance: histories and final weights are compared with ``atol=1e-6`` (and ``rtol=1e-6``).
On CPU with TensorFlow's op determinism (which ``train`` enables) they are measured bitwise
equal; the tolerance only leaves room for a different reduction order on other hardware.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.training.train_lib import TrainConfig, can_resume, staging_dir, train

pytestmark = pytest.mark.slow

TOLERANCE = dict(atol=1e-6, rtol=1e-6)
# a tiny network, every random stream switched on: dropout, amplitude and rotation
# augmentation, the SGAN's noise and its moving average
TINY = dict(batch_size=16, steps_per_epoch=3, verbose=0, conv_filters=4, lstm_units=4,
            kernel_size=3, dropout=0.3, augment_scale=0.1, test_subjects=(3,),
            labeled_fraction=0.3)


@pytest.fixture(scope="module")
def windows_path(tmp_path_factory):
    """Synthetic recordings: 3 subjects x 3 sessions, stride 4 (about 900 windows)."""
    from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
    from exermote_sgan.recordings.synthetic import write_synthetic_recordings
    from exermote_sgan.data.windows_file import save_windows

    root = tmp_path_factory.mktemp("resume")
    paths = write_synthetic_recordings(root / "raw", subjects=(1, 2, 3), sessions_per_subject=3,
                                       rows_per_session=400)
    window_set, _ = preprocess(paths, config=PreprocessConfig(stride=4))
    return save_windows(root / "windows.h5", window_set)


class Interrupted(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    """Stop training after epoch ``epoch`` has ended (and been backed up)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupted(f"interrupted after epoch {epoch}")


def _weights(run_dir):
    from exermote_sgan.runs import load_run

    return load_run(run_dir).classifier.get_weights()


def _assert_same_run(a_dir, b_dir):
    a = pd.read_csv(a_dir / "history.csv")
    b = pd.read_csv(b_dir / "history.csv")
    assert list(a.columns) == list(b.columns)
    assert list(a["epoch"]) == list(b["epoch"])
    np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), **TOLERANCE)
    for x, y in zip(_weights(a_dir), _weights(b_dir), strict=True):
        np.testing.assert_allclose(y, x, **TOLERANCE)
    # the same weights predict the same classes: the test metrics are equal
    assert json.loads((a_dir / "metrics.json").read_text()) == json.loads(
        (b_dir / "metrics.json").read_text())


@pytest.mark.parametrize("model, options", [
    # patience 1: the unbroken run stops early, so the resumed one must restore the counters
    ("baseline", dict(epochs=6, patience=1)),
    ("sgan", dict(epochs=4, ema_decay=0.9, patience=10)),
])
def test_a_resumed_run_equals_the_unbroken_run(windows_path, tmp_path, model, options):
    unbroken = TrainConfig(windows_path=windows_path, model=model, out_dir=tmp_path / "a",
                           **TINY, **options)
    train(unbroken)

    config = TrainConfig(**{**unbroken.__dict__, "out_dir": tmp_path / "b"})
    with pytest.raises(Interrupted):
        train(config, callbacks=[InterruptAfter(0)])
    with pytest.raises(Interrupted):  # a second interruption, one epoch later
        train(TrainConfig(**{**config.__dict__, "resume": True}), callbacks=[InterruptAfter(1)])
    resumed = train(TrainConfig(**{**config.__dict__, "resume": True}))

    _assert_same_run(tmp_path / "a", tmp_path / "b")
    assert list(resumed.history["epoch"]) == list(range(len(resumed.history)))
    assert not staging_dir(tmp_path / "b").exists()


def test_the_streams_depend_on_the_step_not_on_where_iteration_started():
    """The data order and the augmentation of batch k are the same from step 0 or from k."""
    from exermote_sgan.training import datasets

    rng = np.random.default_rng(0)
    windows = rng.normal(size=(37, 6, 9)).astype(np.float32)
    labels, weights = np.arange(37) % 4, np.ones(37)
    features = [f"{axis}{name}" for name in "ABC" for axis in "xyz"]
    augment = datasets.chain_augmenters(
        datasets.amplitude_augmenter(np.zeros(9), scale=0.2, seed=0),
        datasets.rotation_augmenter(np.ones(9), np.zeros(9), features, max_degrees=90, seed=1))

    def batches(start_step, count):
        data = datasets.sgan_dataset(windows[:11], labels[:11], weights[:11], windows,
                                     batch_size=8, seed=5, augment=augment,
                                     start_step=start_step)
        return [((np.asarray(x), np.asarray(y)), np.asarray(u))
                for (x, y, _), u in data.take(count)]

    from_start, from_seven = batches(0, 10), batches(7, 3)
    for (a, u), (b, v) in zip(from_start[7:], from_seven, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(u, v)
    # every pass over the labeled windows is a permutation, and passes differ
    order = np.concatenate([np.asarray(i) for _, i in datasets.index_batches(
        11, batch_size=11, seed=5).take(3)])
    passes = order.reshape(3, 11)
    assert all(sorted(p) == list(range(11)) for p in passes)
    assert len({tuple(p) for p in passes}) == 3


def test_an_interrupted_retrain_leaves_the_old_run_intact(windows_path, tmp_path):
    run_dir = tmp_path / "run"
    first = TrainConfig(windows_path=windows_path, model="baseline", out_dir=run_dir,
                        **{**TINY, "epochs": 1})
    train(first)
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*")
              if p.is_file() and p.parent.name != "tensorboard"
              and "tensorboard" not in p.parts}
    assert (run_dir / "classifier.keras").is_file() and (run_dir / "metrics.json").is_file()

    second = TrainConfig(**{**first.__dict__, "epochs": 3, "seed": 1})
    with pytest.raises(Interrupted):
        train(second, callbacks=[InterruptAfter(1)])
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*")
             if p.is_file() and "tensorboard" not in p.parts}
    assert after == before  # byte for byte the first run
    assert can_resume(run_dir)

    finished = train(TrainConfig(**{**second.__dict__, "resume": True}))
    assert finished.split["seed"] == 1 and len(finished.history) == 3
    assert json.loads((run_dir / "split.json").read_text())["seed"] == 1
    assert not (run_dir / "checkpoints" / "backup").exists()
    assert not staging_dir(run_dir).exists()


def test_a_fresh_run_starts_over_instead_of_resuming(windows_path, tmp_path):
    config = TrainConfig(windows_path=windows_path, model="baseline", out_dir=tmp_path / "run",
                         **{**TINY, "epochs": 2})
    with pytest.raises(Interrupted):
        train(config, callbacks=[InterruptAfter(0)])
    seen = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    train(config, callbacks=[Epochs()])
    assert seen == [0, 1]


def test_a_folder_that_is_not_a_run_is_never_replaced(windows_path, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    config = TrainConfig(windows_path=windows_path, model="baseline", out_dir=mine,
                         **{**TINY, "epochs": 1})
    with pytest.raises(ExermoteInputError, match="not a run directory.*choose a new or empty"):
        train(config)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExermoteInputError, match="is a file"):
        train(TrainConfig(**{**config.__dict__, "out_dir": tmp_path / "file"}))


def test_a_damaged_newest_backup_falls_back_to_the_one_before(windows_path, tmp_path):
    """Not something a kill can do (generations are renamed in complete), but a bad disk can."""
    config = TrainConfig(windows_path=windows_path, model="baseline", out_dir=tmp_path / "run",
                         **{**TINY, "epochs": 3})
    with pytest.raises(Interrupted):
        train(config, callbacks=[InterruptAfter(1)])
    backups = staging_dir(tmp_path / "run") / "checkpoints" / "backup"
    assert sorted(p.name for p in backups.iterdir()) == ["epoch-00001", "epoch-00002"]
    weights = backups / "epoch-00002" / "state.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    seen = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    result = train(TrainConfig(**{**config.__dict__, "resume": True}), callbacks=[Epochs()])
    assert seen == [1, 2]
    assert list(result.history["epoch"]) == [0, 1, 2]


def test_backup_generations_are_complete_or_invisible(tmp_path):
    """A generation is visible only once complete; half-written ones are ignored and removed
    once their writer is dead; only the newest two are kept."""
    from exermote_sgan.training.backup import BestWeights, TrainingBackup, latest_backup

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    best = BestWeights(tmp_path / "best.weights.h5", monitor="score")
    best.set_model(model)
    backup = TrainingBackup(tmp_path / "backup", parts={"best": best},
                            best_path=tmp_path / "best.weights.h5")
    backup.set_model(model)
    for epoch, score in enumerate([0.1, 0.5, 0.3, 0.2]):
        best.on_epoch_end(epoch, {"score": score})
        backup.on_epoch_end(epoch)
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["epoch-00003",
                                                                         "epoch-00004"]
    latest = latest_backup(tmp_path / "backup")
    assert latest.epoch == 4 and latest.state["parts"]["best"] == {"best": 0.5, "best_epoch": 1}
    assert latest.best_weights.read_bytes() == (tmp_path / "best.weights.h5").read_bytes()
    # a half-written generation of a dead writer (pid 999999999 cannot exist) is not a backup
    dead = tmp_path / "backup" / ".epoch-00005.999999999.abc.tmp"
    dead.mkdir()
    (dead / "state.json").write_text('{"epoch": 5}')
    assert latest_backup(tmp_path / "backup").epoch == 4
    backup.on_epoch_end(4)
    assert not dead.exists()
    assert latest_backup(tmp_path / "backup").epoch == 5


def test_a_run_interrupted_before_a_setting_existed_resumes_at_its_default(tmp_path):
    """An unfinished run saved by an older version lacks settings added since: they count as
    their defaults, so the resume is not refused; a setting that really changed still is."""
    from exermote_sgan.training.train_lib import CONFIG_FILE, _prepare_run_dir

    config = TrainConfig(windows_path=tmp_path / "w.h5", out_dir=tmp_path / "run", resume=True)
    saved = config.to_dict()
    del saved["distribute"]  # as if the interrupted version had no such setting
    path = staging_dir(config.out_dir) / "checkpoints" / CONFIG_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(saved))
    assert _prepare_run_dir(config) == staging_dir(config.out_dir)
    path.write_text(json.dumps({**saved, "seed": 7}))
    with pytest.raises(ExermoteInputError, match="seed was 7, now 0"):
        _prepare_run_dir(config)


def test_the_data_budget_and_early_stopping_resume_like_the_unbroken_run(windows_path,
                                                                          tmp_path,
                                                                          monkeypatch):
    """No epochs and no steps per epoch given: the epoch is the data's budget (here made 3
    batches by a smaller sample budget), the cap is the default, and early stopping ends the
    run; resumed twice it still equals the unbroken run and ends for the same reason."""
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.training import config as config_module

    timesteps = load_windows(windows_path).timesteps
    monkeypatch.setattr(config_module, "EPOCH_SAMPLES", 3 * 16 * timesteps + 5)
    options = {**TINY, "steps_per_epoch": None, "patience": 1}
    unbroken = TrainConfig(windows_path=windows_path, model="baseline", out_dir=tmp_path / "a",
                           **options)
    assert config_module.epoch_steps(unbroken, 10_000, timesteps) == 3
    first = train(unbroken)
    assert first.stop_reason.startswith("converged at epoch ")
    assert len(first.history) < config_module.DEFAULT_EPOCHS["baseline"]

    config = TrainConfig(**{**unbroken.__dict__, "out_dir": tmp_path / "b"})
    with pytest.raises(Interrupted):
        train(config, callbacks=[InterruptAfter(0)])
    resumed = train(TrainConfig(**{**config.__dict__, "resume": True}))
    _assert_same_run(tmp_path / "a", tmp_path / "b")
    assert resumed.stop_reason == first.stop_reason
