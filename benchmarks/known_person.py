"""Experiment: how well one person is recognised when the model has seen them, and when not.

Usage::

    python benchmarks/known_person.py WINDOWS.h5 --out EXP_DIR [--subject 4] [--seeds 0 1 2]
        [--fractions 1.0] [--models baseline] [--set key=value ...]

The all-labels targets on a new person are only as reachable as the labels allow, and this
measures two ceilings on them without choosing any setting:

- **Label timing.** The labels change between a repetition and the short break after it every
  second or two.  The script scores the subject's own labels, shifted 1-4 rows later within
  each session, against the unshifted ones: what a classifier right about every activity but
  that late on every boundary would score.
- **A known person.** The subject's recordings are split by day (the date that starts each
  session name, as in the Exermote files).  For each day in turn the subject's sessions of the
  other days join training, with their labels, as if they were another person; the day's own
  sessions are the test.  The same test sessions are also scored by a run that never saw the
  subject (the other days left out), so each seed gives a pair: unknown against known.

Every run goes through :func:`exermote_sgan.training.train_lib.train` with ``train``'s defaults
(model selection on a validation split of the training subjects, which may now include the
subject's other days), via ``sgan_vs_baseline.run_experiment``: results are appended to
``EXP_DIR/<setting>_day<DATE>/results.csv`` as each run finishes, and finished runs are
skipped when restarted.  The summary is printed as markdown tables.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sgan_vs_baseline import _parse_overrides, run_experiment  # noqa: E402

DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def session_days(window_set, subject: int) -> dict[str, list[int]]:
    """The subject's session ids grouped by the date that starts each session's name."""
    ids = np.unique(window_set.sessions[window_set.subjects == subject])
    if len(ids) == 0:
        raise ValueError(f"subject {subject} has no windows; subjects are "
                         f"{sorted(np.unique(window_set.subjects).tolist())}")
    days: dict[str, list[int]] = {}
    for session in ids.tolist():
        name = Path(window_set.session_names[session]).name
        match = DAY.match(name)
        if not match:
            raise ValueError(f"session {name!r} of subject {subject} does not start with a "
                             "date (YYYY-MM-DD): its day cannot be told")
        days.setdefault(match.group(1), []).append(session)
    if len(days) < 2:
        raise ValueError(f"subject {subject} was recorded on one day only ({next(iter(days))}); "
                         "a known-person split needs at least two")
    return days


def known_person_split(window_set, subject: int, test_sessions, *, known: bool):
    """``window_set`` with only ``test_sessions`` left to ``subject``.

    The subject's other sessions become a new subject (one more than the largest id) when
    ``known``, so that they train with their labels; otherwise they are left out.
    """
    of_subject = window_set.subjects == subject
    other_days = of_subject & ~np.isin(window_set.sessions, list(test_sessions))
    if not known:
        return window_set.subset(~other_days)
    subjects = window_set.subjects.copy()
    subjects[other_days] = int(window_set.subjects.max()) + 1
    return replace(window_set, subjects=subjects)


def shifted_label_accuracy(labels, sessions, end_index, *, shift_rows: int) -> float:
    """Accuracy of each window's label read ``shift_rows`` rows later in the same session.

    Windows whose shifted row has no window (past the session's end, or between two windows
    at a stride above 1) are left out.
    """
    labels, sessions, end_index = map(np.asarray, (labels, sessions, end_index))
    key = sessions.astype(np.int64) * (int(end_index.max()) + abs(shift_rows) + 1) + end_index
    order = np.argsort(key)
    position = np.searchsorted(key[order], key + shift_rows)
    position = np.minimum(position, len(key) - 1)
    found = key[order][position] == key + shift_rows
    if not found.any():
        raise ValueError(f"no window lies {shift_rows} rows after another in the same session")
    return float(np.mean(labels[found] == labels[order][position][found]))


def _summary(results: dict) -> str:
    import pandas as pd

    frame = pd.concat([table.assign(setting=setting, day=day)
                       for (setting, day), table in results.items()], ignore_index=True)
    lines = ["| test day | model | labeled | person | runs | accuracy | macro-F1 |",
             "|---|---|---|---|---|---|---|"]
    keys = ["day", "model", "labeled_fraction", "setting"]
    for (day, model, fraction, setting), g in frame.groupby(keys):
        lines.append(f"| {day} | {model} | {fraction:g} | {setting} | {len(g)} | "
                     f"{g['accuracy'].mean():.3f} ± {g['accuracy'].std(ddof=0):.3f} | "
                     f"{g['macro_f1'].mean():.3f} ± {g['macro_f1'].std(ddof=0):.3f} |")
    paired = frame.pivot_table(index=["day", "model", "labeled_fraction", "seed"],
                               columns="setting", values=["accuracy", "macro_f1"])
    if {"known", "unknown"} <= set(paired.columns.get_level_values(1)):
        lines += ["", "| model | labeled | pairs | person | accuracy | macro-F1 |",
                  "|---|---|---|---|---|---|"]
        for (model, fraction), g in paired.groupby(level=["model", "labeled_fraction"]):
            g = g.dropna()
            for setting in ("unknown", "known"):
                acc, f1 = g[("accuracy", setting)], g[("macro_f1", setting)]
                lines.append(f"| {model} | {fraction:g} | {len(g)} | {setting} | "
                             f"{acc.mean():.3f} ± {acc.std(ddof=0):.3f} | "
                             f"{f1.mean():.3f} ± {f1.std(ddof=0):.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("windows", help="windows file (exermote-sgan preprocess)")
    parser.add_argument("--out", required=True, help="experiment directory")
    parser.add_argument("--subject", type=int, default=4, help="the person measured (default 4)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to run")
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0],
                        help="labeled fractions (default: all labels)")
    parser.add_argument("--models", nargs="+", default=["baseline"],
                        choices=["baseline", "sgan"], help="models to train")
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a TrainConfig field, e.g. conv_filters=32")
    parser.add_argument("--timing-only", action="store_true",
                        help="only the label-timing ceiling (no training)")
    args = parser.parse_args(argv)

    from exermote_sgan.data.windows_file import load_windows, save_windows

    window_set = load_windows(args.windows)
    try:
        days = session_days(window_set, args.subject)
    except ValueError as error:
        parser.error(str(error))
    mine = window_set.subjects == args.subject
    stride = int(window_set.stride)
    print(f"subject {args.subject}: {np.count_nonzero(mine)} windows, days "
          + ", ".join(f"{day} ({len(ids)} sessions)" for day, ids in days.items()))
    print("\n| labels read later by | accuracy of the true labels |\n|---|---|")
    for shift in range(stride, 4 + 1, stride):
        accuracy = shifted_label_accuracy(window_set.labels[mine], window_set.sessions[mine],
                                          window_set.end_index[mine], shift_rows=shift)
        print(f"| {shift / window_set.sample_rate_hz:.1f} s ({shift} rows) | {accuracy:.3f} |")
    if args.timing_only:
        return 0

    out = Path(args.out)
    results = {}
    for day, test_sessions in days.items():
        for setting in ("unknown", "known"):
            run_dir = out / f"{setting}_day{day}"
            run_dir.mkdir(parents=True, exist_ok=True)
            windows_path = run_dir / "windows.h5"
            if not windows_path.is_file():
                save_windows(windows_path, known_person_split(
                    window_set, args.subject, test_sessions, known=setting == "known"))
            results[(setting, day)] = run_experiment(
                windows_path, run_dir, test_subjects=(args.subject,), seeds=args.seeds,
                fractions=args.fractions, models=args.models,
                overrides=_parse_overrides(args.overrides))
    print()
    print(_summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
