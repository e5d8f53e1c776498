"""Repetition counting on controlled score sequences, true sets from labels, and set matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.inference.counting import (AppRuleCounter, HysteresisCounter,
                                              count_repetitions, make_counter)
from exermote_sgan.inference.ground_truth import TrueSet, true_sets, true_sets_from_labels
from exermote_sgan.inference.rep_evaluation import match_sets, summarize_matches

CLASSES = ("Break", "Burpee", "Situp", "Squat")
REPO = Path(__file__).resolve().parents[1]


def plan_to_scores(plan, *, noise=0.0, seed=0, confidence=0.9):
    """Scores for a list of (class, steps): ``confidence`` on the class, the rest spread."""
    labels = np.concatenate([np.full(n, CLASSES.index(c)) for c, n in plan])
    scores = np.full((len(labels), len(CLASSES)), (1 - confidence) / (len(CLASSES) - 1))
    scores[np.arange(len(labels)), labels] = confidence
    if noise:
        scores += np.random.default_rng(seed).uniform(0, noise, scores.shape)
        scores /= scores.sum(axis=1, keepdims=True)
    return np.arange(len(labels)) / 10.0, scores


def a_set(exercise, reps, rep_steps, break_steps):
    plan = []
    for _ in range(reps):
        plan += [(exercise, rep_steps), ("Break", break_steps)]
    return plan


def workout():
    """Squat x5, 25 s break, Burpee x3, 25 s break, Situp x4 (durations as in the real data)."""
    return ([("Break", 60)] + a_set("Squat", 5, 21, 12) + [("Break", 250)]
            + a_set("Burpee", 3, 39, 15) + [("Break", 250)] + a_set("Situp", 4, 35, 8)
            + [("Break", 60)])


def check_grammar(events):
    """Per set: exercise_started, repetition 1..n, exercise_ended, set_finished(n)."""
    kinds = [e.kind for e in events]
    i = 0
    while i < len(kinds):
        assert kinds[i] == "exercise_started"
        j = i + 1
        while kinds[j] == "repetition":
            assert events[j].repetitions == j - i
            j += 1
        assert kinds[j:j + 2] == ["exercise_ended", "set_finished"]
        assert events[j + 1].repetitions == j - i - 1
        assert events[i].time <= events[j].time <= events[j + 1].time
        i = j + 2


@pytest.mark.parametrize("method", ["hysteresis", "app"])
def test_clean_workout_is_counted_exactly(method):
    times, scores = plan_to_scores(workout())
    events, sets = count_repetitions(times, scores, CLASSES, method=method)
    check_grammar(events)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 5), ("Burpee", 3),
                                                           ("Situp", 4)]
    squat_start = 6.0  # 60 steps of Break first
    assert abs(sets[0].start - squat_start) <= 0.5
    assert all(s.start < s.end for s in sets)


def test_hysteresis_survives_noise_and_single_step_glitches():
    plan = [("Break", 40)]
    for _ in range(6):
        plan += [("Burpee", 18), ("Break", 1), ("Burpee", 20), ("Break", 15)]  # 1-step dropout
    plan += [("Break", 100), ("Squat", 2), ("Break", 100)]  # a 0.2 s blip in the set break
    times, scores = plan_to_scores(plan, noise=0.1, seed=3, confidence=0.85)
    events, sets = count_repetitions(times, scores, CLASSES, method="hysteresis")
    check_grammar(events)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Burpee", 6)]
    # the app's rule counts each half of a repetition split by the dropout: overcounting
    _, app_sets = count_repetitions(times, scores, CLASSES, method="app")
    assert sum(s.repetitions for s in app_sets) > 6


def test_hysteresis_majority_vote_keeps_a_set_whole():
    plan = [("Break", 30)] + a_set("Situp", 3, 35, 8) + a_set("Burpee", 1, 35, 8) \
        + a_set("Situp", 3, 35, 8) + [("Break", 100)]
    times, scores = plan_to_scores(plan)
    _, sets = count_repetitions(times, scores, CLASSES, method="hysteresis")
    assert [(s.exercise, s.repetitions) for s in sets] == [("Situp", 7)]
    _, app_sets = count_repetitions(times, scores, CLASSES, method="app")
    assert [(s.exercise, s.repetitions) for s in app_sets] == [("Situp", 3), ("Burpee", 1),
                                                               ("Situp", 3)]


def test_hysteresis_splits_merged_repetitions_and_drops_lone_ones():
    # 4 squats whose short breaks the classifier missed: one 10.4 s segment, rep_s = 2.6 s
    plan = [("Break", 30), ("Squat", 104), ("Break", 100), ("Burpee", 39), ("Break", 100)]
    times, scores = plan_to_scores(plan)
    events, sets = count_repetitions(times, scores, CLASSES, method="hysteresis")
    check_grammar(events)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 4)]  # lone burpee dropped
    _, sets = count_repetitions(times, scores, CLASSES, method="hysteresis",
                                min_set_repetitions=1)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 4), ("Burpee", 1)]


@pytest.mark.parametrize("exercise, needed", [("Burpee", 15), ("Situp", 10), ("Squat", 5)])
def test_app_rule_needs_n_further_identical_predictions(exercise, needed):
    for steps, expected in [(needed, 0), (needed + 1, 1)]:
        plan = [("Break", 10), (exercise, steps), ("Break", 10)]
        _, sets = count_repetitions(*plan_to_scores(plan), CLASSES, method="app")
        assert sum(s.repetitions for s in sets) == expected, (steps, expected)


def test_app_rule_set_break_after_200_break_steps():
    def sets_for(break_run):
        plan = (a_set("Squat", 2, 10, 5)[:-1] + [("Break", break_run)]
                + a_set("Squat", 2, 10, 5))
        return count_repetitions(*plan_to_scores(plan), CLASSES, method="app-20s")[1]

    # a Break run re-arms on its first step and ends the set 200 steps later
    assert [s.repetitions for s in sets_for(201)] == [2, 2]
    assert [s.repetitions for s in sets_for(200)] == [4]


def test_streaming_counter_equals_whole_sequence_and_emits_promptly():
    times, scores = plan_to_scores(workout(), noise=0.2, seed=1)
    for method in ("hysteresis", "app"):
        counter = make_counter(method, CLASSES)
        streamed = []
        first_rep_step = None
        for k, (t, s) in enumerate(zip(times, scores)):
            new = counter.update(t, s)
            if first_rep_step is None and any(e.kind == "repetition" for e in new):
                first_rep_step = k
            streamed += new
        streamed += counter.finish()
        whole, _ = count_repetitions(times, scores, CLASSES, method=method)
        assert streamed == whole
        # the first squat (steps 60-80) is announced during the second repetition at latest
        assert first_rep_step is not None and first_rep_step < 60 + 33 + 21


def test_counter_options_are_validated():
    with pytest.raises(ValueError, match="exit <= enter"):
        HysteresisCounter(CLASSES, enter=0.3, exit=0.6)
    with pytest.raises(ValueError, match="break class"):
        HysteresisCounter(("Rest", "Squat"))
    with pytest.raises(ValueError, match="consecutive-step count"):
        AppRuleCounter(("Break", "Lunge"))
    with pytest.raises(ValueError, match="unknown counting method"):
        make_counter("magic", CLASSES)


# ----------------------------------------------------------------------------- ground truth

def test_true_sets_from_labels_counts_first_half_runs():
    labels, subs = [], []

    def rows(label, sub, n):
        labels.extend([label] * n)
        subs.extend([sub] * n)

    rows("setBreak", "setBreak", 5)
    for _ in range(3):
        rows("Squat", "firstHalf", 4)
        rows("Squat", "secondHalf", 4)
        rows("Break", "Break", 2)
    rows("setBreak", "setBreak", 10)
    rows("Situp", "firstHalf", 3)
    rows("Situp", "secondHalf", 3)
    rows("setBreak", "setBreak", 3)
    times = np.arange(len(labels)) / 10
    sets = true_sets_from_labels(labels, subs, times)
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 3), ("Situp", 1)]
    assert sets[0].start == pytest.approx(0.5) and sets[0].end == pytest.approx(3.2)
    assert sets[0].repetition_starts == pytest.approx((0.5, 1.5, 2.5))


def test_true_sets_match_the_synthetic_manifest():
    from exermote_sgan.recordings.readers import read_exermote_csv
    from exermote_sgan.recordings.synthetic import read_manifest

    sample = REPO / "data" / "sample"
    entries = read_manifest(sample)["recordings"]
    assert entries
    for entry in entries:
        recording = read_exermote_csv(sample / entry["file"])
        got = true_sets(recording)
        assert [(s.exercise, s.repetitions) for s in got] == \
            [(s["exercise"], s["repetitions"]) for s in entry["sets"]], entry["file"]
        times = recording.timestamps
        for found, expected in zip(got, entry["sets"]):
            assert found.start == times[expected["start_row"]]
            assert found.end == times[expected["end_row"] - 1]
            assert found.repetition_starts == tuple(times[a] for a, _ in
                                                    expected["repetition_rows"])


@pytest.mark.realdata
def test_true_sets_match_the_readme_for_individual_4(real_recordings):
    from exermote_sgan.recordings.readers import read_exermote_csv

    totals = {}
    for path in [p for p in real_recordings if p.stem.endswith("Individual 4")]:
        for s in true_sets(read_exermote_csv(path)):
            reps, sets = totals.get(s.exercise, (0, 0))
            totals[s.exercise] = (reps + s.repetitions, sets + 1)
    # the data README's table: Burpee 92/11, Situp 87/11, Squat 52/7
    assert totals == {"Burpee": (92, 11), "Situp": (87, 11), "Squat": (52, 7)}


# ----------------------------------------------------------------------------- matching

def test_matching_scores_missed_false_and_wrong_exercise_sets():
    truth = [TrueSet("Squat", 8, 10, 40), TrueSet("Burpee", 6, 60, 90),
             TrueSet("Situp", 5, 110, 130)]
    detected = [TrueSet("Squat", 7, 12, 41),  # matched, off by one
                TrueSet("Situp", 6, 61, 89),  # wrong exercise: Burpee missed, false Situp
                TrueSet("Squat", 2, 200, 210)]  # false set
    matches = match_sets(truth, detected)
    summary = summarize_matches(matches)
    overall = summary["overall"]
    assert overall["sets_true"] == 3 and overall["sets_found"] == 1
    assert overall["false_sets"] == 2 and overall["sets_missed"] == 2
    # errors: 1 (squat) + 6 (missed burpee) + 5 (missed situp) + 6 + 2 (false) over 3 true sets
    assert overall["rep_mae"] == pytest.approx((1 + 6 + 5 + 6 + 2) / 3)
    assert overall["rep_mae_found"] == pytest.approx(1.0)
    assert overall["exact_fraction"] == 0.0
    assert summary["per_exercise"]["Squat"]["rep_mae"] == pytest.approx((1 + 2) / 1)


def test_matching_prefers_the_largest_total_overlap():
    truth = [TrueSet("Squat", 5, 0, 10), TrueSet("Squat", 5, 12, 22)]
    detected = [TrueSet("Squat", 5, 9, 21), TrueSet("Squat", 5, 0, 8)]
    matches = match_sets(truth, detected)
    assert all(m.exact for m in matches) and len(matches) == 2
    assert {m.true_span: m.detected_span for m in matches} == {(0, 10): (0, 8),
                                                               (12, 22): (9, 21)}


def test_unknown_or_missing_sub_labels_are_refused_not_zero_true_sets():
    from dataclasses import replace

    from exermote_sgan.recordings.readers import read_exermote_csv
    from exermote_sgan.errors import ExermoteInputError

    recording = read_exermote_csv(sorted((REPO / "data" / "sample").glob("*.csv"))[0])
    assert len(true_sets(recording)) == 3
    unknown = replace(recording, sub_labels=np.full(len(recording), "rep", dtype=object))
    with pytest.raises(ExermoteInputError, match="unknown exerciseSubType 'rep' "
                                                 rf"\({len(recording)} row\(s\)\)"):
        true_sets(unknown)
    breaks_only = replace(recording, sub_labels=np.where(
        np.isin(recording.sub_labels, ("firstHalf", "secondHalf")), "Break",
        recording.sub_labels))
    with pytest.raises(ExermoteInputError, match="exercise row.* but no firstHalf/secondHalf"):
        true_sets(breaks_only)
