"""Which axes mirror a left-wrist watch recording into the right wrist's frame.

Usage::

    python benchmarks/watch_mirror.py [--raw ../shared/data/watch/raw]

A left arm's movement is the mirror image of the right arm's.  A reflection negates some of
the acceleration axes (a polar vector) and the complementary rotation-rate axes (an axial
vector), but which ones depends on how the watch sits on each wrist, so it is read from the
data: for each of the 64 sign patterns of the six axes, the left recordings of every
(subject, exercise) are compared with the same subject's right recordings of that exercise
(mean acceleration, and the correlation of every pair of axes, whose signs the pattern
flips).  The pattern with the smallest total difference wins.

So that nothing is chosen on a tested subject, the search runs once per fold of the watch
benchmark (``benchmarks/watch.py``) on that fold's training subjects only.  On the real
recordings every fold picks the same pattern: acceleration x and rotation rate y, z negated,
which is a reflection (one polar axis and the two other axial axes), the rule in
``examples/watch/columns.toml``.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))
AXES = ("acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s", "gyro_z_rad_s")


def recording_statistics(raw) -> pd.DataFrame:
    """Per recording: subject, exercise, side, mean of the axes and their correlations."""
    rows = []
    for path in sorted(Path(raw).glob("subject_*/*_*.csv")):
        exercise, side = path.stem.rsplit("_", 1)
        values = pd.read_csv(path, usecols=list(AXES))[list(AXES)].to_numpy()
        rows.append({"subject": int(path.parent.name.split("_")[1]), "exercise": exercise,
                     "side": side, "mean": values.mean(axis=0),
                     "corr": np.corrcoef(values.T)})
    return pd.DataFrame(rows)


def mirror_cost(stats: pd.DataFrame, signs, subjects) -> float:
    """How far the left recordings, with ``signs`` applied, are from the right ones."""
    signs = np.asarray(signs, dtype=float)
    flip = np.outer(signs, signs)
    chosen = stats[stats["subject"].isin(subjects)]
    left = chosen[chosen["side"] == "left"].set_index(["subject", "exercise"])
    right = chosen[chosen["side"] == "right"].set_index(["subject", "exercise"])
    cost = 0.0
    for key in left.index.intersection(right.index):
        l, r = left.loc[key], right.loc[key]
        cost += np.abs(l["mean"][:3] * signs[:3] - r["mean"][:3]).sum()
        cost += np.abs(l["corr"] * flip - r["corr"]).sum() / 2
    return float(cost)


def best_patterns(stats, subjects, *, top=2):
    """The ``top`` sign patterns (cost, names of the negated axes), best first."""
    scored = sorted((mirror_cost(stats, signs, subjects), signs)
                    for signs in itertools.product((1, -1), repeat=len(AXES)))
    return [(cost, [a for a, s in zip(AXES, signs) if s < 0]) for cost, signs in scored[:top]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=str(ROOT.parent / "shared" / "data" / "watch" / "raw"))
    args = parser.parse_args(argv)
    stats = recording_statistics(args.raw)
    unmirrored = mirror_cost(stats, [1] * len(AXES), range(1, 11))
    print(f"all subjects, nothing negated: cost {unmirrored:.1f}")
    print("| held out | training subjects' best (negated axes, cost) | runner-up |")
    print("|---|---|---|")
    for fold in FOLDS:
        train = [s for s in range(1, 11) if s not in fold]
        (c1, best), (c2, second) = best_patterns(stats, train)
        print(f"| {fold[0]}+{fold[1]} | {', '.join(best)} ({c1:.1f}) | "
              f"{', '.join(second)} ({c2:.1f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
