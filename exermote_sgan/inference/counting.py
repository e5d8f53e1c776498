"""Repetition and set counting from a stream of per-step class scores.

A counter is fed one prediction at a time (its time and the classifier's class
probabilities) and returns the events that prediction completes.  Every counter emits, per
set, exactly this sequence::

    exercise_started, repetition (x n), exercise_ended, set_finished

``exercise_started`` carries the set's start, each ``repetition`` its running count within
the set, ``exercise_ended`` the end of the set's last repetition, and ``set_finished`` the
final exercise, count and span, at the time the counter decided that the set is over.
Times are whatever the caller passes with each step; the streaming recogniser passes the
time a prediction *describes* (see :mod:`exermote_sgan.inference.streaming`).

Four methods:

``app``
    The rule of the Exermote iOS app (``PredictionManager.swift``): a change of the
    predicted class to an exercise that is then predicted unchanged for N more steps counts
    one repetition (N = 15 Burpee, 10 Situp, 5 Squat); a change to Break held for 2 more
    steps re-arms the set-break timer, and ``PREDICTION_MANAGER_STEPS_UNTIL_SET_BREAK``
    further Break steps end the set.  The app's current ``Utilities/Constants.swift`` (commit
    e097cfd, 2017-09-05) sets that to ``10000*10`` = 100000 steps (10000 s): in practice a set
    ends only when a repetition of another exercise resets the app's display, which also ends
    it here.
``app-20s``
    The same rule with the app's first value, ``20*10`` = 200 Break steps (20 s), as in its
    ``Constants.swift`` from commit e92fcbc (2017-06-09) until 6d3fcdc (2017-07-31), which
    set ``5*10``; kept because a set that ends after 20 s of rest is what the recordings'
    25 s set breaks describe.
``hysteresis``
    Smooths the scores with a trailing mean, tracks "exercising" with two thresholds on the
    smoothed probability of not being in Break (enter above ``enter``, leave below
    ``exit``), counts an exercise segment as a repetition when it lasts ``min_rep_s``, and
    as several when it lasts much longer than one repetition of its exercise (merged
    repetitions whose short break the classifier missed: a segment of ``d`` seconds counts
    ``floor(d / rep_s + 1 - split_fraction)`` repetitions, at least one).  A set is closed
    after ``set_gap_s`` without exercise and reported only once it holds
    ``min_set_repetitions`` repetitions (its events are held back until then), which drops
    the isolated movements of a set break; its exercise is the majority, by duration, of its
    segments, so one misclassified repetition neither splits nor mislabels a set.  The
    defaults were tuned on leave-one-subject-out predictions of individuals 1-3.

``period`` (the default of the recognisers and commands)
    The classifier decides the set (its span and exercise, as ``hysteresis`` finds them), the
    signal decides how many: one repetition per period of the movement inside the set (the
    peaks of the set's band-passed principal axis, with each exercise's period range, axis and
    polarity learned from the training people's labelled repetitions;
    :mod:`~exermote_sgan.inference.periods`).  It needs the scaled feature row each prediction
    describes (``update(time, scores, signal)``), which the recognisers pass.  It counts online
    and settles the count when the set closes (:class:`PeriodCounter`).

Without a rest class (``break_class=None``: recordings with no pauses labelled, such as one
exercise per file) repetitions cannot be told apart by a pause between them, so every method
becomes :class:`RunCounter`: a set is a run of one (smoothed) predicted class lasting at least
``min_set_s``, and its repetitions are not counted (0).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field

import numpy as np


EVENT_KINDS = ("exercise_started", "repetition", "exercise_ended", "set_finished")

ONLINE_LAG = 2
"""Online, the ``period`` counter shows a repetition per peak found so far but the last this
many: with less of the set known its principal axis, scale and median prominence still move,
and a repetition once shown cannot be taken back.  With 1 (a period completes when the next
begins) the shown count exceeded the settled one in sets of the training people's recordings
(two leave-one-person-out runs of seed 0: 2 more of 237 sets exact with 2; 3 gained nothing
more)."""

APP_CONSECUTIVE_STEPS = {"Break": 2, "Burpee": 15, "Situp": 10, "Squat": 5}
"""Further identical predictions the app requires after a change of class (Constants.swift)."""
APP_STEPS_UNTIL_SET_BREAK = 10000 * 10
"""``PREDICTION_MANAGER_STEPS_UNTIL_SET_BREAK`` in the app's current Constants.swift (e097cfd)."""
APP_20S_STEPS_UNTIL_SET_BREAK = 20 * 10
"""The app's first value (Constants.swift at e92fcbc, 2017-06-09): 20 s of Break at 10 Hz."""


@dataclass(frozen=True)
class Event:
    """Something the counter recognised; ``time`` in seconds (see the module docstring)."""

    kind: str
    exercise: str
    time: float
    repetitions: int | None = None  # running count (repetition) or total (set_finished)
    start: float | None = None
    end: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class DetectedSet:
    """A finished set: exercise, repetition count and span (seconds)."""

    exercise: str
    repetitions: int
    start: float
    end: float
    repetition_times: list[float] = field(default_factory=list)


class RepetitionCounter(ABC):
    """Feed ``update(time, scores)`` per prediction, then ``finish()`` at the end of a stream."""

    def __init__(self, classes, *, sample_rate_hz: float = 10.0,
                 break_class: str | None = "Break"):
        self.classes = tuple(classes)
        if break_class is not None and break_class not in self.classes:
            raise ValueError(f"counter: break class {break_class!r} is not one of the "
                             f"classes {self.classes}")
        if not sample_rate_hz > 0:
            raise ValueError(f"counter: sample_rate_hz must be positive, got {sample_rate_hz}")
        self.sample_rate_hz = float(sample_rate_hz)
        self.break_index = None if break_class is None else self.classes.index(break_class)
        self.sets: list[DetectedSet] = []
        self._open: DetectedSet | None = None
        self.min_set_repetitions = 1
        self._held: list[Event] = []  # events of a set not yet long enough to report

    @abstractmethod
    def update(self, time: float, scores, signal=None) -> list[Event]:
        """Take one prediction (and the scaled feature row it describes, which only the
        ``period`` counter reads); return the events it completes."""

    @abstractmethod
    def finish(self) -> list[Event]:
        """End of the stream: flush pending decisions and close the open set."""

    def extend(self, times, signals) -> None:
        """Before :meth:`finish`: the scaled rows after the last one a prediction described
        (the stream's last ``label_offset`` rows), which only the ``period`` counter reads."""

    # -- the set grammar shared by all counters ---------------------------------------------
    def _repetition(self, exercise: str, time: float, start: float, end: float) -> list[Event]:
        events = []
        if self._open is None:
            self._open = DetectedSet(exercise, 0, start, end)
            events.append(Event("exercise_started", exercise, start, start=start))
        current = self._open
        current.repetitions += 1
        current.end = max(current.end, end)
        current.repetition_times.append(time)
        events.append(Event("repetition", exercise, time, repetitions=current.repetitions,
                            start=start, end=end))
        if current.repetitions < self.min_set_repetitions:
            self._held += events
            return []
        events, self._held = self._held + events, []
        return events

    def _close_set(self, time: float, *, exercise: str | None = None) -> list[Event]:
        current = self._open
        if current is None:
            return []
        self._open = None
        self._held = []
        if current.repetitions < self.min_set_repetitions:
            return []  # too short to be a set: its held events are dropped
        if exercise is not None:
            current.exercise = exercise
        self.sets.append(current)
        return [Event("exercise_ended", current.exercise, current.end, end=current.end),
                Event("set_finished", current.exercise, max(time, current.end),
                      repetitions=current.repetitions, start=current.start, end=current.end)]


class AppRuleCounter(RepetitionCounter):
    """The Exermote app's counting rule, step for step (see the module docstring)."""

    def __init__(self, classes, *, sample_rate_hz: float = 10.0, break_class: str = "Break",
                 consecutive_steps: dict | None = None,
                 steps_until_set_break: int = APP_STEPS_UNTIL_SET_BREAK):
        super().__init__(classes, sample_rate_hz=sample_rate_hz, break_class=break_class)
        steps = dict(APP_CONSECUTIVE_STEPS if consecutive_steps is None else consecutive_steps)
        missing = [c for c in self.classes if c not in steps]
        if missing:
            raise ValueError(f"AppRuleCounter: no consecutive-step count for {missing}")
        self.consecutive_steps = [int(steps[c]) for c in self.classes]
        self.steps_until_set_break = int(steps_until_set_break)
        self._pending: deque = deque()  # (time, class index) awaiting enough look-ahead
        self._previous: int | None = None
        self._since_repetition: int | None = None  # None until a Break re-arms
        self._extending = False  # the class run of the last counted repetition goes on
        self._last_time = 0.0

    def update(self, time: float, scores, signal=None) -> list[Event]:
        self._pending.append((float(time), int(np.argmax(scores))))
        return self._evaluate(final=False)

    def finish(self) -> list[Event]:
        events = self._evaluate(final=True)
        return events + self._close_set(self._last_time)

    def _evaluate(self, *, final: bool) -> list[Event]:
        events = []
        while self._pending:
            time, label = self._pending[0]
            if label == self._previous:
                if label == self.break_index and self._since_repetition is not None:
                    self._since_repetition += 1
                    if self._since_repetition == self.steps_until_set_break:
                        events += self._close_set(time)
                elif self._extending and self._open is not None:
                    self._open.end = time
            else:
                need = self.consecutive_steps[label]
                if len(self._pending) <= need and not final:
                    break  # the app waits for the look-ahead it needs
                held = (len(self._pending) > need
                        and all(self._pending[k][1] == label for k in range(1, need + 1)))
                self._extending = False
                if label == self.break_index:
                    if held:
                        self._since_repetition = 0
                elif held:
                    exercise = self.classes[label]
                    if self._open is not None and self._open.exercise != exercise:
                        events += self._close_set(time)
                    confirm_time = self._pending[need][0]
                    events += self._repetition(exercise, confirm_time, time, confirm_time)
                    self._extending = True
            self._previous = label
            self._last_time = time
            self._pending.popleft()
        return events


# Tuned on leave-one-subject-out predictions of individuals 1-3 (never on individual 4).
DEFAULT_MIN_REP_S = {"Burpee": 0.7, "Situp": 0.7, "Squat": 0.4}
"""Shortest exercise segment that counts as a repetition, per exercise (seconds)."""
DEFAULT_REP_S = {"Burpee": 3.9, "Situp": 3.5, "Squat": 2.6}
"""Median labelled duration (firstHalf + secondHalf) of one repetition in individuals 1-3."""


class HysteresisCounter(RepetitionCounter):
    """Smoothed scores, two-threshold activity detection, duration-aware counting."""

    def __init__(self, classes, *, sample_rate_hz: float = 10.0, break_class: str = "Break",
                 smoothing: int = 5, enter: float = 0.6, exit: float = 0.4,
                 min_rep_s: dict | None = None, rep_s: dict | None = None,
                 split_fraction: float = 0.7, set_gap_s: float = 5.0,
                 min_set_repetitions: int = 2):
        super().__init__(classes, sample_rate_hz=sample_rate_hz, break_class=break_class)
        if int(smoothing) < 1:
            raise ValueError(f"HysteresisCounter: smoothing must be >= 1, got {smoothing}")
        if not 0.0 < exit <= enter < 1.0:
            raise ValueError(f"HysteresisCounter: need 0 < exit <= enter < 1, got "
                             f"enter={enter}, exit={exit}")
        if not split_fraction > 0 or not set_gap_s > 0:
            raise ValueError("HysteresisCounter: split_fraction and set_gap_s must be positive")
        if int(min_set_repetitions) < 1:
            raise ValueError("HysteresisCounter: min_set_repetitions must be >= 1")
        self.min_set_repetitions = int(min_set_repetitions)
        self.smoothing = int(smoothing)
        self.enter, self.exit = float(enter), float(exit)
        self.split_fraction = float(split_fraction)
        self.set_gap_steps = int(round(set_gap_s * self.sample_rate_hz))
        exercises = [c for c in self.classes if c != self.classes[self.break_index]]
        min_rep_s = {**DEFAULT_MIN_REP_S, **(min_rep_s or {})}
        rep_s = {**DEFAULT_REP_S, **(rep_s or {})}
        fallback_min, fallback_rep = min(min_rep_s.values()), float(np.median(list(rep_s.values())))
        self.min_rep_steps = {c: max(1, int(round(min_rep_s.get(c, fallback_min)
                                                  * self.sample_rate_hz))) for c in exercises}
        self.rep_steps = {c: rep_s.get(c, fallback_rep) * self.sample_rate_hz for c in exercises}
        self._window: deque = deque(maxlen=self.smoothing)
        self._times: deque = deque(maxlen=self.smoothing)
        self._segment = None  # [start time, steps, summed scores, repetitions emitted]
        self._idle_steps = 0
        self._set_votes: dict[str, float] = {}
        self._last_time = 0.0

    def update(self, time: float, scores, signal=None) -> list[Event]:
        scores = np.asarray(scores, dtype=np.float64)
        self._window.append(scores)
        self._times.append(float(time))
        self._last_time = float(time)
        smoothed = np.mean(self._window, axis=0)
        # the trailing mean lags by half its length: report the time it is centred on
        at = self._times[(len(self._times) - 1) // 2]
        active = 1.0 - smoothed[self.break_index]
        events = []
        if self._segment is None:
            if active >= self.enter:
                self._segment = [at, 0, np.zeros_like(scores), 0]
            else:
                self._idle_steps += 1
                if self._idle_steps >= self.set_gap_steps and self._open is not None:
                    events += self._close_set(at, exercise=self._majority())
        if self._segment is not None:
            if active < self.exit:
                events += self._end_segment(at)
            else:
                segment = self._segment
                segment[1] += 1
                segment[2] += smoothed
                exercise = self._segment_exercise()
                if segment[3] == 0 and segment[1] >= self.min_rep_steps[exercise]:
                    segment[3] = 1
                    events += self._count(exercise, at, segment[0], at)
        return events

    def finish(self) -> list[Event]:
        events = self._end_segment(self._last_time) if self._segment is not None else []
        return events + self._close_set(self._last_time, exercise=self._majority())

    def _segment_exercise(self) -> str:
        summed = self._segment[2].copy()
        summed[self.break_index] = -np.inf
        return self.classes[int(np.argmax(summed))]

    def _end_segment(self, time: float) -> list[Event]:
        start, steps, _, emitted = self._segment
        exercise = self._segment_exercise()
        self._segment = None
        self._idle_steps = 0
        if emitted == 0:
            return []  # too short to be a repetition
        self._set_votes[exercise] = self._set_votes.get(exercise, 0.0) + steps
        # a segment much longer than one repetition holds several whose break was missed
        total = max(1, int(np.floor(steps / self.rep_steps[exercise]
                                    + (1.0 - self.split_fraction))))
        events = []
        for _ in range(total - emitted):
            events += self._count(exercise, time, start, time)
        if self._open is not None:
            self._open.end = max(self._open.end, time)
        return events

    def _count(self, exercise: str, time: float, start: float, end: float) -> list[Event]:
        shown = self._open.exercise if self._open is not None else exercise
        return self._repetition(shown, time, start, end)

    def _majority(self) -> str | None:
        votes, self._set_votes = self._set_votes, {}
        return max(votes, key=votes.get) if votes else None


class PeriodCounter(RepetitionCounter):
    """The classifier finds the sets, the signal counts them: one repetition per period.

    A :class:`HysteresisCounter` on the scores (``set_options`` are its options) decides
    where each set is and its exercise; its own repetition count is not used.  The scaled
    feature rows passed with each prediction are buffered, and the repetitions of the open set
    are the peaks of its movement (:func:`~exermote_sgan.inference.periods.count_periods`
    with ``profile``: the run's learned one; none: every set keeps the hysteresis count).
    Online, every ``refresh_s`` the peaks so far are found again and each new one emits a
    ``repetition`` (a peak counts once the movement has turned, half a shortest period later,
    and a period has completed once the next peak is known, so online the count runs
    behind, by :data:`ONLINE_LAG`; the online search ends where the set's last exercise segment
    ended, as the settled one does); when the set closes the count is settled
    on the whole span: the repetitions not yet shown are emitted then, and ``set_finished``
    carries the settled count (never less than the repetitions already shown, so the event
    grammar holds; ``overshoots`` counts the sets where the whole span found fewer).  A set
    showing fewer than the profile's ``min_set_repetitions`` periods is dropped (its events
    are held back until it shows that many, so nothing is retracted).  A set of an exercise
    the profile has no rhythm for, or with no period under a profile that asks no minimum,
    keeps the classifier's (hysteresis) count.
    """

    def __init__(self, classes, *, sample_rate_hz: float = 10.0, break_class: str = "Break",
                 profile=None, refresh_s: float = 0.5, features=None, **set_options):
        super().__init__(classes, sample_rate_hz=sample_rate_hz, break_class=break_class)
        from .periods import PeriodProfile

        if profile is None:  # nothing learned: every exercise keeps the classifier's count
            profile = PeriodProfile()
        elif isinstance(profile, (str, bytes)) or hasattr(profile, "__fspath__"):
            profile = PeriodProfile.load(profile)
        elif isinstance(profile, dict):
            profile = PeriodProfile.from_dict(profile)
        if not isinstance(profile, PeriodProfile):
            raise ValueError(f"PeriodCounter: profile must be a PeriodProfile, a dict or a "
                             f"path, got {type(profile).__name__}")
        if not refresh_s > 0:
            raise ValueError(f"PeriodCounter: refresh_s must be positive, got {refresh_s}")
        self.profile = profile
        self._columns = _profile_columns(profile, features)
        self.refresh_steps = max(1, int(round(refresh_s * self.sample_rate_hz)))
        # a set showing fewer than the learned min_set_repetitions periods is no set (its
        # events are held back until it shows that many)
        self.min_set_repetitions = max(1, profile.min_set_repetitions)
        self._sets = HysteresisCounter(classes, sample_rate_hz=sample_rate_hz,
                                       break_class=break_class, **set_options)
        self._times: list[float] = []
        self._rows: list = []
        self._set_start: float | None = None
        self._exercise: str | None = None
        self._steps = 0
        self.overshoots = 0  # sets whose online count exceeded the count on the whole span

    def update(self, time: float, scores, signal=None) -> list[Event]:
        if signal is None:
            raise ValueError("PeriodCounter: each prediction needs the feature row it "
                             "describes (signal)")
        self._steps += 1
        self._times.append(float(time))
        row = np.asarray(signal, dtype=np.float64).reshape(-1)
        self._rows.append(row if self._columns is None else row[self._columns])
        events = self._follow(self._sets.update(time, scores))
        if self._set_start is not None and self._steps % self.refresh_steps == 0:
            events += self._online(float(time))
        if self._steps % self.refresh_steps == 0:
            self._trim()
        return events

    def finish(self) -> list[Event]:
        return self._follow(self._sets.finish())

    def extend(self, times, signals) -> None:
        """The rows after the last described one: at the end of a stream, the last peak of a
        set that ends there needs the movement after it to be a peak."""
        for time, row in zip(times, signals):
            row = np.asarray(row, dtype=np.float64).reshape(-1)
            self._times.append(float(time))
            self._rows.append(row if self._columns is None else row[self._columns])

    def _follow(self, inner: list[Event]) -> list[Event]:
        events = []
        for event in inner:
            if event.kind == "exercise_started":
                self._set_start, self._exercise = event.start, event.exercise
            elif event.kind == "set_finished":
                events += self._settle(event)
        return events

    def _peaks(self, start: float, end: float, exercise: str, until=None) -> np.ndarray:
        from .periods import count_periods

        if exercise not in self.profile.exercises:
            return np.zeros(0)  # no rhythm learned for it: the classifier's count stands
        return count_periods(np.asarray(self._rows), np.asarray(self._times), start, end,
                             exercise, self.profile, rate_hz=self.sample_rate_hz, until=until)

    def _emit(self, exercise: str, peaks, upto: int, time: float) -> list[Event]:
        events = []
        done = self._open.repetitions if self._open is not None else 0
        for k in range(done, upto):
            begin = (float(peaks[min(k, len(peaks)) - 1]) if k > 0 and len(peaks)
                     else self._set_start)
            at = float(peaks[k]) if k < len(peaks) else time
            events += self._repetition(exercise, time, begin, at)
        return events

    def _online(self, now: float) -> list[Event]:
        # a period has completed when the next one has begun, and a peak is settled only
        # once the set's movement is known around it: a repetition per peak but the last
        # ONLINE_LAG, so that the count settled on the whole set rarely falls below what was
        # shown; and only within the set as the classifier has it so far: during the break
        # that may close it, up to its last exercise segment's end (the span it settles on),
        # so that a movement in that break is never shown as a repetition the settled count
        # leaves out
        inner = self._sets
        end = now if inner._segment is not None or inner._open is None else inner._open.end
        peaks = self._peaks(self._set_start, end, self._exercise, until=now)
        return self._emit(self._exercise, peaks, len(peaks) - ONLINE_LAG, now)

    def _settle(self, finished: Event) -> list[Event]:
        peaks = self._peaks(finished.start, finished.end, finished.exercise)
        total = len(peaks)
        if not (total or self.profile.min_set_repetitions
                and finished.exercise in self.profile.exercises):
            total = int(finished.repetitions)  # no period learned or none asked: as it is
        shown = self._open.exercise if self._open is not None else finished.exercise
        events = self._emit(shown, peaks, total, finished.time)
        current = self._open
        if current is not None:  # None: no period at all, so no set
            if current.repetitions > total:
                self.overshoots += 1  # shown online already: the events and the count stand
            current.start, current.end = finished.start, finished.end
        self._set_start = self._exercise = None
        return events + self._close_set(finished.time, exercise=finished.exercise)

    def _trim(self):
        """Forget rows no open or coming set can need."""
        inner = self._sets
        if inner._open is not None:
            keep_from = inner._open.start
        elif inner._segment is not None:
            keep_from = inner._segment[0]
        else:
            keep_from = self._times[-1]
        cut = np.searchsorted(self._times, keep_from - self.profile.context_s - 1.0)
        if cut > 0:
            del self._times[:cut], self._rows[:cut]


def _profile_columns(profile, features):
    """The columns of the rows (named ``features``) the profile was learned on, in its order;
    None: the rows as they are (names unknown, or the profile's not all among them)."""
    if features is None or profile.features is None:
        return None
    features = list(features)
    if not set(profile.features) <= set(features):
        return None
    return [features.index(f) for f in profile.features]


class RunCounter(RepetitionCounter):
    """Sets without a rest class: runs of one smoothed predicted class; no repetitions.

    The scores are averaged over the last ``smoothing_s`` seconds; the run's class changes when
    another class has led the smoothed scores for ``switch_s`` seconds in a row (the new run
    starts where that lead began); a run of at least ``min_set_s`` seconds is a set.  Each set
    emits ``exercise_started``, ``exercise_ended`` and ``set_finished`` with 0 repetitions.
    """

    def __init__(self, classes, *, sample_rate_hz: float = 10.0, break_class=None,
                 smoothing_s: float = 1.0, switch_s: float = 2.0, min_set_s: float = 5.0):
        super().__init__(classes, sample_rate_hz=sample_rate_hz, break_class=None)
        if not (smoothing_s > 0 and switch_s > 0 and min_set_s > 0):
            raise ValueError("RunCounter: smoothing_s, switch_s and min_set_s must be positive")
        self.min_set_repetitions = 0
        self._window: deque = deque(maxlen=max(1, int(round(smoothing_s * sample_rate_hz))))
        self._times: deque = deque(maxlen=self._window.maxlen)
        self.switch_steps = max(1, int(round(switch_s * sample_rate_hz)))
        self.min_set_s = float(min_set_s)
        self._current: int | None = None
        self._start = self._last = 0.0
        self._challenger: tuple[int, float, int] | None = None  # class, since, steps

    def update(self, time: float, scores, signal=None) -> list[Event]:
        self._window.append(np.asarray(scores, dtype=np.float64))
        self._times.append(float(time))
        label = int(np.argmax(np.mean(self._window, axis=0)))
        # the trailing mean lags by half its length: use the time it is centred on
        time = self._times[(len(self._times) - 1) // 2]
        events = []
        if self._current is None:
            self._current, self._start = label, time
        elif label == self._current:
            self._challenger = None
        else:
            if self._challenger is None or self._challenger[0] != label:
                self._challenger = (label, time, 0)
            cls, since, steps = self._challenger
            self._challenger = (cls, since, steps + 1)
            if steps + 1 >= self.switch_steps:
                events += self._emit(since)
                self._current, self._start, self._challenger = cls, since, None
        self._last = time
        return events

    def finish(self) -> list[Event]:
        end = self._times[-1] if self._times else self._last
        events = self._emit(end) if self._current is not None else []
        self._current = None
        return events

    def _emit(self, end: float) -> list[Event]:
        if end - self._start < self.min_set_s:
            return []
        exercise = self.classes[self._current]
        found = DetectedSet(exercise, 0, self._start, end)
        self.sets.append(found)
        return [Event("exercise_started", exercise, self._start, start=self._start),
                Event("exercise_ended", exercise, end, end=end),
                Event("set_finished", exercise, end, repetitions=0, start=self._start, end=end)]


COUNTING_METHODS = ("hysteresis", "period", "app", "app-20s")


def rest_options(preprocessing, options: dict | None = None) -> dict:
    """Counter options for a run: its rest class (None: no rest class) unless ``options``
    names one, and its feature names (which the ``period`` counter maps its profile onto)."""
    rest = getattr(preprocessing, "rest_class", "Break")
    return {"break_class": rest, "features": tuple(preprocessing.features), **(options or {})}


def make_counter(method: str, classes, *, sample_rate_hz: float = 10.0,
                 **options) -> RepetitionCounter:
    """A fresh counter of the named method (``hysteresis``, ``app`` or ``app-20s``); with
    ``break_class=None`` (no rest class) a :class:`RunCounter` for any method."""
    if method not in COUNTING_METHODS:
        raise ValueError(f"unknown counting method {method!r}; expected one of "
                         f"{', '.join(COUNTING_METHODS)}")
    features = options.pop("features", None)  # names of the rows: the period counter's
    profile = options.pop("profile", None)  # the period counter's learned profile
    if "break_class" in options and options["break_class"] is None:
        run_options = {k: v for k, v in options.items()
                       if k in ("smoothing_s", "switch_s", "min_set_s")}
        return RunCounter(classes, sample_rate_hz=sample_rate_hz, **run_options)
    if method == "hysteresis":
        return HysteresisCounter(classes, sample_rate_hz=sample_rate_hz, **options)
    if method == "period":
        return PeriodCounter(classes, sample_rate_hz=sample_rate_hz, features=features,
                             profile=profile, **options)
    if method == "app":
        return AppRuleCounter(classes, sample_rate_hz=sample_rate_hz, **options)
    if method == "app-20s":
        options.setdefault("steps_until_set_break", APP_20S_STEPS_UNTIL_SET_BREAK)
        return AppRuleCounter(classes, sample_rate_hz=sample_rate_hz, **options)
    raise ValueError(f"unknown counting method {method!r}; expected one of "
                     f"{', '.join(COUNTING_METHODS)}")


def count_repetitions(times, scores, classes, *, method: str = "hysteresis",
                      sample_rate_hz: float = 10.0, signals=None,
                      **options) -> tuple[list[Event], list[DetectedSet]]:
    """Run a counter over a whole score sequence ``(n, K)``; return its events and sets.
    ``signals``: the ``(n, features)`` scaled rows the predictions describe (``period``)."""
    counter = make_counter(method, classes, sample_rate_hz=sample_rate_hz, **options)
    events = []
    scores = np.asarray(scores)
    signals = [None] * len(scores) if signals is None else np.asarray(signals)
    for time, row, signal in zip(np.asarray(times, dtype=np.float64), scores, signals):
        events += counter.update(time, row, signal)
    events += counter.finish()
    return events, counter.sets
