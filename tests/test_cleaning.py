"""Cleaning: label mapping, the squat rule, gaps, the sampling-rate check and resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.recordings.cleaning import (apply_squat_rule, check_sampling_rate,
                                               clean_recording, fill_short_gaps, map_labels)
from exermote_sgan.recordings.readers import Recording, read_exermote_csv
from exermote_sgan.errors import ExermoteInputError

CLASSES = ("Break", "Burpee", "Situp", "Squat")


def _recording(values, labels, timestamps=None, sub_labels=None, subject=3):
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    if timestamps is None:
        timestamps = np.arange(n) * 0.1
    return Recording(path=Path("mem.csv"), session_name="mem", subject=subject,
                     features=tuple(f"f{j}" for j in range(values.shape[1])), values=values,
                     labels=np.asarray(labels), timestamps=np.asarray(timestamps, dtype=float),
                     sub_labels=None if sub_labels is None else np.asarray(sub_labels),
                     file_rows=np.arange(n) + 2)


def _clean(rec, **kwargs):
    options = dict(session=0, classes=CLASSES, label_map={"setBreak": "Break"}, min_rows=4)
    options.update(kwargs)
    return clean_recording(rec, **options)


def test_map_labels_counts_and_rejects_unknown():
    labels, counts = map_labels(np.array(["setBreak", "Squat", "setBreak"]),
                                label_map={"setBreak": "Break"}, classes=CLASSES)
    assert list(labels) == ["Break", "Squat", "Break"] and counts == {"setBreak": 2}
    with pytest.raises(ExermoteInputError, match="unknown label 'Jump'") as info:
        map_labels(np.array(["Break", "Jump"]), label_map={}, classes=CLASSES, path="x.csv",
                   rows=np.array([2, 3]), column="exerciseType")
    assert (info.value.row, info.value.column, info.value.path) == (3, "exerciseType", "x.csv")


def _original_exermote_squat_rule(types):
    """The rule as the original preprocessing script wrote it (rows within 2 of a non-squat)."""
    out = list(types)
    n = len(types)
    for i in range(n):
        if types[i] == "Squat":
            near = [types[j] if 0 <= j < n else None for j in (i - 2, i - 1, i + 1, i + 2)]
            if any(t != "Squat" for t in near):
                out[i] = "Break"
    return out


@pytest.mark.realdata
def test_squat_rule_matches_original_on_real_data(real_recordings):
    total = 0
    for path in real_recordings[::5]:
        rec = read_exermote_csv(path)
        ours, n = apply_squat_rule(rec.labels, rec.sub_labels)
        assert list(ours) == _original_exermote_squat_rule(list(rec.labels))
        no_subs, _ = apply_squat_rule(rec.labels, None)
        assert list(no_subs) == list(ours)  # real squat repetitions are separated by breaks
        total += n
    assert total > 0


def test_squat_rule_splits_back_to_back_repetitions_by_sub_labels():
    labels = ["Break"] + ["Squat"] * 12 + ["Break"]
    subs = ["Break"] + ["firstHalf"] * 3 + ["secondHalf"] * 3 + ["firstHalf"] * 3 \
        + ["secondHalf"] * 3 + ["Break"]
    ours, n = apply_squat_rule(np.array(labels), np.array(subs))
    # two repetitions of 6 rows: rows 1-2, 5-6 | 7-8, 11-12 become Break
    expected = ["Break"] * 3 + ["Squat"] * 2 + ["Break"] * 4 + ["Squat"] * 2 + ["Break"] * 3
    assert list(ours) == expected and n == 8
    one_run, n_run = apply_squat_rule(np.array(labels), None)
    assert n_run == 4 and list(one_run[3:11]) == ["Squat"] * 8
    untouched, n0 = apply_squat_rule(np.array(labels), np.array(subs), edge_rows=0)
    assert n0 == 0 and list(untouched) == labels


def test_short_gaps_interpolated_long_gaps_split_never_zero():
    t = np.arange(30) * 0.1
    values = np.c_[t * 10, -t]
    values[0] = np.nan                 # leading empty row, like the Exermote files
    values[5:7, 0] = np.nan            # 2-row gap in one feature: interpolated
    values[15:20] = np.nan             # 5-row gap: dropped, splits the recording
    filled, keep, counts = fill_short_gaps(values, t, max_gap=3)
    np.testing.assert_allclose(filled[5:7, 0], t[5:7] * 10)
    np.testing.assert_allclose(filled[5:7, 1], -t[5:7])
    assert counts == {"interpolated": 2, "dropped_edges": 1, "dropped_long_gaps": 5}
    assert not keep[0] and keep[1:15].all() and not keep[15:20].any() and keep[20:].all()

    rec = _recording(values, ["Break"] * 30, t)
    segments, report = _clean(rec, max_gap=3)
    assert [(s.first_row, len(s)) for s in segments] == [(1, 14), (20, 10)]
    assert report.rows_dropped_edges == 1 and report.rows_dropped_long_gaps == 5
    assert report.rows_interpolated == 2
    for s in segments:
        assert np.isfinite(s.values).all()
        np.testing.assert_allclose(s.values[:, 0], 10 * t[s.first_row:s.first_row + len(s)])


def test_pause_in_timestamps_splits_and_short_pieces_are_dropped():
    t = np.r_[np.arange(20) * 0.1, 5.0 + np.arange(3) * 0.1, 9.0 + np.arange(10) * 0.1]
    rec = _recording(np.arange(33.0), ["Break"] * 33, t)
    segments, report = _clean(rec, min_rows=5)
    assert [(s.first_row, len(s)) for s in segments] == [(0, 20), (23, 10)]
    assert report.time_gaps_split == 2 and report.rows_dropped_short == 3


def test_sampling_rate_check():
    t = np.arange(100) * 0.2
    with pytest.raises(ExermoteInputError, match="5 Hz.*expected 10 Hz"):
        check_sampling_rate(t, expected_rate_hz=10.0, path="slow.csv", column="time")
    ok = check_sampling_rate(t, expected_rate_hz=5.0)
    assert ok.rate_hz == pytest.approx(5.0) and ok.jitter_s == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    jittery = np.arange(500) * 0.1 + rng.normal(0, 0.003, 500)
    check = check_sampling_rate(jittery, expected_rate_hz=10.0)
    assert check.rate_hz == pytest.approx(10.0, rel=0.01)
    assert 0.003 < check.jitter_s < 0.006  # sd of the difference of two N(0, 3 ms)


def test_resampling_to_the_nominal_rate():
    t = np.arange(200) * 0.05                       # 20 Hz
    values = np.c_[3 * t + 1, np.sin(t)]
    labels = ["Break"] * 100 + ["Squat"] * 100
    rec = _recording(values, labels, t)
    with pytest.raises(ExermoteInputError, match="20 Hz"):
        _clean(rec)
    segments, report = _clean(rec, resample=True, squat_rule=False)
    [seg] = segments
    assert report.resampled_rows == len(seg) == 100
    grid = np.arange(100) * 0.1
    np.testing.assert_allclose(seg.values[:, 0], 3 * grid + 1)
    np.testing.assert_allclose(seg.values[:, 1], np.sin(grid))
    assert (seg.labels[:50] == 0).all() and (seg.labels[50:] == 3).all()


def test_clean_recording_reports_label_changes():
    labels = ["setBreak"] * 5 + ["Squat"] * 10 + ["Break"] * 5
    rec = _recording(np.arange(20.0), labels)
    [seg], report = _clean(rec)
    assert report.labels_mapped == {"setBreak": 5} and report.squat_rows_relabelled == 4
    assert list(seg.labels) == [0] * 7 + [3] * 6 + [0] * 7
    [seg], report = _clean(rec, squat_rule=False)
    assert report.squat_rows_relabelled == 0 and list(seg.labels[5:15]) == [3] * 10
    with pytest.raises(ExermoteInputError, match="unknown label 'setBreak'") as info:
        _clean(rec, label_map={})
    assert info.value.row == 2


def test_prediction_resamples_a_recording_as_preprocessing_did():
    # one resampling for training and prediction: a run trained with --resample sees at
    # prediction exactly the values, labels and rows preprocessing made of the same file
    from exermote_sgan.recordings.cleaning import resample_to_grid
    from exermote_sgan.inference.recordings import _resample as resample_for_prediction

    rng = np.random.default_rng(3)
    t = np.cumsum(np.r_[0.0, rng.uniform(0.03, 0.07, 299)])          # ~20 Hz with jitter
    values = np.c_[np.sin(3 * t), t ** 2, rng.normal(size=len(t))]
    labels = np.where((t > 4) & (t < 9), "Squat", "Break")
    rec = _recording(values, labels, t)
    [seg], _ = _clean(rec, resample=True, squat_rule=False)
    predicted = resample_for_prediction(rec, 10.0)
    assert predicted.values.tobytes() == seg.values.tobytes()
    assert [CLASSES.index(x) for x in predicted.labels] == list(seg.labels)
    np.testing.assert_array_equal(predicted.timestamps, np.arange(len(seg.values)) / 10.0)
    # grid row k is the original row nearest k / 10 s (the earlier one on a tie)
    nearest = np.array([np.argmin(np.abs(t - k / 10.0)) for k in range(len(seg.values))])
    np.testing.assert_array_equal(predicted.file_rows, rec.file_rows[nearest])

    # a column with missing values is interpolated over its present ones, held at the ends
    gappy = values.copy()
    gappy[[0, 1, 150], 0] = np.nan
    gappy[:, 2] = np.nan
    _, out, _ = resample_to_grid(t, gappy, rate_hz=10.0)
    present = ~np.isnan(gappy[:, 0])
    grid = np.arange(len(out)) / 10.0
    np.testing.assert_allclose(out[:, 0], np.interp(grid, t[present], gappy[present, 0]))
    assert out[0, 0] == gappy[2, 0] and np.isnan(out[:, 2]).all()
    np.testing.assert_allclose(out[:, 1], np.interp(grid, t, values[:, 1]), rtol=1e-12)
