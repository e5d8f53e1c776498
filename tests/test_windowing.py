"""Windowing: exact small cases, invariants under hypothesis, and a plain-loop reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exermote_sgan.recordings.windowing import (Segment, cut_windows, sliding_windows, window_count,
                                                window_targets, write_segments)
from exermote_sgan.data.windows_file import load_windows, save_windows
from exermote_sgan.errors import ExermoteInputError

CLASSES = ("Break", "Burpee", "Situp", "Squat")
FEATURES = ("a", "b")


def loop_windows(values, labels, timesteps, stride, label_offset):
    """The obvious per-row loop the vectorised code must agree with."""
    windows, targets, ends = [], [], []
    start = 0
    while start + timesteps <= len(values):
        windows.append(values[start:start + timesteps])
        targets.append(labels[start + timesteps - label_offset - 1])
        ends.append(start + timesteps - 1)
        start += stride
    return windows, targets, ends


# ----------------------------------------------------------------------------- exact cases

def test_sliding_windows_small_exact():
    values = np.arange(12).reshape(6, 2)
    got = sliding_windows(values, timesteps=3, stride=2)
    expected = np.array([[[0, 1], [2, 3], [4, 5]],
                         [[4, 5], [6, 7], [8, 9]]])
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (2, 3, 2)


def test_sliding_windows_too_short_gives_empty_with_right_shape():
    got = sliding_windows(np.zeros((3, 4)), timesteps=5)
    assert got.shape == (0, 5, 4)


def test_window_targets_small_exact():
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    got_labels, got_end = window_targets(labels, timesteps=3, stride=2, label_offset=1)
    # starts 0, 2, 4 -> label rows 1, 3, 5; ends 2, 4, 6
    np.testing.assert_array_equal(got_labels, [0, 1, 2])
    np.testing.assert_array_equal(got_end, [2, 4, 6])
    assert got_labels.dtype == np.int64 and got_end.dtype == np.int64


def test_original_rule_40_20_labels_by_the_20th_row():
    labels = np.zeros(45, dtype=int)
    labels[19] = 3                              # the 20th row of the first window
    got_labels, got_end = window_targets(labels, timesteps=40, label_offset=20)
    assert got_labels[0] == 3 and got_labels[1] == 0
    assert got_end[0] == 39 and len(got_end) == 6


def test_cut_windows_exact_two_segments_and_a_short_one():
    seg_a = Segment(values=np.arange(10, dtype=float).reshape(5, 2),
                    labels=np.array([0, 1, 1, 2, 2]), subject=7, session=0, first_row=1)
    seg_short = Segment(values=np.ones((2, 2)), labels=np.array([0, 0]), subject=7, session=0,
                        first_row=9)
    seg_b = Segment(values=100 + np.arange(8, dtype=float).reshape(4, 2),
                    labels=np.array([3, 3, 0, 0]), subject=8, session=1, first_row=0)
    ws = cut_windows([seg_a, seg_short, seg_b], classes=CLASSES, features=FEATURES,
                     timesteps=3, stride=1, label_offset=1, session_names=("s0", "s1"))
    assert ws.windows.dtype == np.float32
    assert ws.windows.shape == (3 + 0 + 2, 3, 2)
    np.testing.assert_array_equal(ws.windows[0], [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(ws.windows[2], [[4, 5], [6, 7], [8, 9]])
    np.testing.assert_array_equal(ws.windows[3], [[100, 101], [102, 103], [104, 105]])
    np.testing.assert_array_equal(ws.labels, [1, 1, 2, 3, 0])
    np.testing.assert_array_equal(ws.end_index, [3, 4, 5, 2, 3])
    np.testing.assert_array_equal(ws.subjects, [7, 7, 7, 8, 8])
    np.testing.assert_array_equal(ws.sessions, [0, 0, 0, 1, 1])
    assert (ws.timesteps, ws.stride, ws.label_offset) == (3, 1, 1)
    assert ws.session_names == ("s0", "s1") and ws.classes == CLASSES


def test_cut_windows_of_nothing_is_an_empty_window_set():
    ws = cut_windows([], classes=CLASSES, features=FEATURES, timesteps=4, label_offset=1)
    assert len(ws) == 0 and ws.windows.shape == (0, 4, 2)


def test_cut_windows_round_trips_through_the_windows_file(tmp_path):
    rng = np.random.default_rng(0)
    seg = Segment(values=rng.normal(size=(30, 2)), labels=rng.integers(0, 4, 30), subject=1,
                  session=0, first_row=5)
    ws = cut_windows([seg], classes=CLASSES, features=FEATURES, timesteps=6, stride=2,
                     label_offset=3, session_names=("rec",))
    back = load_windows(save_windows(tmp_path / "w.h5", ws))
    np.testing.assert_array_equal(back.windows, ws.windows)
    np.testing.assert_array_equal(back.end_index, ws.end_index)
    assert (back.stride, back.label_offset, back.session_names) == (2, 3, ("rec",))


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, name", [
    (dict(timesteps=0), "timesteps"),
    (dict(timesteps=3, stride=0), "stride"),
    (dict(timesteps=3, label_offset=3), "label_offset"),
    (dict(timesteps=3, label_offset=-1), "label_offset"),
    (dict(timesteps=2.5), "timesteps"),
])
def test_window_targets_rejects_bad_options_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        window_targets(np.zeros(10, dtype=int), **kwargs)


def test_sliding_windows_rejects_1d_values():
    with pytest.raises(ValueError, match="2-D"):
        sliding_windows(np.zeros(10), timesteps=3)


def _segment(values=None, labels=None, **kw):
    values = np.zeros((10, 2)) if values is None else values
    labels = np.zeros(len(values), dtype=int) if labels is None else labels
    return Segment(values=values, labels=labels, subject=kw.get("subject", 1),
                   session=kw.get("session", 0), first_row=kw.get("first_row", 0))


def test_cut_windows_names_session_and_row_of_a_missing_value():
    values = np.zeros((10, 2))
    values[6, 1] = np.nan
    with pytest.raises(ExermoteInputError, match=r"rec\.csv.*row 6, feature 1"):
        cut_windows([_segment(values)], classes=CLASSES, features=FEATURES, timesteps=3,
                    label_offset=1, session_names=("rec.csv",))


@pytest.mark.parametrize("streaming", [False, True])
def test_a_missing_value_is_refused_wherever_it_is(streaming, tmp_path):
    """A bad segment stops the cut, even one too short to give a window, and the streaming
    writer leaves no file behind."""
    from exermote_sgan.data.windows_file import WindowsWriter

    long_rows, short_rows = np.zeros((50, 2)), np.zeros((2, 2))
    short_rows[1, 0] = np.inf
    segments = [_segment(long_rows), _segment(short_rows, session=1), _segment(long_rows)]
    with pytest.raises(ExermoteInputError, match=r"segment 1 \(b\.csv.*row 1, feature 0"):
        if streaming:
            with WindowsWriter(tmp_path / "w.h5", classes=CLASSES, features=FEATURES,
                               timesteps=3, label_offset=1) as writer:
                write_segments(writer, segments, session_names=("a.csv", "b.csv"))
        else:
            cut_windows(segments, classes=CLASSES, features=FEATURES, timesteps=3,
                        label_offset=1, session_names=("a.csv", "b.csv"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("segment, message", [
    (_segment(np.zeros((10, 3))), "3 features|expected"),
    (_segment(labels=np.zeros(9, dtype=int)), "one label per row"),
    (_segment(labels=np.full(10, 4)), r"\[0, 4\)"),
    (_segment(first_row=-1), "first_row"),
])
def test_cut_windows_rejects_inconsistent_segments(segment, message):
    with pytest.raises(ExermoteInputError, match=message):
        cut_windows([segment], classes=CLASSES, features=FEATURES, timesteps=3, label_offset=1)


# ----------------------------------------------------------------------------- properties

window_params = st.integers(1, 10).flatmap(lambda t: st.tuples(
    st.just(t), st.integers(1, 5), st.integers(0, t - 1)))


@settings(max_examples=60, deadline=None)
@given(n_rows=st.integers(0, 60), n_features=st.integers(1, 3), params=window_params,
       seed=st.integers(0, 2**16))
def test_windows_match_the_plain_loop(n_rows, n_features, params, seed):
    timesteps, stride, label_offset = params
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_rows, n_features))
    labels = rng.integers(0, 4, n_rows)
    windows = sliding_windows(values, timesteps=timesteps, stride=stride)
    targets, ends = window_targets(labels, timesteps=timesteps, stride=stride,
                                   label_offset=label_offset)
    ref_windows, ref_targets, ref_ends = loop_windows(values, labels, timesteps, stride,
                                                      label_offset)
    expected_n = 0 if n_rows < timesteps else (n_rows - timesteps) // stride + 1
    assert len(windows) == len(targets) == len(ends) == expected_n == len(ref_windows)
    assert expected_n == window_count(n_rows, timesteps=timesteps, stride=stride)
    assert windows.shape == (expected_n, timesteps, n_features)
    for i in range(expected_n):
        start = i * stride
        np.testing.assert_array_equal(windows[i], values[start:start + timesteps])
        np.testing.assert_array_equal(windows[i], ref_windows[i])
    np.testing.assert_array_equal(targets, np.asarray(ref_targets, dtype=np.int64))
    np.testing.assert_array_equal(ends, np.asarray(ref_ends, dtype=np.int64))


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 30), min_size=1, max_size=5), params=window_params,
       first_rows=st.lists(st.integers(0, 100), min_size=5, max_size=5))
def test_no_window_crosses_segments(lengths, params, first_rows):
    timesteps, stride, label_offset = params
    segments = []
    for k, n in enumerate(lengths):
        # Feature 0 tells the segment apart, feature 1 the row inside it.
        rows = np.arange(n)
        values = np.stack([np.full(n, k), rows], axis=1).astype(float)
        segments.append(Segment(values=values, labels=rows % 4, subject=k % 2, session=k,
                                first_row=first_rows[k]))
    ws = cut_windows(segments, classes=CLASSES, features=("segment", "row"),
                     timesteps=timesteps, stride=stride, label_offset=label_offset)
    assert ws.windows.dtype == np.float32
    expected = sum(window_count(n, timesteps=timesteps, stride=stride) for n in lengths)
    assert len(ws) == expected
    seg_of_window = ws.windows[:, :, 0]
    assert np.all(seg_of_window == seg_of_window[:, :1])          # one segment per window
    np.testing.assert_array_equal(seg_of_window[:, 0], ws.sessions)
    rows = ws.windows[:, :, 1]
    assert np.all(np.diff(rows, axis=1) == 1)                      # consecutive rows, no gap
    last_row = rows[:, -1].astype(np.int64)
    np.testing.assert_array_equal(ws.end_index, last_row + np.asarray(first_rows)[ws.sessions])
    np.testing.assert_array_equal(ws.labels, (last_row - label_offset) % 4)
    for k in range(len(lengths)):
        ends = ws.end_index[ws.sessions == k]
        assert np.all(np.diff(ends) == stride)                     # monotone, stride apart


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=6), params=window_params,
       seed=st.integers(0, 2**16))
def test_windows_gathered_from_the_rows_and_the_streamed_file_match_the_segments(
        lengths, params, seed, tmp_path_factory):
    """Every window is its segment's rows at its start, whether gathered from the rows in
    memory, in batches of positions, or from the file written segment by segment."""
    from exermote_sgan.data.windows_file import WindowsWriter, load_windows

    timesteps, stride, label_offset = params
    rng = np.random.default_rng(seed)
    segments = [Segment(values=rng.normal(size=(n, 3)), labels=rng.integers(0, 4, n),
                        subject=k % 2, session=k, first_row=k) for k, n in enumerate(lengths)]
    options = dict(classes=CLASSES, features=("a", "b", "c"), timesteps=timesteps,
                   stride=stride, label_offset=label_offset)
    ws = cut_windows(segments, **options)
    expected = [segment.values[start:start + timesteps].astype(np.float32)
                for segment in segments
                for start in range(0, len(segment) - timesteps + 1, stride)]
    assert len(expected) == len(ws)
    dense = np.asarray(ws.windows)
    for position, window in enumerate(expected):
        np.testing.assert_array_equal(dense[position], window)
    order = rng.permutation(len(ws))
    np.testing.assert_array_equal(ws.windows[order], dense[order])
    path = tmp_path_factory.mktemp("stream") / "w.h5"
    with WindowsWriter(path, **{k: v for k, v in options.items()}) as writer:
        assert write_segments(writer, segments) == len(ws)
    streamed = load_windows(path)
    np.testing.assert_array_equal(np.asarray(streamed.windows), dense)
    for name in ("labels", "subjects", "sessions", "end_index"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(ws, name))
