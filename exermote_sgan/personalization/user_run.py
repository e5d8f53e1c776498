"""A run adapted to one user without retraining it: the ``scaler`` and ``self-training``
methods of :func:`~exermote_sgan.personalization.personalize.personalize`.

:func:`adapt_run` loads a trained run's classifier and scaler, recovers the run's labeled
windows exactly (the same split function and seed as ``train``; the labeled windows' hash in
``split.json`` is checked), adapts the classifier to the user's unlabeled windows with
:mod:`.adaptation`, scores it on the run's test windows when the run had test subjects, and
writes a normal run directory: ``classifier.keras``, ``preprocessing.json`` (with the user's
scaler when it was adapted), ``metrics.json``, ``split.json``, ``history.csv`` and
``checkpoints/train_config.json``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ExermoteInputError


def _smoothing_width(smooth_s: float, *, stride: int, sample_rate_hz: float) -> int:
    """Windows in ``smooth_s`` seconds at the run's stride, odd (a centred average)."""
    width = max(1, int(round(float(smooth_s) * sample_rate_hz / max(1, int(stride)))))
    return width if width % 2 else width + 1


def adapt_run(run_dir, config, personal, *, out_dir: Path, final_dir: Path, method: str,
              settings: dict, verbose: int = 0):
    """Adapt the run ``run_dir`` (trained with ``config``) to the user's windows ``personal``
    (a :class:`~exermote_sgan.data.windows_file.WindowSet`, labels placeholders, never read);
    write the new run to ``out_dir``.  Returns ``(TrainResult, details for personalize.json)``.
    """
    import pandas as pd

    from ..runs import load_run
    from ..training.train_lib import set_determinism

    run = load_run(run_dir)
    window_set, fit_idx, test_idx, labeled_idx, split = _run_windows(run_dir, config,
                                                                     run.preprocessing)
    scaler = run.preprocessing.scaler
    details = {"n_labeled": int(len(labeled_idx))}
    if method == "scaler" or settings.get("adapt_scaler"):
        scaler = _user_scaler(run.preprocessing.scaler, window_set, fit_idx, personal)
    set_determinism(config.seed)
    classifier, histories = run.classifier, []
    if method == "self-training":
        classifier, histories, rounds, width = _self_train(
            run, config, window_set, labeled_idx, personal, scaler, settings, verbose=verbose)
        details.update(rounds=rounds, smoothing_windows=int(width))
    history = (pd.concat(histories, ignore_index=True) if histories
               else pd.DataFrame(columns=["epoch", "round"]))
    adapted = _adapted_preprocessing(run.preprocessing, scaler, config, method, run_dir)
    result = _write_adapted_run(out_dir, final_dir, config, classifier, adapted, window_set,
                                test_idx, labeled_idx, history,
                                {**split, "n_personal_windows": int(len(personal)),
                                 "personalize_method": method})
    return result, details


def _run_windows(run_dir, config, preprocessing):
    """``(window_set, fit_idx, test_idx, labeled_idx, split.json)``: the run's windows in its
    features, split exactly as ``train`` split them; refused unless they are the run's own
    (same classes, same labeled windows' hash)."""
    from ..data.windows_file import load_windows
    from ..runs import SPLIT_FILE, read_json_object
    from ..training.train_lib import TrainingDataWarning, split_roles, labeled_selection_hash

    window_set = load_windows(config.windows_path).select_features(
        preprocessing.features, path=config.windows_path)
    if tuple(window_set.classes) != tuple(preprocessing.classes):
        raise ExermoteInputError(
            f"the windows file's classes {list(window_set.classes)} are not the run's "
            f"{list(preprocessing.classes)}; pass the run's own windows file",
            path=config.windows_path, option="windows")
    with warnings.catch_warnings():  # the run's training warned already
        warnings.simplefilter("ignore", TrainingDataWarning)
        fit_idx, _val, test_idx, labeled_idx, _unlabeled, _adapt = split_roles(window_set, config)
    split_path = Path(run_dir) / SPLIT_FILE
    split = read_json_object(split_path) if split_path.is_file() else {}
    if split.get("labeled_sha256") not in (None, labeled_selection_hash(labeled_idx)):
        raise ExermoteInputError(
            "the windows file no longer gives the run's labeled windows (their hash differs "
            "from split.json's); pass the windows file the run was trained on",
            path=config.windows_path, option="windows")
    return window_set, fit_idx, test_idx, labeled_idx, split


def _user_scaler(run_scaler, window_set, fit_idx, personal):
    """The ``scaler`` method's scaler: the run's, after a per-feature map that gives the
    user's rows the training rows' mean and sd."""
    from . import adaptation

    training_moments = adaptation.row_moments(window_set.row_windows.take(fit_idx))
    return adaptation.user_scaler(run_scaler, training_moments=training_moments,
                                  user_moments=adaptation.row_moments(personal.row_windows))


def _self_train(run, config, window_set, labeled_idx, personal, scaler, settings: dict, *,
                verbose: int):
    """Self-training's rounds: pseudo-label the user's windows with the last model, then
    fine-tune the run's own classifier on them plus the labeled windows.  Returns
    ``(classifier, histories, rounds' details, smoothing width)``."""
    from . import adaptation
    from ..training import window_source

    preprocessing = run.preprocessing
    user_scaled = scaler.transform(personal.row_windows.gather(np.arange(len(personal))))
    labeled_source = window_source.ScaledWindows(window_set.row_windows, preprocessing.scaler)
    augment = _augmenter(config, window_set, preprocessing.scaler)
    width = _smoothing_width(settings["smooth_s"], stride=personal.stride,
                             sample_rate_hz=personal.sample_rate_hz)
    rounds, histories, current = [], [], run.classifier
    for round_ in range(int(settings["rounds"])):
        pseudo = adaptation.pseudo_labels(
            adaptation.class_probabilities(current, user_scaled),
            threshold=settings["threshold"], sessions=personal.sessions,
            end_index=personal.end_index, width=width, class_share=settings["class_share"])
        rounds.append({"round": round_ + 1, "n_pseudo_labeled": int(len(pseudo.index)),
                       "pseudo_class_counts": pseudo.class_counts(preprocessing.classes)})
        if not len(pseudo.index):
            if verbose:
                print(f"round {round_ + 1}: no window of the user reaches the threshold "
                      f"{settings['threshold']}; the model is kept as it is")
            break
        # each round fine-tunes the run's own classifier, with the last model's labels
        current, round_history = adaptation.fine_tune(
            run.classifier, labeled_source=labeled_source, labeled_index=labeled_idx,
            labels=window_set.labels[labeled_idx], user_windows=user_scaled,
            pseudo=pseudo, num_classes=window_set.num_classes,
            learning_rate=settings["learning_rate"] or config.learning_rate,  # None: run's
            batch_size=config.batch_size, epochs=settings["epochs"],
            steps_per_epoch=settings["steps_per_epoch"], seed=config.seed + round_,
            augment=augment, user_share=settings["user_share"])
        histories.append(round_history.assign(round=round_ + 1))
        if verbose:
            print(f"round {round_ + 1}: {len(pseudo.index)} of {len(user_scaled)} windows "
                  f"pseudo-labelled, fine-tuned {settings['epochs']} x "
                  f"{settings['steps_per_epoch']} batches")
    return current, histories, rounds, width


def _augmenter(config, window_set, run_scaler):
    """The run's training augmentation (amplitude, then rotation), seeded as ``train``
    seeds it, for the fine-tuning batches."""
    from ..training import datasets
    from ..training.config import rotation_degrees

    rotation = rotation_degrees(config, window_set.features)
    return datasets.chain_augmenters(
        datasets.amplitude_augmenter(run_scaler.offset_, scale=config.augment_scale,
                                     seed=config.seed),
        datasets.rotation_augmenter(run_scaler.scale_, run_scaler.offset_, window_set.features,
                                    max_degrees=rotation, seed=config.seed + 1))


def _adapted_preprocessing(preprocessing, scaler, config, method: str, run_dir):
    """The run's preprocessing with the user's scaler (when adapted) and a provenance that
    records the personalisation."""
    from ..runs import Preprocessing

    return Preprocessing(
        classes=preprocessing.classes, features=preprocessing.features,
        timesteps=preprocessing.timesteps, label_offset=preprocessing.label_offset,
        sample_rate_hz=preprocessing.sample_rate_hz, scaler=scaler, model=preprocessing.model,
        training_command=config.training_command or preprocessing.training_command,
        rest_class=preprocessing.rest_class, reader=preprocessing.reader,
        provenance=replace(preprocessing.provenance, personalized={
            "method": method, "from_run": str(Path(run_dir).resolve()),
            "user_scaler": scaler is not preprocessing.scaler}))


def _write_adapted_run(out_dir: Path, final_dir: Path, config, classifier, adapted,
                       window_set, test_idx, labeled_idx, history, split: dict):
    """Score the adapted classifier on the run's test windows (when it had test subjects) and
    write the run directory; returns its :class:`~.train_lib.TrainResult`."""
    from ..atomic import atomic_write_text, ensure_writable_dir
    from ..runs import CHECKPOINTS_DIR, CONFIG_FILE, HISTORY_FILE, SPLIT_FILE, save_run
    from ..training.config import rotation_degrees
    from ..training.train_lib import TrainResult

    metrics = None
    if len(test_idx):
        from ..training.evaluation import evaluate_classifier

        metrics = evaluate_classifier(classifier, adapted, window_set.subset(test_idx),
                                      subjects=list(config.test_subjects),
                                      path=config.windows_path)
    ensure_writable_dir(out_dir / CHECKPOINTS_DIR)
    save_run(out_dir, classifier, adapted, metrics=metrics)
    atomic_write_text(out_dir / SPLIT_FILE, json.dumps(split, indent=2) + "\n")
    atomic_write_text(out_dir / HISTORY_FILE, history.to_csv(index=False))
    atomic_write_text(out_dir / CHECKPOINTS_DIR / CONFIG_FILE,
                      json.dumps(replace(config, out_dir=final_dir).to_dict(), indent=2) + "\n")
    return TrainResult(run_dir=out_dir, metrics=metrics, history=history,
                       n_labeled=len(labeled_idx), n_unlabeled=0, split=split,
                       features=tuple(window_set.features),
                       augment_rotation=rotation_degrees(config, window_set.features))
