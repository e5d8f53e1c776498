"""Repetitions as periods of the movement: the signal, not the classifier, says how many.

Inside a set (its exercise and span decided by the classifier), the rows' feature values are
band-passed to the exercise's plausible repetition rates, projected on their principal axis
(the direction in which the set moves most, its sign fixed by the exercise's reference axis),
and one repetition is counted per peak of that projection: peaks at least
``min_distance x`` the shortest plausible period apart and standing out from their
surroundings by ``prominence`` of the projection's 5-95% range.  A classifier flicker inside a
repetition changes neither the span nor the peaks, and two repetitions without a pause between
them are still two periods.

What is learned, on the training people only (:func:`learn_profile`), from their labelled
repetitions (a repetition = a ``firstHalf`` run, see
:mod:`~exermote_sgan.inference.ground_truth`):

- per exercise, the plausible period range: the 2nd to 98th percentile of the time between
  the starts of consecutive repetitions, widened by ``PERIOD_SLACK``;
- per exercise, the reference axis (the principal axis of all its band-passed sets) and
  whether a repetition shows as a peak or a trough along it;
- the prominence, the context around a set the filter sees, and the tolerance by which a peak
  may lie outside the set's span, chosen on a small grid by exact counts on those people;
- per exercise, the edge ratio: peaks less prominent than this share of the set's median
  peak are left out (the smaller movements before, after or between the repetitions that a
  found set's span takes in), chosen by exact counts on the labelled spans and on spans
  running ``SPAN_OVERRUN_S`` past the last repetition; whether the edge and gap ratios are
  used at all is decided by inner leave-one-person-out on the training people
  (:func:`_edge_gain`: ratios chosen on all but one, scored on that one; kept only if they
  gain there);
- per exercise, the gap ratio: only the longest run of peaks whose gaps are at most this
  many times the set's median gap counts (a movement after the set, a pause longer than a
  repetition away, is no repetition of it), chosen with the edge ratio;
- per exercise, the rule (:data:`RULES`): ``trim`` (the edge and gap ratios above) or
  ``chain``, a chain of periods (:func:`_chain`: a first repetition started from rest moves
  less but comes a period before the second), chosen with the ratios on the labelled spans
  and on spans missed as a classifier that never saw these people misses them
  (``span_errors``, measured with inner leave-one-person-out runs:
  :func:`~exermote_sgan.inference.rep_learning.inner_span_errors`; without them, spans
  running ``SPAN_OVERRUN_S`` past the last repetition);
- ``min_set_repetitions``, the fewest periods a found set must show to be a set at all: the
  fewest repetitions of a labelled set (a flicker of the classifier in a set break shows
  fewer).

A :class:`PeriodProfile` is stored as JSON (:meth:`PeriodProfile.save`) in the run directory
(``rep_periods.json``), learned by :func:`~exermote_sgan.inference.rep_learning.learn_run_profile`
(``exermote-sgan learn-reps``) from
labelled recordings of the run's training people only.  The package ships no profile: one
learned from anyone's recordings belongs with the run whose scaler and people it was learned
on.  A run without one counts with the classifier's (hysteresis) count.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import ExermoteInputError


PERIOD_SLACK = 0.2
"""The learned period range is widened by this fraction on both sides."""

GRID = {"prominence": (0.1, 0.15, 0.2, 0.3), "context_s": (1.0, 3.0),
        "tolerance_s": (0.0, 0.5, 1.0), "edge_ratio": (0.0, 0.3, 0.5, 0.7),
        "gap_ratio": (0.0, 1.5, 2.0), "reach_s": (0.5, 1.0)}
"""The settings :func:`learn_profile` chooses from (exact counts on the training people)."""

RULES = ("trim", "chain")
"""How a set's repetitions are picked among its peaks, per exercise (:func:`_trim`,
:func:`_chain`)."""

CHAIN_CORE = 0.5
"""A chain starts from peaks at least this share of the set's median prominence."""

CHAIN_STEP = (0.75, 1.33)
"""A peak joins a chain when it lies this many (median) periods from the chain's end."""


@dataclass(frozen=True)
class ExerciseRhythm:
    """One exercise's plausible period range (seconds), reference axis and peak polarity."""

    period_min_s: float
    period_max_s: float
    axis: tuple[float, ...] | None = None
    polarity: int = 1  # +1: a repetition is a peak along the axis, -1: a trough
    edge_ratio: float = 0.0  # see _trim and _chain
    gap_ratio: float = 0.0  # see _trim; 0: every gap
    rule: str = "trim"  # one of RULES
    reach_s: float = 0.5  # "chain": how far outside the set's span a chained peak may lie


@dataclass(frozen=True)
class PeriodProfile:
    """Everything the period counter learned; see the module docstring."""

    exercises: dict = field(default_factory=dict)  # name -> ExerciseRhythm
    features: tuple[str, ...] | None = None
    prominence: float = 0.15
    context_s: float = 3.0
    tolerance_s: float = 0.0
    min_distance: float = 0.6
    trained_on: tuple[int, ...] = ()
    min_set_repetitions: int = 0  # 0: no set is dropped (a set without periods keeps the
    # classifier's count); n >= 1: a found set with fewer periods is no set
    edge_gain: float | None = None  # inner leave-one-person-out gain of the edge ratios

    def rhythm(self, exercise: str) -> ExerciseRhythm:
        if exercise not in self.exercises:
            raise ExermoteInputError(f"the period profile knows no exercise {exercise!r} (it "
                                     f"knows {', '.join(self.exercises)}); learn a profile "
                                     f"from recordings of it (learn_profile)")
        return self.exercises[exercise]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["exercises"] = {k: asdict(v) for k, v in self.exercises.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict, *, path=None) -> "PeriodProfile":
        try:
            exercises = {str(k): ExerciseRhythm(
                float(v["period_min_s"]), float(v["period_max_s"]),
                None if v.get("axis") is None else tuple(float(a) for a in v["axis"]),
                int(v.get("polarity", 1)), float(v.get("edge_ratio", 0.0)),
                float(v.get("gap_ratio", 0.0)), str(v.get("rule", "trim")),
                float(v.get("reach_s", 0.5)))
                for k, v in dict(data["exercises"]).items()}
            features = data.get("features")
            gain = data.get("edge_gain")
            profile = cls(exercises, None if features is None else tuple(features),
                          float(data.get("prominence", 0.15)),
                          float(data.get("context_s", 3.0)),
                          float(data.get("tolerance_s", 0.0)),
                          float(data.get("min_distance", 0.6)),
                          tuple(int(s) for s in data.get("trained_on", ())),
                          int(data.get("min_set_repetitions", 0)),
                          None if gain is None else float(gain))
        except (KeyError, TypeError, ValueError) as error:
            raise ExermoteInputError(f"is not a period profile ({error}); write one with "
                                     f"PeriodProfile.save", path=path) from None
        if profile.min_set_repetitions < 0:
            raise ExermoteInputError("needs min_set_repetitions >= 0", path=path)
        for name, r in profile.exercises.items():
            if not (0 < r.period_min_s < r.period_max_s < np.inf) or r.polarity not in (1, -1) \
                    or not (0 <= r.gap_ratio < np.inf) or r.rule not in RULES \
                    or not (0 <= r.reach_s < np.inf):
                raise ExermoteInputError(f"exercise {name!r} needs 0 < period_min_s < "
                                         f"period_max_s, polarity +-1, a finite gap_ratio and "
                                         f"reach_s >= 0 and a rule in {', '.join(RULES)}",
                                         path=path)
        return profile

    def save(self, path) -> Path:
        from ..atomic import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> "PeriodProfile":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ExermoteInputError(f"cannot be read as a period profile ({error})",
                                     path=path) from None
        return cls.from_dict(data, path=path)


def run_profile(run_dir) -> PeriodProfile | None:
    """The run's learned profile (``rep_periods.json``), or None when it has none."""
    from ..runs import PERIOD_PROFILE_FILE

    path = Path(run_dir) / PERIOD_PROFILE_FILE
    return PeriodProfile.load(path) if path.is_file() else None


def with_run_profile(run_dir, options: dict | None = None) -> dict | None:
    """Counting ``options`` with the run's learned profile added, unless they name one."""
    if options and "profile" in options:
        return options
    profile = run_profile(run_dir)
    return options if profile is None else {**(options or {}), "profile": profile}


def _band_passed(values: np.ndarray, rate_hz: float, rhythm: ExerciseRhythm) -> np.ndarray:
    """Each column minus its mean, band-passed (zero phase) to the rhythm's rates."""
    from scipy.signal import butter, sosfiltfilt

    x = values - values.mean(axis=0)
    high = min(0.45 * rate_hz, 2.5 / rhythm.period_min_s)
    low = 1.0 / (1.5 * rhythm.period_max_s)
    sos = butter(2, [low, high], btype="band", fs=rate_hz, output="sos")
    return sosfiltfilt(sos, x, axis=0, padlen=min(len(x) - 1, int(3 * rate_hz)))


def _projection(values, rate_hz, rhythm) -> np.ndarray:
    """The band-passed rows along their principal axis, signed by the reference axis and
    polarity, scaled to a 5-95% range of 1."""
    y = _band_passed(values, rate_hz, rhythm)
    _, _, vt = np.linalg.svd(y, full_matrices=False)
    axis = vt[0]
    if rhythm.axis is not None and len(rhythm.axis) == len(axis) \
            and axis @ np.asarray(rhythm.axis) < 0:
        axis = -axis
    pc = y @ axis * rhythm.polarity
    spread = np.percentile(pc, 95) - np.percentile(pc, 5)
    return pc / spread if spread > 0 else pc


def count_periods(values, times, start: float, end: float, exercise: str,
                  profile: PeriodProfile, *, rate_hz: float = 10.0,
                  until: float | None = None) -> np.ndarray:
    """The times of the repetitions (peaks, see the module docstring) of the set of
    ``exercise`` spanning ``start``-``end`` seconds.

    ``values`` ``(n, features)`` and ``times`` are rows around the set (rows within
    ``profile.context_s`` of it are used; non-finite rows are left out).  ``until``: only
    peaks at least half the shortest period before this time count (online, a peak is known
    once the movement has turned).
    """
    rhythm = profile.rhythm(exercise)
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    stop = end if until is None else min(end, until)
    use = ((times >= start - profile.context_s) & (times <= stop + profile.context_s)
           & np.all(np.isfinite(values), axis=1))
    x, t = values[use], times[use]
    shortest = max(1, int(profile.min_distance * rhythm.period_min_s * rate_hz))
    if len(x) < max(8, 2 * shortest):
        return np.zeros(0)
    from scipy.signal import find_peaks

    pc = _projection(x, rate_hz, rhythm)
    peaks, found = find_peaks(pc, distance=shortest, prominence=profile.prominence)
    at = t[peaks]
    margin = rhythm.reach_s if rhythm.rule == "chain" else profile.tolerance_s
    keep = (at >= start - margin) & (at <= end + margin)
    if until is not None:
        keep &= at <= until - 0.5 * rhythm.period_min_s
    if rhythm.rule == "chain":
        return _chain(at[keep], found["prominences"][keep], rhythm)
    return _trim(at[keep], found["prominences"][keep], rhythm.edge_ratio, rhythm.gap_ratio)


def _trim(at: np.ndarray, prominence: np.ndarray, ratio: float, gap_ratio: float) -> np.ndarray:
    """The peaks that are repetitions of the set: without those whose prominence is below
    ``ratio`` x the median (the smaller movements before, after or between the repetitions
    that a found set's span takes in), then, with ``gap_ratio``, only the longest run of peaks
    whose gaps are at most ``gap_ratio`` x their median gap (a movement after the set, a pause
    away from its last repetition, is not one of them; the earliest run on a tie)."""
    if ratio > 0 and len(at):
        at = at[prominence >= ratio * np.median(prominence)]
    if gap_ratio <= 0 or len(at) < 3:
        return at
    gaps = np.diff(at)
    cuts = np.flatnonzero(gaps > gap_ratio * np.median(gaps)) + 1
    runs = np.split(np.arange(len(at)), cuts)
    return at[max(runs, key=len)]


def _chain(at: np.ndarray, prominence: np.ndarray, rhythm: ExerciseRhythm) -> np.ndarray:
    """The peaks that are repetitions of the set, as one chain of periods: the longest run of
    strong peaks (:data:`CHAIN_CORE`) a plausible period apart, extended on either side by
    every further peak one period (their median gap x :data:`CHAIN_STEP`) from the chain's
    end and at least ``edge_ratio`` x the run's median prominence.  The first repetition,
    started from rest, moves less than the others but comes a period before the second;
    a movement after the set (standing up) is rarely a period away from the last one."""
    if len(at) == 0:
        return at
    core = np.flatnonzero(prominence >= CHAIN_CORE * np.median(prominence))
    best = run = [int(core[0])]
    for a, b in zip(core[:-1], core[1:]):
        in_period = rhythm.period_min_s <= at[b] - at[a] <= rhythm.period_max_s
        run = run + [int(b)] if in_period else [int(b)]
        if len(run) > len(best):
            best = run
    if len(best) < 2:
        return at[best]
    period = float(np.median(np.diff(at[best])))
    floor = rhythm.edge_ratio * float(np.median(prominence[best]))
    low, high = CHAIN_STEP
    chain = list(best)
    for step in (-1, 1):
        k = chain[0 if step < 0 else -1] + step
        while 0 <= k < len(at):
            gap = abs(at[k] - at[chain[0 if step < 0 else -1]])
            if gap > high * period:
                break
            if gap >= low * period and prominence[k] >= floor:
                chain.insert(0 if step < 0 else len(chain), k)
            k += step
    return at[chain]


@dataclass(frozen=True)
class LabelledSet:
    """A labelled set with the (scaled) rows around it, for :func:`learn_profile`."""

    subject: int
    exercise: str
    repetitions: int
    start: float
    end: float
    repetition_starts: tuple[float, ...]
    values: np.ndarray
    times: np.ndarray


def _rhythms(sets, rate_hz: float, context_s: float) -> dict:
    """Period range, reference axis and (provisional +1) polarity per exercise."""
    out = {}
    for exercise in sorted({s.exercise for s in sets}):
        mine = [s for s in sets if s.exercise == exercise]
        gaps = np.concatenate([np.diff(s.repetition_starts) for s in mine] + [np.zeros(0)])
        if len(gaps) < 2:
            raise ExermoteInputError(f"too few labelled {exercise} repetitions to learn its "
                                     f"period ({len(gaps)} periods); give more sets of it")
        low, high = np.percentile(gaps, [2, 98])
        rhythm = ExerciseRhythm(float(low * (1 - PERIOD_SLACK)), float(high * (1 + PERIOD_SLACK)))
        cov = 0.0
        for s in mine:
            near = (s.times >= s.start - context_s) & (s.times <= s.end + context_s)
            x = s.values[near]
            x = x[np.all(np.isfinite(x), axis=1)]
            if len(x) > 8:
                y = _band_passed(x, rate_hz, rhythm)
                cov = cov + y.T @ y / len(y)
        axis = np.linalg.eigh(cov)[1][:, -1]
        out[exercise] = replace(rhythm, axis=tuple(float(a) for a in axis))
    return out


SPAN_OVERRUN_S = 5.0
"""How far past its last repetition a found set may run into the rest (seconds): the edge
ratio is chosen on the labelled spans and on these longer ones."""


def _exact(sets, profile, rate_hz, shifts=((0.0, 0.0),)) -> float:
    """The share of ``sets`` counted exactly, the ``i``-th on its labelled span moved by
    ``shifts[i % len(shifts)]`` (seconds added to its start and end)."""
    hits = [len(count_periods(s.values, s.times, s.start + shifts[i % len(shifts)][0],
                              s.end + shifts[i % len(shifts)][1], s.exercise, profile,
                              rate_hz=rate_hz)) == s.repetitions for i, s in enumerate(sets)]
    return float(np.mean(hits))


def _shifts(span_errors, exercise: str) -> tuple:
    """How a found set of ``exercise`` misses its labelled span: the ``span_errors`` measured
    for it, else a span running :data:`SPAN_OVERRUN_S` past the last repetition."""
    found = (span_errors or {}).get(exercise)
    return tuple(found) if found else ((0.0, SPAN_OVERRUN_S),)


def learn_profile(sets, *, rate_hz: float = 10.0, features=None,
                  span_errors: dict | None = None) -> PeriodProfile:
    """A :class:`PeriodProfile` learned from labelled sets (:class:`LabelledSet`) of the
    training people: period ranges and axes, then polarity per exercise and the settings in
    :data:`GRID`, each chosen by the share of those sets counted exactly; each exercise's
    rule (:data:`RULES`) with its edge and gap ratios where inner leave-one-person-out says
    they help; ``min_set_repetitions``, the fewest repetitions of one of those sets.

    ``span_errors`` (exercise -> ``(start, end)`` seconds, found minus labelled; see
    :func:`span_errors`): how a classifier that never saw these people misses their sets'
    spans; the rules are chosen on spans missed that way as well as on the labelled ones.
    None: a span running :data:`SPAN_OVERRUN_S` past the last repetition."""
    sets = list(sets)
    if not sets:
        raise ExermoteInputError("no labelled sets to learn repetition periods from")
    subjects = tuple(sorted({int(s.subject) for s in sets}))
    best, best_score = None, -1.0
    for context in GRID["context_s"]:
        rhythms = _rhythms(sets, rate_hz, context)
        for prominence, tolerance in itertools.product(GRID["prominence"],
                                                       GRID["tolerance_s"]):
            profile = _with_polarities(sets, PeriodProfile(
                dict(rhythms), None if features is None else tuple(features), prominence,
                context, tolerance, trained_on=subjects), rate_hz)
            score = _exact(sets, profile, rate_hz)
            if score > best_score:
                best, best_score = profile, score
    gain = _edge_gain(sets, best, rate_hz, span_errors)
    if gain is not None and gain > 0:
        best = _edge_ratios(sets, best, rate_hz, span_errors)
    return replace(best, edge_gain=gain,
                   min_set_repetitions=int(max(1, min(s.repetitions for s in sets))))


def _with_polarities(sets, profile: PeriodProfile, rate_hz: float) -> PeriodProfile:
    """``profile`` with each exercise's polarity chosen on that exercise's ``sets``."""
    for exercise in profile.exercises:
        mine = [s for s in sets if s.exercise == exercise]
        options = [replace(profile, exercises={**profile.exercises, exercise: replace(
            profile.exercises[exercise], polarity=p)}) for p in (1, -1)]
        profile = max(options, key=lambda p: _exact(mine, p, rate_hz))
    return profile


def _edge_ratios(sets, profile: PeriodProfile, rate_hz: float,
                 span_errors=None) -> PeriodProfile:
    """``profile`` with each exercise's rule (:data:`RULES`), with its edge and gap ratios or
    its reach (:data:`GRID`), chosen by exact counts on that exercise's ``sets``, on their
    labelled spans and on spans missed as a found set's are (:func:`_shifts`)."""
    for exercise in profile.exercises:
        mine = [s for s in sets if s.exercise == exercise]
        if not mine:
            continue
        shifts = _shifts(span_errors, exercise)
        rhythm = profile.exercises[exercise]
        choices = [replace(rhythm, rule="trim", edge_ratio=r, gap_ratio=g)
                   for r, g in itertools.product(GRID["edge_ratio"], GRID["gap_ratio"])]
        choices += [replace(rhythm, rule="chain", edge_ratio=r, gap_ratio=0.0, reach_s=reach)
                    for r, reach in itertools.product(GRID["edge_ratio"], GRID["reach_s"])]
        options = [replace(profile, exercises={**profile.exercises, exercise: c})
                   for c in choices]
        profile = max(options, key=lambda p: (_exact(mine, p, rate_hz) + _exact(
            mine, p, rate_hz, shifts)) / 2)
    return profile


def _edge_gain(sets, profile: PeriodProfile, rate_hz: float,
               span_errors=None) -> float | None:
    """Inner leave-one-person-out over the training people: for each, the period ranges,
    axes and rules are learned on the others (the rest of ``profile`` kept) and its sets are
    counted on their labelled and missed spans (:func:`_shifts`) with and without those
    rules; the share counted exactly with them minus without (pooled over the people).
    None: one person only, nothing to hold out."""
    people = sorted({int(s.subject) for s in sets})
    if len(people) < 2:
        return None
    hits, counted = np.zeros(2), 0
    for person in people:
        rest = [s for s in sets if s.subject != person]
        known = {s.exercise for s in rest}
        held = [s for s in sets if s.subject == person and s.exercise in known]
        try:
            rhythms = _rhythms(rest, rate_hz, profile.context_s)
        except ExermoteInputError:
            continue  # too few repetitions of an exercise without this person
        if not held:
            continue
        plain = replace(profile, exercises={k: replace(
            r, polarity=profile.exercises[k].polarity) for k, r in rhythms.items()})
        edged = _edge_ratios(rest, plain, rate_hz, span_errors)
        for k, p in enumerate((plain, edged)):
            for exercise in sorted({s.exercise for s in held}):
                mine = [s for s in held if s.exercise == exercise]
                hits[k] += len(mine) * (_exact(mine, p, rate_hz) + _exact(
                    mine, p, rate_hz, _shifts(span_errors, exercise)))
        counted += 2 * len(held)
    return float((hits[1] - hits[0]) / counted) if counted else None


def labelled_sets(recordings, *, scale=None, offset=None) -> list[LabelledSet]:
    """The labelled sets of Exermote recordings with their rows (``values * scale + offset``
    when given: the space a run's counter sees), for :func:`learn_profile`."""
    from .ground_truth import true_sets

    out = []
    for recording in recordings:
        values = np.asarray(recording.values, dtype=np.float64)
        if scale is not None:
            values = values * np.asarray(scale) + np.asarray(offset)
        for s in true_sets(recording):
            out.append(LabelledSet(int(recording.subject), s.exercise, s.repetitions, s.start,
                                   s.end, s.repetition_starts, values, recording.timestamps))
    return out
