import h5py
import numpy as np
import pytest

from exermote_sgan.data.windows_file import WindowSet, load_windows, save_windows
from exermote_sgan.errors import ExermoteInputError


def _window_set(n=7, timesteps=5, features=("a", "b")):
    rng = np.random.default_rng(0)
    return WindowSet(
        windows=rng.normal(size=(n, timesteps, len(features))).astype(np.float32),
        labels=np.arange(n) % 3, subjects=np.repeat([1, 2], [3, n - 3]),
        sessions=np.repeat([0, 1], [3, n - 3]), end_index=np.arange(n) + timesteps - 1,
        classes=("Break", "Burpee", "Squat"), features=features, timesteps=timesteps,
        stride=1, label_offset=2, sample_rate_hz=10.0, session_names=("s0", "s1"))


def test_round_trip_keeps_every_array_and_attribute(tmp_path):
    ws = _window_set()
    path = save_windows(tmp_path / "w.h5", ws)
    loaded = load_windows(path)
    for name in ("windows", "labels", "subjects", "sessions", "end_index"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(ws, name))
    for name in ("classes", "features", "timesteps", "stride", "label_offset", "sample_rate_hz",
                 "session_names"):
        assert getattr(loaded, name) == getattr(ws, name)
    with h5py.File(path) as f:  # the documented layout
        assert f["windows"].dtype == np.float32 and f["windows"].shape == (7, 5, 2)
        assert list(f.attrs["classes"]) == ["Break", "Burpee", "Squat"]
    assert loaded.subset(loaded.subjects == 1).class_counts() == {"Break": 1, "Burpee": 1,
                                                                  "Squat": 1}
    assert not list(tmp_path.glob(".*tmp"))


def test_inconsistent_shapes_are_rejected():
    ws = _window_set()
    with pytest.raises(ValueError, match="labels has 2 entries, windows has 7"):
        WindowSet(**{**ws.__dict__, "labels": np.zeros(2, int)})
    with pytest.raises(ValueError, match=r"expected \(N, timesteps=5, features=3\)"):
        WindowSet(**{**ws.__dict__, "features": ("a", "b", "c")})


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(ExermoteInputError, match="not found"):
        load_windows(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(ExermoteInputError, match="junk.h5: cannot read as HDF5"):
        load_windows(junk)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f["windows"] = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(ExermoteInputError, match="missing labels"):
        load_windows(partial)


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_windows(tmp_path / "w.h5", _window_set(n=7))
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", explode)
    with pytest.raises(RuntimeError):
        save_windows(path, _window_set(n=9))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.h5"]
