"""``exermote-sgan predict``: per-row predictions and the sets and repetitions they add up to."""

from __future__ import annotations

import sys


def add_columns_file_argument(parser) -> None:
    """``--columns-file``, as predict and evaluate-reps read recordings."""
    parser.add_argument("--columns-file", metavar="FILE", default=None,
                        help="read the recordings in the generic format with this JSON/TOML "
                             "columns file (e.g. written by 'inspect') instead of the columns "
                             "the run was trained with")


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
                        help="write per-row predictions (recording, row, time, "
                             "window_end_row, label, one score per class) to this CSV file "
                             "(default: none); rows count like the windows file's end_index: "
                             "0 is the first data row, rows dropped for a repeated timestamp "
                             "are not counted (resampled runs: rows of the resampled grid)")
    add_columns_file_argument(parser)
    parser.add_argument("--min-set-seconds", type=float, default=None, metavar="S",
                        help="runs without a rest class: a run of one predicted class lasting "
                             "at least S seconds is a set (default: 5)")
    parser.add_argument("--counting", choices=("hysteresis", "period", "app", "app-20s"),
                        default="period",
                        help="repetition counting method: 'period' (the classifier's sets, "
                             "repetitions from the signal's periods, default), 'hysteresis' "
                             "(smoothed scores with two thresholds), 'app' (the app's "
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
    from ..recordings.readers import find_csv_files, load_column_spec
    from ..inference.periods import with_run_profile
    from ..inference.recordings import predict_path
    from ..inference.streaming import load_recognizer_parts

    columns = load_column_spec(args.columns_file) if args.columns_file else None
    paths = find_csv_files(args.recordings)
    if args.out:  # before TensorFlow loads (issue 33)
        check_output_file(args.out, option="--out", example="predictions.csv")
    preprocessing, classifier = load_recognizer_parts(args.run_dir)
    options = with_run_profile(args.run_dir, _counting_options(args, preprocessing))
    mirror = {"auto": None, "yes": True, "no": False}[args.mirror]
    predictions = []
    for path in paths:
        if args.mode == "stream":
            items = _stream_file(path, preprocessing, classifier, args.counting, mirror,
                                 columns=columns, options=options)
        else:
            items = predict_path(path, preprocessing, classifier, counting=args.counting,
                                 mirror=mirror, columns=columns, counting_options=options)
        for item in items:
            predictions.append(item)
            for note in item.warnings:
                print(f"warning: {note}", file=sys.stderr)
            _print_sets(item, preprocessing, (options or {}).get("min_set_s", 5.0))
    if args.out:
        with atomic_output(args.out) as tmp:
            _write_csv(tmp, predictions, preprocessing)
        print(f"wrote {sum(len(p.result.rows) for p in predictions)} predictions to {args.out}")
    return 0


def _counting_options(args, preprocessing) -> dict | None:
    """``--min-set-seconds`` as counting options; refused for a run with a rest class."""
    from ..errors import ExermoteInputError

    if args.min_set_seconds is None:
        return None
    seconds = args.min_set_seconds
    if not (seconds > 0 and seconds < float("inf")):
        raise ExermoteInputError(f"--min-set-seconds must be a number of seconds > 0, got "
                                 f"{seconds!r}", option="min_set_seconds")
    rest = getattr(preprocessing, "rest_class", "Break")
    if rest is not None:
        raise ExermoteInputError(f"--min-set-seconds applies to runs without a rest class; "
                                 f"this run's rest class {rest!r} ends its sets",
                                 option="min_set_seconds")
    return {"min_set_s": float(seconds)}


def _stream_file(path, preprocessing, classifier, counting, mirror=None, *, columns=None,
                 options=None):
    from ..inference.recordings import read_for_run

    return [_stream_recording(recording, preprocessing, classifier, counting, options)
            for recording in read_for_run(path, preprocessing, mirror=mirror, columns=columns)]


def _stream_recording(recording, preprocessing, classifier, counting, options=None):
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
    recognizer = StreamingRecognizer(preprocessing, classifier, counting=counting,
                                     counting_options=options)
    events = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedRowWarning)
        for row, time in zip(values, recording.timestamps):
            events += recognizer.push(row, time=time)
    events += recognizer.finish()
    skipped = np.asarray(recognizer.skipped_rows)
    return RecordingPrediction(recording, recognizer.result(events),
                               int(np.sum(skipped > valid[0])), notes)


def _print_sets(item, preprocessing, min_set_s: float = 5.0):
    recording, result = item.recording, item.result
    print(f"{recording.session_name}: {len(result.rows)} predictions, "
          f"{len(result.sets)} set(s)")
    if item.mid_stream_skipped:
        print(f"  warning: skipped {item.mid_stream_skipped} row(s) with missing values",
              file=sys.stderr)
    counted = getattr(preprocessing, "rest_class", "Break") is not None
    if not counted:
        print(f"  no rest class: a set is a run of one predicted class lasting at least "
              f"{min_set_s:g} s (--min-set-seconds); repetitions are not counted")
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
            # rows as the windows file's end_index counts them: 0 = the first data row
            result = item.result
            labels = np.argmax(result.scores, axis=1)
            for k in range(len(result.rows)):
                writer.writerow([item.recording.session_name, int(result.described_rows[k]),
                                 f"{result.times[k]:.3f}", int(result.rows[k]),
                                 classes[labels[k]]]
                                + [f"{s:.6f}" for s in result.scores[k]])
