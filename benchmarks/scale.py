"""Benchmark the cost of the windows against the number of rows: file size, peak memory, time.

Usage (from the repository root)::

    python benchmarks/scale.py [--cases 1x,10x,100x,100hz] [--work DIR] [--json FILE]

Synthetic recordings (:mod:`exermote_sgan.recordings.synthetic`, the Exermote raw format) stand in
for data of growing size: ``1x`` is 30 recordings of 3,000 rows at 10 Hz (90,000 rows, the
size of the real Exermote data), ``10x`` and ``100x`` read those recordings 10 and 100 times
(as more sessions of the same people: 0.9 and 9 million rows), and ``100hz`` is 30 recordings
of 30,000 rows at 100 Hz (900,000 rows) cut into 2-second windows of 200 rows.  Every case is
preprocessed at stride 1.

Each stage runs as its own child process, whose peak resident memory (``ru_maxrss`` from
``wait4``) is reported: ``exermote-sgan preprocess``; ``exermote-sgan train`` (a baseline, one
epoch capped at ``--train-steps`` steps, validation over every validation window and the test
evaluation over every window of subject 5); ``exermote-sgan evaluate`` on the windows of subject 5; and a
throughput child that times ``--train-steps`` training steps on batches gathered from the rows
(for ``1x`` also on the array of every scaled window, the way training worked before).  With
the real recordings present (``../shared/data/exermote/raw``) their windows file is written
and measured too, against the size of every window stored (format version 1).

The goals of the issue are checked and printed; the exit status is 1 when one is missed.
Timings depend on the machine's load: the load average is printed and a case run while the
machine is busy is marked "under load".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL_RAW = REPO.parent / "shared" / "data" / "exermote" / "raw"
BASE_RECORDINGS, BASE_ROWS = 30, 3000          # 90,000 rows: the size of the Exermote data
CASES = {  # name: (times the base recordings are read, rows per recording, rate, timesteps)
    "1x": (1, BASE_ROWS, 10, 40),
    "10x": (10, BASE_ROWS, 10, 40),
    "100x": (100, BASE_ROWS, 10, 40),
    "100hz": (1, 10 * BASE_ROWS, 100, 200),
}
GOAL_FILE_BYTES = 17_000_000        # at most 10% of the 173 MB of every Exermote window stored
GOAL_TRAIN_RSS = 2 * 2**30          # peak RSS of training at 100x
GOAL_THROUGHPUT = 0.9               # gathered windows/s at 1x against the array path
GOAL_LINEAR = 1.5                   # per-row cost at the largest case / at 10x, at most
GOAL_WINDOWING = 50                 # windowing against a per-row Python loop


# -- data ---------------------------------------------------------------------------------------
def _recordings(work: Path, rows: int, rate: int) -> Path:
    """30 synthetic recordings of ``rows`` rows at ``rate`` Hz (5 subjects x 6 sessions)."""
    from exermote_sgan.recordings import synthetic

    folder = work / f"recordings_{rows}_{rate}hz"
    if (folder / "done").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for subject in range(1, 6):
        for session in range(BASE_RECORDINGS // 5):
            rec = synthetic.synthesize_recording(subject, session, rows=rows, seed=0)
            if rate != synthetic.RATE_HZ:  # the same motion sampled as if at ``rate``
                rec = replace(rec, seconds=rec.seconds * synthetic.RATE_HZ / rate)
            (folder / rec.file_name).write_text(synthetic._csv_text(rec))
    (folder / "done").write_text("")
    return folder


def _repeated(work: Path, base: Path, times: int) -> Path:
    """A folder reading every recording of ``base`` ``times`` times (symbolic links)."""
    if times == 1:
        return base
    folder = work / f"{base.name}_x{times}"
    if (folder / "done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k in range(times):
        for csv in sorted(base.glob("*.csv")):
            (folder / f"r{k:03d}_{csv.name}").symlink_to(csv.resolve())
    (folder / "done").write_text("")
    return folder


# -- child processes ----------------------------------------------------------------------------
def _child(args: list[str], log: Path) -> dict:
    """Run ``python ARGS`` as a child; its wall time and peak RSS (bytes)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable] + args, stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"benchmark: {' '.join(args[:3])} failed ({code}); see {log}")
    return {"seconds": seconds, "peak_rss": usage.ru_maxrss * 1024}


def throughput(windows_path: str, *, path: str, steps: int, batch_size: int = 32) -> dict:
    """Training windows/s of a baseline on ``steps`` batches (after 10 warm-up steps)."""
    import keras

    from exermote_sgan.data.scaler import MinMaxScaler
    from exermote_sgan.data.windows_file import load_windows
    from exermote_sgan.models.networks import build_baseline
    from exermote_sgan.training import datasets, window_source

    keras.utils.set_random_seed(0)
    ws = load_windows(windows_path)
    ws = ws.select_features([f for f in ws.features if f[0] in "xyz"])
    index = np.arange(len(ws))
    scaler = window_source.fit_scaler_on_rows(MinMaxScaler(), ws.row_windows)
    weights = datasets.balanced_class_weights(ws.labels, ws.num_classes)[ws.labels]
    if path == "array":
        data = datasets.baseline_dataset(scaler.transform(np.asarray(ws.windows)), ws.labels,
                                         weights, batch_size=batch_size, seed=0)
    else:
        data = window_source.baseline_dataset(window_source.ScaledWindows(ws.row_windows,
                                                                          scaler),
                                              index, ws.labels, weights,
                                              batch_size=batch_size, seed=0)
    model = build_baseline(ws.timesteps, len(ws.features), ws.num_classes)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data, epochs=1, steps_per_epoch=10, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds = time.perf_counter() - start
    return {"windows_per_s": steps * batch_size / seconds, "steps": steps}


def _throughput_child(windows: Path, path: str, steps: int, log: Path) -> dict:
    out = log.with_suffix(".json")
    stage = _child([str(Path(__file__).resolve()), "--throughput-child", str(windows), path,
                    str(steps), str(out)], log)
    return {**stage, **json.loads(out.read_text())}


# -- the cases ----------------------------------------------------------------------------------
def _load() -> float:
    return os.getloadavg()[0]


def run_case(name: str, work: Path, *, train_steps: int) -> dict:
    times, rows, rate, timesteps = CASES[name]
    base = _recordings(work, rows, rate)
    folder = _repeated(work, base, times)
    case_dir = work / name
    shutil.rmtree(case_dir, ignore_errors=True)
    case_dir.mkdir(parents=True)
    windows = case_dir / "windows.h5"
    load_before = _load()
    options = ["--timesteps", str(timesteps), "--label-offset", str(timesteps // 2),
               "--expected-rate", str(rate)]
    pre = _child(["-m", "exermote_sgan", "preprocess", str(folder), "--out", str(windows),
                  "--no-progress", "--report-json", str(case_dir / "report.json")] + options,
                 case_dir / "preprocess.log")
    report = json.loads((case_dir / "report.json").read_text())
    features = len(report["config"]["features"] or []) or 12
    result = {
        "case": name, "rows": int(report["rows_read"]), "rate_hz": rate,
        "timesteps": timesteps, "windows": int(report["windows"]),
        "file_bytes": windows.stat().st_size,
        "v1_file_bytes": int(report["windows"]) * timesteps * features * 4,
        "preprocess_s": pre["seconds"], "preprocess_rss": pre["peak_rss"],
    }
    run_dir = case_dir / "run"
    train = _child(["-m", "exermote_sgan", "train", str(windows), "--model", "baseline",
                    "--out", str(run_dir), "--test-subjects", "5", "--epochs", "1",
                    "--steps-per-epoch", str(train_steps), "--quiet"],
                   case_dir / "train.log")
    result.update(train_s=train["seconds"], train_rss=train["peak_rss"])
    evaluate = _child(["-m", "exermote_sgan", "evaluate", str(run_dir), str(windows),
                       "--subjects", "5"], case_dir / "evaluate.log")
    result.update(evaluate_s=evaluate["seconds"], evaluate_rss=evaluate["peak_rss"])
    gathered = _throughput_child(windows, "gather", train_steps, case_dir / "throughput")
    result.update(windows_per_s=gathered["windows_per_s"], throughput_rss=gathered["peak_rss"])
    if name == "1x":
        array = _throughput_child(windows, "array", train_steps, case_dir / "throughput_array")
        result.update(array_windows_per_s=array["windows_per_s"],
                      array_throughput_rss=array["peak_rss"])
    load_after = _load()
    result["load_average"] = [load_before, load_after]
    result["under_load"] = max(load_before, load_after) > 0.5 * (os.cpu_count() or 1)
    return result


def real_data_case(work: Path) -> dict | None:
    """The real Exermote recordings' windows file: its size against every window stored."""
    if not REAL_RAW.is_dir():
        return None
    out = work / "exermote" / "windows.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = _child(["-m", "exermote_sgan", "preprocess", str(REAL_RAW), "--out", str(out),
                    "--no-progress", "--report-json", str(out.parent / "report.json")],
                   out.parent / "preprocess.log")
    report = json.loads((out.parent / "report.json").read_text())
    return {"windows": int(report["windows"]), "file_bytes": out.stat().st_size,
            "v1_file_bytes": int(report["windows"]) * 40 * 12 * 4,
            "preprocess_s": stage["seconds"], "preprocess_rss": stage["peak_rss"]}


def windowing_speedup(work: Path) -> dict:
    """Windowing the 1x recordings (cut and gather every window) against a per-row loop."""
    import importlib.util

    from exermote_sgan.recordings.cleaning import clean_recording
    from exermote_sgan.recordings.readers import find_csv_files, read_exermote_csv
    from exermote_sgan.recordings.schema import EXERMOTE_CLASSES, EXERMOTE_FEATURES
    from exermote_sgan.recordings.windowing import cut_windows

    spec = importlib.util.spec_from_file_location("preprocess_benchmark",
                                                  Path(__file__).with_name("preprocess.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    segments = []
    for session, path in enumerate(find_csv_files([_recordings(work, BASE_ROWS, 10)])):
        pieces, _ = clean_recording(read_exermote_csv(path), session=session,
                                    classes=EXERMOTE_CLASSES,
                                    label_map={"setBreak": "Break"})
        segments.extend(pieces)

    def package():
        ws = cut_windows(segments, classes=EXERMOTE_CLASSES, features=EXERMOTE_FEATURES)
        return np.asarray(ws.windows)

    package_s = min(_timed(package)[0] for _ in range(3))
    loop_s, (loop_windows, _, _) = _timed(lambda: module.loop_windows(
        segments, timesteps=40, label_offset=20, num_features=len(EXERMOTE_FEATURES)))
    if not np.array_equal(loop_windows, package()):
        raise SystemExit("benchmark: the loop and the package disagree on the windows")
    return {"package_s": package_s, "loop_s": loop_s, "speedup": loop_s / package_s}


def _windowing_child(work: Path) -> dict:
    """:func:`windowing_speedup` in a child, so this process stays small (a child's peak RSS
    counts the pages it shares with its parent until it starts the new program)."""
    out = work / "windowing.json"
    _child([str(Path(__file__).resolve()), "--windowing-child", str(work), str(out)],
           work / "windowing.log")
    return json.loads(out.read_text())


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# -- report -------------------------------------------------------------------------------------
def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def table(results: list[dict]) -> str:
    lines = ["| case | rows | windows | file MB (v1 MB) | preprocess s | preprocess RSS MB | "
             "train RSS MB | evaluate RSS MB | train windows/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        label = r["case"] + (" (under load)" if r.get("under_load") else "")
        lines.append(
            f"| {label} | {r['rows']:,} | {r['windows']:,} | {_mb(r['file_bytes'])} "
            f"({_mb(r['v1_file_bytes'])}) | {r['preprocess_s']:.1f} | "
            f"{_mb(r['preprocess_rss'])} | {_mb(r['train_rss'])} | {_mb(r['evaluate_rss'])} | "
            f"{r['windows_per_s']:,.0f} |")
    return "\n".join(lines)


def goals(results: list[dict], real: dict | None, windowing: dict | None) -> list[tuple]:
    """``(goal, figure, met)`` for each goal the results can check."""
    by = {r["case"]: r for r in results}
    checks = []
    if real:
        checks.append(("Exermote windows file <= 17 MB (10% of every window stored)",
                       f"{_mb(real['file_bytes'])} MB, {real['file_bytes'] / real['v1_file_bytes']:.1%}"
                       f" of {_mb(real['v1_file_bytes'])} MB",
                       real["file_bytes"] <= GOAL_FILE_BYTES))
    elif "1x" in by:
        r = by["1x"]
        checks.append(("1x windows file <= 17 MB", f"{_mb(r['file_bytes'])} MB",
                       r["file_bytes"] <= GOAL_FILE_BYTES))
    if "100x" in by:
        checks.append(("peak RSS of training at 100x <= 2 GB",
                       f"{by['100x']['train_rss'] / 2**30:.2f} GiB",
                       by["100x"]["train_rss"] <= GOAL_TRAIN_RSS))
    if "1x" in by and "array_windows_per_s" in by["1x"]:
        r = by["1x"]
        ratio = r["windows_per_s"] / r["array_windows_per_s"]
        checks.append(("training throughput at 1x within 10% of the array path",
                       f"{r['windows_per_s']:,.0f} vs {r['array_windows_per_s']:,.0f} "
                       f"windows/s ({ratio:.2f})", ratio >= GOAL_THROUGHPUT))
    sized = [by[c] for c in ("10x", "100x") if c in by]
    if len(sized) == 2:
        small, large = sized
        time_ratio = (large["preprocess_s"] / large["rows"]) / (small["preprocess_s"] / small["rows"])
        byte_ratio = (large["file_bytes"] / large["rows"]) / (small["file_bytes"] / small["rows"])
        rss_ratio = large["preprocess_rss"] / small["preprocess_rss"]
        checks.append(("cost grows linearly with the rows (100x vs 10x, per row)",
                       f"preprocess time x{time_ratio:.2f}, file bytes x{byte_ratio:.2f}; "
                       f"preprocess peak RSS x{rss_ratio:.2f} for 10 times the rows",
                       time_ratio <= GOAL_LINEAR and byte_ratio <= GOAL_LINEAR
                       and rss_ratio <= GOAL_LINEAR))
    if windowing:
        checks.append(("windowing >= 50x a per-row loop",
                       f"{windowing['speedup']:.0f}x ({windowing['package_s'] * 1000:.0f} ms "
                       f"vs {windowing['loop_s']:.1f} s)", windowing["speedup"] >= GOAL_WINDOWING))
    return checks


def _print(results, real, windowing) -> list[tuple]:
    print(table(results))
    print()
    checks = goals(results, real, windowing)
    for goal, figure, met in checks:
        print(f"[{'met' if met else 'MISSED'}] {goal}: {figure}")
    return checks


def _report_files(paths) -> int:
    results, real, windowing = [], None, None
    for path in paths:
        data = json.loads(Path(path).read_text())
        results.extend(data["cases"])
        real = real or data.get("real")
        windowing = windowing or data.get("windowing")
    order = list(CASES)
    results.sort(key=lambda r: order.index(r["case"]))
    checks = _print(results, real, windowing)
    return 0 if all(met for _, _, met in checks) else 1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--windowing-child"]:
        Path(argv[2]).write_text(json.dumps(windowing_speedup(Path(argv[1]))))
        return 0
    if argv[:1] == ["--throughput-child"]:
        windows, path, steps, out = argv[1:5]
        result = throughput(windows, path=path, steps=int(steps))
        Path(out).write_text(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="1x,10x,100x,100hz",
                        help="comma-separated cases among " + ", ".join(CASES))
    parser.add_argument("--work", default="benchmark_scale",
                        help="folder for recordings, windows files and runs (default: "
                             "%(default)s; recordings are reused between runs)")
    parser.add_argument("--train-steps", type=int, default=200,
                        help="training steps of the train and throughput stages (default: "
                             "%(default)s)")
    parser.add_argument("--no-real", action="store_true",
                        help="skip the real Exermote recordings even when present")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--report", nargs="+", metavar="JSON",
                        help="run nothing: print the table and goals of earlier --json files "
                             "together (cases run in separate processes)")
    args = parser.parse_args(argv)
    if args.report:
        return _report_files(args.report)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose among {', '.join(CASES)}")
    if args.train_steps < 1:
        parser.error("--train-steps must be at least 1")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average {_load():.1f} on {os.cpu_count()} CPUs", flush=True)
    real = None if args.no_real else real_data_case(work)
    windowing = _windowing_child(work) if "1x" in cases else None
    results = []
    for case in cases:
        results.append(run_case(case, work, train_steps=args.train_steps))
        print(f"{case}: {json.dumps(results[-1])}", flush=True)
    print()
    checks = _print(results, real, windowing)
    if args.json:
        from exermote_sgan.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(
            {"cases": results, "real": real, "windowing": windowing,
             "goals": [{"goal": g, "figure": f, "met": m} for g, f, m in checks]},
            indent=2) + "\n")
    return 0 if all(met for _, _, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
