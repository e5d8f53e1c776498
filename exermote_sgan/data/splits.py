"""Honest ways to split a :class:`~exermote_sgan.data.windows_file.WindowSet`.

With a stride of one row, neighbouring windows share all but one row, so a random split of
windows puts near-copies of every test window into training and measures memorisation.  Every
split here keeps overlapping windows on the same side:

- :func:`subject_split` / :func:`leave_one_subject_out`: test on people the model never saw;
- :func:`temporal_split`: the end of every recording is test, separated from training by a gap;
- :func:`validation_split`: a model-selection set held out of the *training* windows only;
- :func:`select_labeled`: the labelled pool of semi-supervised training, as whole exercise sets
  (see :func:`find_sets`) the way a person labelling a few sets would produce it.

All of them return sorted int64 arrays of indices into the window set.  Windows are located by
``(session, end_index)``: a window covers session rows ``end_index - timesteps + 1 .. end_index``,
so two windows overlap when they come from the same session and their ends are fewer than
``timesteps`` rows apart.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Iterator

import numpy as np

from ..errors import ExermoteInputError
from .windows_file import WindowSet


# --------------------------------------------------------------------------- helpers

def _as_index(ws: WindowSet, index, *, name: str = "index") -> np.ndarray:
    """``index`` as int64 positions into ``ws`` (``None`` = all windows), checked, order kept."""
    if index is None:
        return np.arange(len(ws), dtype=np.int64)
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (len(ws),):
            raise ValueError(f"{name}: boolean mask has shape {index.shape}, expected "
                             f"({len(ws)},) for this window set")
        return np.flatnonzero(index).astype(np.int64)
    if index.size == 0:
        return np.empty(0, dtype=np.int64)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer window positions, got "
                         f"{index.dtype} of shape {index.shape}")
    if index.min() < 0 or index.max() >= len(ws):
        raise ValueError(f"{name} holds positions from {index.min()} to {index.max()}, but the "
                         f"window set has {len(ws)} windows")
    if len(np.unique(index)) != len(index):
        raise ValueError(f"{name} holds repeated window positions")
    return index.astype(np.int64, copy=False)


def _check_fraction(name: str, value, *, allow_one: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    upper_ok = value <= 1 if allow_one else value < 1
    if not (value > 0 and upper_ok):
        bound = "0 < {0} <= 1" if allow_one else "0 < {0} < 1"
        raise ValueError(f"{name} must satisfy {bound.format(name)}, got {value!r}")
    return float(value)


def _sorted(a) -> np.ndarray:
    return np.sort(np.asarray(a, dtype=np.int64))


def windows_overlap(ws: WindowSet, a, b) -> bool:
    """Whether any window of index ``a`` shares a session row with any window of index ``b``."""
    a, b = _as_index(ws, a, name="a"), _as_index(ws, b, name="b")
    if len(a) == 0 or len(b) == 0:
        return False
    far = int(max(ws.end_index[a].max(), ws.end_index[b].max())) + ws.timesteps + 1
    key_a = ws.sessions[a] * far + ws.end_index[a]
    key_b = np.sort(ws.sessions[b] * far + ws.end_index[b])
    pos = np.searchsorted(key_b, key_a)
    for p in (pos - 1, pos):                    # the nearest window of b on either side
        ok = (p >= 0) & (p < len(key_b))
        near = key_b[np.clip(p, 0, len(key_b) - 1)]
        if np.any(ok & (np.abs(near - key_a) < ws.timesteps)):
            return True
    return False


# --------------------------------------------------------------------------- subjects

def subject_split(ws: WindowSet, test_subjects) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)``: windows of ``test_subjects`` (an id or ids) versus the rest."""
    available = np.unique(ws.subjects)
    if isinstance(test_subjects, Integral):
        test_subjects = [test_subjects]
    try:
        wanted = np.unique(np.asarray(list(test_subjects), dtype=np.int64))
    except (TypeError, ValueError):
        raise ExermoteInputError(f"test subjects must be subject ids (integers), got "
                                 f"{test_subjects!r}") from None
    names = ", ".join(str(s) for s in available)
    if wanted.size == 0:
        raise ExermoteInputError(f"no test subject given; available subjects: {names}")
    unknown = np.setdiff1d(wanted, available)
    if unknown.size:
        raise ExermoteInputError(
            f"unknown test subject(s) {', '.join(str(s) for s in unknown)}; "
            f"available subjects: {names}")
    if np.array_equal(wanted, available):
        raise ExermoteInputError(f"all subjects ({names}) are test subjects; none is left "
                                 f"to train on")
    is_test = np.isin(ws.subjects, wanted)
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)


def leave_one_subject_out(ws: WindowSet) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(subject, train_idx, test_idx)`` for every subject in turn, in increasing subject order."""
    from sklearn.model_selection import LeaveOneGroupOut

    subjects = np.unique(ws.subjects)
    if len(subjects) < 2:
        raise ExermoteInputError(f"leave-one-subject-out needs at least 2 subjects, the window "
                                 f"set has {len(subjects)} ({', '.join(map(str, subjects))})")
    splitter = LeaveOneGroupOut()
    for train, test in splitter.split(np.zeros((len(ws), 1)), groups=ws.subjects):
        yield int(ws.subjects[test[0]]), _sorted(train), _sorted(test)


# --------------------------------------------------------------------------- time

def _temporal_cut(ws: WindowSet, idx: np.ndarray, test_fraction: float,
                  gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per session of ``idx``: windows wholly in the last ``test_fraction`` of its rows vs. windows
    ending at least ``gap`` rows before that tail starts."""
    if len(idx) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    sessions, inverse = np.unique(ws.sessions[idx], return_inverse=True)
    end = ws.end_index[idx]
    start = end - ws.timesteps + 1
    first = np.full(len(sessions), np.iinfo(np.int64).max)
    last = np.full(len(sessions), np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, start)
    np.maximum.at(last, inverse, end)
    n_rows = last - first + 1
    n_test = np.maximum(1, np.round(test_fraction * n_rows)).astype(np.int64)
    cut = (last + 1 - n_test)[inverse]          # first test row of the window's session
    is_test = start >= cut
    is_train = end <= cut - gap - 1             # >= gap rows strictly between train and test
    return _sorted(idx[is_train]), _sorted(idx[is_test])


def temporal_split(ws: WindowSet, *, test_fraction: float = 0.2, gap: int | None = None,
                   index=None) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)``: within every session, its last ``test_fraction`` of rows is test.

    The session's rows are those covered by its windows in ``index`` (default: all windows).
    Test windows lie wholly inside the tail; train windows end at least ``gap`` rows (default
    ``ws.timesteps``) before the tail begins, so no train and test window share a row and a
    model cannot bridge the cut with its receptive field.  Windows straddling the cut or inside
    the gap are in neither.
    """
    test_fraction = _check_fraction("test_fraction", test_fraction, allow_one=False)
    gap = ws.timesteps if gap is None else gap
    if isinstance(gap, bool) or not isinstance(gap, Integral) or gap < 0:
        raise ValueError(f"gap must be an integer number of rows >= 0, got {gap!r}")
    return _temporal_cut(ws, _as_index(ws, index), test_fraction, int(gap))


# --------------------------------------------------------------------------- validation

def validation_split(ws: WindowSet, index, *, fraction: float = 0.15,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)`` for model selection, held out of the training windows ``index``.

    Method (chosen from the real recordings): **whole held-out sessions**.  A 5-minute Exermote
    session holds 4-7 sets of 1-3 different exercises and starts (and often ends) with 15-25 s
    of set break, so the tail of a session — the alternative — is one set plus a long break,
    biased towards the last exercise and towards Break, and costs a gap of ``timesteps`` rows per
    session.  Whole sessions need no gap (windows of different sessions never overlap), give a
    representative mix of classes, and validate on a *different recording* of a known person,
    which is closer to the cross-subject question than a later minute of the same recording.

    The draw (deterministic per ``seed``): every subject with at least two sessions in ``index``
    gives one session, chosen to add classes not yet in validation; then sessions of the
    subject with the smallest held-out share are added while that brings the validation size
    closer to ``fraction`` of ``index``; then, if a class present in ``index`` is still absent
    from validation, a session containing it is added.  A session is never taken if it would
    leave its subject without training data or remove a class from training.  A subject with a
    single session in ``index`` is represented by the tail ``fraction`` of that session instead,
    with a gap of ``ws.timesteps`` rows to its training windows (the windows in between are
    dropped).  Validation therefore holds at least one session per subject and may exceed
    ``fraction`` when sessions are few.
    """
    fraction = _check_fraction("fraction", fraction, allow_one=False)
    idx = _sorted(_as_index(ws, index))
    if len(idx) == 0:
        raise ExermoteInputError("validation_split: the training index is empty")
    rng = np.random.default_rng(seed)
    draw = _SessionDraw(ws, idx, rng)
    multi = [s for s in draw.subjects if np.count_nonzero(draw.subject == s) >= 2]
    for subject in rng.permutation(multi):      # one session per subject
        cands = draw.candidates(subject)
        if cands:
            draw.take(draw.best(cands))
    draw.grow(fraction * len(idx))               # towards the target fraction
    draw.cover_classes()                         # every class present if possible
    in_val_session = draw.chosen[draw.inverse]
    train = [idx[~in_val_session]]
    val = [idx[in_val_session]]
    single = [s for s in draw.subjects if s not in multi]
    if single:  # a subject with one session: the tail of that session validates
        mask = np.isin(ws.subjects[idx], single)
        train = [idx[~in_val_session & ~mask]]
        tail_train, tail_val = _temporal_cut(ws, idx[mask], fraction, ws.timesteps)
        train.append(tail_train)
        val.append(tail_val)
    return _sorted(np.concatenate(train)), _sorted(np.concatenate(val))


class _SessionDraw:
    """The sessions of the training windows ``idx`` and those drawn so far for validation:
    the state that :func:`validation_split`'s three passes share."""

    def __init__(self, ws: WindowSet, idx: np.ndarray, rng):
        """Each session's size, class counts and subject; a random rank breaks ties."""
        session_ids, self.inverse = np.unique(ws.sessions[idx], return_inverse=True)
        n_sessions = len(session_ids)
        self.size = np.bincount(self.inverse, minlength=n_sessions)
        self.class_counts = np.zeros((n_sessions, ws.num_classes), dtype=np.int64)
        np.add.at(self.class_counts, (self.inverse, ws.labels[idx]), 1)
        self.subject = np.empty(n_sessions, dtype=np.int64)
        self.subject[self.inverse] = ws.subjects[idx]
        self.subjects = np.unique(self.subject)
        self.subject_total = {s: int(self.size[self.subject == s].sum())
                              for s in self.subjects}
        order = rng.permutation(n_sessions)          # random tie-break among sessions
        self.rank = np.empty(n_sessions, dtype=np.int64)
        self.rank[order] = np.arange(n_sessions)
        self.chosen = np.zeros(n_sessions, dtype=bool)
        self.train_counts = self.class_counts.sum(axis=0)

    def candidates(self, subject=None) -> list:
        """Sessions that may still be drawn (of ``subject``): their subject keeps a training
        session and training keeps every class."""
        ok = ~self.chosen
        if subject is not None:
            ok &= self.subject == subject
        out = []
        for s in np.flatnonzero(ok):
            left = np.count_nonzero(~self.chosen & (self.subject == self.subject[s]))
            keeps_classes = np.all((self.train_counts - self.class_counts[s] > 0)
                                   | (self.train_counts == 0))
            if left >= 2 and keeps_classes:
                out.append(s)
        return out

    def best(self, cands):
        """The candidate adding most classes not yet in validation (random among equals)."""
        covered = self.class_counts[self.chosen].sum(axis=0) > 0
        return min(cands, key=lambda s: (
            -np.count_nonzero((self.class_counts[s] > 0) & ~covered), self.rank[s]))

    def take(self, s) -> None:
        """Hold session ``s`` out for validation."""
        self.chosen[s] = True
        self.train_counts = self.train_counts - self.class_counts[s]

    def grow(self, target: float) -> None:
        """Add sessions of the subject with the smallest held-out share while that brings
        the validation size closer to ``target`` windows."""
        while True:
            held = int(self.size[self.chosen].sum())
            if held >= target:
                break
            cands = self.candidates()
            if not cands:
                break
            share = {s: self.size[self.chosen & (self.subject == s)].sum()
                     / self.subject_total[s]
                     for s in {int(self.subject[c]) for c in cands}}
            subject = min(share, key=lambda s: (share[s], s))
            s = self.best([c for c in cands if self.subject[c] == subject])
            if held + self.size[s] - target > target - held:
                break
            self.take(s)

    def cover_classes(self) -> None:
        """For each class still absent from validation, add a session containing it."""
        for c in range(self.class_counts.shape[1]):
            if self.class_counts[:, c].sum() and not self.class_counts[self.chosen, c].sum():
                cands = [s for s in self.candidates() if self.class_counts[s, c] > 0]
                if cands:
                    self.take(min(cands, key=lambda s: self.rank[s]))


# --------------------------------------------------------------------------- sets

#: ``break_class`` default of :func:`find_sets` and :func:`select_labeled`: the windows file's
#: rest class (``WindowSet.rest_class``; None when it has none)
FROM_FILE = "from-file"


def _rest_index(ws: WindowSet, break_class) -> int:
    """Class id of the rest class (``-1``: none); ``break_class`` may be FROM_FILE or None."""
    if break_class == FROM_FILE:
        break_class = ws.rest_class
    if break_class is None or break_class == "":
        return -1
    if break_class not in ws.classes:
        raise ExermoteInputError(f"break (rest) class {break_class!r} is not one of the classes "
                                 f"{', '.join(ws.classes)}; name one of them, or none")
    return ws.classes.index(break_class)


def _check_label_ids(ws: WindowSet) -> None:
    bad = np.flatnonzero((ws.labels < 0) | (ws.labels >= ws.num_classes))
    if len(bad):
        raise ExermoteInputError(
            f"window {int(bad[0])} has label {int(ws.labels[bad[0]])}, beyond the "
            f"{ws.num_classes} classes ({', '.join(ws.classes)}); re-create the windows file "
            f"with 'exermote-sgan preprocess' (--classes names every label)", column="labels")


def find_sets(ws: WindowSet, index=None, *, break_class: str | None = FROM_FILE,
              min_set_break_s: float = 10.0) -> np.ndarray:
    """Exercise-set id of every window of ``index`` (default: all windows), in ``index`` order.

    A *set* is a run of one exercise between two long breaks: within a session (windows ordered
    by ``end_index``), consecutive exercise windows belong to the same set unless the class
    changes or at least ``min_set_break_s`` seconds of rows (break or missing windows) lie
    between them.  Short breaks between repetitions stay inside their set.  Break windows
    outside sets are given to the nearest set of their session (a long break is split at its
    middle; ties go to the earlier set), so sets own their surrounding breaks.  A session
    without exercise windows forms one set.  Ids are consecutive from 0 in order of
    (session, end_index).

    ``break_class`` is the rest class (default: the windows file's); with none (None), every
    class is an exercise, so a set is a run of one label, or a whole recording of one.
    """
    idx = _as_index(ws, index)
    _check_label_ids(ws)
    brk = _rest_index(ws, break_class)
    if isinstance(min_set_break_s, bool) or not isinstance(min_set_break_s, Real) \
            or min_set_break_s <= 0:
        raise ValueError(f"min_set_break_s must be a number of seconds > 0, got "
                         f"{min_set_break_s!r}")
    if len(idx) == 0:
        return np.empty(0, dtype=np.int64)
    min_rows = float(min_set_break_s) * float(ws.sample_rate_hz)

    order = np.lexsort((ws.end_index[idx], ws.sessions[idx]))
    sess = ws.sessions[idx][order]
    end = ws.end_index[idx][order]
    lab = ws.labels[idx][order]
    # One key per window ordering windows by session, then row.
    key = (sess - sess.min()) * (int(end.max() - end.min()) + 1) + (end - end.min())

    ex = np.flatnonzero(lab != brk)
    ids = np.full(len(order), -1, dtype=np.int64)
    n_ex_sets = 0
    if len(ex):
        new = np.ones(len(ex), dtype=bool)
        new[1:] = ((sess[ex][1:] != sess[ex][:-1]) | (lab[ex][1:] != lab[ex][:-1])
                   | (end[ex][1:] - end[ex][:-1] - 1 >= min_rows))
        set_of_ex = np.cumsum(new) - 1
        ids[ex] = set_of_ex
        n_ex_sets = int(set_of_ex[-1]) + 1
        first_key = key[ex][new]
        last_key = key[ex][np.r_[new[1:], True]]
        set_sess = sess[ex][new]

        br = np.flatnonzero(lab == brk)
        q = key[br]
        before = np.searchsorted(first_key, q, side="right") - 1
        after = before + 1
        valid_b = (before >= 0) & (set_sess[np.clip(before, 0, None)] == sess[br])
        valid_a = (after < n_ex_sets) & (set_sess[np.clip(after, None, n_ex_sets - 1)] == sess[br])
        dist_b = np.where(valid_b, q - last_key[np.clip(before, 0, None)], np.inf)
        dist_a = np.where(valid_a, first_key[np.clip(after, None, n_ex_sets - 1)] - q, np.inf)
        pick = np.where(dist_b <= dist_a, before, after)
        has_set = valid_b | valid_a
        ids[br[has_set]] = pick[has_set]

    lonely = ids < 0                              # sessions without exercise windows
    if lonely.any():
        _, session_rank = np.unique(sess[lonely], return_inverse=True)
        ids[lonely] = n_ex_sets + session_rank
    # Renumber in (session, end_index) order and return in the caller's order.
    _, first_seen = np.unique(ids, return_index=True)
    renumber = np.empty(ids.max() + 1, dtype=np.int64)
    renumber[ids[np.sort(first_seen)]] = np.arange(len(first_seen))
    result = np.empty(len(order), dtype=np.int64)
    result[order] = renumber[ids]
    return result


def select_labeled(ws: WindowSet, index, *, fraction: float, seed: int = 0,
                   unit: str = "sets", break_class: str | None = FROM_FILE,
                   min_set_break_s: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """``(labeled_idx, unlabeled_idx)``: the labelled pool of semi-supervised training.

    ``unit="sets"`` (default, realistic): whole exercise sets with their surrounding breaks (see
    :func:`find_sets`) are labelled, as a person labelling a few sets would.  Each subject
    labels about ``fraction`` of its own windows, picking a random set of the exercise it has
    labelled least so far (relative to what it has), and stops when one more set would move it
    further from its target than stopping; then, if a class of ``index`` (Break included) is
    still missing from the labelled pool, a random set containing it is added.  Because whole
    sets are the unit, the labelled fraction is reached only to within about one set per subject.

    ``unit="windows"``: ``fraction`` of each class's windows drawn at random.  This is
    OPTIMISTIC: with stride 1 neighbouring windows share all but one row, so 5 % of random
    windows overlaps almost every other window and trains like nearly 100 % of the labels.  Use
    it only to reproduce that effect.

    ``break_class`` and ``min_set_break_s`` are passed to :func:`find_sets`.
    ``fraction=1`` labels everything (empty unlabelled pool).  Draws are deterministic per
    ``seed``; different seeds give different draws.
    """
    fraction = _check_fraction("fraction", fraction, allow_one=True)
    _check_label_ids(ws)
    if unit not in ("sets", "windows"):
        raise ValueError(f"unit must be 'sets' or 'windows', got {unit!r}")
    idx = _sorted(_as_index(ws, index))
    if fraction == 1.0 or len(idx) == 0:
        return idx, np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    labels = ws.labels[idx]
    if unit == "windows":
        picked = []
        for c in np.unique(labels):
            members = idx[labels == c]
            n = max(1, int(round(fraction * len(members))))
            picked.append(rng.choice(members, size=n, replace=False))
        labeled = _sorted(np.concatenate(picked))
        return labeled, _sorted(np.setdiff1d(idx, labeled))

    set_ids = find_sets(ws, idx, break_class=break_class, min_set_break_s=min_set_break_s)
    size, counts, main_class = _set_table(ws, set_ids, labels, break_class)
    set_subject = np.empty(len(size), dtype=np.int64)
    set_subject[set_ids] = ws.subjects[idx]
    chosen = np.zeros(len(size), dtype=bool)
    for subject in np.unique(set_subject):
        _label_sets_of(chosen, np.flatnonzero(set_subject == subject), size, main_class,
                       fraction, rng)
    for c in rng.permutation(ws.num_classes):      # every class present
        if counts[:, c].sum() and not counts[chosen, c].sum():
            cands = np.flatnonzero(~chosen & (counts[:, c] > 0))
            mains = cands[main_class[cands] == c]
            chosen[rng.choice(mains if len(mains) else cands)] = True
    is_labeled = chosen[set_ids]
    return _sorted(idx[is_labeled]), _sorted(idx[~is_labeled])


def _set_table(ws: WindowSet, set_ids: np.ndarray, labels: np.ndarray, break_class):
    """``(size, class counts, main class)`` of each set: its windows, its windows per class,
    and its most frequent exercise (the break class for a set of breaks only)."""
    n_sets = int(set_ids.max()) + 1
    size = np.bincount(set_ids, minlength=n_sets)
    counts = np.zeros((n_sets, ws.num_classes), dtype=np.int64)
    np.add.at(counts, (set_ids, labels), 1)
    brk = _rest_index(ws, break_class)
    exercise_counts = counts.copy()
    if brk >= 0:
        exercise_counts[:, brk] = 0
    main_class = np.where(exercise_counts.sum(axis=1) > 0, exercise_counts.argmax(axis=1),
                          max(brk, 0))
    return size, counts, main_class


def _label_sets_of(chosen: np.ndarray, own: np.ndarray, size, main_class, fraction: float,
                   rng) -> None:
    """Mark in ``chosen`` one subject's labeled sets (``own``): a random set of the exercise
    labeled least so far, until one more would move it further from ``fraction``."""
    target = fraction * size[own].sum()
    queues = {int(c): list(rng.permutation(own[main_class[own] == c]))
              for c in np.unique(main_class[own])}
    available = {c: size[q].sum() for c, q in queues.items()}
    got = {c: 0 for c in queues}
    tie = {c: r for r, c in enumerate(rng.permutation(list(queues)))}
    held = 0
    while held < target:
        open_classes = [c for c in queues if queues[c]]
        if not open_classes:
            break
        c = min(open_classes, key=lambda c: (got[c] / available[c], tie[c]))
        s = queues[c][0]
        if held + size[s] - target > target - held:
            break
        queues[c].pop(0)
        chosen[s] = True
        got[c] += size[s]
        held += size[s]
