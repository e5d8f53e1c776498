"""The SGAN-versus-baseline comparison: same labels per seed, honest aggregation, resumption.

Most tests replace the slow ``train_lib.train`` by a stand-in that really learns: a
nearest-centroid classifier written as a tiny Keras model, fitted on the labeled windows
(``baseline``) or refined with one round of self-training on the unlabeled windows (``sgan``),
and evaluated on the test subjects with ``evaluate_classifier``.  So every figure in the
results comes from a real evaluation, and the comparison logic is checked against it.  One
slow test runs the real training end to end.
"""

from __future__ import annotations

import json
import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from exermote_sgan.atomic import atomic_write_text
from exermote_sgan.data.scaler import MinMaxScaler
from exermote_sgan.data.windows_file import (WindowSet, content_sha256, load_windows,
                                             save_windows)
from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.runs import Preprocessing
from exermote_sgan.experiments import compare as compare_module
from exermote_sgan.training import train_lib
from exermote_sgan.experiments.compare import compare, format_summary, run_name
from exermote_sgan.experiments.statistics import wilcoxon_p
from exermote_sgan.training.evaluation import evaluate_classifier

CLASSES = ("Break", "Burpee", "Situp", "Squat")
FEATURES = ("a", "b", "c")
TIMESTEPS = 8


def _window_set(seed: int = 0, per_class: int = 6, subjects=(1, 2, 3),
                sessions_per_subject: int = 2) -> WindowSet:
    """Four classes with distinct mean patterns plus noise, in two sessions of each subject."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.0, size=(len(CLASSES), len(FEATURES)))
    windows, labels, subj, sessions, ends = [], [], [], [], []
    for s in subjects:
        for j in range(sessions_per_subject):
            for k in range(len(CLASSES)):
                noise = rng.normal(scale=0.9, size=(per_class, TIMESTEPS, len(FEATURES)))
                windows.append(centres[k] + noise + 0.2 * s)
                labels += [k] * per_class
                subj += [s] * per_class
                sessions += [(s - 1) * sessions_per_subject + j] * per_class
                ends += list(range(k * per_class, (k + 1) * per_class))
    n_sessions = len(subjects) * sessions_per_subject
    return WindowSet(windows=np.concatenate(windows).astype(np.float32), labels=np.array(labels),
                     subjects=np.array(subj), sessions=np.array(sessions),
                     end_index=np.array(ends) + TIMESTEPS - 1, classes=CLASSES,
                     features=FEATURES, timesteps=TIMESTEPS,
                     session_names=tuple(f"session {i}" for i in range(n_sessions)))


def _centroid_classifier(centroids):
    """Keras model whose argmax is the nearest centroid of the time-averaged window."""
    import keras

    inputs = keras.Input((TIMESTEPS, len(FEATURES)))
    head = keras.layers.Dense(len(centroids), activation="softmax", name="scores")
    model = keras.Model(inputs, head(keras.layers.GlobalAveragePooling1D()(inputs)))
    # argmin |x - c|^2 = argmax (c.x - |c|^2 / 2)
    head.set_weights([centroids.T.astype(np.float32),
                      (-0.5 * np.sum(centroids ** 2, axis=1)).astype(np.float32)])
    return model


class FakeTrainer:
    """Stands in for ``train_lib.train``; records every configuration it was given."""

    def __init__(self, *, hash_depends_on_model: bool = False):
        self.configs = []
        self.hash_depends_on_model = hash_depends_on_model

    def __call__(self, config):
        self.configs.append(config)
        ws = load_windows(config.windows_path)
        test = np.isin(ws.subjects, config.test_subjects)
        pool = np.flatnonzero(~test)
        # the training library's own draw of the labeled windows (the model does not enter
        # it), as the reference forest makes it too
        _, _, _, labeled, unlabeled, _ = train_lib.split_roles(ws, config)
        labeled = np.sort(labeled)
        scaler = MinMaxScaler().fit(ws.windows[pool])
        means = scaler.transform(ws.windows).mean(axis=1)
        centroids = np.stack([means[labeled][ws.labels[labeled] == k].mean(axis=0)
                              if np.any(ws.labels[labeled] == k) else np.full(3, 9.0)
                              for k in range(len(CLASSES))])
        if config.model == "sgan":  # one round of self-training on the unlabeled windows
            guess = np.argmin(((means[unlabeled, None] - centroids) ** 2).sum(-1), axis=1)
            both = np.concatenate([means[labeled], means[unlabeled]])
            both_labels = np.concatenate([ws.labels[labeled], guess])
            centroids = np.stack([both[both_labels == k].mean(axis=0)
                                  if np.any(both_labels == k) else centroids[k]
                                  for k in range(len(CLASSES))])
        preprocessing = Preprocessing(classes=ws.classes, features=ws.features,
                                      timesteps=ws.timesteps, label_offset=4,
                                      sample_rate_hz=10.0, scaler=scaler, model=config.model)
        metrics = evaluate_classifier(_centroid_classifier(centroids), preprocessing, ws,
                                      subjects=list(config.test_subjects))
        digest = train_lib.labeled_selection_hash(labeled)
        if self.hash_depends_on_model and config.model == "sgan":
            digest = train_lib.labeled_selection_hash(labeled[1:])
        split = {"n_labeled": int(len(labeled)), "n_unlabeled": int(len(unlabeled)),
                 "labeled_sha256": digest, "windows_path": str(config.windows_path),
                 "windows_sha256": content_sha256(config.windows_path)}
        config.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config.out_dir / "metrics.json", json.dumps(metrics))
        atomic_write_text(config.out_dir / "split.json", json.dumps(split))
        return train_lib.TrainResult(run_dir=config.out_dir, metrics=metrics,
                                     history=pd.DataFrame({"epoch": [0]}),
                                     n_labeled=len(labeled), n_unlabeled=len(unlabeled),
                                     split=split)


@pytest.fixture(scope="module")
def windows_path(tmp_path_factory):
    return save_windows(tmp_path_factory.mktemp("compare") / "windows.h5", _window_set())


@pytest.fixture
def fake(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(train_lib, "train", trainer)
    return trainer


def _run(windows_path, out_dir, **kwargs):
    # the networks (the stand-in replaces their training); the forest has tests of its own
    options = dict(test_subjects=[3], labeled_fractions=[0.1, 1.0], seeds=[0, 1],
                   out_dir=out_dir, models=("baseline", "sgan"))
    options.update(kwargs)
    return compare(windows_path, **options)


def test_every_fraction_seed_and_model_is_trained_and_reported(windows_path, tmp_path, fake):
    results = _run(windows_path, tmp_path / "out", epochs=3,
                   train_options={"batch_size": 16, "labeled_unit": "windows"})
    assert len(results) == 8 and len(fake.configs) == 8
    seen = {(c.labeled_fraction, c.seed, c.model) for c in fake.configs}
    assert seen == {(f, s, m) for f in (0.1, 1.0) for s in (0, 1) for m in ("baseline", "sgan")}
    for config in fake.configs:
        assert config.test_subjects == (3,) and config.epochs == 3
        assert config.batch_size == 16 and config.labeled_unit == "windows"
        assert config.out_dir == tmp_path / "out" / "runs" / run_name(
            config.model, config.labeled_fraction, config.seed)
        assert not config.resume

    on_disk = compare_module.read_results(tmp_path / "out" / "results.csv")
    assert list(on_disk.columns) == list(compare_module.RESULT_COLUMNS)
    pd.testing.assert_frame_equal(on_disk, results, check_dtype=False)
    for row in results.itertuples():
        metrics = json.loads((tmp_path / "out" / "runs" / run_name(
            row.model, row.labeled_fraction, row.seed) / "metrics.json").read_text())
        assert row.accuracy == metrics["accuracy"] and row.macro_f1 == metrics["macro_f1"]
        assert row.run_dir.endswith(run_name(row.model, row.labeled_fraction, row.seed))
    # same labeled windows for both models of a fraction and seed, more labels with more fraction
    pairs = results.groupby(["labeled_fraction", "seed"])
    assert (pairs["labeled_hash"].nunique() == 1).all()
    assert (pairs["n_labeled"].nunique() == 1).all()
    assert results.query("labeled_fraction == 0.1")["n_labeled"].max() < \
        results.query("labeled_fraction == 1.0")["n_labeled"].min()
    # the stand-in really learns: far better than chance with every label
    assert results.query("labeled_fraction == 1.0")["accuracy"].min() > 0.5

    image = mpimg.imread(tmp_path / "out" / "compare.png")
    assert image.shape[0] > 200 and image.shape[1] > 600


def test_summary_reports_mean_std_and_paired_difference(windows_path, tmp_path, fake):
    results = _run(windows_path, tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary == format_summary(results)
    for (fraction, model), group in results.groupby(["labeled_fraction", "model"]):
        f1 = f"{group['macro_f1'].mean():.3f} ± {group['macro_f1'].std():.3f}"
        acc = f"{group['accuracy'].mean():.3f} ± {group['accuracy'].std():.3f}"
        line = [ln for ln in summary.splitlines()
                if ln.startswith(f"| {fraction:g} | {model} |")]
        assert len(line) == 1 and acc in line[0] and f1 in line[0], line
    section = summary.split("## SGAN minus baseline")[1]
    for fraction, group in results.groupby("labeled_fraction"):
        wide = group.pivot(index="seed", columns="model", values="macro_f1")
        diff = wide["sgan"] - wide["baseline"]
        line = [ln for ln in section.splitlines() if ln.startswith(f"| {fraction:g} |")]
        assert len(line) == 1
        assert f"{diff.mean():.3f} ± {diff.std():.3f}" in line[0]
        assert f"{int((diff > 0).sum())} of 2 seeds" in line[0]


def test_resumes_without_retraining_finished_runs(windows_path, tmp_path, monkeypatch, fake):
    first = _run(windows_path, tmp_path / "out")
    assert len(fake.configs) == 8
    again = FakeTrainer()
    monkeypatch.setattr(train_lib, "train", again)
    second = _run(windows_path, tmp_path / "out")
    assert again.configs == []
    pd.testing.assert_frame_equal(first, second)
    # an interrupted run (no metrics.json) is trained again, and only that one
    (tmp_path / "out" / "runs" / "sgan-f0.1-s1" / "metrics.json").unlink()
    third = _run(windows_path, tmp_path / "out", seeds=[0, 1, 2])
    retrained = sorted(run_name(c.model, c.labeled_fraction, c.seed) for c in again.configs)
    assert retrained == ["baseline-f0.1-s2", "baseline-f1-s2", "sgan-f0.1-s1", "sgan-f0.1-s2",
                         "sgan-f1-s2"]
    assert len(third) == 12


def test_a_replaced_windows_file_is_not_reported_with_the_old_runs(windows_path, tmp_path,
                                                                   monkeypatch, fake):
    """Issue 33, item 2: the finished runs were trained on the file as it was."""
    windows = tmp_path / "windows.h5"
    windows.write_bytes(windows_path.read_bytes())
    first = _run(windows, tmp_path / "out", seeds=[0])
    assert len(first) == 4
    ws = load_windows(windows_path)
    save_windows(windows, ws.subset(np.arange(0, len(ws), 2)))  # other data, the same name
    again = FakeTrainer()
    monkeypatch.setattr(train_lib, "train", again)
    with pytest.raises(ExermoteInputError, match=r"compare_settings.json.*holds runs trained "
                                                 r"on other data than .*windows.h5 holds now"):
        _run(windows, tmp_path / "out", seeds=[0])
    assert again.configs == []
    # settings written before the hash was recorded: each run's split.json still tells
    settings = tmp_path / "out" / "compare_settings.json"
    old = json.loads(settings.read_text())
    del old["windows_sha256"]
    settings.write_text(json.dumps(old))
    with pytest.raises(ExermoteInputError, match=r"split.json.*was trained on other data"):
        _run(windows, tmp_path / "out", seeds=[0])
    assert again.configs == []
    # into a new directory, the new data trains
    second = _run(windows, tmp_path / "new", seeds=[0])
    assert len(again.configs) == 4 and len(second) == 4
    # the old data back: its runs are reused; one from before the hash is reused with a word
    windows.write_bytes(windows_path.read_bytes())
    split_path = tmp_path / "out" / "runs" / "sgan-f1-s0" / "split.json"
    split = json.loads(split_path.read_text())
    del split["windows_sha256"]
    split_path.write_text(json.dumps(split))
    with pytest.warns(train_lib.TrainingDataWarning, match=r"sgan-f1-s0.*records no content "
                                                           r"hash"):
        third = _run(windows, tmp_path / "out", seeds=[0])
    assert len(again.configs) == 4
    pd.testing.assert_frame_equal(first, third)


def test_refuses_to_mix_settings_in_one_directory(windows_path, tmp_path, fake):
    _run(windows_path, tmp_path / "out", epochs=2)
    with pytest.raises(ExermoteInputError, match=r"epochs: was 2, now 5"):
        _run(windows_path, tmp_path / "out", epochs=5)


def test_bad_training_options_fail_before_any_run_and_leave_no_trace(windows_path, tmp_path,
                                                                     fake):
    with pytest.raises(ExermoteInputError, match="batch_size"):
        _run(windows_path, tmp_path / "out", train_options={"batch_size": 1})
    assert fake.configs == []
    # corrected, the same directory is fine: no finished run was made with the bad settings
    results = _run(windows_path, tmp_path / "out", train_options={"batch_size": 8},
                   seeds=[0], labeled_fractions=[1.0])
    assert len(results) == 2 and fake.configs[0].batch_size == 8


def test_different_labeled_windows_are_detected(windows_path, tmp_path, monkeypatch):
    monkeypatch.setattr(train_lib, "train", FakeTrainer(hash_depends_on_model=True))
    with pytest.raises(RuntimeError, match="not trained on the same labeled windows"):
        _run(windows_path, tmp_path / "out", seeds=[0], labeled_fractions=[0.5])


@pytest.mark.parametrize("options, message", [
    (dict(test_subjects=[]), "at least one test subject"),
    (dict(test_subjects=[7]), r"test subject\(s\) 7"),
    (dict(test_subjects=[1, 2, 3]), "none is left to train on"),
    (dict(labeled_fractions=[0.1, 0]), r"in \(0, 1\], got 0"),
    (dict(labeled_fractions=[1.5]), "got 1.5"),
    (dict(seeds=[1, 1]), "distinct seeds"),
    (dict(models=["baseline", "gan"]), "models must be"),
    (dict(epochs=0), "at least 1"),
])
def test_bad_options_are_refused_before_training(windows_path, tmp_path, fake, options,
                                                 message):
    with pytest.raises(ExermoteInputError, match=message):
        _run(windows_path, tmp_path / "out", **options)
    assert fake.configs == []


def test_missing_windows_file(tmp_path, fake):
    with pytest.raises(ExermoteInputError, match="windows file not found"):
        _run(tmp_path / "nope.h5", tmp_path / "out")


def test_cli(windows_path, tmp_path, fake, capsys):
    from exermote_sgan.cli import main

    out = tmp_path / "cli"
    status = main(["compare", str(windows_path), "--test-subjects", "3", "--labeled-fractions",
                   "0.25", "--seeds", "4", "--out", str(out), "--models", "baseline",
                   "--epochs", "1", "--labeled-unit", "windows", "--augment-rotation", "90",
                   "--lstm-units", "16", "--conv-filters", "8"])
    assert status == 0
    assert [(c.model, c.seed, c.labeled_fraction, c.epochs, c.augment_rotation, c.lstm_units,
             c.conv_filters, c.kernel_size, c.trunk, c.scaler_quantile)
            for c in fake.configs] == [("baseline", 4, 0.25, 1, 90.0, 16, 8, 7, "multiscale",
                                        0.01)]
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 1
    stdout = capsys.readouterr().out
    assert re.search(rf"\| 0.25 \| baseline \| \d+ \| {results.accuracy[0]:.3f} \|", stdout)
    assert main(["compare", str(windows_path), "--test-subjects", "9", "--out",
                 str(tmp_path / "bad")]) == 2
    assert "test subject(s) 9" in capsys.readouterr().err
    assert main(["compare", str(windows_path), "--test-subjects", "3", "--out",
                 str(tmp_path / "bad"), "--lstm-units", "0"]) == 2
    assert "option 'lstm_units': must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_with_real_training(tmp_path):
    """Both real networks and the forest, one fraction, one seed, a couple of tiny epochs."""
    # TIMESTEPS=8 is too short for the generator's default layout; use 40-step windows
    ws = _window_set(per_class=3)
    long = WindowSet(windows=np.repeat(ws.windows, 5, axis=1), labels=ws.labels,
                     subjects=ws.subjects, sessions=ws.sessions, end_index=ws.end_index + 32,
                     classes=ws.classes, features=ws.features, timesteps=40,
                     session_names=ws.session_names)
    path = save_windows(tmp_path / "windows.h5", long)
    results = compare(path, test_subjects=[3], labeled_fractions=[0.5], seeds=[0],
                      out_dir=tmp_path / "out", epochs=1,
                      train_options={"labeled_unit": "windows", "batch_size": 16,
                                     "verbose": 0, "steps_per_epoch": 2})
    assert sorted(results.model) == ["baseline", "forest", "sgan"]
    assert results.labeled_hash.nunique() == 1  # the forest's too: the same labeled windows
    for row in results.itertuples():
        metrics = json.loads((tmp_path / "out" / "runs" / run_name(row.model, 0.5, 0)
                              / "metrics.json").read_text())
        assert metrics["n_windows"] == 24 and row.accuracy == metrics["accuracy"]
    # three models, and three paired differences (SGAN - baseline, each network - forest)
    assert (tmp_path / "out" / "summary.md").read_text().count("| 0.5 |") == 6


# -- leave each subject out --------------------------------------------------------------------

def test_leave_each_subject_out_holds_out_every_subject_and_reports_each(windows_path, tmp_path,
                                                                         fake):
    from scipy.stats import wilcoxon

    from exermote_sgan.experiments.grid_report import subject_table

    out = tmp_path / "loso"
    results = compare(windows_path, leave_each_subject_out=True, labeled_fractions=[0.25],
                      seeds=[0, 1, 2], out_dir=out)  # the networks and the forest, by default
    assert len(results) == 3 * 3 * 3 and len(fake.configs) == 18
    assert sorted(results.model.unique()) == ["baseline", "forest", "sgan"]
    assert sorted({c.test_subjects for c in fake.configs}) == [(1,), (2,), (3,)]
    for config in fake.configs:
        assert config.out_dir == out / "runs" / f"test{config.test_subjects[0]}" / run_name(
            config.model, config.labeled_fraction, config.seed)
    assert list(results.test_subjects.unique()) == ["1", "2", "3"]
    pd.testing.assert_frame_equal(compare_module.read_results(out / "results.csv"), results,
                                  check_dtype=False)

    # the per-subject table, recomputed here from the results
    table = subject_table(results, 0.25).set_index("held_out")
    for subject, group in results.groupby("test_subjects"):
        wide = group.pivot(index="seed", columns="model", values="macro_f1")
        diff = wide["sgan"] - wide["baseline"]
        row = table.loc[subject]
        assert row.baseline_mean == pytest.approx(wide["baseline"].mean())
        assert row.sgan_std == pytest.approx(wide["sgan"].std())
        assert row.differences == pytest.approx(tuple(diff))
        assert row.wins == int((diff > 0).sum()) and row.pairs == 3
    wide = results.pivot_table(index=["test_subjects", "seed"], columns="model",
                               values="macro_f1")
    every = wide["sgan"] - wide["baseline"]
    assert table.loc["all 9"].difference_mean == pytest.approx(every.mean())

    summary = (out / "summary.md").read_text()
    assert ("| held out | baseline | SGAN | forest | SGAN - baseline, per seed | mean | "
            "SGAN wins |") in summary
    line = [ln for ln in summary.splitlines() if ln.startswith("| 2 |")]
    diff2 = table.loc["2"]
    forest2 = results.query("model == 'forest' and test_subjects == '2'")["macro_f1"]
    assert diff2.forest_mean == pytest.approx(forest2.mean())
    assert line == [f"| 2 | {diff2.baseline_mean:.3f} ± {diff2.baseline_std:.3f} | "
                    f"{diff2.sgan_mean:.3f} ± {diff2.sgan_std:.3f} | "
                    f"{forest2.mean():.3f} ± {forest2.std():.3f} | "
                    + ", ".join(f"{100 * d:+.1f}" for d in diff2.differences)
                    + f" | {100 * diff2.difference_mean:+.1f} | {diff2.wins} of 3 |"]
    assert f"**{100 * every.mean():+.1f} ± {100 * every.std():.1f}**" in summary
    if np.any(every != 0):
        p = wilcoxon(every.to_numpy()).pvalue
        assert f"over the 9 pairs gives p = {compare_module.format_p(p)}" in summary
    image = mpimg.imread(out / "subjects.png")
    assert image.shape[0] > 200 and image.shape[1] > 300


def test_leave_some_subjects_out_and_refusals(windows_path, tmp_path, fake):
    results = compare(windows_path, leave_each_subject_out=[3, 1], labeled_fractions=[1.0],
                      seeds=[0], out_dir=tmp_path / "two", models=["baseline"])
    assert list(results.test_subjects) == ["1", "3"]
    # every held-out subject was tested on its own windows only, never trained on
    assert [c.test_subjects for c in fake.configs] == [(1,), (3,)]
    summary = (tmp_path / "two" / "summary.md").read_text()
    assert "| held out | baseline |" in summary and "Wilcoxon" not in summary
    with pytest.raises(ExermoteInputError, match=r"test subject\(s\) 9"):
        compare(windows_path, leave_each_subject_out=[9], out_dir=tmp_path / "bad")
    with pytest.raises(ExermoteInputError, match="not both"):
        compare(windows_path, test_subjects=[1], leave_each_subject_out=True,
                out_dir=tmp_path / "bad")
    # a grid of other folds in the same directory is refused, not mixed
    with pytest.raises(ExermoteInputError, match="leave_each_subject_out"):
        compare(windows_path, leave_each_subject_out=True, labeled_fractions=[1.0], seeds=[0],
                out_dir=tmp_path / "two", models=["baseline"])


def test_paired_difference_has_a_wilcoxon_test():
    from scipy.stats import wilcoxon

    rows = []
    gains = [0.05, 0.10, -0.02, 0.07, 0.03]
    for seed, gain in enumerate(gains):
        for model, score in (("baseline", 0.6 + seed / 100), ("sgan", 0.6 + seed / 100 + gain)):
            rows.append({"test_subjects": "4", "labeled_fraction": 0.05, "seed": seed,
                         "model": model, "accuracy": score, "macro_f1": score})
    table = compare_module.paired_difference(pd.DataFrame(rows))
    assert table.loc[0, "wins"] == 4 and table.loc[0, "seeds"] == 5
    assert table.loc[0, "mean"] == pytest.approx(np.mean(gains))
    assert table.loc[0, "wilcoxon_p"] == pytest.approx(wilcoxon(gains).pvalue)
    assert np.isnan(wilcoxon_p([0.0, 0.0]))


def test_cli_leave_each_subject_out_and_backend_options(windows_path, tmp_path, fake, capsys):
    from exermote_sgan.cli import main

    out = tmp_path / "cli"
    assert main(["compare", str(windows_path), "--leave-each-subject-out", "--out", str(out),
                 "--labeled-fractions", "0.5", "--seeds", "0", "--epochs", "1",
                 "--steps-per-epoch", "3"]) == 0
    assert sorted({c.test_subjects for c in fake.configs}) == [(1,), (2,), (3,)]
    assert {c.steps_per_epoch for c in fake.configs} == {3}
    assert "## Each subject held out in turn, 0.5 labeled" in capsys.readouterr().out
    assert main(["compare", str(windows_path), "--test-subjects", "3", "--out", str(out),
                 "--workers", "2"]) == 2
    assert "--workers apply to Ray: add --backend ray" in capsys.readouterr().err
    assert main(["compare", str(windows_path), "--test-subjects", "3", "--out", str(out),
                 "--backend", "ray", "--workers", "0"]) == 2
    assert "option 'workers': must be at least 1" in capsys.readouterr().err


def test_ray_missing_is_one_line_with_the_fix(windows_path, tmp_path, fake, monkeypatch, capsys):
    import sys

    from exermote_sgan.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["compare", str(windows_path), "--test-subjects", "3", "--out",
                 str(tmp_path / "out"), "--backend", "ray", "--seeds", "0",
                 "--labeled-fractions", "1"]) == 2
    assert "pip install 'exermote_sgan[cluster]'" in capsys.readouterr().err
    assert fake.configs == []
