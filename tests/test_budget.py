"""The training budget: batches per epoch from the data, and why a run stopped."""

from __future__ import annotations

import pandas as pd
import pytest

from exermote_sgan.training.config import (DEFAULT_EPOCHS, DEFAULT_PATIENCE, EPOCH_SAMPLES,
                                           TrainConfig, epoch_steps)
from exermote_sgan.training.progress import stop_reason


def _config(**options):
    return TrainConfig(windows_path="windows.h5", **options)


def test_an_epoch_is_one_pass_over_the_windows_at_most_the_sample_budget():
    config = _config()
    # Exermote at stride 2: 29,700 training windows of 40 steps, one pass (297 batches)
    assert epoch_steps(config, 29_650, 40) == 297
    # stride 1 doubles the windows, not the epoch: the budget of 1.2 million samples binds
    assert epoch_steps(config, 59_300, 40) == EPOCH_SAMPLES // (100 * 40) == 300
    # 100 Hz one-second windows: 100 steps each, 120 batches of 100 read per epoch
    assert epoch_steps(config, 20_400, 100) == 120
    # a small file: one pass, however short (at least one batch)
    assert epoch_steps(config, 950, 100) == 10 and epoch_steps(config, 3, 40) == 1
    # the batch size counts: samples, not batches, are budgeted
    assert epoch_steps(_config(batch_size=200), 59_300, 40) == 150
    # an explicit steps_per_epoch caps the pass instead of the budget
    assert epoch_steps(_config(steps_per_epoch=500), 59_300, 40) == 500
    assert epoch_steps(_config(steps_per_epoch=500), 950, 100) == 10


def test_the_epoch_cap_does_not_bind_before_patience_can():
    for model in ("baseline", "sgan"):
        assert DEFAULT_EPOCHS[model] >= 10 * DEFAULT_PATIENCE[model]
        assert _config(model=model).resolved_epochs == DEFAULT_EPOCHS[model]


def _history(scores):
    return pd.DataFrame({"epoch": range(len(scores)), "val_macro_f1": scores})


def test_stop_reason_says_converged_or_capped():
    converged = stop_reason(_history([0.5, 0.7, 0.8, 0.79, 0.8, 0.6]), cap=150, patience=3)
    assert converged == ("converged at epoch 3: val_macro_f1 did not improve in the 3 epochs "
                         "after it (patience 3); stopped at epoch 6 of at most 150")
    capped = stop_reason(_history([0.5, 0.6, 0.7]), cap=3, patience=3)
    assert capped.startswith("reached the cap of 3 epochs and was still improving")
    assert "raise --epochs" in capped
    plateau = stop_reason(_history([0.5, 0.9, 0.8, 0.7]), cap=4, patience=5)
    assert plateau.startswith("reached the cap of 4 epochs, 2 epochs after the kept epoch 2")
    # patience used up exactly at the cap: early stopping ended it, not the cap
    assert stop_reason(_history([0.9, 0.8, 0.7]), cap=3, patience=2).startswith("converged")
    assert "no epoch had a finite" in stop_reason(_history([float("nan")]), cap=5, patience=2)


@pytest.mark.parametrize("steps", [0, -3])
def test_a_bad_steps_per_epoch_is_refused(steps):
    from exermote_sgan.errors import ExermoteInputError

    with pytest.raises(ExermoteInputError, match="steps_per_epoch"):
        _config(steps_per_epoch=steps).validate()
