"""The README's main job: ``exermote-sgan demo`` runs the whole pipeline end to end."""

import json

import pytest

from exermote_sgan.cli import main

pytestmark = pytest.mark.slow


def test_demo_runs_every_stage_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--subjects", "3", "--sessions-per-subject", "1",
                 "--epochs", "1"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    headings = [line for line in printed.splitlines() if line.startswith("=== ")]
    assert [h.split()[1] for h in headings] == [f"{k}/7" for k in range(1, 8)]
    assert "stream predictions" in headings[-1]
    # training is not silent: one line per epoch, for each model, and the kept epoch
    assert captured.err.count("epoch 1/1") == 2
    assert printed.count("kept epoch 1 of 1") == 2
    # the baseline reads labeled windows only
    assert "trained baseline on" in printed and "unlabeled" not in printed.split(
        "trained baseline on")[1].splitlines()[0]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"baseline", "sgan", "export", "repetitions"}
    # both models saw the same labeled windows and were evaluated on the held-out subject
    assert summary["baseline"]["n_labeled"] == summary["sgan"]["n_labeled"] > 0
    assert 0.0 <= summary["sgan"]["macro_f1"] <= 1.0
    # the export's rule: every label that differs from Keras's is at a near-tie (docs/export.md)
    check = summary["export"]["mlpackage_check"]
    assert check["passed"] and check["differing_labels"] == check["near_tie_disagreements"]
    assert check["label_agreement"] >= 0.99
    assert (out / "ExermoteClassifier.mlpackage").is_dir()
    # the export draws no coremltools progress bars into the demo's output
    assert "Running MIL" not in captured.err and "passes/s" not in captured.err, captured.err
    assert (out / "plots" / "history_baseline_vs_sgan.png").stat().st_size > 10_000
    assert (out / "sgan" / "plots" / "generated_vs_real.png").is_file()
    assert summary["repetitions"]["ours"]["sets_true"] == 3  # one set per exercise
    # the synthetic people wear the phone alike: all 12 features, no rotation (see demo --help)
    from exermote_sgan.runs import load_run

    prep = load_run(out / "sgan", load_classifier=False).preprocessing
    assert len(prep.features) == 12 and prep.provenance.augment_rotation == 0.0


def test_demo_checks_its_options_before_any_work(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--subjects", "1"]) == 2
    assert "at least 2 subjects" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_demo_help_is_plain_text_with_its_seven_steps(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    assert "  7. stream predictions" in text
