"""The known-person benchmark's splits and its label-timing ceiling, on hand-made windows."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.data.windows_file import WindowSet
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "known_person.py"
spec = importlib.util.spec_from_file_location("known_person", BENCHMARK)
known_person = importlib.util.module_from_spec(spec)
spec.loader.exec_module(known_person)

NAMES = ("2017-04-28 10-48-31 Individual 4.csv", "2017-04-28 10-54-03 Individual 4.csv",
         "2017-05-02 18-44-50 Individual 4.csv", "2017-05-02 18-44-50 Individual 1.csv")


def _window_set(sessions, subjects, labels=None, end_index=None) -> WindowSet:
    n = len(sessions)
    return WindowSet(windows=np.zeros((n, 2, 1), np.float32),
                     labels=np.asarray(labels if labels is not None else np.zeros(n), np.int64),
                     subjects=np.asarray(subjects, np.int64),
                     sessions=np.asarray(sessions, np.int64),
                     end_index=np.asarray(end_index if end_index is not None else np.arange(n),
                                          np.int64),
                     classes=("Break", "Squat"), features=("x",), timesteps=2,
                     session_names=NAMES)


def test_sessions_are_grouped_by_the_day_in_their_names():
    window_set = _window_set([0, 0, 1, 2, 3], [4, 4, 4, 4, 1])
    assert known_person.session_days(window_set, 4) == {"2017-04-28": [0, 1],
                                                        "2017-05-02": [2]}


def test_one_day_or_no_date_or_no_windows_is_refused():
    with pytest.raises(ValueError, match="one day only"):
        known_person.session_days(_window_set([0, 1, 3], [4, 4, 1]), 4)
    undated = replace(_window_set([0, 2], [4, 4]), session_names=("a.csv", "b.csv", "c.csv"))
    with pytest.raises(ValueError, match="'a.csv'.*date"):
        known_person.session_days(undated, 4)
    with pytest.raises(ValueError, match="subject 7 has no windows; subjects are \\[1, 4\\]"):
        known_person.session_days(_window_set([0, 3], [4, 1]), 7)


def test_the_other_days_train_as_a_new_person_or_are_left_out():
    window_set = _window_set([0, 1, 2, 2, 3], [4, 4, 4, 4, 1])
    known = known_person.known_person_split(window_set, 4, [2], known=True)
    np.testing.assert_array_equal(known.subjects, [5, 5, 4, 4, 1])
    np.testing.assert_array_equal(window_set.subjects, [4, 4, 4, 4, 1])  # not changed in place
    unknown = known_person.known_person_split(window_set, 4, [2], known=False)
    np.testing.assert_array_equal(unknown.sessions, [2, 2, 3])
    np.testing.assert_array_equal(unknown.subjects, [4, 4, 1])


def test_shifted_labels_score_what_a_late_classifier_would():
    # session 0: rows 0-7 at stride 1, labels change at rows 3 and 6; session 1 starts anew
    labels = [0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0]
    sessions = [0] * 8 + [1] * 3
    rows = list(range(8)) + [0, 1, 2]
    accuracy = known_person.shifted_label_accuracy(labels, sessions, rows, shift_rows=1)
    # pairs (row, row+1) inside a session: 7 in session 0 (2 changes), 2 in session 1 (1 change)
    assert accuracy == pytest.approx(6 / 9)
    # shuffling the windows changes nothing
    order = np.random.default_rng(0).permutation(len(labels))
    shuffled = known_person.shifted_label_accuracy(np.take(labels, order),
                                                   np.take(sessions, order),
                                                   np.take(rows, order), shift_rows=1)
    assert shuffled == accuracy
    # at stride 2 a 1-row shift finds no window; a 2-row shift compares every other row
    even = [i for i, r in enumerate(rows) if r % 2 == 0]
    with pytest.raises(ValueError, match="no window lies 1 rows after"):
        known_person.shifted_label_accuracy(np.take(labels, even), np.take(sessions, even),
                                            np.take(rows, even), shift_rows=1)
    assert known_person.shifted_label_accuracy(
        np.take(labels, even), np.take(sessions, even), np.take(rows, even),
        shift_rows=2) == pytest.approx(1 / 4)
