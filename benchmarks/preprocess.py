"""Benchmark preprocessing: vectorised windowing against a per-row Python loop, and CSV -> HDF5.

Usage (from the repository root)::

    python benchmarks/preprocess.py [RAW_DIR] [--repeat 5] [--json FILE]

RAW_DIR defaults to ``../shared/data/exermote/raw`` (the 30 real recordings, 90,000 rows).
It reports, side by side on the same cleaned segments, the rows per second of
:func:`exermote_sgan.recordings.windowing.cut_windows` followed by gathering every window into one
array (the same output as the loop's) and of a straightforward loop that copies every window
row by row (the package must be at least 50 times faster); the time of ``cut_windows`` alone
(the rows once and the window index, which is what the windows file stores) and, for context, of
the original Exermote code's loop over windows; checks that all give the same windows; reports
the memory floor (the time to write as many bytes into fresh memory, which no windowing that
returns a new array can beat); and measures the wall time of the whole folder from CSV to HDF5,
both in process and through the ``exermote-sgan preprocess`` command (the target is under 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO.parent / "shared" / "data" / "exermote" / "raw"


def loop_windows(segments, *, timesteps, label_offset, num_features):
    """The windowing done the obvious way: one Python iteration per window row."""
    total = sum(max(len(s) - timesteps + 1, 0) for s in segments)
    windows = np.empty((total, timesteps, num_features), dtype=np.float32)
    labels = np.empty(total, dtype=np.int64)
    end_index = np.empty(total, dtype=np.int64)
    pos = 0
    for segment in segments:
        values, row_labels = segment.values, segment.labels
        for start in range(len(values) - timesteps + 1):
            for t in range(timesteps):
                windows[pos, t] = values[start + t]
            labels[pos] = row_labels[start + timesteps - label_offset - 1]
            end_index[pos] = segment.first_row + start + timesteps - 1
            pos += 1
    return windows, labels, end_index


def slice_loop_windows(segments, *, timesteps, label_offset):
    """The original Exermote approach: one iteration per window, slices stacked at the end."""
    data, labels = [], []
    for segment in segments:
        for start in range(len(segment.values) - timesteps + 1):
            data.append(segment.values[start:start + timesteps])
            labels.append(segment.labels[start + timesteps - label_offset - 1])
    return np.array(data, dtype=np.float32), np.array(labels)


def memory_floor(shape, *, workers):
    """Write ``shape`` float32 numbers into fresh memory as fast as NumPy can, for reference.

    Any windowing that returns its windows in a new array must at least get that array's pages
    from the kernel (which zeroes them) and write every byte once.  This does only that: it
    fills a new array of the same size with a constant, split between ``workers`` threads as the
    package's windowing is, reading nothing.  No windowing can be faster on this machine.
    """
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, shape[0], workers + 1).astype(int)

    def write():
        out = np.empty(shape, dtype=np.float32)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda lo, hi: out[lo:hi].fill(1.0), bounds[:-1], bounds[1:]))
        return out

    return write


def _best(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(raw_dir: Path, *, repeat: int) -> dict:
    from exermote_sgan.recordings.cleaning import clean_recording
    from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess_to_file
    from exermote_sgan.recordings.readers import find_csv_files, read_exermote_csv
    from exermote_sgan.recordings.schema import EXERMOTE_CLASSES, EXERMOTE_FEATURES
    from exermote_sgan.recordings.windowing import cut_windows

    config = PreprocessConfig().resolved()  # rows from the rate-following defaults
    files = find_csv_files([raw_dir])
    segments, names, rows_read = [], [], 0
    for session, path in enumerate(files):
        recording = read_exermote_csv(path)
        rows_read += len(recording)
        pieces, _ = clean_recording(recording, session=session, classes=EXERMOTE_CLASSES,
                                    label_map=config.label_map)
        segments.extend(pieces)
        names.append(recording.session_name)
    rows = sum(len(s) for s in segments)
    options = dict(timesteps=config.timesteps, label_offset=config.label_offset)

    def cut():
        return cut_windows(segments, classes=EXERMOTE_CLASSES, features=EXERMOTE_FEATURES,
                           stride=1, session_names=names, **options)

    # what preprocessing does: the rows once and the window index (no window copied)
    index_s, ws = _best(cut, repeat)
    # what the loop does: every window as its own copy, gathered from the rows
    package_s, (ws, windows) = _best(lambda: (lambda w: (w, np.asarray(w.windows)))(cut()),
                                     repeat)
    loop_s, (loop_w, loop_labels, loop_end) = _best(
        lambda: loop_windows(segments, num_features=len(EXERMOTE_FEATURES), **options), 1)
    if not (np.array_equal(loop_w, windows) and np.array_equal(loop_labels, ws.labels)
            and np.array_equal(loop_end, ws.end_index)):
        raise SystemExit("benchmark: the loop and the package disagree on the windows")
    slice_s, (slice_w, slice_labels) = _best(lambda: slice_loop_windows(segments, **options), 1)
    if not (np.array_equal(slice_w, windows) and np.array_equal(slice_labels, ws.labels)):
        raise SystemExit("benchmark: the slice loop and the package disagree on the windows")
    del loop_w, slice_w, windows
    floor_s, _ = _best(memory_floor(ws.windows.shape, workers=min(os.cpu_count() or 1, 8)),
                       repeat)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "windows.h5"

        def whole():
            return preprocess_to_file([raw_dir], out, config=config)

        in_process_s, _ = _best(whole, repeat)

        def command():
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
            subprocess.run([sys.executable, "-m", "exermote_sgan", "preprocess", str(raw_dir),
                            "--out", str(out), "--no-progress"], check=True,
                           stdout=subprocess.DEVNULL, env=env)

        command_s, _ = _best(command, repeat)
        size = out.stat().st_size

    return {
        "files": len(files), "rows_read": rows_read,
        "rows_windowed": rows, "windows": len(ws),
        "package_index_s": index_s,
        "package_windowing_s": package_s, "package_rows_per_s": rows / package_s,
        "loop_windowing_s": loop_s, "loop_rows_per_s": rows / loop_s,
        "speedup": loop_s / package_s,
        "memory_floor_s": floor_s, "floor_speedup": loop_s / floor_s,
        "windows_bytes": int(ws.windows.nbytes),
        "window_loop_s": slice_s, "window_loop_rows_per_s": rows / slice_s,
        "speedup_over_window_loop": slice_s / package_s,
        "csv_to_hdf5_in_process_s": in_process_s,
        "csv_to_hdf5_command_s": command_s,
        "hdf5_bytes": size, "cpu_count": os.cpu_count(), "repeat": repeat,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", nargs="?", default=str(DEFAULT_RAW),
                        help="folder of raw Exermote CSVs (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs of each fast step; the best is reported (default: 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = parser.parse_args(argv)
    raw_dir = Path(args.raw_dir)
    if not raw_dir.is_dir():
        parser.error(f"{raw_dir} is not a folder")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    result = run(raw_dir, repeat=args.repeat)
    print(f"rows read / windowed:        {result['rows_read']:,} / {result['rows_windowed']:,} "
          f"({result['windows']:,} windows of 40 rows, {result['files']} files)")
    print(f"package windowing + gather:  {result['package_rows_per_s']:>14,.0f} rows/s "
          f"({result['package_windowing_s'] * 1000:.1f} ms)")
    print(f"per-row Python loop:         {result['loop_rows_per_s']:>14,.0f} rows/s "
          f"({result['loop_windowing_s']:.2f} s)")
    index_rate = result["rows_windowed"] / result["package_index_s"]
    print(f"rows + window index only:    {index_rate:>14,.0f} rows/s "
          f"({result['package_index_s'] * 1000:.1f} ms; what preprocess stores)")
    print(f"speed-up over per-row loop:  {result['speedup']:>14,.0f} x   (target >= 50 x)")
    print(f"memory floor:                {result['memory_floor_s'] * 1000:>14.1f} ms   "
          f"(writing the {result['windows_bytes'] / 2**20:.0f} MiB of windows into fresh "
          f"memory, no windowing: at most {result['floor_speedup']:.0f} x the loop here)")
    print(f"per-window slice loop:       {result['window_loop_rows_per_s']:>14,.0f} rows/s "
          f"({result['window_loop_s']:.2f} s; the original Exermote code's approach, "
          f"{result['speedup_over_window_loop']:.0f} x slower)")
    print(f"CSV -> HDF5, in process:     {result['csv_to_hdf5_in_process_s']:>14.2f} s   "
          f"(target < 5 s)")
    print(f"CSV -> HDF5, the command:    {result['csv_to_hdf5_command_s']:>14.2f} s   "
          f"(Python start-up included; {result['cpu_count']} CPUs)")
    if args.json:
        from exermote_sgan.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    ok = result["speedup"] >= 50 and result["csv_to_hdf5_in_process_s"] < 5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
