import h5py
import numpy as np
import pytest

from exermote_sgan.recordings.windowing import Segment, cut_windows
from exermote_sgan.data.windows_file import (FORMAT_VERSION, RowWindows, WindowSet,
                                             convert_windows, load_windows, save_windows)
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
    with h5py.File(path) as f:  # the documented layout: random windows share no rows
        assert f.attrs["format_version"] == 2
        assert f["rows"].dtype == np.float32 and f["rows"].shape == (7 * 5, 2)
        assert "windows" not in f and f["window_start"].shape == (7,)
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


def _overlapping(stride=1, timesteps=6):
    """Windows of two sessions (three segments) cut the package's way from known rows."""
    rng = np.random.default_rng(1)
    segments = [Segment(values=rng.normal(size=(n, 3)), labels=rng.integers(0, 3, n),
                        subject=s + 1, session=s, first_row=first)
                for n, s, first in ((30, 0, 2), (17, 0, 40), (25, 1, 0))]
    return cut_windows(segments, classes=("Break", "Burpee", "Squat"), features=("a", "b", "c"),
                       timesteps=timesteps, stride=stride, label_offset=2,
                       session_names=("s0", "s1")), segments


def _write_v1(path, ws):
    """A windows file in the layout of format version 1 (every window stored)."""
    with h5py.File(path, "w") as f:
        f["windows"] = np.asarray(ws.windows, np.float32)
        for name in ("labels", "subjects", "sessions", "end_index"):
            f[name] = np.asarray(getattr(ws, name), np.int64)
        for name in ("timesteps", "stride", "label_offset"):
            f.attrs[name] = int(getattr(ws, name))
        f.attrs["sample_rate_hz"] = float(ws.sample_rate_hz)
        for name in ("classes", "features", "session_names"):
            f.attrs[name] = list(getattr(ws, name))


def test_overlapping_windows_store_each_row_once_and_read_back_the_same(tmp_path):
    ws, segments = _overlapping(stride=2)
    path = save_windows(tmp_path / "w.h5", ws)
    with h5py.File(path) as f:
        # the rows the windows cover, once: at stride 2 the last row of 17 and of 25 is in none
        assert f["rows"].shape == (30 + 16 + 24, 3)
        np.testing.assert_array_equal(f["segment_offsets"][()], [0, 30, 46, 70])
        np.testing.assert_array_equal(f["rows"][30:46],
                                      segments[1].values[:16].astype(np.float32))
        assert f["rows"].chunks is None and f["rows"].compression is None  # memory-mappable
    back = load_windows(path)
    assert isinstance(back.windows, RowWindows) and isinstance(back.windows.rows, np.memmap)
    expected = np.stack([seg.values[start:start + 6] for seg in segments
                         for start in range(0, len(seg) - 5, 2)]).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(back.windows), expected)
    back.windows.release_pages()  # the mapped rows are read again from the file when needed
    np.testing.assert_array_equal(back.windows[[3, 0]], expected[[3, 0]])
    for name in ("labels", "subjects", "sessions", "end_index"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ws, name))


def test_row_windows_index_like_the_dense_array():
    ws, _ = _overlapping()
    lazy, dense = ws.windows, np.asarray(ws.windows)
    assert lazy.shape == dense.shape and len(lazy) == len(dense) and lazy.dtype == np.float32
    assert lazy.nbytes == dense.nbytes
    mask = np.arange(len(dense)) % 3 == 0
    for key in (0, -1, 7, slice(3, 20, 4), slice(None, None, -5), np.array([5, 1, 5, -2]),
                [2, 3], mask, (4, slice(1, 3)), (slice(2, 9), 0, 1), (np.array([1, 8]),),
                (Ellipsis, [2, 0]), (slice(None), slice(None), 2)):
        np.testing.assert_array_equal(lazy[key], dense[key], err_msg=repr(key))
    np.testing.assert_array_equal(np.asarray(lazy.take([9, 2]).select_columns([2, 0])),
                                  dense[[9, 2]][..., [2, 0]])
    np.testing.assert_array_equal(np.asarray(ws.subset(mask).windows), dense[mask])
    np.testing.assert_array_equal(ws.select_features(("c", "a")).windows[3], dense[3][:, [2, 0]])
    np.testing.assert_array_equal(lazy.mean(1), dense.mean(1))  # array methods: all gathered
    assert lazy.reshape(len(dense), -1).shape == (len(dense), 18)
    with pytest.raises(AttributeError, match="no attribute 'spam'"):
        lazy.spam
    with pytest.raises(IndexError):
        lazy[len(dense)]
    with pytest.raises(IndexError):
        lazy[np.array([0, len(dense)])]


def test_a_saved_subset_keeps_its_windows_and_order(tmp_path):
    ws, _ = _overlapping()
    dense = np.asarray(ws.windows)
    picked = np.array([40, 3, 4, 5, 50, 1])  # shuffled: runs of segments interleave
    for subset in (ws.subset(ws.subjects == 2), ws.subset(picked),
                   ws.subset(picked).select_features(("b",))):
        back = load_windows(save_windows(tmp_path / "sub.h5", subset))
        np.testing.assert_array_equal(np.asarray(back.windows), np.asarray(subset.windows))
        np.testing.assert_array_equal(back.end_index, subset.end_index)
    np.testing.assert_array_equal(back.windows[0], dense[40][:, [1]])


def test_a_version_1_file_is_still_read_and_converts_to_the_same_windows(tmp_path):
    ws, _ = _overlapping()
    old = tmp_path / "old.h5"
    _write_v1(old, ws)
    read = load_windows(old)
    assert isinstance(read.windows, np.ndarray)
    np.testing.assert_array_equal(read.windows, np.asarray(ws.windows))
    new = convert_windows(old, tmp_path / "new.h5")
    back = load_windows(new)
    np.testing.assert_array_equal(np.asarray(back.windows), np.asarray(ws.windows))
    for name in ("labels", "subjects", "sessions", "end_index"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ws, name))
    with h5py.File(new) as f:  # overlapping windows found again: each row stored once
        assert f.attrs["format_version"] == FORMAT_VERSION and f["rows"].shape == (72, 3)
    assert convert_windows(old, old) == old and load_windows(old).stride == 1


def test_newer_and_inconsistent_files_are_refused_with_the_fix(tmp_path):
    ws, _ = _overlapping()
    path = save_windows(tmp_path / "w.h5", ws)
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 3
    with pytest.raises(ExermoteInputError, match="version 3 is newer.*upgrade exermote-sgan"):
        load_windows(path)
    path = save_windows(tmp_path / "w.h5", ws)
    with h5py.File(path, "a") as f:
        start = f["window_start"][()]
        start[0] = 29
        f["window_start"][...] = start
    with pytest.raises(ExermoteInputError, match="outside its segment.*preprocess"):
        load_windows(path)


@pytest.mark.realdata
def test_real_recordings_store_each_row_once_and_read_back_every_window(real_raw_dir, tmp_path):
    """The 30 real recordings: 88,806 windows of 40 rows from 89,976 rows stored once, in a
    file under a tenth of every window stored (173 MB); a version 1 file of the same windows
    converts to the same windows."""
    from exermote_sgan.recordings.pipeline import preprocess, preprocess_to_file

    path = tmp_path / "w.h5"
    report = preprocess_to_file([real_raw_dir], path)
    streamed = load_windows(path)
    in_memory, _ = preprocess([real_raw_dir])
    assert len(streamed) == report.windows == 88_806
    with h5py.File(path) as f:
        assert f.attrs["format_version"] == 2 and f["rows"].shape == (90_000 - 24, 12)
    assert path.stat().st_size <= 17_000_000 < 88_806 * 40 * 12 * 4
    dense = np.asarray(streamed.windows)
    np.testing.assert_array_equal(dense, np.asarray(in_memory.windows))
    for name in ("labels", "subjects", "sessions", "end_index"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(in_memory, name))
    old = tmp_path / "v1.h5"
    _write_v1(old, streamed)
    converted = load_windows(convert_windows(old, tmp_path / "v2.h5"))
    np.testing.assert_array_equal(np.asarray(converted.windows), dense)
    with h5py.File(tmp_path / "v2.h5") as f:
        assert f["rows"].shape == (90_000 - 24, 12)  # the overlaps found again: rows once
