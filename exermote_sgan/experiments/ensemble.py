"""Combine finished runs into one run whose classifier averages theirs (``exermote-sgan ensemble``).

The usual members are runs of one training command with different ``--seed``: each network
learns its own idiosyncrasies of the training people, and the mean of their probabilities
carries over to a new person better than any one of them (see
:mod:`exermote_sgan.models.ensemble`).  The ensemble run is an ordinary run directory, so
``evaluate``, ``export``, ``predict`` and ``evaluate-reps`` take it unchanged.

The members must describe the same windows: classes, features, window length, label offset,
sampling rate, rest class and reader.  The ensemble keeps the first member's scaler and folds
each other member's own scaling into its first convolution.  Its test subjects are those every
member held out, and it is scored on them when the members share a windows file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..atomic import atomic_output, check_replaceable_dir
from ..errors import ExermoteInputError


#: what every member must share, with how a mismatch is described
_SHARED = (("classes", "classes"), ("features", "features"), ("timesteps", "window length"),
           ("label_offset", "label offset"), ("sample_rate_hz", "sampling rate"),
           ("rest_class", "rest class"), ("reader", "reader settings"))


@dataclass
class EnsembleResult:
    """The written run directory, its members and its test metrics (None without)."""

    run_dir: Path
    members: tuple[Path, ...]
    metrics: dict | None
    note: str = ""


def _check_members(runs) -> None:
    first = runs[0]
    for run in runs[1:]:
        for key, words in _SHARED:
            mine, theirs = getattr(run.preprocessing, key), getattr(first.preprocessing, key)
            if (tuple(mine) if isinstance(mine, (list, tuple)) else mine) != (
                    tuple(theirs) if isinstance(theirs, (list, tuple)) else theirs):
                raise ExermoteInputError(
                    f"its {words} ({mine!r}) differ from {first.run_dir}'s ({theirs!r}); the "
                    "members of an ensemble must be trained on the same kind of windows "
                    "(runs of one training command with different --seed)", path=run.run_dir)


def _subjects(runs, key: str, combine) -> list[int]:
    sets = [set(int(s) for s in getattr(run.preprocessing.provenance, key) or ()) for run in runs]
    return sorted(combine(*sets)) if sets else []


def _provenance(runs, run_dirs):
    """The ensemble's :class:`~exermote_sgan.runs.Provenance`: the first member's data and
    labels, its members, and a test subject only where every member held it out (one no
    member trained or validated on)."""
    from ..runs import Provenance

    own = runs[0].preprocessing.provenance
    return Provenance(
        windows_path=own.windows_path, windows_sha256=own.windows_sha256,
        labeled_fraction=own.labeled_fraction, labeled_unit=own.labeled_unit,
        augment_rotation=own.augment_rotation,
        test_subjects=tuple(_subjects(runs, "test_subjects", set.intersection)),
        training_subjects=tuple(_subjects(runs, "training_subjects", set.union)),
        validation_subjects=tuple(_subjects(runs, "validation_subjects", set.union)),
        ensemble_of=tuple(str(p) for p in run_dirs),
        ensemble_seeds=tuple(run.preprocessing.provenance.seed for run in runs))


def ensemble_runs(run_dirs, out, *, command: str = "", progress=None) -> EnsembleResult:
    """Write ``out``, a run whose classifier is the mean of ``run_dirs``' classifiers.

    Raises :class:`ExermoteInputError` (nothing written) for fewer than two runs, a run that
    cannot be loaded, members that describe different windows, or ``out`` among the members.
    """
    from ..errors import as_path, as_sequence
    from ..runs import (CLASSIFIER_FILE, PREPROCESSING_FILE, load_run, save_run, windows_status,
                        with_classifier)

    say = progress or (lambda message: None)
    run_dirs = [as_path(p, option="run_dirs") for p in as_sequence(
        run_dirs, option="run_dirs", example="['runs/seed0', 'runs/seed1']")]
    out = as_path(out, option="out")
    if len(run_dirs) < 2:
        raise ExermoteInputError(f"an ensemble needs at least 2 runs, got {len(run_dirs)}; "
                                 "train the same command with other --seed values first")
    if len({p.resolve() for p in run_dirs}) != len(run_dirs):
        raise ExermoteInputError("a run is given twice; each member must be another run")
    if out.resolve() in {p.resolve() for p in run_dirs}:
        raise ExermoteInputError("--out is one of the members; write the ensemble to a new "
                                 "directory", path=out)
    # an existing folder is replaced as a whole: only a run directory (or an empty folder)
    check_replaceable_dir(out, markers=(PREPROCESSING_FILE, CLASSIFIER_FILE),
                          what="a run directory")
    # the cheap files first, so a wrong path or a mismatch fails before Keras loads
    headers = [load_run(p, load_classifier=False) for p in run_dirs]
    for header in headers:
        if header.preprocessing.provenance.ensemble_of:
            raise ExermoteInputError(
                "is itself an ensemble; combine the runs it was made of (ensemble_of in its "
                "preprocessing.json) with the others instead", path=header.run_dir)
    _check_members(headers)

    say(f"loading {len(run_dirs)} runs (TensorFlow and Keras)")
    from ..models.ensemble import build_ensemble, fold_input_scaling  # loads Keras

    runs = [with_classifier(header) for header in headers]
    scaler = runs[0].preprocessing.scaler
    members = [runs[0].classifier]
    for run in runs[1:]:
        own = run.preprocessing.scaler
        ratio = np.asarray(own.scale_) / np.asarray(scaler.scale_)
        shift = np.asarray(own.offset_) - ratio * np.asarray(scaler.offset_)
        members.append(fold_input_scaling(run.classifier, ratio, shift))
    classifier = build_ensemble(members)

    first = runs[0].preprocessing
    models = sorted({run.preprocessing.model for run in runs})
    provenance = _provenance(runs, run_dirs)
    preprocessing = replace(first, model=models[0] if len(models) == 1 else "ensemble",
                            training_command=command or "exermote-sgan ensemble "
                            + " ".join(map(str, run_dirs)) + f" --out {out}",
                            provenance=provenance)

    metrics, note = None, ""
    windows_paths = {str(run.preprocessing.provenance.windows_path) for run in runs}
    hashes = {run.preprocessing.provenance.windows_sha256 for run in runs}
    path = Path(windows_paths.pop()) if len(windows_paths) == 1 and len(hashes) == 1 else None
    if not provenance.test_subjects:
        note = "no subject is held out by every member: no metrics.json"
    elif path is None or not path.is_file():
        note = ("the members were trained on different or missing windows files: no "
                "metrics.json (run 'exermote-sgan evaluate')")
    elif windows_status(provenance, path) == "changed":
        note = (f"{path} changed since the members were trained on it: no metrics.json "
                "(retrain the members on it, or evaluate on the original file)")
    else:
        from ..data.windows_file import load_windows
        from ..training.evaluation import evaluate_classifier

        subjects = list(provenance.test_subjects)
        say(f"scoring the ensemble on test subjects {subjects} of {path}")
        metrics = evaluate_classifier(classifier, preprocessing, load_windows(path),
                                      subjects=subjects, path=path)
    with atomic_output(out, directory=True) as staging:
        save_run(staging, classifier, preprocessing, metrics=metrics)
    return EnsembleResult(out, tuple(run_dirs), metrics, note)
