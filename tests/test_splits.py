"""Splits: on synthetic window sets with a known set structure, and on the real recordings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.data.splits import (find_sets, leave_one_subject_out, select_labeled,
                                       subject_split, temporal_split, validation_split,
                                       windows_overlap)
from exermote_sgan.recordings.windowing import Segment, cut_windows
from exermote_sgan.errors import ExermoteInputError

CLASSES = ("Break", "Burpee", "Situp", "Squat")
T, OFFSET = 8, 4
REP, SHORT, LONG = 20, 5, 120        # rows: one repetition, a break between reps, a set break


def session_rows(sets, *, lead=LONG):
    """Row labels of a session and, per row, the index of its set (-1 for breaks)."""
    labels, set_of_row = [0] * lead, [-1] * lead
    for k, (cls, reps) in enumerate(sets):
        for _ in range(reps):
            labels += [cls] * REP + [0] * SHORT
            set_of_row += [k] * REP + [-1] * SHORT
        labels += [0] * LONG
        set_of_row += [-1] * LONG
    return np.array(labels), np.array(set_of_row)


def build(plan, *, seed=0):
    """A window set from ``plan`` (one ``(subject, sets)`` per session) and the true set per row."""
    rng = np.random.default_rng(seed)
    segments, truth = [], []
    for session, (subject, sets) in enumerate(plan):
        labels, set_of_row = session_rows(sets)
        segments.append(Segment(values=rng.normal(size=(len(labels), 2)), labels=labels,
                                subject=subject, session=session))
        truth.append(set_of_row)
    ws = cut_windows(segments, classes=CLASSES, features=("a", "b"), timesteps=T,
                     label_offset=OFFSET, session_names=[f"s{i}" for i in range(len(plan))])
    return ws, truth


def standard_plan():
    """3 subjects with 4, 3 and 2 sessions; each session has 3-4 sets of rotating exercises."""
    plan, n = [], 0
    for subject, n_sessions in ((1, 4), (2, 3), (3, 2)):
        for _ in range(n_sessions):
            sets = [((n + i) % 3 + 1, 2 + (n + i) % 3) for i in range(3 + n % 2)]
            plan.append((subject, sets))
            n += 1
    return plan


@pytest.fixture(scope="module")
def synthetic():
    return build(standard_plan())


def true_set_of_window(ws, truth):
    """(session, set) of every exercise window, from the row that labels it; -1 for breaks."""
    rows = ws.end_index - OFFSET
    return np.array([truth[s][r] for s, r in zip(ws.sessions, rows)])


def assert_disjoint_cover(parts, index):
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined), "parts overlap"
    np.testing.assert_array_equal(np.sort(joined), np.sort(index))


def assert_sorted_int64(*arrays):
    for a in arrays:
        assert a.dtype == np.int64 and np.all(np.diff(a) > 0)


# ----------------------------------------------------------------------------- overlap helper

def test_windows_overlap_is_about_shared_rows(synthetic):
    ws, _ = synthetic
    s0 = np.flatnonzero(ws.sessions == 0)
    s1 = np.flatnonzero(ws.sessions == 1)
    assert windows_overlap(ws, s0[:1], s0[T - 1:T])          # ends T-1 apart share one row
    assert not windows_overlap(ws, s0[:1], s0[T:T + 1])      # ends T apart share none
    assert not windows_overlap(ws, s0, s1)                   # other session
    assert not windows_overlap(ws, s0[:100], [])


# ----------------------------------------------------------------------------- subjects

def test_subject_split_is_disjoint_and_complete(synthetic):
    ws, _ = synthetic
    train, test = subject_split(ws, [3])
    assert_sorted_int64(train, test)
    assert_disjoint_cover([train, test], np.arange(len(ws)))
    assert set(ws.subjects[test]) == {3} and set(ws.subjects[train]) == {1, 2}
    train2, test2 = subject_split(ws, 2)
    assert set(ws.subjects[test2]) == {2}


@pytest.mark.parametrize("subjects, message", [
    ([9], r"unknown test subject\(s\) 9; available subjects: 1, 2, 3"),
    ([], "no test subject"),
    ([1, 2, 3], "none is left"),
    (["x"], "subject ids"),
])
def test_subject_split_rejects_bad_subjects(synthetic, subjects, message):
    with pytest.raises(ExermoteInputError, match=message):
        subject_split(synthetic[0], subjects)


def test_leave_one_subject_out_covers_each_subject_once(synthetic):
    ws, _ = synthetic
    folds = list(leave_one_subject_out(ws))
    assert [f[0] for f in folds] == [1, 2, 3]
    covered = []
    for subject, train, test in folds:
        assert_sorted_int64(train, test)
        assert_disjoint_cover([train, test], np.arange(len(ws)))
        assert set(ws.subjects[test]) == {subject} and subject not in set(ws.subjects[train])
        covered.append(test)
    assert_disjoint_cover(covered, np.arange(len(ws)))


def test_leave_one_subject_out_needs_two_subjects():
    ws, _ = build([(1, [(1, 2)])])
    with pytest.raises(ExermoteInputError, match="at least 2 subjects"):
        next(leave_one_subject_out(ws))


# ----------------------------------------------------------------------------- time

@pytest.mark.parametrize("gap", [None, 0, 25])
def test_temporal_split_leaves_a_gap_and_no_overlap(synthetic, gap):
    ws, _ = synthetic
    fraction = 0.25
    train, test = temporal_split(ws, test_fraction=fraction, gap=gap)
    assert_sorted_int64(train, test)
    assert len(np.intersect1d(train, test)) == 0
    assert not windows_overlap(ws, train, test)
    gap_rows = T if gap is None else gap
    for session in np.unique(ws.sessions):
        mine = np.flatnonzero(ws.sessions == session)
        first_row = ws.end_index[mine].min() - T + 1
        last_row = ws.end_index[mine].max()
        n_rows = last_row - first_row + 1
        tr, te = np.intersect1d(train, mine), np.intersect1d(test, mine)
        first_test_row = ws.end_index[te].min() - T + 1
        assert ws.end_index[tr].max() < first_test_row - gap_rows    # >= gap rows between
        assert first_test_row == last_row + 1 - round(fraction * n_rows)
        assert ws.end_index[te].max() == last_row
        # only windows straddling the cut or inside the gap are dropped
        assert len(mine) - len(tr) - len(te) == gap_rows + T - 1


def test_temporal_split_respects_the_given_index(synthetic):
    ws, _ = synthetic
    index = np.flatnonzero(ws.subjects == 2)
    train, test = temporal_split(ws, index=index)
    assert set(np.concatenate([train, test])) <= set(index)
    assert set(ws.sessions[test]) == set(ws.sessions[index])


@pytest.mark.parametrize("kwargs, message", [
    (dict(test_fraction=0), "test_fraction"), (dict(test_fraction=1.0), "test_fraction"),
    (dict(gap=-1), "gap"), (dict(index=[10**9]), "positions"),
])
def test_temporal_split_rejects_bad_options(synthetic, kwargs, message):
    with pytest.raises(ValueError, match=message):
        temporal_split(synthetic[0], **kwargs)


# ----------------------------------------------------------------------------- sets

def nearest_set_oracle(ws, set_ids, session):
    """For each break window of ``session``: the set ids of its nearest exercise windows."""
    mine = np.flatnonzero(ws.sessions == session)
    ex = mine[ws.labels[mine] != 0]
    out = {}
    for w in mine[ws.labels[mine] == 0]:
        dist = np.abs(ws.end_index[ex] - ws.end_index[w])
        out[w] = set(set_ids[ex[dist == dist.min()]])
    return out


def test_find_sets_recovers_the_known_sets(synthetic):
    ws, truth = synthetic
    set_ids = find_sets(ws)
    assert set_ids.dtype == np.int64 and len(set_ids) == len(ws)
    true = true_set_of_window(ws, truth)
    ex = true >= 0
    pairs = {(s, k, i) for s, k, i in zip(ws.sessions[ex], true[ex], set_ids[ex])}
    true_sets = {(s, k) for s, k, _ in pairs}
    assert len(pairs) == len(true_sets) == sum(len(p[1]) for p in standard_plan())
    assert len({i for *_, i in pairs}) == len(true_sets)            # one id per true set
    assert set(set_ids) == set(range(len(true_sets)))               # no extra sets of breaks
    for session in np.unique(ws.sessions):
        for w, nearest in nearest_set_oracle(ws, set_ids, session).items():
            assert set_ids[w] in nearest and set_ids[w] == min(nearest)
    # ids count up along each session
    order = np.lexsort((ws.end_index, ws.sessions))
    assert np.all(np.diff(set_ids[order]) >= 0)


def test_find_sets_keeps_the_order_of_a_shuffled_index(synthetic):
    ws, _ = synthetic
    index = np.random.default_rng(1).permutation(np.flatnonzero(ws.subjects != 1))
    by_index = find_sets(ws, index)
    full = find_sets(ws, np.sort(index))
    lookup = dict(zip(np.sort(index), full))
    np.testing.assert_array_equal(by_index, [lookup[i] for i in index])


def test_find_sets_splits_on_class_change_and_on_missing_windows():
    labels = np.r_[np.zeros(30), np.full(60, 1), np.full(60, 2), np.zeros(30)].astype(int)
    ws = cut_windows([Segment(np.zeros((len(labels), 2)), labels, 1, 0)], classes=CLASSES,
                     features=("a", "b"), timesteps=T, label_offset=OFFSET)
    ids = find_sets(ws, min_set_break_s=10.0)
    assert len(set(ids[ws.labels == 1])) == 1 and len(set(ids[ws.labels == 2])) == 1
    assert set(ids[ws.labels == 1]).isdisjoint(ids[ws.labels == 2])
    # dropping 15 windows (1.5 s) in the middle of the first exercise splits it at 1 s breaks
    keep = np.setdiff1d(np.arange(len(ws)), np.flatnonzero(ws.labels == 1)[20:35])
    split = find_sets(ws, keep, min_set_break_s=1.0)
    assert len(set(split[ws.labels[keep] == 1])) == 2
    assert len(set(find_sets(ws, keep, min_set_break_s=10.0)[ws.labels[keep] == 1])) == 1


def test_find_sets_gives_a_session_of_only_breaks_its_own_set():
    ws, _ = build([(1, [(1, 2)]), (1, [])])
    ids = find_sets(ws)
    assert len(set(ids[ws.sessions == 1])) == 1
    assert set(ids[ws.sessions == 0]).isdisjoint(ids[ws.sessions == 1])


def test_find_sets_rejects_an_unknown_break_class(synthetic):
    with pytest.raises(ExermoteInputError, match="'Pause' is not one of the classes"):
        find_sets(synthetic[0], break_class="Pause")


# ----------------------------------------------------------------------------- validation

def check_validation(ws, index, train, val, fraction):
    assert_sorted_int64(train, val)
    assert set(train) | set(val) <= set(index)
    assert len(np.intersect1d(train, val)) == 0
    assert not windows_overlap(ws, train, val)
    assert set(ws.subjects[val]) == set(ws.subjects[index])          # every subject represented
    assert set(ws.labels[val]) == set(ws.labels[index])              # every class present
    assert set(ws.labels[train]) == set(ws.labels[index])            # training keeps every class
    assert fraction / 2 <= len(val) / len(index) <= 3 * fraction


def test_validation_split_holds_out_whole_training_sessions(synthetic):
    ws, _ = synthetic
    train_idx, test_idx = subject_split(ws, [3])
    train, val = validation_split(ws, train_idx, fraction=0.15, seed=0)
    check_validation(ws, train_idx, train, val, 0.15)
    assert set(train) | set(val) == set(train_idx)                   # sessions: nothing dropped
    assert set(ws.sessions[train]).isdisjoint(ws.sessions[val])
    assert 3 not in set(ws.subjects[val])
    again = validation_split(ws, train_idx, fraction=0.15, seed=0)
    np.testing.assert_array_equal(again[1], val)
    draws = {tuple(np.unique(ws.sessions[validation_split(ws, train_idx, seed=s)[1]]))
             for s in range(8)}
    assert len(draws) > 1


def test_validation_split_uses_a_gapped_tail_for_a_single_session_subject(synthetic):
    ws, _ = synthetic
    one_session = np.flatnonzero(ws.sessions == ws.sessions[ws.subjects == 3][0])
    index = np.union1d(np.flatnonzero(ws.subjects == 1), one_session)
    train, val = validation_split(ws, index, fraction=0.2, seed=3)
    check_validation(ws, index, train, val, 0.2)
    tail_train = np.intersect1d(train, one_session)
    tail_val = np.intersect1d(val, one_session)
    assert len(tail_train) and len(tail_val)
    assert ws.end_index[tail_train].max() < ws.end_index[tail_val].min() - T + 1 - T


@pytest.mark.parametrize("fraction", [0, 1, -0.2, "0.1"])
def test_validation_split_rejects_bad_fractions(synthetic, fraction):
    with pytest.raises(ValueError, match="fraction"):
        validation_split(synthetic[0], np.arange(100), fraction=fraction)


# ----------------------------------------------------------------------------- labelled pool

def check_labeled(ws, index, labeled, unlabeled, fraction, tolerance):
    assert_sorted_int64(labeled, unlabeled)
    assert_disjoint_cover([labeled, unlabeled], index)
    assert set(ws.labels[labeled]) == set(ws.labels[index])           # every class present
    assert abs(len(labeled) / len(index) - fraction) <= tolerance
    sets = find_sets(ws, index)
    is_labeled = np.isin(index, labeled)
    for s in np.unique(sets):                                         # whole sets only
        assert len(set(is_labeled[sets == s])) == 1


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6])
def test_select_labeled_labels_whole_sets_close_to_the_fraction(synthetic, fraction):
    ws, _ = synthetic
    index = np.flatnonzero(ws.subjects != 3)
    labeled, unlabeled = select_labeled(ws, index, fraction=fraction, seed=0)
    check_labeled(ws, index, labeled, unlabeled, fraction, tolerance=0.06)
    for subject in (1, 2):                                            # drawn per subject
        own = index[ws.subjects[index] == subject]
        assert np.isin(own, labeled).any()


def test_select_labeled_small_fraction_still_has_every_class(synthetic):
    ws, _ = synthetic
    labeled, unlabeled = select_labeled(ws, np.arange(len(ws)), fraction=0.01, seed=5)
    assert set(ws.labels[labeled]) == set(range(4))
    assert len(labeled) < len(ws) / 3


def test_select_labeled_is_deterministic_per_seed_and_varies_with_it(synthetic):
    ws, _ = synthetic
    index = np.arange(len(ws))
    a = select_labeled(ws, index, fraction=0.2, seed=1)[0]
    np.testing.assert_array_equal(a, select_labeled(ws, index, fraction=0.2, seed=1)[0])
    draws = {tuple(select_labeled(ws, index, fraction=0.2, seed=s)[0][:50]) for s in range(6)}
    assert len(draws) > 1


def test_select_labeled_everything_at_fraction_one(synthetic):
    ws, _ = synthetic
    index = np.flatnonzero(ws.subjects == 2)
    labeled, unlabeled = select_labeled(ws, index, fraction=1.0)
    np.testing.assert_array_equal(labeled, index)
    assert len(unlabeled) == 0


def overlapping_share(ws, labeled, unlabeled):
    """Share of (a sample of) unlabelled windows sharing rows with some labelled window."""
    sample = unlabeled[::25]
    return np.mean([windows_overlap(ws, [u], labeled) for u in sample])


def test_select_labeled_random_windows_is_optimistic(synthetic):
    ws, _ = synthetic
    index = np.arange(len(ws))
    labeled, unlabeled = select_labeled(ws, index, fraction=0.05, seed=0, unit="windows")
    assert_disjoint_cover([labeled, unlabeled], index)
    assert set(ws.labels[labeled]) == set(range(4))
    assert abs(len(labeled) / len(index) - 0.05) < 0.005
    # At 20 % nearly every unlabelled window shares rows with a labelled one
    # (1 - 0.8 ** (2 * T - 1) = 96 %); labelling whole sets leaves only the set edges.
    by_window = select_labeled(ws, index, fraction=0.2, seed=0, unit="windows")
    by_set = select_labeled(ws, index, fraction=0.2, seed=0, unit="sets")
    assert overlapping_share(ws, *by_window) > 0.85
    assert overlapping_share(ws, *by_set) < 0.1


@pytest.mark.parametrize("kwargs, message", [
    (dict(fraction=0), "fraction"), (dict(fraction=1.5), "fraction"),
    (dict(fraction=0.1, unit="rows"), "unit"),
])
def test_select_labeled_rejects_bad_options(synthetic, kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_labeled(synthetic[0], np.arange(100), **kwargs)


# ----------------------------------------------------------------------------- real data

FEATURE_COLUMNS = [f"Device: {n}" for n in (
    "xGravity", "yGravity", "zGravity", "xAcceleration", "yAcceleration", "zAcceleration",
    "pitch", "roll", "yaw", "xRotationRate", "yRotationRate", "zRotationRate")]


@pytest.fixture(scope="module")
def real_windows(real_recordings):
    """The real recordings as windows (40 steps, stride 1), cut into gap-free segments."""
    class_id = {"setBreak": 0, **{c: i for i, c in enumerate(CLASSES)}}
    segments = []
    for session, path in enumerate(real_recordings):
        frame = pd.read_csv(path, usecols=FEATURE_COLUMNS + ["exerciseType", "individual"])
        values = frame[FEATURE_COLUMNS].to_numpy(dtype=float)
        labels = frame["exerciseType"].map(class_id).to_numpy()
        complete = ~np.isnan(values).any(axis=1)
        edges = np.flatnonzero(np.diff(np.r_[0, complete.astype(int), 0]))
        for start, stop in zip(edges[::2], edges[1::2]):
            segments.append(Segment(values[start:stop], labels[start:stop],
                                    int(frame["individual"].iloc[0]), session, int(start)))
    return cut_windows(segments, classes=CLASSES, features=FEATURE_COLUMNS, timesteps=40,
                       label_offset=20, session_names=[p.name for p in real_recordings])


def test_real_sets_match_the_published_counts(real_windows):
    ws = real_windows
    sets = find_sets(ws)
    per_subject = {int(s): len(np.unique(sets[ws.subjects == s])) for s in np.unique(ws.subjects)}
    # sets per individual from the data README (Burpee + Situp + Squat sets)
    assert per_subject == {1: 22 + 25 + 21, 2: 17 + 11 + 19, 3: 6 + 3 + 8, 4: 11 + 11 + 7}


def test_real_fold_validation_and_labeled_pool(real_windows):
    ws = real_windows
    folds = list(leave_one_subject_out(ws))
    assert [f[0] for f in folds] == [1, 2, 3, 4]
    subject, train_idx, test_idx = folds[2]
    train, val = validation_split(ws, train_idx, fraction=0.15, seed=0)
    check_validation(ws, train_idx, train, val, 0.15)
    assert subject not in set(ws.subjects[val])
    labeled, unlabeled = select_labeled(ws, train, fraction=0.1, seed=0)
    check_labeled(ws, train, labeled, unlabeled, 0.1, tolerance=0.02)
    other = select_labeled(ws, train, fraction=0.1, seed=1)[0]
    assert not np.array_equal(labeled, other)
    tr, te = temporal_split(ws, index=train_idx)
    assert not windows_overlap(ws, tr, te)
