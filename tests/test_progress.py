"""Training says what it does: epoch lines, the epoch it kept, what each model trained on."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd

from exermote_sgan.cli.evaluate import seen_subjects
from exermote_sgan.cli.train import training_summary
from exermote_sgan.runs import Provenance
from exermote_sgan.training.progress import (EpochLines, format_epoch_line, keras_verbose,
                                             progress_callbacks, selected_epoch)


def test_selected_epoch_is_the_first_best_validation_macro_f1_numbered_from_one():
    history = pd.DataFrame({"epoch": [0, 1, 2, 3], "val_macro_f1": [0.5, 0.8, math.nan, 0.8]})
    assert selected_epoch(history) == (2, 0.8)
    # a resumed run's history continues its epoch numbers
    resumed = pd.DataFrame({"epoch": [4, 5], "val_macro_f1": [0.1, 0.3]})
    assert selected_epoch(resumed) == (6, 0.3)
    assert selected_epoch(pd.DataFrame({"epoch": [0], "loss": [1.0]})) is None
    assert selected_epoch(pd.DataFrame({"epoch": [0], "val_macro_f1": [math.nan]})) is None


def test_epoch_line_shows_losses_validation_and_best():
    line = format_epoch_line(3, 30, 4.06, {"d_loss": 1.2345, "g_loss": 0.01, "lr": 1e-3,
                                           "val_macro_f1": 0.8123}, best=True)
    assert line == "epoch  3/30    4.1 s  d_loss 1.234  g_loss 0.010  val_macro_f1 0.812  " \
                   "best so far"


def test_verbose_levels():
    assert progress_callbacks(0) == [] and keras_verbose(0) == 0
    assert len(progress_callbacks(1)) == 1 and keras_verbose(1) == 0
    assert keras_verbose(2) == 1


def test_epoch_lines_callback_prints_one_line_per_epoch_and_the_best():
    stream = io.StringIO()
    callback = EpochLines(stream=stream)
    callback.set_params({"epochs": 3})
    for epoch, f1 in enumerate([0.4, 0.7, 0.6]):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": 1.0 - f1, "val_macro_f1": f1})
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert [line.endswith("best so far") for line in lines] == [True, True, False]


def _result(model_history=(0.3, 0.9, 0.5)):
    history = pd.DataFrame({"epoch": np.arange(len(model_history)),
                            "val_macro_f1": list(model_history)})
    return SimpleNamespace(n_labeled=100, n_unlabeled=900, run_dir="runs/x", history=history,
                           split={"n_training": 1000, "n_adaptation": 0})


def test_baseline_summary_claims_no_unlabeled_windows_and_names_the_kept_epoch():
    text = training_summary("baseline", _result())
    assert text.splitlines()[0] == "trained baseline on 100 labeled windows; run directory: runs/x"
    assert "kept epoch 2 of 3" in text and "0.900" in text


def test_sgan_summary_states_its_unlabeled_stream():
    text = training_summary("sgan", _result())
    assert "100 labeled windows, with 1000 unlabeled ones" in text
    assert "900 never labeled" in text


def test_evaluate_names_subjects_the_run_trained_on():
    provenance = Provenance(training_subjects=(1, 2, 3), validation_subjects=(2,),
                            test_subjects=(4,))
    assert seen_subjects(provenance, [1, 4]) == [1]
    assert seen_subjects(provenance, [4]) == []
    assert seen_subjects(Provenance(), [1]) == []
