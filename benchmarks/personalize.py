"""Experiment: how much a new user's own unlabeled recordings are worth (``personalize``).

Usage::

    python benchmarks/personalize.py exermote ../shared/data/exermote/raw --out EXP_DIR
        [--subjects 1 2 3 4] [--seeds 0 1] [--fractions 1.0 0.05] [--stride 4]
        [--set epochs=12 --set steps_per_epoch=80]
    python benchmarks/personalize.py watch ../shared/data/watch/raw --out EXP_DIR ...

Each person is held out in turn.  Some of their recordings are the new user's *own* recordings
(**adaptation** sessions); the others are the **test** sessions, which no model ever trains on:

- Exermote: the person's first recording day (the date that starts each file name); a person
  recorded on one day only (individual 3) lends their first session.
- watch (one sitting per subject, one exercise per recording, both arms): the left-arm
  recordings are the adaptation sessions and the right-arm recordings the test.  Either side
  holds all seven exercises, so the test covers every class, and the adaptation recordings
  are the same person but never the tested recordings themselves.

Four models are scored on exactly the same test sessions, per (person, labeled fraction, seed):

- ``baseline``: the supervised baseline trained on the other people (the generic model);
- ``sgan``: the SGAN trained on the other people (their unlabeled windows only);
- ``personalized``: :func:`exermote_sgan.training.personalize.personalize` applied to the
  baseline run and the adaptation recordings, read from the raw CSV files (labels never
  read): the SGAN with the generic SGAN's settings and labeled windows (the same seed selects
  the same ones) whose unlabeled pool also holds the adaptation windows;
- ``known``: the baseline with the adaptation sessions as one more training person, labelled
  like every other training person (the same labeled fraction): the level of a model that
  knows the person.

Every setting is ``train``'s default unless ``--set`` overrides it; nothing is chosen on the
test sessions.  Results are appended to ``EXP_DIR/results.csv`` as each run finishes, finished
runs are skipped when restarted, and the summary is printed as markdown tables (mean ± sd,
population sd, over person x seed; the gap closed is
``(personalized - baseline) / (known - baseline)`` of the means).
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

#: run order: the personalised run takes its settings from the baseline run of the same
#: (person, fraction, seed) and the generic SGAN, needed by nothing else, comes last
MODELS = ("baseline", "personalized", "known", "sgan")
COLUMNS = ("dataset", "subject", "model", "labeled_fraction", "seed", "accuracy", "macro_f1",
           "best_val_macro_f1", "epochs_run", "n_adaptation_windows", "n_test", "seconds",
           "run_dir")
#: watch recordings: 50 Hz; 2 s windows, one every 1 s; the label is the recording's exercise
WATCH_RATE_HZ = 50.0
WATCH_TIMESTEPS = 100
WATCH_FEATURES = ("acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s",
                  "gyro_z_rad_s")
WATCH_CLASSES = ("ABD", "ER", "FEL", "IR", "PEN", "ROW", "TRAP")
WATCH_SUBJECT = re.compile(r"subject_(\d+)$")


def watch_columns():
    """The watch recordings' columns (they have no subject column: it is the folder name)."""
    from exermote_sgan.data.readers import ColumnSpec

    return ColumnSpec(timestamp="time_ms", timestamp_unit="ms", features=WATCH_FEATURES,
                      label="exercise", subject="subject")


def watch_windows(raw: Path, *, stride: int):
    """The watch recordings as one windows file: subject from the folder, class from the file.

    Cut by the same function ``personalize`` windows a user's recordings with, so the two
    agree row for row.
    """
    from exermote_sgan.data.windows_file import WindowSet
    from exermote_sgan.training.personalize import read_unlabeled_windows

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
        from exermote_sgan.data.pipeline import PreprocessConfig, preprocess

        window_set, _ = preprocess([raw], config=PreprocessConfig(stride=stride))
    save_windows(path, window_set)
    return window_set


def run_subject(window_set, dataset: str, raw: Path, out: Path, subject: int, *, seeds,
                fractions, models, overrides, done, results_path):
    import keras
    import pandas as pd

    from exermote_sgan.data.windows_file import save_windows
    from exermote_sgan.training.config import TrainConfig
    from exermote_sgan.training.personalize import personalize
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
                       & (done["seed"] == seed) & (done["labeled_fraction"] == fraction))
                if key.any():
                    continue
                run_dir = folder / f"{model}_f{fraction:g}_s{seed}"
                start = time.perf_counter()
                if model == "personalized":
                    generic = folder / f"baseline_f{fraction:g}_s{seed}"
                    if not (generic / "metrics.json").is_file():
                        continue  # needs the generic run
                    if run_dir.exists():
                        shutil.rmtree(run_dir)  # an interrupted attempt
                    result = personalize(
                        generic, recordings, out=run_dir,
                        columns=watch_columns() if dataset == "watch" else None).train
                else:
                    config = TrainConfig(
                        windows_path=files["known" if model == "known" else "unknown"],
                        model="sgan" if model == "sgan" else "baseline", out_dir=run_dir,
                        test_subjects=(subject,), labeled_fraction=fraction, seed=seed,
                        verbose=0, **overrides)
                    result = train(config)
                keras.backend.clear_session()
                row = {"dataset": dataset, "subject": subject, "model": model,
                       "labeled_fraction": fraction, "seed": seed,
                       "accuracy": result.metrics["accuracy"],
                       "macro_f1": result.metrics["macro_f1"],
                       "best_val_macro_f1": float(result.history["val_macro_f1"].max()),
                       "epochs_run": len(result.history), "n_adaptation_windows": n_adapt,
                       "n_test": result.split["n_test"],
                       "seconds": round(time.perf_counter() - start, 1), "run_dir": str(run_dir)}
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                done.to_csv(results_path, index=False)
                print(f"{dataset} subject {subject} {model} fraction={fraction:g} seed={seed}: "
                      f"macro-F1 {row['macro_f1']:.3f} accuracy {row['accuracy']:.3f} "
                      f"({row['seconds']:.0f} s)", flush=True)
    return done


def summary(results) -> str:
    """Mean ± sd over (person, seed) per labeled fraction and model, the gains and the gap
    closed, and macro-F1 per person.

    The cells are the (person, seed) pairs with a baseline, a personalised and a known run;
    the generic SGAN is shown over those of them it has (its count says how many).
    """
    core = ["baseline", "personalized", "known"]
    lines = []
    for (dataset, fraction), g in results.groupby(["dataset", "labeled_fraction"]):
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
        for model in [m for m in ("baseline", "sgan", "personalized", "known")
                      if m in table.columns]:
            f1, a = table[model].dropna(), acc[model].dropna()
            gain = ""
            if model != "baseline" and "baseline" in table.columns:
                d = (f1 - table["baseline"].loc[f1.index]) * 100
                gain = f"{d.mean():+.1f} ± {d.std(ddof=0):.1f} ({int((d > 0).sum())}/{len(d)})"
            lines.append(f"| {model} | {len(f1)} | {f1.mean():.3f} ± {f1.std(ddof=0):.3f} | "
                         f"{a.mean():.3f} ± {a.std(ddof=0):.3f} | {gain} |")
        if set(core) <= set(table.columns) and len(table):
            gap = table["known"].mean() - table["baseline"].mean()
            closed = (table["personalized"].mean() - table["baseline"].mean()) / gap \
                if gap > 0 else float("nan")
            lines.append(f"\ngap closed by personalising: {closed:.0%} of the "
                         f"{gap * 100:.1f} points between baseline and known" if gap > 0 else
                         f"\ngap closed by personalising: not defined (known - baseline = "
                         f"{gap * 100:+.1f} points)")
        per = table.groupby(level=0).mean()
        columns = [m for m in ("baseline", "sgan", "personalized", "known") if m in per.columns]
        lines += ["", "| person | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for subject, row in per.iterrows():
            lines.append(f"| {subject} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
        lines.append("")
    return "\n".join(lines)


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
    parser.add_argument("--summary-only", action="store_true",
                        help="print the summary of EXP_DIR/results.csv and train nothing")
    args = parser.parse_args(argv)

    import pandas as pd

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.csv"
    done = (pd.read_csv(results_path) if results_path.is_file()
            else pd.DataFrame(columns=COLUMNS))
    if not args.summary_only:
        stride = args.stride or (50 if args.dataset == "watch" else 2)
        window_set = prepare(args.dataset, Path(args.raw), out, stride=stride)
        subjects = args.subjects or sorted(np.unique(window_set.subjects).tolist())
        # the personalised run needs its baseline run: keep MODELS' order
        models = [m for m in MODELS if m in args.models]
        for seed in args.seeds:  # seed by seed, so a cut-short experiment has whole seeds
            for subject in subjects:
                done = run_subject(window_set, args.dataset, Path(args.raw), out, subject,
                                   seeds=[seed], fractions=args.fractions, models=models,
                                   overrides=_parse_overrides(args.overrides), done=done,
                                   results_path=results_path)
    print(summary(done))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
