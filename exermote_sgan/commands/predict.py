"""``exermote-sgan predict``: per-row predictions and the sets and repetitions they add up to."""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="recognise exercises and count repetitions in raw recordings",
        description="Run a trained classifier over raw recordings (read as the run's "
                    "training files were: Exermote, or the columns, path pattern and rate "
                    "recorded by 'preprocess') as the Exermote app did "
                    "live (one prediction per row once a window is full), print the "
                    "detected sets with their exercise, repetitions and time span, and "
                    "optionally write the per-row predictions to CSV.  Times are those of "
                    "the row a prediction describes: the row label_offset rows before the "
                    "window's last row.  Without a rest class a set is a run of one "
                    "predicted class and repetitions are not counted.  Warns when the input "
                    "goes far outside the range the run saw in training.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by "
                        "'exermote-sgan train' (classifier.keras + preprocessing.json)")
    parser.add_argument("recordings", metavar="RECORDING", nargs="+",
                        help="raw recording CSV file(s) in the run's format (Exermote, or "
                             "the columns its windows file was read with), or folders of them "
                             "(searched recursively)")
    parser.add_argument("--out", metavar="CSV", default=None,
                        help="write per-row predictions (recording, row, time, label, one "
                             "score per class) to this CSV file (default: none)")
    parser.add_argument("--counting", choices=("hysteresis", "app", "app-20s"),
                        default="hysteresis",
                        help="repetition counting method: 'hysteresis' (smoothed scores "
                             "with two thresholds, default), 'app' (the Exermote app's "
                             "consecutive-prediction rule, its current constants) or "
                             "'app-20s' (the same with its first 20 s set break)")
    parser.add_argument("--mirror", choices=("auto", "yes", "no"), default="auto",
                        help="negate the run's mirror columns: 'auto' (default) when the "
                             "file's path matches the run's --mirror-when rule, 'yes' always "
                             "(e.g. a recording from the left wrist whose path says nothing), "
                             "'no' never")
    parser.add_argument("--mode", choices=("batch", "stream"), default="batch",
                        help="'batch' evaluates all windows of a recording at once; "
                             "'stream' feeds rows one at a time as an app would (same "
                             "results, slower)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from ..atomic import atomic_output, check_output_file
    from ..data.readers import find_csv_files
    from ..inference.recordings import predict_path
    from ..inference.streaming import load_recognizer_parts

    paths = find_csv_files(args.recordings)
    if args.out:  # before TensorFlow loads (issue 33)
        check_output_file(args.out, option="--out", example="predictions.csv")
    preprocessing, classifier = load_recognizer_parts(args.run_dir)
    mirror = {"auto": None, "yes": True, "no": False}[args.mirror]
    predictions = []
    for path in paths:
        if args.mode == "stream":
            items = _stream_file(path, preprocessing, classifier, args.counting, mirror)
        else:
            items = predict_path(path, preprocessing, classifier, counting=args.counting,
                                 mirror=mirror)
        for item in items:
            predictions.append(item)
            for note in item.warnings:
                print(f"warning: {note}", file=sys.stderr)
            _print_sets(item, preprocessing)
    if args.out:
        with atomic_output(args.out) as tmp:
            _write_csv(tmp, predictions, preprocessing)
        print(f"wrote {sum(len(p.result.rows) for p in predictions)} predictions to {args.out}")
    return 0


def _stream_file(path, preprocessing, classifier, counting, mirror=None):
    from ..inference.recordings import read_for_run

    return [_stream_recording(recording, preprocessing, classifier, counting)
            for recording in read_for_run(path, preprocessing, mirror=mirror)]


def _stream_recording(recording, preprocessing, classifier, counting):
    """One recording fed row by row to a :class:`StreamingRecognizer`, as an app would."""
    import warnings

    import numpy as np

    from ..errors import ExermoteInputError
    from ..inference.recordings import (RecordingPrediction, align_features,
                                        training_range_warning)
    from ..inference.streaming import SkippedRowWarning, StreamingRecognizer

    path = recording.path
    values = align_features(recording, preprocessing)
    notes = [w for w in (training_range_warning(recording, values, preprocessing),) if w]
    valid = np.flatnonzero(np.all(np.isfinite(values), axis=1))
    if len(valid) < preprocessing.timesteps:
        raise ExermoteInputError(f"has {len(valid)} rows with valid values, fewer than one "
                                 f"window of {preprocessing.timesteps} rows", path=path)
    recognizer = StreamingRecognizer(preprocessing, classifier, counting=counting)
    events = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedRowWarning)
        for row, time in zip(values, recording.timestamps):
            events += recognizer.push(row, time=time)
    events += recognizer.finish()
    skipped = np.asarray(recognizer.skipped_rows)
    return RecordingPrediction(recording, recognizer.result(events),
                               int(np.sum(skipped > valid[0])), notes)


def _print_sets(item, preprocessing):
    recording, result = item.recording, item.result
    print(f"{recording.session_name}: {len(result.rows)} predictions, "
          f"{len(result.sets)} set(s)")
    if item.mid_stream_skipped:
        print(f"  warning: skipped {item.mid_stream_skipped} row(s) with missing values",
              file=sys.stderr)
    counted = getattr(preprocessing, "rest_class", "Break") is not None
    if result.sets:
        print(f"  {'set':>3}  {'exercise':<10} {'reps':>4}  {'start (s)':>9}  {'end (s)':>8}")
    for number, found in enumerate(result.sets, 1):
        reps = found.repetitions if counted else "-"
        print(f"  {number:>3}  {found.exercise:<10} {reps:>4}  "
              f"{found.start:>9.1f}  {found.end:>8.1f}")


def _write_csv(path, predictions, preprocessing):
    import csv

    import numpy as np

    classes = list(preprocessing.classes)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recording", "row", "time", "window_end_row", "label"]
                        + [f"score_{c}" for c in classes])
        for item in predictions:
            result, file_rows = item.result, item.recording.file_rows
            labels = np.argmax(result.scores, axis=1)
            for k in range(len(result.rows)):
                writer.writerow([item.recording.session_name,
                                 int(file_rows[result.described_rows[k]]),
                                 f"{result.times[k]:.3f}", int(file_rows[result.rows[k]]),
                                 classes[labels[k]]]
                                + [f"{s:.6f}" for s in result.scores[k]])
