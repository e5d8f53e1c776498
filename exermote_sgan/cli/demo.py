"""``exermote-sgan demo``: the whole pipeline on an embedded synthetic sample, in a few minutes.

Synthetic recordings (the same generator and call as the committed ``data/sample``) ->
preprocess -> train a baseline and an SGAN on the same few labeled sets -> evaluate both on
a subject neither saw -> plots -> Core ML export of the SGAN classifier (verified) -> streaming
prediction and repetition counting on the unseen subject's recording.

The synthetic people all wear the phone the same way, and their exercises differ mainly in
posture, so the demo trains on all 12 features without rotation augmentation (``--features all
--augment-rotation 0``).  The training defaults (the nine 3-axis vectors, rotated up to 180
degrees) are for real people, who do not: on this sample they cost the SGAN its burpees
(macro-F1 0.49 with them on seeds 0 and 1, 0.94 without them on seed 0).  ``--features auto
--augment-rotation auto`` runs the demo with them.
"""

from __future__ import annotations

import argparse
import json
import time

from .train import parse_features, parse_rotation, show_package_warnings, training_summary

DEFAULT_OUT = "demo_run"
#: the demo's epoch cap, its schedule before training ran to convergence: the synthetic sample
#: takes minutes with it (train's own cap, a safety net for real data, is far higher)
DEMO_EPOCHS = 30
# the module docstring without its reST markup, for --help
DESCRIPTION = """\
The whole pipeline on an embedded synthetic sample, in a few minutes:

  1. synthetic recordings in the Exermote raw format (known sets and repetitions)
  2. preprocess them into windows.h5
  3. train a supervised baseline and
  4. a semi-supervised GAN on the same few labeled sets (one line per epoch)
  5. evaluate both on a subject neither saw, and plot their training curves
  6. export the SGAN classifier to Core ML, verified against Keras (--no-export skips it)
  7. stream predictions and count repetitions on the unseen subject's recording

The synthetic people all wear the phone the same way, and their exercises differ mainly in
posture, so the demo trains on all 12 features without rotation augmentation (--features all
--augment-rotation 0). The training defaults (the nine 3-axis vectors, rotated up to 180
degrees) are for real people, who do not: on this sample they cost the SGAN its burpees
(macro-F1 0.49 with them on seeds 0 and 1, 0.94 without them on seed 0).
--features auto --augment-rotation auto runs the demo with them.
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline on an embedded synthetic sample",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"directory for everything the demo writes (default: {DEFAULT_OUT})")
    parser.add_argument("--subjects", type=int, default=6, metavar="N",
                        help="number of synthetic subjects; the last one is the test subject "
                             "(default: 6)")
    parser.add_argument("--sessions-per-subject", type=int, default=2, metavar="N",
                        help="synthetic recordings per subject (default: 2)")
    parser.add_argument("--labeled-fraction", type=float, default=0.35, metavar="F",
                        help="fraction of training windows labeled, as whole sets; the "
                             "synthetic sets are long, so the share labeled moves in steps "
                             "(36%% at the default seed) and a warning says when it is far "
                             "from F; the rest is the SGAN's unlabeled pool (default: 0.35)")
    parser.add_argument("--epochs", type=int, default=DEMO_EPOCHS, metavar="N",
                        help="at most this many training epochs for both models, fewer when "
                             f"validation stops improving (default: {DEMO_EPOCHS}, a short "
                             "schedule for the demo; train's own cap is far higher)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--features", type=parse_features, default="all",
                        metavar="auto|all|A,B,...",
                        help="features both models train on, as for 'train' (default: all; "
                             "the synthetic people wear the phone alike, see above)")
    parser.add_argument("--augment-rotation", type=parse_rotation, default=0.0, metavar="DEG|auto",
                        help="rotation augmentation of both models, as for 'train' "
                             "(default: 0, none)")
    parser.add_argument("--no-export", action="store_true",
                        help="skip the Core ML export step")
    parser.set_defaults(run=run)
    return parser


class _Steps:
    """Numbered step headings: ``=== 3/7 train baseline ...`` (6 steps with --no-export)."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def __call__(self, title: str) -> None:
        self.done += 1
        print(f"\n=== {self.done}/{self.total} {title}", flush=True)


def _check_training_options(args) -> None:
    """Refuse the options ``train`` would refuse, before the demo writes its recordings."""
    from pathlib import Path

    from ..atomic import check_replaceable_dir
    from ..recordings.schema import EXERMOTE_FEATURES
    from ..errors import ExermoteInputError
    from ..training import datasets
    from ..training.config import TrainConfig, rotation_degrees, training_features

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExermoteInputError("is a file; choose a folder for everything the demo writes",
                                 path=out, option="--out")
    check_replaceable_dir(out, markers=("summary.json", "windows.h5", "recordings"),
                          what="a folder the demo wrote")
    for model in ("baseline", "sgan"):
        config = TrainConfig(windows_path=out / "windows.h5", model=model, out_dir=out / model,
                             test_subjects=(args.subjects,),
                             labeled_fraction=args.labeled_fraction, epochs=args.epochs,
                             seed=args.seed, features=args.features,
                             augment_rotation=args.augment_rotation)
        try:
            config.validate()
        except ExermoteInputError as exc:  # name the demo's own option
            raise ExermoteInputError(exc.message, option=f"--{exc.option.replace('_', '-')}"
                                     if exc.option else None) from None
    features = training_features(config, EXERMOTE_FEATURES)
    unknown = [f for f in features if f not in EXERMOTE_FEATURES]
    if unknown:
        raise ExermoteInputError(f"the synthetic recordings have no feature "
                                 f"{', '.join(unknown)}; they have "
                                 f"{', '.join(EXERMOTE_FEATURES)}", option="--features")
    if rotation_degrees(config, features) and not datasets.vector_groups(features):
        raise ExermoteInputError(f"rotation needs 3-axis vector features (names that differ "
                                 f"only in an x, y, z); {', '.join(features)} have none; give "
                                 "--augment-rotation 0", option="--augment-rotation")


def _labeled_share(result, asked: float) -> str:
    """What share of the training windows a run labeled, beside the fraction asked (whole sets
    only approach it; train warns when it is far off)."""
    n_training = int((result.split or {}).get("n_training", 0))
    return (f"labeled: {result.n_labeled} of {n_training} training windows "
            f"({result.n_labeled / max(1, n_training):.1%}; asked {asked:.1%})")


def run(args) -> int:
    """The demo's seven steps in order (six with ``--no-export``), every option checked
    before anything is written; a ``summary.json`` of the figures at the end."""
    from ..atomic import atomic_write_text, ensure_writable_dir

    _check_demo_options(args)  # every option is checked before anything is written
    out = ensure_writable_dir(args.out)
    started = time.perf_counter()
    subjects = tuple(range(1, args.subjects + 1))
    test_subject = subjects[-1]
    step = _Steps(6 if args.no_export else 7)
    recordings, window_set, windows_path = _synthetic_windows(args, out, subjects, step)
    results = {model: _train_model(args, model, out, windows_path, subjects, step)
               for model in ("baseline", "sgan")}
    summary, plots = _evaluate_models(results, window_set, out, test_subject, step)
    if not args.no_export:
        summary["export"] = _export_sgan(results["sgan"], out, step)
    summary["repetitions"] = _count_repetitions(results["sgan"], recordings, test_subject,
                                                step)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nDone in {time.perf_counter() - started:.0f} s. Look at:\n"
          f"  {plots / 'history_baseline_vs_sgan.png'}\n"
          f"  {out / 'sgan' / 'plots'}  (curves, generated vs real windows)\n"
          f"  {out / 'summary.json'}")
    return 0


def _check_demo_options(args) -> None:
    """Refuse too few subjects or sessions, a labeled fraction outside (0, 1], and what
    ``train`` would refuse."""
    from ..errors import ExermoteInputError

    if args.subjects < 2:
        raise ExermoteInputError("needs at least 2 subjects (one is held out for testing)",
                                 option="--subjects")
    if args.sessions_per_subject < 1:
        raise ExermoteInputError("must be at least 1", option="--sessions-per-subject")
    if not 0 < args.labeled_fraction <= 1:
        raise ExermoteInputError(f"must be in (0, 1], got {args.labeled_fraction}",
                                 option="--labeled-fraction")
    _check_training_options(args)


def _synthetic_windows(args, out, subjects, step):
    """Steps 1 and 2: write the synthetic recordings and preprocess them into
    ``windows.h5``; returns ``(recordings, window_set, windows_path)``."""
    from ..recordings.pipeline import preprocess
    from ..recordings.synthetic import write_synthetic_recordings
    from ..data.windows_file import save_windows

    step("synthetic recordings (Exermote raw format, known sets and repetitions)")
    recordings = write_synthetic_recordings(out / "recordings", subjects=subjects,
                                            sessions_per_subject=args.sessions_per_subject,
                                            seed=args.seed)
    print(f"{len(recordings)} recordings in {out / 'recordings'}")

    step("preprocess -> windows.h5")
    window_set, report = preprocess([out / "recordings"])
    windows_path = save_windows(out / "windows.h5", window_set)
    print(f"{len(window_set)} windows of {window_set.timesteps} steps x "
          f"{len(window_set.features)} features; per class {window_set.class_counts()}")
    return recordings, window_set, windows_path


def _train_model(args, model: str, out, windows_path, subjects, step):
    """Steps 3 and 4: train ``model`` on every subject but the last, with the demo's
    options; print its summary and test figures; returns its ``TrainResult``."""
    from ..training.train_lib import TrainConfig, train

    test_subject = subjects[-1]
    step(f"train {model} on subjects {list(subjects[:-1])} with "
         f"--labeled-fraction {args.labeled_fraction:g} (whole sets; the windows "
         "labeled are counted below)")
    config = TrainConfig(windows_path=windows_path, model=model, out_dir=out / model,
                         test_subjects=(test_subject,),
                         labeled_fraction=args.labeled_fraction, epochs=args.epochs,
                         seed=args.seed, features=args.features,
                         augment_rotation=args.augment_rotation, verbose=1,
                         training_command=f"exermote-sgan demo --out {args.out}")
    with show_package_warnings("demo"):  # a labeled share far from the one asked
        result = train(config)
    metrics = result.metrics
    print(training_summary(model, result))
    print(_labeled_share(result, args.labeled_fraction))
    print(f"{model} on test subject {test_subject}: accuracy "
          f"{metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    return result


def _evaluate_models(results: dict, window_set, out, test_subject: int, step):
    """Step 5: score both runs on the unseen subject and plot their training curves side by
    side; returns ``(summary, plots folder)``."""
    from ..atomic import ensure_writable_dir
    from ..runs import load_run
    from ..training.evaluation import evaluate_classifier, format_metrics_table
    from ..training.plots import plot_history

    step(f"evaluate on unseen subject {test_subject}")
    summary = {}
    for model, result in results.items():
        run_ = load_run(result.run_dir)
        metrics = evaluate_classifier(run_.classifier, run_.preprocessing, window_set,
                                      subjects=[test_subject])
        summary[model] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                          "n_labeled": result.n_labeled}
        print(f"--- {model}\n{format_metrics_table(metrics)}")
    plots = ensure_writable_dir(out / "plots")
    plot_history({model: result.history for model, result in results.items()},
                 plots / "history_baseline_vs_sgan.png")
    return summary, plots


def _export_sgan(result, out, step) -> dict:
    """Step 6: export the SGAN's classifier to Core ML, verified against Keras; returns the
    export's summary."""
    step("export the SGAN classifier to Core ML, verified against Keras")
    from ..export.exporter import export_run

    export = export_run(result.run_dir, out / "ExermoteClassifier")
    for path, check in ((export.mlpackage, export.mlpackage_check),
                        (export.app_model, export.app_model_check)):
        if check is not None:
            print(f"wrote {path}: {check.summary()}")
    return export.to_dict()


def _count_repetitions(result, recordings, test_subject: int, step) -> dict:
    """The last step: stream the SGAN's predictions over the unseen subject's recordings and
    count repetitions, beside the app's own rule; returns both overall figures."""
    step(f"stream predictions and count repetitions on subject {test_subject}")
    from ..inference.rep_evaluation import evaluate_recordings
    from ..runs import load_run
    from .evaluate_reps import format_table

    sgan_run = load_run(result.run_dir)
    test_files = [p for p in recordings if p.stem.endswith(f"Synthetic {test_subject}")]
    reps = evaluate_recordings(test_files, sgan_run.preprocessing, sgan_run.classifier)
    print(format_table(reps))
    return {"ours": reps["overall"], "app_rule": reps["app_rule"]["overall"]}
