"""``--counting app`` follows the Exermote app's current Constants.swift; ``app-20s`` its first.

Lausbert/Exermote, ExermoteInference/ExermoteCoreML/ExermoteCoreML/Utilities/Constants.swift:
``PREDICTION_MANAGER_STEPS_UNTIL_SET_BREAK = 10000*Int(PREDICTION_MANAGER_PREDICT_EXERCISE_
FREQUENCY)`` since commit e097cfd (2017-09-05); ``20*Int(...)`` at e92fcbc (2017-06-09).
"""

import numpy as np
import pytest

from exermote_sgan.cli import build_parser
from exermote_sgan.inference.counting import (APP_20S_STEPS_UNTIL_SET_BREAK,
                                              APP_STEPS_UNTIL_SET_BREAK, COUNTING_METHODS,
                                              count_repetitions, make_counter)

CLASSES = ("Break", "Burpee", "Situp", "Squat")


def _scores(plan):
    labels = [CLASSES.index(c) for c, n in plan for _ in range(n)]
    scores = np.full((len(labels), len(CLASSES)), 0.05)
    scores[np.arange(len(labels)), labels] = 0.85
    return np.arange(len(labels)) / 10.0, scores


def _squat_set(reps):
    plan = []
    for _ in range(reps):
        plan += [("Squat", 10), ("Break", 5)]
    return plan


def test_app_constants_are_the_apps_current_ones():
    assert APP_STEPS_UNTIL_SET_BREAK == 100_000  # 10000 * 10 Hz
    assert APP_20S_STEPS_UNTIL_SET_BREAK == 200  # 20 * 10 Hz
    assert make_counter("app", CLASSES).steps_until_set_break == 100_000
    assert make_counter("app-20s", CLASSES).steps_until_set_break == 200


def test_a_long_rest_ends_the_set_only_under_the_old_value():
    # two squat sets 60 s of Break apart: the current app keeps counting one set
    plan = [("Break", 20)] + _squat_set(3) + [("Break", 600)] + _squat_set(2) + [("Break", 20)]
    times, scores = _scores(plan)
    _, now = count_repetitions(times, scores, CLASSES, method="app")
    _, old = count_repetitions(times, scores, CLASSES, method="app-20s")
    assert [(s.exercise, s.repetitions) for s in now] == [("Squat", 5)]
    assert [(s.exercise, s.repetitions) for s in old] == [("Squat", 3), ("Squat", 2)]
    # another exercise still ends the set under the current value, as it resets the display
    plan = [("Break", 20)] + _squat_set(2) + [("Break", 30), ("Burpee", 20), ("Break", 20)]
    _, sets = count_repetitions(*_scores(plan), CLASSES, method="app")
    assert [(s.exercise, s.repetitions) for s in sets] == [("Squat", 2), ("Burpee", 1)]


@pytest.mark.parametrize("command", ["predict", "evaluate-reps"])
def test_both_commands_offer_every_counting_method(command):
    parser = build_parser()
    for method in COUNTING_METHODS:
        args = parser.parse_args([command, "run", "rec.csv", "--counting", method])
        assert args.counting == method
    with pytest.raises(SystemExit):
        parser.parse_args([command, "run", "rec.csv", "--counting", "app-old"])
