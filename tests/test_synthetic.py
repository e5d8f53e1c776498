"""The synthetic recordings: reproducible sample, Exermote format, true ground truth, learnable."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from exermote_sgan.recordings.pipeline import preprocess
from exermote_sgan.recordings.readers import read_exermote_csv
from exermote_sgan.recordings.schema import EXERMOTE_COLUMNS
from exermote_sgan.recordings.synthetic import (MANIFEST_NAME, read_manifest, synthesize_recording,
                                                write_synthetic_recordings)
from exermote_sgan.errors import ExermoteInputError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
# the exact call documented in data/README.md
SAMPLE_CALL = dict(subjects=(1, 2, 3, 4), sessions_per_subject=1, rows_per_session=1100, seed=0)


def test_committed_sample_is_reproduced_byte_for_byte(tmp_path):
    paths = write_synthetic_recordings(tmp_path, **SAMPLE_CALL)
    committed = sorted(p.name for p in SAMPLE.iterdir())
    assert sorted([p.name for p in paths] + [MANIFEST_NAME]) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    assert sum((SAMPLE / n).stat().st_size for n in committed) < 800_000
    readme = (SAMPLE.parent / "README.md").read_text()
    assert "rows_per_session=1100, seed=0" in readme


def test_sample_has_the_exermote_format():
    for path in sorted(SAMPLE.glob("*.csv")):
        header = path.read_text().splitlines()[0].split(",")
        assert tuple(header) == EXERMOTE_COLUMNS
        rec = read_exermote_csv(path)
        assert np.isnan(rec.values[0]).all() and np.isfinite(rec.values[1:]).all()
        gravity = rec.values[1:, :3]
        np.testing.assert_allclose(np.linalg.norm(gravity, axis=1), 1.0, atol=0.02)
        steps = np.diff(rec.timestamps)
        assert np.median(steps) == pytest.approx(0.1, abs=0.002)
        assert 0.0005 < steps.std() < 0.01 and steps.min() > 0.07
        assert np.abs(rec.values[1:, 6:9]).max() < np.pi  # attitude in rad
        assert rec.subject == int(path.stem.rsplit(" ", 1)[1])


def _runs(labels, subs):
    return [(k, len(list(g))) for k, g in itertools.groupby(zip(labels, subs))]


def test_manifest_matches_the_rows_of_each_file():
    manifest = read_manifest(SAMPLE)
    assert len(manifest["recordings"]) == 4
    seen = set()
    for entry in manifest["recordings"]:
        rec = read_exermote_csv(SAMPLE / entry["file"])
        assert entry["subject"] == rec.subject and entry["rows"] == len(rec)
        # every exercise row belongs to exactly one set; sets hold only their exercise and Break
        exercise_rows = np.flatnonzero(np.isin(rec.labels, ["Burpee", "Situp", "Squat"]))
        covered = np.zeros(len(rec), dtype=bool)
        for s in entry["sets"]:
            seen.add(s["exercise"])
            part = slice(s["start_row"], s["end_row"])
            assert set(rec.labels[part]) == {s["exercise"], "Break"}
            firsts = sum(1 for (label, sub), _ in _runs(rec.labels[part], rec.sub_labels[part])
                         if (label, sub) == (s["exercise"], "firstHalf"))
            assert firsts == s["repetitions"] == len(s["repetition_rows"])
            for start, end in s["repetition_rows"]:
                assert rec.sub_labels[start] == "firstHalf" and rec.sub_labels[end - 1] == \
                    "secondHalf" and (rec.labels[start:end] == s["exercise"]).all()
                covered[start:end] = True
            assert rec.labels[s["start_row"] - 1] == "setBreak"  # sets follow a set break
        np.testing.assert_array_equal(np.flatnonzero(covered), exercise_rows)
    assert seen == {"Burpee", "Situp", "Squat"}


def test_set_breaks_are_about_25_seconds():
    rec = synthesize_recording(2, rows=1500, seed=3)
    runs = [n for (label, _), n in _runs(rec.labels, rec.sub_labels) if label == "setBreak"]
    assert runs[1:-1] and all(n == 250 for n in runs[1:-1])
    assert len(rec.sets) == 3


def test_generator_is_seeded_and_validates(tmp_path):
    a = synthesize_recording(1, rows=600, seed=1)
    b = synthesize_recording(1, rows=600, seed=1)
    c = synthesize_recording(1, rows=600, seed=2)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values[1:], c.values[1:])
    with pytest.raises(ExermoteInputError, match="distinct"):
        write_synthetic_recordings(tmp_path, subjects=(1, 1))
    paths = write_synthetic_recordings(tmp_path / "two", subjects=(5,), sessions_per_subject=2,
                                       rows_per_session=600)
    assert len(paths) == 2 and len({read_exermote_csv(p).subject for p in paths}) == 1
    assert json.loads((tmp_path / "two" / MANIFEST_NAME).read_text())["arguments"]["seed"] == 0


def test_a_small_classifier_recognises_unseen_subjects():
    from sklearn.ensemble import RandomForestClassifier

    windows, _ = preprocess([SAMPLE])
    w = windows.windows
    centre = w[:, 14:26]
    features = np.concatenate([w.mean(1), w.std(1), centre.mean(1), centre.std(1)], axis=1)
    accuracies = []
    for subject in np.unique(windows.subjects):
        test = windows.subjects == subject
        model = RandomForestClassifier(n_estimators=40, random_state=0, n_jobs=1)
        model.fit(features[~test], windows.labels[~test])
        accuracies.append((model.predict(features[test]) == windows.labels[test]).mean())
    majority = np.bincount(windows.labels).max() / len(windows)
    assert min(accuracies) > 0.9 > majority + 0.15, accuracies
