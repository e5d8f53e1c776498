"""Experiment: how much a new user's own unlabeled recordings are worth (``personalize``).

Usage::

    python benchmarks/personalize.py exermote ../shared/data/exermote/raw --out EXP_DIR
        [--subjects 1 2 3 4] [--seeds 0 1] [--fractions 1.0 0.05] [--stride 4]
        [--set epochs=12 --set steps_per_epoch=80] [--models baseline st0.9gentle known]
        [--validation 1]
    python benchmarks/personalize.py watch ../shared/data/watch/raw --out EXP_DIR ...

Each person is held out in turn.  Some of their recordings are the new user's *own* recordings
(**adaptation** sessions); the others are the **test** sessions, which no model ever trains on:

- Exermote: the person's first recording day (the date that starts each file name); a person
  recorded on one day only (individual 3) lends their first session.
- watch (one sitting per subject, one exercise per recording, both arms): the left-arm
  recordings are the adaptation sessions and the right-arm recordings the test.  The
  recordings are read with the watch example's columns file, which mirrors every left-arm
  recording into the right arm's frame (training, adaptation and ``personalize`` alike).
  Either side holds all seven exercises, so the test covers every class, and the adaptation
  recordings are the same person but never the tested recordings themselves.

These models are scored on exactly the same test sessions, per (person, labeled fraction, seed):

- ``baseline``: the supervised baseline trained on the other people (the generic model);
- ``sgan``: the SGAN trained on the other people (their unlabeled windows only);
- the personalised models (:data:`VARIANTS`):
  :func:`exermote_sgan.personalization.personalize.personalize` applied to the baseline run and the
  adaptation recordings, read from the raw CSV files (labels never read), with each method
  and setting measured (self-training, the per-user scaler, the SGAN retrained with the
  user's windows in its unlabeled pool);
- ``known``: the baseline with the adaptation sessions as one more training person, labelled
  like every other training person (the same labeled fraction): the level of a model that
  knows the person.

Every setting is ``train``'s default unless ``--set`` overrides it; nothing is chosen on the
test sessions.  Results are appended to ``EXP_DIR/results.csv`` as each run finishes, finished
runs are skipped when restarted, and the summary is printed as markdown tables (mean ± sd,
population sd, over person x seed; the gap closed is
``(personalized - baseline) / (known - baseline)`` of the means).

The personalised models are the :data:`VARIANTS` (methods and settings of ``personalize``);
the gap closed is reported for ``personalize``'s default and for ``selected``.  Settings are
never chosen on the tested sessions: ``--validation K`` runs validation folds inside the
training people (outer person P's windows dropped, K training people held out in turn with
the same protocol: their first day unlabeled, the rest scored), and ``selected`` is, for each
tested person and labeled fraction, the variant (or the plain baseline) with the best mean
macro-F1 on that person's validation folds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from known_person import DAY, known_person_split  # noqa: E402
from sgan_vs_baseline import _parse_overrides  # noqa: E402

#: the personalised models measured: name -> keyword arguments of ``personalize`` (applied to
#: the generic baseline run of the same person, fraction and seed)
#: (the first four fine-tune at the run's learning rate, 1e-3 in this benchmark, with the user's
#: windows half of each batch; "gentle" ones at 1e-4 with a quarter or a fifth)
_FAST = {"learning_rate": 1e-3, "user_share": 0.5}
VARIANTS = {
    "scaler": {"method": "scaler"},
    "st0.6": {"method": "self-training", "threshold": 0.6, **_FAST},
    "st0.9": {"method": "self-training", "threshold": 0.9, **_FAST},
    "st0.9+scaler": {"method": "self-training", "threshold": 0.9, "adapt_scaler": True, **_FAST},
    "st0.9x2": {"method": "self-training", "threshold": 0.9, "rounds": 2, **_FAST},
    "st0.9gentle": {"method": "self-training", "threshold": 0.9, "learning_rate": 1e-4,
                    "user_share": 0.25},
    "cs0.8gentle": {"method": "self-training", "threshold": 0.0, "class_share": 0.8,
                    "learning_rate": 1e-4, "user_share": 0.2},
    "cs0.5gentle": {"method": "self-training", "threshold": 0.0, "class_share": 0.5,
                    "learning_rate": 1e-4, "user_share": 0.2},
    "sgan-pool": {"method": "sgan"},
}
#: run order: the personalised runs start from the baseline run of the same (person, fraction,
#: seed); the generic SGAN, needed by nothing else, comes last
MODELS = ("baseline", *VARIANTS, "known", "sgan")
COLUMNS = ("dataset", "outer_subject", "subject", "model", "labeled_fraction", "seed",
           "accuracy", "macro_f1", "best_val_macro_f1", "epochs_run", "n_adaptation_windows",
           "n_pseudo_labeled", "n_test", "seconds", "run_dir")


def default_variant() -> str:
    """The variant that is ``personalize``'s default (method and settings)."""
    from exermote_sgan.personalization.personalize import DEFAULT_METHOD, SELF_TRAINING_DEFAULTS

    for name, kwargs in VARIANTS.items():
        if kwargs["method"] != DEFAULT_METHOD:
            continue
        if DEFAULT_METHOD != "self-training" or all(
                kwargs.get(k, v) == v for k, v in SELF_TRAINING_DEFAULTS.items()):
            return name
    raise LookupError("personalize's default is none of the benchmark's VARIANTS")
#: watch recordings: 50 Hz; 2 s windows, one every 1 s; the label is the recording's exercise
WATCH_RATE_HZ = 50.0
WATCH_TIMESTEPS = 100
WATCH_FEATURES = ("acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s",
                  "gyro_z_rad_s")
WATCH_CLASSES = ("ABD", "ER", "FEL", "IR", "PEN", "ROW", "TRAP")
WATCH_SUBJECT = re.compile(r"subject_(\d+)$")


#: the watch example's columns file: its path pattern gives subject, session and arm, and it
#: mirrors the left-arm recordings into the right arm's frame (negating acc x, gyro y and z)
WATCH_COLUMNS_FILE = Path(__file__).resolve().parents[1] / "examples" / "watch" / "columns.toml"


def watch_columns():
    """The watch recordings' columns: the example's columns file, mirroring included (a
    left-arm recording, an adaptation recording here, is read in the right arm's frame both
    when the windows file is made and when ``personalize`` reads it)."""
    from exermote_sgan.recordings.readers import load_column_spec

    return load_column_spec(WATCH_COLUMNS_FILE)


def watch_windows(raw: Path, *, stride: int):
    """The watch recordings as one windows file: subject from the folder, class from the file.

    Cut by the same function ``personalize`` windows a user's recordings with, so the two
    agree row for row.
    """
    from exermote_sgan.data.windows_file import WindowSet
    from exermote_sgan.personalization.personalize import read_unlabeled_windows

    parts, names = [], []
    for folder in sorted(p for p in Path(raw).iterdir() if WATCH_SUBJECT.match(p.name)):
        subject = int(WATCH_SUBJECT.match(folder.name).group(1))
        for path in sorted(folder.glob("*.csv")):
            exercise = path.stem.split("_")[0]
            ws, _ = read_unlabeled_windows(
                [path], features=WATCH_FEATURES, timesteps=WATCH_TIMESTEPS, stride=stride,
                label_offset=WATCH_TIMESTEPS // 2, sample_rate_hz=WATCH_RATE_HZ,
                format="generic", columns=watch_columns())
            parts.append((ws, subject, WATCH_CLASSES.index(exercise), len(names)))
            names.append(f"{folder.name}/{path.stem}")
    return WindowSet(
        windows=np.concatenate([ws.windows for ws, *_ in parts]),
        labels=np.concatenate([np.full(len(ws), k) for ws, _, k, _ in parts]),
        subjects=np.concatenate([np.full(len(ws), s) for ws, s, _, _ in parts]),
        sessions=np.concatenate([np.full(len(ws), i) for ws, _, _, i in parts]),
        end_index=np.concatenate([ws.end_index for ws, *_ in parts]),
        classes=WATCH_CLASSES, features=WATCH_FEATURES, timesteps=WATCH_TIMESTEPS,
        stride=stride, label_offset=WATCH_TIMESTEPS // 2, sample_rate_hz=WATCH_RATE_HZ,
        session_names=tuple(names))


def adaptation_sessions(window_set, subject: int, dataset: str) -> list[int]:
    """The held-out person's own recordings that ``personalize`` gets (see the module doc)."""
    ids = sorted(np.unique(window_set.sessions[window_set.subjects == subject]).tolist(),
                 key=lambda s: window_set.session_name(s))
    if not ids:
        raise ValueError(f"subject {subject} has no windows")
    names = [Path(window_set.session_name(s)).name for s in ids]
    if dataset == "watch":
        chosen = [s for s, n in zip(ids, names) if n.endswith("_left")]
    else:
        days = [DAY.match(n).group(1) if DAY.match(n) else None for n in names]
        if None in days:
            raise ValueError(f"a session of subject {subject} does not start with a date")
        chosen = ([s for s, d in zip(ids, days) if d == days[0]] if len(set(days)) > 1
                  else ids[:1])
    if not chosen or len(chosen) == len(ids):
        raise ValueError(f"subject {subject}: the adaptation sessions must leave some to test")
    return chosen


def recording_paths(window_set, sessions, raw: Path, dataset: str) -> list[Path]:
    """The raw CSV files of ``sessions``."""
    return [Path(raw) / f"{window_set.session_name(s)}.csv" for s in sessions]


def prepare(dataset: str, raw: Path, out: Path, *, stride: int):
    """The windows file of the whole dataset (written once, reused when restarted)."""
    from exermote_sgan.data.windows_file import load_windows, save_windows

    path = out / "windows.h5"
    if path.is_file():
        return load_windows(path)
    if dataset == "watch":
        window_set = watch_windows(raw, stride=stride)
    else:
        from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess

        window_set, _ = preprocess([raw], config=PreprocessConfig(stride=stride))
    save_windows(path, window_set)
    return window_set


def run_subject(window_set, dataset: str, raw: Path, out: Path, subject: int, *, seeds,
                fractions, models, overrides, done, results_path, outer: int = 0):
    """Train and score ``models`` with ``subject`` held out (see the module doc); ``outer``
    (non-zero) marks a validation fold inside the training people of outer person ``outer``,
    whose windows ``window_set`` no longer holds."""
    import keras
    import pandas as pd

    from exermote_sgan.data.windows_file import save_windows
    from exermote_sgan.training.config import TrainConfig
    from exermote_sgan.personalization.personalize import personalize
    from exermote_sgan.training.train_lib import train

    adapt = adaptation_sessions(window_set, subject, dataset)
    folder = out / f"subject{subject}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for setting in ("unknown", "known"):
        files[setting] = folder / f"{setting}.h5"
        if not files[setting].is_file():
            # the test sessions stay the subject's; the adaptation sessions are left out
            # (unknown) or become one more training person (known)
            rest = [s for s in np.unique(window_set.sessions[window_set.subjects == subject])
                    if s not in adapt]
            save_windows(files[setting], known_person_split(
                window_set, subject, rest, known=setting == "known"))
    recordings = recording_paths(window_set, adapt, raw, dataset)
    n_adapt = int(np.isin(window_set.sessions, adapt).sum())
    for seed in seeds:
        for fraction in fractions:
            for model in models:
                key = ((done["subject"] == subject) & (done["model"] == model)
                       & (done["seed"] == seed) & (done["labeled_fraction"] == fraction)
                       & (done["outer_subject"] == outer))
                if key.any():
                    continue
                run_dir = folder / f"{model}_f{fraction:g}_s{seed}"
                start = time.perf_counter()
                details = {}
                if model in VARIANTS:
                    generic = folder / f"baseline_f{fraction:g}_s{seed}"
                    if not (generic / "metrics.json").is_file():
                        continue  # needs the generic run
                    if run_dir.exists():
                        shutil.rmtree(run_dir)  # an interrupted attempt
                    personal = personalize(
                        generic, recordings, out=run_dir,
                        columns=watch_columns() if dataset == "watch" else None,
                        **VARIANTS[model])
                    result, details = personal.train, personal.details
                else:
                    config = TrainConfig(
                        windows_path=files["known" if model == "known" else "unknown"],
                        model="sgan" if model == "sgan" else "baseline", out_dir=run_dir,
                        test_subjects=(subject,), labeled_fraction=fraction, seed=seed,
                        verbose=0, **overrides)
                    result = train(config)
                keras.backend.clear_session()
                history = result.history
                rounds = details.get("rounds") or [{}]
                row = {"dataset": dataset, "outer_subject": outer, "subject": subject,
                       "model": model, "labeled_fraction": fraction, "seed": seed,
                       "accuracy": result.metrics["accuracy"],
                       "macro_f1": result.metrics["macro_f1"],
                       "best_val_macro_f1": (float(history["val_macro_f1"].max())
                                             if "val_macro_f1" in history else float("nan")),
                       "epochs_run": len(history), "n_adaptation_windows": n_adapt,
                       "n_pseudo_labeled": rounds[-1].get("n_pseudo_labeled", float("nan")),
                       "n_test": result.split["n_test"],
                       "seconds": round(time.perf_counter() - start, 1), "run_dir": str(run_dir)}
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                done.to_csv(results_path, index=False)
                print(f"{dataset} {f'outer {outer} ' if outer else ''}subject {subject} {model} "
                      f"fraction={fraction:g} seed={seed}: "
                      f"macro-F1 {row['macro_f1']:.3f} accuracy {row['accuracy']:.3f} "
                      f"({row['seconds']:.0f} s)", flush=True)
    return done


def nested_choice(results):
    """Per (dataset, labeled fraction, outer person): the personalised variant (or
    ``baseline``: do not personalise) with the best mean macro-F1 over that outer person's
    validation folds (training people held out in turn), never their tested sessions.

    Only models run on every validation (person, seed) cell of the outer person compete.
    Returns a DataFrame: dataset, labeled_fraction, outer_subject, chosen, validation_f1.
    """
    import pandas as pd

    inner = results[results["outer_subject"] > 0]
    rows = []
    for (dataset, fraction, outer), g in inner.groupby(["dataset", "labeled_fraction",
                                                        "outer_subject"]):
        table = g.pivot_table(index=["subject", "seed"], columns="model", values="macro_f1")
        candidates = [m for m in ("baseline", *VARIANTS) if m in table.columns
                      and table[m].notna().all()]
        if "baseline" not in candidates or len(candidates) < 2:
            continue
        means = table[candidates].mean()
        rows.append({"dataset": dataset, "labeled_fraction": fraction,
                     "outer_subject": int(outer), "chosen": means.idxmax(),
                     "validation_f1": float(means.max()), "folds": len(table)})
    return pd.DataFrame(rows, columns=["dataset", "labeled_fraction", "outer_subject",
                                       "chosen", "validation_f1", "folds"])


def _with_selected(results):
    """``results`` plus a ``selected`` model per tested (person, fraction, seed): the scores
    of the variant :func:`nested_choice` chose for that person on validation folds."""
    import pandas as pd

    test = results[results["outer_subject"] == 0]
    chosen = nested_choice(results)
    picked = []
    for _, c in chosen.iterrows():
        rows = test[(test["dataset"] == c["dataset"]) & (test["subject"] == c["outer_subject"])
                    & (test["labeled_fraction"] == c["labeled_fraction"])
                    & (test["model"] == c["chosen"])]
        picked.append(rows.assign(model="selected"))
    return pd.concat([test, *picked], ignore_index=True), chosen


def validation_summary(results) -> str:
    """Mean macro-F1 of each variant on the validation folds (inside the training people),
    per dataset and labeled fraction, and what :func:`nested_choice` chose per outer person."""
    inner = results[results["outer_subject"] > 0]
    if inner.empty:
        return ""
    lines = ["## Validation folds (training people only: outer person left out, one training "
             "person held out in turn)", ""]
    for (dataset, fraction), g in inner.groupby(["dataset", "labeled_fraction"]):
        table = g.pivot_table(index=["outer_subject", "subject", "seed"], columns="model",
                              values="macro_f1")
        lines += [f"### {dataset}, labels {fraction:g}: {len(table)} folds", "",
                  "| model | folds | macro-F1 | - baseline, points (wins) |", "|---|---|---|---|"]
        for model in [m for m in ("baseline", *VARIANTS) if m in table.columns]:
            f1 = table[model].dropna()
            gain = ""
            if model != "baseline" and "baseline" in table.columns:
                d = (f1 - table["baseline"].loc[f1.index]) * 100
                gain = f"{d.mean():+.1f} ± {d.std(ddof=0):.1f} ({int((d > 0).sum())}/{len(d)})"
            lines.append(f"| {model} | {len(f1)} | {f1.mean():.3f} ± {f1.std(ddof=0):.3f} | "
                         f"{gain} |")
        lines.append("")
    chosen = nested_choice(results)
    if len(chosen):
        lines += ["chosen per outer person (best mean validation macro-F1):", ""]
        for _, c in chosen.iterrows():
            lines.append(f"- {c['dataset']}, labels {c['labeled_fraction']:g}, person "
                         f"{c['outer_subject']}: {c['chosen']} ({c['validation_f1']:.3f} over "
                         f"{c['folds']} folds)")
        lines.append("")
    return "\n".join(lines)


def summary(results, *, personalized: str | None = None) -> str:
    """Mean ± sd over (person, seed) per labeled fraction and model, the gains and the gap
    closed, and macro-F1 per person; then the validation folds (:func:`validation_summary`).

    ``personalized`` (default: ``personalize``'s default variant) is the model the gap closed
    is reported for, as is ``selected`` (the variant chosen per person on validation folds).
    The cells are the (person, seed) pairs with a baseline, that model and a known run; the
    other models are shown over those of them they have (their count says how many).
    """
    if "outer_subject" not in results.columns:
        results = results.assign(outer_subject=0)
    results = results.fillna({"outer_subject": 0})
    personalized = personalized or default_variant()
    tested, _ = _with_selected(results)
    order = ["baseline", "sgan", *VARIANTS, "selected", "known"]
    core = ["baseline", personalized, "known"]
    lines = []
    for (dataset, fraction), g in tested.groupby(["dataset", "labeled_fraction"]):
        table = g.pivot_table(index=["subject", "seed"], columns="model", values="macro_f1")
        acc = g.pivot_table(index=["subject", "seed"], columns="model", values="accuracy")
        have = [m for m in core if m in table.columns]
        table = table.dropna(subset=have)
        acc = acc.loc[table.index]
        persons = sorted(set(table.index.get_level_values(0)))
        seeds = sorted(set(table.index.get_level_values(1)))
        lines += [f"### {dataset}, labels {fraction:g}: {len(table)} (person, seed) pairs, "
                  f"persons {persons}, seeds {seeds}", "",
                  "| model | runs | macro-F1 | accuracy | - baseline, points (wins) |",
                  "|---|---|---|---|---|"]
        for model in [m for m in order if m in table.columns]:
            f1, a = table[model].dropna(), acc[model].dropna()
            if not len(f1):
                continue
            gain = ""
            if model != "baseline" and "baseline" in table.columns:
                d = (f1 - table["baseline"].loc[f1.index]) * 100
                gain = f"{d.mean():+.1f} ± {d.std(ddof=0):.1f} ({int((d > 0).sum())}/{len(d)})"
            name = f"{model} (default)" if model == personalized else model
            lines.append(f"| {name} | {len(f1)} | {f1.mean():.3f} ± {f1.std(ddof=0):.3f} | "
                         f"{a.mean():.3f} ± {a.std(ddof=0):.3f} | {gain} |")
        for model in dict.fromkeys((personalized, "selected")):
            if not ({"baseline", "known", model} <= set(table.columns)) or not len(table):
                continue
            both = table[["baseline", "known", model]].dropna()
            if not len(both):
                continue
            gap = both["known"].mean() - both["baseline"].mean()
            closed = (both[model].mean() - both["baseline"].mean()) / gap if gap > 0 else None
            lines.append(f"\ngap closed by {model}: {closed:.0%} of the {gap * 100:.1f} points "
                         "between baseline and known" if closed is not None else
                         f"\ngap closed by {model}: not defined (known - baseline = "
                         f"{gap * 100:+.1f} points)")
        per = table.groupby(level=0).mean()
        columns = [m for m in order if m in per.columns]
        lines += ["", "| person | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for subject, row in per.iterrows():
            lines.append(f"| {subject} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
        lines.append("")
    return "\n".join(lines) + "\n" + validation_summary(results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("exermote", "watch"))
    parser.add_argument("raw", help="folder of the raw recordings (../shared/data/<name>/raw)")
    parser.add_argument("--out", required=True, help="experiment directory")
    parser.add_argument("--subjects", type=int, nargs="+", default=None,
                        help="persons held out in turn (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.05])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--stride", type=int, default=None,
                        help="rows between windows (default: 2 for exermote, 50 for watch)")
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a TrainConfig field for every run, e.g. epochs=12")
    parser.add_argument("--validation", type=int, default=0, metavar="K",
                        help="run the validation folds instead of the test: for each person P "
                             "held out, P's windows are dropped and K of the training people "
                             "(the next ones in order) are held out in turn with the same "
                             "protocol; the summary chooses a variant per P on them "
                             "(the 'selected' model). Baseline and variants only")
    parser.add_argument("--summary-only", action="store_true",
                        help="print the summary of EXP_DIR/results.csv and train nothing")
    args = parser.parse_args(argv)

    import pandas as pd

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.csv"
    done = (pd.read_csv(results_path) if results_path.is_file()
            else pd.DataFrame(columns=COLUMNS))
    # results of the first version: one personalised model, the SGAN with the user's pool
    done = done.assign(model=done["model"].replace({"personalized": "sgan-pool"}))
    if "outer_subject" not in done.columns:
        done.insert(1, "outer_subject", 0)
    done = done.fillna({"outer_subject": 0}).astype({"outer_subject": int})
    if not args.summary_only:
        stride = args.stride or (50 if args.dataset == "watch" else 2)
        window_set = prepare(args.dataset, Path(args.raw), out, stride=stride)
        subjects = args.subjects or sorted(np.unique(window_set.subjects).tolist())
        everyone = sorted(np.unique(window_set.subjects).tolist())
        # the personalised run needs its baseline run: keep MODELS' order
        models = [m for m in MODELS if m in args.models]
        overrides = _parse_overrides(args.overrides)
        for seed in args.seeds:  # seed by seed, so a cut-short experiment has whole seeds
            for subject in subjects:
                if not args.validation:
                    done = run_subject(window_set, args.dataset, Path(args.raw), out, subject,
                                       seeds=[seed], fractions=args.fractions, models=models,
                                       overrides=overrides, done=done,
                                       results_path=results_path)
                    continue
                # validation folds of outer person `subject`: their windows are gone
                others = [s for s in everyone if s != subject]
                start = everyone.index(subject)
                inner = [everyone[(start + k) % len(everyone)]
                         for k in range(1, len(everyone))][:args.validation]
                without = window_set.subset(window_set.subjects != subject)
                for held in inner:
                    assert held in others
                    done = run_subject(without, args.dataset, Path(args.raw),
                                       out / "validation" / f"outer{subject}", held,
                                       seeds=[seed], fractions=args.fractions,
                                       models=[m for m in models if m not in ("known", "sgan")],
                                       overrides=overrides, done=done,
                                       results_path=results_path, outer=subject)
    print(summary(done))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
