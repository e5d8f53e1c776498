"""The period counter: repetitions counted as periods of made signals with known periods, the
online events, the learned profile, and a real recording with the true sets as the classifier.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.inference.counting import PeriodCounter, count_repetitions
from exermote_sgan.inference.periods import (ExerciseRhythm, LabelledSet, PeriodProfile,
                                             count_periods, learn_profile, run_profile,
                                             with_run_profile)
from exermote_sgan.inference.rep_learning import learn_run_profile

CLASSES = ("Break", "Burpee", "Situp", "Squat")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
AXIS = np.array([0.8, 0.5, 0.3])
RATE = 10.0
PROFILE = PeriodProfile({"Squat": ExerciseRhythm(2.0, 6.0, tuple(AXIS), 1),
                         "Burpee": ExerciseRhythm(3.0, 8.0, tuple(AXIS), 1)},
                        prominence=0.15, context_s=3.0, tolerance_s=0.0)


def made_set(plan, *, seed=0, sign=1.0):
    """Rows of a made movement and the classifier's scores for it.

    ``plan`` is a list of (what, seconds): ``"rep"`` is one period of the movement (a smooth
    bump along AXIS, times ``sign``) that the classifier calls Squat, ``"pause"`` stillness it
    calls Break.  Returns times, rows, scores and the repetitions' peak times.
    """
    rng = np.random.default_rng(seed)
    level, labels, peaks = [], [], []
    for what, seconds in plan:
        n = int(round(seconds * RATE))
        if what == "pause":
            level += [0.0] * n
            labels += [0] * n
        else:
            u = (np.arange(n) + 0.5) / n
            level += list((1 - np.cos(2 * np.pi * u)) / 2)
            labels += [3] * n
            peaks.append((len(level) - n / 2) / RATE)
    times = np.arange(len(level)) / RATE
    rows = sign * np.outer(level, AXIS) + rng.normal(0, 0.02, (len(level), 3)) + 0.5
    scores = np.full((len(labels), 4), 0.03)
    scores[np.arange(len(labels)), labels] = 0.91
    return times, rows, scores, np.array(peaks)


def squat_set(reps, *, rep_s=3.0, pause_s=1.0, merged=(), lead_s=8.0):
    """``reps`` repetitions with pauses; no pause after the repetitions in ``merged``."""
    plan = [("pause", lead_s)]
    for k in range(reps):
        plan.append(("rep", rep_s + 0.3 * (k % 3)))  # periods vary from repetition to repetition
        if k not in merged and k < reps - 1:
            plan.append(("pause", pause_s))
    return plan + [("pause", lead_s)]


def count(times, rows, scores, method="period", profile=PROFILE):
    options = {"profile": profile} if method == "period" else {}
    return count_repetitions(times, scores, CLASSES, method=method, signals=rows, **options)


def test_count_periods_finds_each_period_of_a_made_signal():
    times, rows, _, peaks = made_set(squat_set(6))
    start, end = peaks[0] - 1.5, peaks[-1] + 1.5
    found = count_periods(rows, times, start, end, "Squat", PROFILE)
    assert len(found) == 6
    np.testing.assert_allclose(found, peaks, atol=0.25)
    # online: a peak counts only once the movement has turned
    assert len(count_periods(rows, times, start, end, "Squat", PROFILE,
                             until=peaks[3] + 0.2)) == 3


def test_two_repetitions_without_a_pause_are_two():
    times, rows, scores, peaks = made_set(squat_set(5, merged=(1, 3)))
    events, sets = count(times, rows, scores)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 5)]
    assert [e.kind for e in events].count("repetition") == 5


def test_a_classifier_flicker_inside_a_repetition_adds_nothing():
    times, rows, scores, peaks = made_set(squat_set(5))
    middle = int(round(peaks[2] * RATE))  # the classifier calls 0.6 s of repetition 3 Break
    scores[middle - 3:middle + 3] = [0.91, 0.03, 0.03, 0.03]
    hysteresis = count(times, rows, scores, method="hysteresis")[1]
    assert [s.repetitions for s in hysteresis] == [6]  # the old counter: one too many
    events, sets = count(times, rows, scores)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 5)]


def test_a_trough_polarity_and_sign_of_the_axis():
    """A movement along -AXIS is the same movement: the reference axis fixes the sign."""
    times, rows, scores, peaks = made_set(squat_set(4), sign=-1.0)
    troughs = PeriodProfile({"Squat": ExerciseRhythm(2.0, 6.0, tuple(AXIS), -1)})
    assert [s.repetitions for s in count(times, rows, scores, profile=troughs)[1]] == [4]


def test_online_repetitions_come_before_the_set_closes_and_the_grammar_holds():
    plan = squat_set(6) + squat_set(3, rep_s=2.5, lead_s=20.0)
    times, rows, scores, _ = made_set(plan)
    counter = PeriodCounter(CLASSES, profile=PROFILE)
    events = []
    for t, s, x in zip(times, scores, rows):
        for event in counter.update(t, s, x):
            events.append((t, event))
    events += [(times[-1], e) for e in counter.finish()]
    kinds = [e.kind for _, e in events]
    one_set = ["exercise_started"], ["exercise_ended", "set_finished"]
    assert kinds == (one_set[0] + ["repetition"] * 6 + one_set[1]
                     + one_set[0] + ["repetition"] * 3 + one_set[1])
    assert [e.repetitions for _, e in events if e.kind == "repetition"] == \
        [1, 2, 3, 4, 5, 6, 1, 2, 3]
    finished_at = [t for t, e in events if e.kind == "set_finished"][0]
    online = [t for t, e in events if e.kind == "repetition"][:6]
    assert sum(t < finished_at for t in online) >= 4  # counted while the set goes on
    assert counter.overshoots == 0


def test_the_period_counter_needs_the_rows():
    with pytest.raises(ValueError, match="needs the feature row"):
        PeriodCounter(CLASSES, profile=PROFILE).update(0.0, np.full(4, 0.25))


def labelled(plan, subject, *, sign=1.0, seed=0):
    times, rows, _, peaks = made_set(plan, seed=seed, sign=sign)
    rep_s = [s for w, s in plan if w == "rep"]
    starts = tuple(p - r / 2 for p, r in zip(peaks, rep_s))
    return LabelledSet(subject, "Squat", len(peaks), starts[0], peaks[-1] + rep_s[-1] / 2,
                       starts, rows, times)


def test_learn_profile_recovers_period_range_and_polarity(tmp_path):
    sets = [labelled(squat_set(n, rep_s=r), subject, sign=-1.0, seed=n)
            for subject, (n, r) in enumerate([(4, 2.5), (6, 3.0), (5, 3.5), (7, 2.8)])]
    profile = learn_profile(sets, features=("a", "b", "c"))
    rhythm = profile.rhythm("Squat")
    periods = np.concatenate([np.diff(s.repetition_starts) for s in sets])
    assert rhythm.period_min_s < periods.min() and periods.max() < rhythm.period_max_s
    assert abs(abs(np.dot(rhythm.axis, AXIS)) - 1) < 0.05
    assert profile.trained_on == (0, 1, 2, 3)
    for s in sets:
        assert len(count_periods(s.values, s.times, s.start, s.end, "Squat", profile)) == \
            s.repetitions
    path = profile.save(tmp_path / "periods.json")
    assert PeriodProfile.load(path) == profile
    with pytest.raises(ExermoteInputError, match="knows no exercise 'Situp'"):
        profile.rhythm("Situp")


def test_a_broken_profile_file_is_one_error(tmp_path):
    path = tmp_path / "periods.json"
    path.write_text('{"exercises": {"Squat": {"period_min_s": 5, "period_max_s": 2}}}')
    with pytest.raises(ExermoteInputError, match="period_min_s < period_max_s"):
        PeriodProfile.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(ExermoteInputError, match="is not a period profile"):
        PeriodProfile.load(path)


def test_a_run_learns_its_profile_from_its_training_people_only(tmp_path, capsys):
    import json

    from exermote_sgan.cli import main
    from exermote_sgan.recordings.readers import read_exermote_csv
    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.runs import PREPROCESSING_FILE, Preprocessing, Provenance

    sample = sorted(SAMPLE.glob("*.csv"))
    first = read_exermote_csv(sample[0])
    prep = Preprocessing(("Break", "Burpee", "Situp", "Squat"), tuple(first.features), 40, 20,
                         10.0, MinMaxScaler().fit(first.values[1:]),
                         provenance=Provenance(test_subjects=(4,)))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / PREPROCESSING_FILE).write_text(json.dumps(prep.to_dict()))
    assert run_profile(run_dir) is None and with_run_profile(run_dir, {"x": 1}) == {"x": 1}
    with pytest.raises(ExermoteInputError, match="test subject of the run"):
        learn_run_profile(run_dir, sample)  # the last file is subject 4's
    assert main(["learn-reps", str(run_dir), str(sample[-1])]) == 2
    assert run_profile(run_dir) is None  # nothing written
    assert main(["learn-reps", str(run_dir), *map(str, sample[:3])]) == 0
    profile = run_profile(run_dir)
    out = capsys.readouterr().out  # what was learned, as the profile holds it
    assert f"at least {profile.min_set_repetitions} repetitions" in out
    burpee = profile.exercises["Burpee"]
    assert (f"edge ratio {burpee.edge_ratio:.2f}, gap ratio {burpee.gap_ratio:.2f}" in out)
    assert profile.trained_on == (1, 2, 3) and profile.features == tuple(first.features)
    assert set(profile.exercises) == {"Burpee", "Situp", "Squat"}
    assert learn_run_profile(run_dir, sample[:3]) == profile  # deterministic
    assert with_run_profile(run_dir)["profile"] == profile


def test_an_exercise_without_a_learned_rhythm_keeps_the_classifier_count():
    times, rows, scores, _ = made_set(squat_set(4))
    burpee_only = PeriodProfile({"Burpee": ExerciseRhythm(3.0, 8.0, tuple(AXIS), 1)})
    by_period = count(times, rows, scores, profile=burpee_only)[1]
    by_hysteresis = count(times, rows, scores, method="hysteresis")[1]
    assert [(s.exercise, s.repetitions, s.start, s.end) for s in by_period] == \
        [(s.exercise, s.repetitions, s.start, s.end) for s in by_hysteresis]


def test_small_movements_a_found_set_runs_on_into_are_left_out_by_the_edge_ratio():
    times, rows, _, peaks = made_set(squat_set(5))
    after = int(round((peaks[-1] + 4.0) * RATE))  # stepping away: a bump a fifth as large
    bump = (1 - np.cos(2 * np.pi * (np.arange(30) + 0.5) / 30)) / 2
    rows[after:after + 30] += 0.2 * np.outer(bump, AXIS)
    start, end = peaks[0] - 1.5, peaks[-1] + 7.0  # the set's span runs on past the bump
    plain = PROFILE
    trimming = PeriodProfile({"Squat": ExerciseRhythm(2.0, 6.0, tuple(AXIS), 1, 0.5)})
    assert len(count_periods(rows, times, start, end, "Squat", plain)) == 6
    found = count_periods(rows, times, start, end, "Squat", trimming)
    np.testing.assert_allclose(found, peaks, atol=0.25)


def test_the_fewest_repetitions_of_a_training_set_is_learned():
    sets = [labelled(squat_set(n), subject, seed=n) for subject, n in enumerate([4, 3, 5, 6])]
    profile = learn_profile(sets)
    assert profile.min_set_repetitions == 3
    path_free = profile.to_dict()
    assert PeriodProfile.from_dict(path_free) == profile
    # a profile written before min_set_repetitions loads with the old behaviour: none dropped
    old = {k: v for k, v in path_free.items() if k not in ("min_set_repetitions", "edge_gain")}
    old["exercises"] = {k: {f: x for f, x in v.items() if f != "gap_ratio"}
                        for k, v in old["exercises"].items()}
    loaded = PeriodProfile.from_dict(old)
    assert (loaded.min_set_repetitions, loaded.edge_gain) == (0, None)
    assert loaded.rhythm("Squat").gap_ratio == 0.0


def test_a_found_set_with_fewer_periods_than_any_training_set_is_no_set():
    plan = squat_set(2) + squat_set(5, lead_s=20.0)  # two movements, then a set of five
    times, rows, scores, _ = made_set(plan)
    assert [s.repetitions for s in count(times, rows, scores)[1]] == [2, 5]
    strict = replace(PROFILE, min_set_repetitions=3)
    events, sets = count(times, rows, scores, profile=strict)
    assert [s.repetitions for s in sets] == [5]
    # the dropped set's events were held back, never shown: the grammar holds for the one set
    assert [e.kind for e in events] == ["exercise_started"] + ["repetition"] * 5 + [
        "exercise_ended", "set_finished"]
    # online as in batch: fed one prediction at a time, the same events
    counter = PeriodCounter(CLASSES, profile=strict)
    online = [e for t, s, x in zip(times, scores, rows) for e in counter.update(t, s, x)]
    assert online + counter.finish() == events


def test_the_edge_ratio_is_kept_only_where_inner_leave_one_person_out_gains():
    def stepping_away(subject, n, rep_s, *, bump):
        plan = squat_set(n, rep_s=rep_s)
        times, rows, _, peaks = made_set(plan, seed=subject)
        if bump:  # a fifth-size movement 4 s after the last repetition, as in stepping away
            at = int(round((peaks[-1] + 4.0) * RATE))
            rows[at:at + 30] += 0.2 * np.outer(
                (1 - np.cos(2 * np.pi * (np.arange(30) + 0.5) / 30)) / 2, AXIS)
        s = labelled(plan, subject, seed=subject)
        return replace(s, values=rows)

    people = [(1, 5, 3.0), (2, 6, 2.6), (3, 4, 3.4), (4, 5, 2.8)]
    with_bumps = learn_profile([stepping_away(*p, bump=True) for p in people])
    assert with_bumps.edge_gain > 0 and with_bumps.rhythm("Squat").edge_ratio > 0
    without = learn_profile([stepping_away(*p, bump=False) for p in people])
    assert without.edge_gain <= 0 and without.rhythm("Squat").edge_ratio == 0.0


def test_a_movement_a_pause_after_the_set_is_no_repetition_by_the_gap_ratio():
    plan = squat_set(5)
    times, rows, _, peaks = made_set(plan)
    after = int(round((peaks[-1] + 6.0) * RATE))  # a full-size movement 6 s (2 periods) later
    rows[after:after + 30] += np.outer((1 - np.cos(2 * np.pi * (np.arange(30) + 0.5) / 30))
                                       / 2, AXIS)
    start, end = peaks[0] - 1.5, peaks[-1] + 9.0  # the found span runs on past it
    assert len(count_periods(rows, times, start, end, "Squat", PROFILE)) == 6
    chained = PeriodProfile({"Squat": ExerciseRhythm(2.0, 6.0, tuple(AXIS), 1, 0.0, 1.5)})
    found = count_periods(rows, times, start, end, "Squat", chained)
    np.testing.assert_allclose(found, peaks, atol=0.25)
    # a small movement between two repetitions is left out by the edge ratio too
    inside = int(round((peaks[2] + 1.6) * RATE))
    rows[inside:inside + 6] += 0.15 * np.outer(np.hanning(6), AXIS)
    edged = PeriodProfile({"Squat": ExerciseRhythm(2.0, 6.0, tuple(AXIS), 1, 0.5, 1.5)})
    np.testing.assert_allclose(count_periods(rows, times, start, end, "Squat", edged), peaks,
                               atol=0.25)


def test_movements_in_the_break_that_closes_a_set_are_never_shown_online():
    """The classifier calls the break Break, so the settled span ends with the last
    repetition; online, the counter looked up to the present and showed the movements of
    that break (three full-size bumps within the 5 s before the set closes) as repetitions
    the settled count then left out."""
    times, rows, scores, peaks = made_set(squat_set(5))
    bump = (1 - np.cos(2 * np.pi * (np.arange(10) + 0.5) / 10)) / 2
    for delay in (2.0, 3.4, 4.8):  # seconds after the last repetition's peak
        at = int(round((peaks[-1] + delay) * RATE))
        rows[at:at + 10] += np.outer(bump, AXIS)
    batch = count(times, rows, scores)[1]
    assert [s.repetitions for s in batch] == [5]
    counter = PeriodCounter(CLASSES, profile=PROFILE)
    events = [e for t, s, x in zip(times, scores, rows) for e in counter.update(t, s, x)]
    events += counter.finish()
    assert [e.repetitions for e in events if e.kind == "repetition"] == [1, 2, 3, 4, 5]
    assert counter.overshoots == 0


def test_a_set_ending_with_the_stream_keeps_its_last_repetition():
    """The last label_offset rows (here 20) are described by no prediction; a set ending half a
    second before the stream ends has its last peak among the described rows, but without the
    rows after it the movement never turns there: the recognisers pass them (extend)."""
    times, rows, scores, peaks = made_set(squat_set(5)[:-1] + [("pause", 0.5)])
    counts = []
    for tail in (False, True):
        counter = PeriodCounter(CLASSES, profile=PROFILE)
        for t, s, x in zip(times[:-20], scores[:-20], rows[:-20]):
            counter.update(t, s, x)
        if tail:
            counter.extend(times[-20:], rows[-20:])
        counter.finish()
        counts.append([s.repetitions for s in counter.sets])
    assert counts == [[4], [5]]


def _first_from_rest(plan, *, seed=0, after_s=2.0):
    """A made set whose first repetition, started from rest, moves a quarter as much as the
    others, with a quarter-size movement ``after_s`` after the last repetition's peak (less
    than a period: standing up)."""
    times, rows, scores, peaks = made_set(plan, seed=seed)
    first = slice(int(round((peaks[0] - 1.5) * RATE)), int(round((peaks[0] + 1.5) * RATE)))
    rows[first] = 0.5 + 0.25 * (rows[first] - 0.5)
    at = int(round((peaks[-1] + after_s) * RATE))
    rows[at:at + 10] += 0.25 * np.outer((1 - np.cos(2 * np.pi * (np.arange(10) + 0.5) / 10))
                                        / 2, AXIS)
    return times, rows, scores, peaks


def test_a_chain_of_periods_keeps_a_first_repetition_from_rest_and_not_a_late_movement():
    times, rows, _, peaks = _first_from_rest(squat_set(6))
    start, end = peaks[0] - 1.5, peaks[-1] + 4.0  # the found span takes in the late movement
    rhythm = ExerciseRhythm(2.0, 6.0, tuple(AXIS), 1)
    plain, trimmed = (PeriodProfile({"Squat": replace(rhythm, edge_ratio=r)}) for r in (0, 0.5))
    assert len(count_periods(rows, times, start, end, "Squat", plain)) == 7  # one too many
    edges = count_periods(rows, times, start, end, "Squat", trimmed)  # one too few
    np.testing.assert_allclose(edges, peaks[1:], atol=0.25)
    chained = PeriodProfile({"Squat": replace(rhythm, rule="chain", edge_ratio=0.0)})
    np.testing.assert_allclose(count_periods(rows, times, start, end, "Squat", chained),
                               peaks, atol=0.25)
    # online as in batch: a peak joins once it is known, the late movement never
    online = count_periods(rows, times, start, end, "Squat", chained, until=peaks[2] + 1.0)
    np.testing.assert_allclose(online, peaks[:3], atol=0.25)


def test_each_exercise_rule_is_chosen_on_spans_missed_as_a_classifier_misses_them():
    """Found spans that run on past the set (the default): the chain, which keeps the small
    first repetition and leaves out the late movement; spans that start a second late and end
    with the set (span errors measured on unseen people): nothing to leave out, the plain
    trim (the first option) counts them as well."""
    from exermote_sgan.inference.periods import _edge_ratios

    sets = []
    for subject, n, rep_s in [(1, 5, 3.0), (2, 6, 2.6), (3, 4, 3.4), (4, 5, 2.8)]:
        plan = squat_set(n, rep_s=rep_s)
        rows = _first_from_rest(plan, seed=subject)[1]
        sets.append(replace(labelled(plan, subject, seed=subject), values=rows))
    overrun = _edge_ratios(sets, PROFILE, RATE).rhythm("Squat")
    assert (overrun.rule, overrun.edge_ratio) == ("chain", 0.0)
    assert [len(count_periods(s.values, s.times, s.start, s.end + 5.0, "Squat", replace(
        PROFILE, exercises={"Squat": overrun}))) for s in sets] == [5, 6, 4, 5]
    late = _edge_ratios(sets, PROFILE, RATE, {"Squat": [(1.0, 0.0)]}).rhythm("Squat")
    assert (late.rule, late.edge_ratio, late.gap_ratio) == ("trim", 0.0, 0.0)


def test_a_profile_with_an_unknown_rule_is_one_error(tmp_path):
    data = PROFILE.to_dict()
    data["exercises"]["Squat"]["rule"] = "median"
    path = tmp_path / "rep_periods.json"
    path.write_text(__import__("json").dumps(data))
    with pytest.raises(ExermoteInputError, match="rule in trim, chain"):
        PeriodProfile.load(path)
