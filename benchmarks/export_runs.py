"""Benchmark: the default ``exermote-sgan export`` on many ordinary trained runs.

Usage::

    python benchmarks/export_runs.py --work DIR [--phase all|train|export] [--runs NAME ...]
        [--table FILE.md]

Trains (or reuses, when ``DIR/runs/NAME/classifier.keras`` exists) at least twelve runs, the
way a user would, with ``exermote-sgan train``:

- both models (``baseline`` and ``sgan``, the SGAN with 5% of the labels, as in the README's
  example), several seeds, short runs (2 epochs of at most 30 batches) and longer ones;
- the Exermote recordings (``../shared/data/exermote/raw``, 10 Hz, the default nine 3-axis
  features, one run with all 12), test subject 4; and the smartwatch recordings
  (``../shared/data/watch/raw``, 50 Hz, 6 features, 7 exercises, no rest class), windows of
  100 rows (2 s), test subjects 9 and 10.  The watch SGANs label 5% of the windows
  (``--labeled-unit windows``): labelling whole sets needs a rest class between them.

Then it exports each run with the command's defaults (``exermote-sgan export RUN --out
DIR/exports/NAME/Exermote --json``: FP16 ``.mlpackage``, the app ``.mlmodel`` where the run fits
the app, verified on up to 2000 of the run's test windows) plus ``--tflite``, and prints (and with
``--table`` writes) one row per run: data, model, seed, epochs, and for each file its max
|difference| from Keras, its label agreement, the number of differing labels that were
near-ties (see ``exermote_sgan.export.verify``) and whether it passed; for the
``.mlpackage`` also its difference in float32 arithmetic on its stored FP16 weights and what
the former rule (FP16 within 1e-2 and at least 99.9% of labels equal) would have said.

The watch CSVs name their subject only in the folder name (``subject_07/ABD_left.csv``), which
``preprocess`` does not read yet (another change adds options for it).  Until that is on main,
this script copies each watch CSV into ``DIR/watch_csv/`` with a ``subject`` column added (values
unchanged) and builds the windows with the package's Python API
(:func:`exermote_sgan.recordings.pipeline.preprocess` with a :class:`ColumnSpec`).  Nothing derived
from the recordings is written inside the repository.

Everything runs on the CPU, one process at a time; timings are not reported (the machine is
shared).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
WATCH_CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
WATCH_FEATURES = ("acc_x_g", "acc_y_g", "acc_z_g", "gyro_x_rad_s", "gyro_y_rad_s",
                  "gyro_z_rad_s")
SHORT = ("--epochs", "2", "--steps-per-epoch", "30")


@dataclass(frozen=True)
class Run:
    name: str
    data: str  # exermote | exermote_s2 | watch
    model: str
    seed: int
    epochs: int
    extra: tuple[str, ...] = ()

    def train_args(self) -> list[str]:
        args = ["--model", self.model, "--seed", str(self.seed), "--epochs", str(self.epochs)]
        if self.model == "sgan":
            args += ["--labeled-fraction", "0.05"]
            if self.data == "watch":  # one set per recording and no rest class: label windows
                args += ["--labeled-unit", "windows"]
        return args + list(self.extra)


RUNS = (
    Run("exermote_baseline_s0_short", "exermote", "baseline", 0, 2, ("--steps-per-epoch", "30")),
    Run("exermote_baseline_s1_short", "exermote", "baseline", 1, 2, ("--steps-per-epoch", "30")),
    Run("exermote_sgan_s0_short", "exermote", "sgan", 0, 2, ("--steps-per-epoch", "30")),
    Run("exermote_sgan_s1_short", "exermote", "sgan", 1, 2, ("--steps-per-epoch", "30")),
    Run("exermote_baseline_s3_all12_short", "exermote", "baseline", 3, 2,
        ("--steps-per-epoch", "30", "--features", "all")),
    Run("watch_baseline_s0_short", "watch", "baseline", 0, 2, ("--steps-per-epoch", "30")),
    Run("watch_baseline_s1_short", "watch", "baseline", 1, 2, ("--steps-per-epoch", "30")),
    Run("watch_sgan_s0_short", "watch", "sgan", 0, 2, ("--steps-per-epoch", "30")),
    Run("watch_sgan_s1_short", "watch", "sgan", 1, 2, ("--steps-per-epoch", "30")),
    Run("exermote_baseline_s2_long", "exermote_s2", "baseline", 2, 12),
    Run("watch_baseline_s2_long", "watch", "baseline", 2, 12),
    Run("exermote_sgan_s2_long", "exermote_s2", "sgan", 2, 8, ("--steps-per-epoch", "150")),
    Run("watch_sgan_s2_long", "watch", "sgan", 2, 8),
)
TEST_SUBJECTS = {"exermote": ("4",), "exermote_s2": ("4",), "watch": ("9", "10")}


def _cli(*args, log=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "exermote_sgan.cli", *map(str, args)], env=env,
                          stdout=subprocess.PIPE, stderr=log or subprocess.PIPE, text=True)


def windows_file(work: Path, data: str) -> Path:
    """The run's windows file, built on first use (Exermote by the CLI, watch by the API)."""
    path = work / f"{data}.h5"
    if path.exists():
        return path
    if data.startswith("exermote"):
        stride = "2" if data == "exermote_s2" else "4"
        done = _cli("preprocess", SHARED / "exermote" / "raw", "--out", path, "--stride", stride,
                    "--no-progress")
        if done.returncode:
            raise SystemExit(done.stderr)
        return path
    from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
    from exermote_sgan.recordings.readers import ColumnSpec
    from exermote_sgan.data.windows_file import save_windows

    copies = work / "watch_csv"
    for source in sorted((SHARED / "watch" / "raw").glob("subject_*/*.csv")):
        subject = int(source.parent.name.split("_")[1])
        target = copies / source.parent.name / source.name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open(newline="") as src, target.open("w", newline="") as dst:
            reader, writer = csv.reader(src), csv.writer(dst)
            writer.writerow(next(reader) + ["subject"])
            writer.writerows(row + [subject] for row in reader)
    columns = ColumnSpec(timestamp="time_ms", features=WATCH_FEATURES, label="exercise",
                         subject="subject", timestamp_unit="ms")
    config = PreprocessConfig(format="generic", columns=columns, classes=WATCH_CLASSES,
                              label_map={}, squat_rule=False, expected_rate_hz=50.0,
                              timesteps=100, stride=10, label_offset=50)
    window_set, _ = preprocess(sorted(copies.glob("subject_*")), config=config)
    save_windows(path, window_set)
    return path


def train(work: Path, run: Run) -> Path:
    run_dir = work / "runs" / run.name
    if (run_dir / "classifier.keras").exists():
        return run_dir
    windows = windows_file(work, run.data)
    log = (work / "logs" / f"{run.name}.train.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stream:
        done = _cli("train", windows, "--out", run_dir, "--quiet", "--test-subjects",
                    *TEST_SUBJECTS[run.data], *run.train_args(), log=stream)
    if done.returncode:
        raise SystemExit(f"training {run.name} failed, see {log}")
    return run_dir


FILES = (("mlpackage", ".mlpackage"), ("app_model", ".mlmodel"), ("tflite", ".tflite"))


def export(work: Path, run: Run) -> dict:
    """Export with the defaults (and --tflite); the report as a dict, failures included."""
    out = work / "exports" / run.name
    out.mkdir(parents=True, exist_ok=True)
    done = _cli("export", work / "runs" / run.name, "--out", out / "Exermote", "--tflite",
                "--json", "--quiet")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    report["returncode"] = done.returncode
    report["stderr_last"] = ((done.stderr or "").strip().splitlines()[-1:] if done.returncode
                             else [])
    return report


def _cell(check: dict | None, *, graph: bool) -> list[str]:
    if not check:
        return ["-"] * (5 if graph else 4)
    cells = [f"{check['max_abs_diff']:.2g}"]
    if graph:
        value = check.get("graph_max_abs_diff")
        cells.append("-" if value is None else f"{value:.2g}")
    cells += [f"{100 * check['label_agreement']:.2f}%",
              f"{check.get('near_tie_disagreements', 0)}/{check.get('differing_labels', 0)}",
              "pass" if check["passed"] else "FAIL"]
    return cells


def _former_rule(check: dict | None) -> str:
    """The verdict of the rule this one replaced: FP16 within 1e-2 and 99.9% of labels equal."""
    if not check:
        return "-"
    return ("pass" if check["max_abs_diff"] <= 1e-2 and check["label_agreement"] >= 0.999
            else "FAIL")


def table(rows: list[tuple[Run, dict]]) -> str:
    head = ["run", "data", "model", "seed", "epochs", "test accuracy"]
    for kind, suffix in FILES:
        head += [f"{suffix} max abs diff"]
        if kind == "mlpackage":
            head += [f"{suffix} diff in fp32 arithmetic"]
        head += [f"{suffix} labels agree", f"{suffix} near-tie flips/flips", f"{suffix}"]
        if kind == "mlpackage":
            head += [f"{suffix} under the former rule"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run, report in rows:
        cells = [run.name, "watch (50 Hz, 6 f)" if run.data == "watch"
                 else f"exermote ({'stride 2' if run.data == 'exermote_s2' else 'stride 4'})",
                 run.model, str(run.seed), str(run.epochs),
                 f"{report['test_accuracy']:.3f}" if "test_accuracy" in report else "-"]
        for kind, _ in FILES:
            check = report.get(f"{kind}_check")
            cells += _cell(check, graph=kind == "mlpackage")
            if not check and kind == "app_model" and report.get("app_model_skipped"):
                cells[-1] = "not applicable"
            elif not check and kind in report.get("failures", {}):
                cells[-1] = "FAIL"
            if kind == "mlpackage":
                cells.append(_former_rule(check))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--phase", choices=("all", "train", "export"), default="all")
    parser.add_argument("--runs", nargs="*", default=None)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--reuse-reports", action="store_true",
                        help="take exports/NAME/report.json where it exists instead of exporting")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [r for r in RUNS if args.runs is None or r.name in args.runs]
    if args.phase in ("all", "train"):
        for run in runs:
            print(f"training {run.name}", flush=True)
            train(args.work, run)
    if args.phase == "train":
        return 0
    rows, failed = [], 0
    for run in runs:
        saved = args.work / "exports" / run.name / "report.json"
        if args.reuse_reports and saved.exists():
            report = json.loads(saved.read_text())
        else:
            print(f"exporting {run.name}", flush=True)
            report = export(args.work, run)
            saved.write_text(json.dumps(report, indent=2))
        failed += report["returncode"] != 0
        metrics = args.work / "runs" / run.name / "metrics.json"
        if metrics.exists():  # how far the run trained (one seed: not an evaluation)
            report["test_accuracy"] = json.loads(metrics.read_text())["accuracy"]
        rows.append((run, report))
    text = table(rows)
    print(text)
    print(f"{len(rows) - failed} of {len(rows)} default exports succeeded")
    if args.table:
        args.table.write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
