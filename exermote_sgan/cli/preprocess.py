"""``exermote-sgan preprocess``: raw recording CSVs to a windows file (HDF5), with a summary.

Reads Exermote raw files or, with ``--format generic``, any CSV whose columns are named on the
command line or in a JSON/TOML columns file; cleans them, cuts windows and writes them
atomically.  Never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "preprocess",
        help="turn raw recording CSVs into a windows file",
        description="Read raw recordings (files, or folders searched for *.csv), map labels, "
                    "apply the Exermote squat rule, interpolate short gaps, split sessions at "
                    "long ones, check (or resample to) the sampling rate, cut labelled windows "
                    "and write them to an HDF5 windows file.  Prints a summary of rows read "
                    "and dropped and windows per class and subject.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="recording CSV files, or folders whose *.csv files are read")
    parser.add_argument("--out", required=True, metavar="WINDOWS.h5",
                        help="windows file to write (HDF5; replaced atomically)")
    add_reading_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--report-json", metavar="FILE",
                     help="also write the preprocessing report as JSON to FILE")
    out.add_argument("--no-progress", action="store_true",
                     help="do not show the progress bar on stderr")
    parser.set_defaults(run=run)
    return parser


def add_reading_options(parser) -> None:
    """The options saying how to read, clean and window recordings (shared with
    ``inspect``)."""
    parser.add_argument("--format", choices=("exermote", "generic"), default=None,
                        help="exermote: the 70-column Exermote raw CSV (default); generic: "
                             "columns named by --columns-file or the column options (the "
                             "default when they are given)")
    parser.add_argument("--include", metavar="GLOB",
                        help="from folders, read only the files whose name (or path below the "
                             "folder) matches GLOB, e.g. '*_sw.csv'; the others are skipped "
                             "with a note")

    parser.add_argument("--features", metavar="A,B,...",
                        help="keep only these features, in this order (default: all of the "
                             "format's; for exermote the 12 Core Motion features xGravity, "
                             "yGravity, zGravity, xAcceleration, yAcceleration, zAcceleration, "
                             "pitch, roll, yaw, xRotationRate, yRotationRate, zRotationRate)")

    _window_options(parser)
    _cleaning_options(parser)
    _generic_options(parser)


def _window_options(parser) -> None:
    win = parser.add_argument_group(
        "windows (rows, or seconds at the rate)",
        "defaults: exermote 4 s windows (40 rows) every row; generic 2 s windows every 0.5 s "
        "at the rate measured from the timestamps")
    win.add_argument("--timesteps", type=int, default=None, metavar="N",
                     help="rows per window (default: 4 s at 10 Hz for exermote, 2 s for "
                          "generic)")
    win.add_argument("--window-seconds", type=float, default=None, metavar="S",
                     help="window length in seconds, instead of --timesteps")
    win.add_argument("--stride", type=int, default=None, metavar="N",
                     help="rows between the starts of consecutive windows (default: 1 for "
                          "exermote, 0.5 s for generic)")
    win.add_argument("--stride-seconds", type=float, default=None, metavar="S",
                     help="seconds between the starts of consecutive windows, instead of "
                          "--stride")
    win.add_argument("--label-offset", type=int, default=None, metavar="N",
                     help="a window is labelled by the row N steps before its end "
                          "(default: half the window, 20 at 10 Hz)")
    win.add_argument("--label-offset-seconds", type=float, default=None, metavar="S",
                     help="the label offset in seconds, instead of --label-offset")


def _cleaning_options(parser) -> None:
    from ..recordings.schema import EXERMOTE_CLASSES

    clean = parser.add_argument_group("cleaning")
    clean.add_argument("--classes", default=None, metavar="A,B,...",
                       help="class names in label order (default: exermote "
                            f"{','.join(EXERMOTE_CLASSES)}; generic: the labels found, sorted)")
    clean.add_argument("--label-map", default=None, metavar="FROM=TO,...",
                       help="file labels to rename to a class (default: exermote "
                            "setBreak=Break, generic none; '' for none)")
    clean.add_argument("--rest-class", default="auto", metavar="NAME",
                       help="class of the pauses between sets, which counting and the "
                            "labeled-set selection use; '' or none: no rest class (a set is "
                            "a run of one label) (default: Break when it is a class)")
    clean.add_argument("--no-squat-rule", action="store_true",
                       help="keep the first and last rows of squat repetitions as Squat "
                            "(by default they become Break, as in the original Exermote)")
    clean.add_argument("--squat-edge-rows", type=int, default=2, metavar="N",
                       help="rows at each end of a squat repetition relabelled Break "
                            "(default: 2)")
    clean.add_argument("--max-gap", type=int, default=3, metavar="ROWS",
                       help="interpolate runs of up to ROWS rows with missing values; longer "
                            "gaps split the session (default: 3)")
    clean.add_argument("--max-pause", type=float, default=None, metavar="S",
                       help="an interval between rows longer than S seconds splits a "
                            "recording (default: generic 0.5 s, so timestamp jitter never "
                            "does; exermote: more than --max-gap + 1.5 rows)")
    clean.add_argument("--expected-rate", type=float, default=None, metavar="HZ",
                       help="nominal sampling rate, checked against every recording (default: "
                            "exermote 10; generic: measured from the first recording's "
                            "timestamps, which the others must agree with)")
    clean.add_argument("--rate-tolerance", type=float, default=0.2, metavar="FRACTION",
                       help="error when a session's median rate is further than this from "
                            "the expected rate (default: 0.2)")
    clean.add_argument("--resample", action="store_true",
                       help="resample every session onto an exact grid at --expected-rate "
                            "(linear interpolation; labels from the nearest row)")
    clean.add_argument("--duplicate-timestamps", choices=("refuse", "drop", "average"),
                       default=None,
                       help="rows repeating the previous row's timestamp: refuse the file "
                            "(exermote default), drop them (keep the first; generic default, "
                            "counted in the summary) or average them; checked before "
                            "--resample")
    clean.add_argument("--max-abs-value", type=float, default=1e6, metavar="X",
                       help="a sensor value beyond +-X is not a reading (default: 1e6)")
    clean.add_argument("--out-of-range", choices=("refuse", "missing"), default="refuse",
                       help="such a value: refuse the file (default) or treat it as missing")


def _generic_options(parser) -> None:
    gen = parser.add_argument_group("generic format (--format generic)")
    gen.add_argument("--columns-file", metavar="FILE",
                     help="JSON or TOML file with keys timestamp, features, label, subject "
                          "(or path_pattern) and optionally session, sub_label, "
                          "timestamp_unit, timestamp_format, feature_names, delimiter, "
                          "duplicate_timestamps, mirror_when, mirror_columns; the options "
                          "below override it")
    gen.add_argument("--path-pattern", metavar="REGEX",
                     help="regular expression searched in each file's path whose named groups "
                          "give the subject and the session, e.g. "
                          "'subject_(?P<subject>\\d+)/(?P<session>[^/]+)\\.csv$'")
    gen.add_argument("--mirror-when", metavar="GROUP=VALUE",
                     help="mirror the recordings whose path gives VALUE for the named group "
                          "GROUP of --path-pattern (e.g. side=left): put one body side into "
                          "the other's frame; needs --mirror-columns")
    gen.add_argument("--mirror-columns", metavar="A,B,...",
                     help="feature columns negated in mirrored recordings (a reflection: one "
                          "acceleration axis and the other two rotation-rate axes)")
    gen.add_argument("--timestamp-column", metavar="NAME",
                     help="column with times: numbers (see --timestamp-unit) or date-times")
    gen.add_argument("--feature-columns", metavar="A,B,...",
                     help="comma-separated feature columns, in model order")
    gen.add_argument("--label-column", metavar="NAME", help="column with the activity label")
    gen.add_argument("--subject-column", metavar="NAME",
                     help="column with the integer subject (person) id")
    gen.add_argument("--session-column", metavar="NAME",
                     help="column naming the session when a file holds several "
                          "(default: one session per file)")
    gen.add_argument("--sub-label-column", metavar="NAME",
                     help="column with firstHalf/secondHalf repetition halves (optional)")
    gen.add_argument("--timestamp-unit", choices=("s", "ms", "us", "ns"), default=None,
                     help="unit of numeric timestamps (default: s)")
    gen.add_argument("--timestamp-format", metavar="FORMAT",
                     help="strptime format of text timestamps (default: inferred)")
    gen.add_argument("--delimiter", metavar="CHAR", help="field separator (default: ',')")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _label_map(text: str) -> dict[str, str]:
    from ..errors import ExermoteInputError

    mapping = {}
    for item in _split(text):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ExermoteInputError(f"--label-map entry {item!r} is not FROM=TO")
        mapping[source.strip()] = target.strip()
    return mapping


def _column_spec(args):
    from dataclasses import replace

    from ..recordings.readers import ColumnSpec, PathPattern, load_column_spec
    from ..errors import ExermoteInputError

    options = {
        "timestamp": args.timestamp_column,
        "features": tuple(_split(args.feature_columns)) if args.feature_columns else None,
        "label": args.label_column,
        "subject": args.subject_column,
        "session": args.session_column,
        "sub_label": args.sub_label_column,
        "timestamp_unit": args.timestamp_unit,
        "timestamp_format": args.timestamp_format,
        "delimiter": args.delimiter,
        "mirror_when": args.mirror_when or None,  # "" turns a columns file's rule off
        "mirror_columns": (tuple(_split(args.mirror_columns))
                           if args.mirror_columns is not None else None),
    }
    given = {k: v for k, v in options.items() if v is not None}
    if args.format is None:
        args.format = ("generic" if given or args.columns_file or args.path_pattern
                       else "exermote")
    if args.format != "generic":
        if given or args.columns_file or args.path_pattern:
            raise ExermoteInputError("column options, --path-pattern, --mirror-when/-columns "
                                     "and --columns-file need --format generic")
        return None
    if args.columns_file:
        spec = load_column_spec(args.columns_file)
        if (args.path_pattern and "subject" not in given
                and PathPattern(args.path_pattern).gives_subject):
            given["subject"] = None  # the pattern replaces the file's subject column
        if args.mirror_when == "":
            given["mirror_when"] = None  # --mirror-when "": the columns file's rule is off
        if args.path_pattern:
            given["path_pattern"] = args.path_pattern  # before a --mirror-when that needs it
        return replace(spec, **given) if given else spec
    wanted = ("timestamp", "features", "label") + (() if args.path_pattern else ("subject",))
    missing = [f"--{k.replace('_', '-')}-column" if k != "features" else "--feature-columns"
               for k in wanted if k not in given]
    if missing:
        raise ExermoteInputError(f"--format generic needs --columns-file or {', '.join(missing)}"
                                 + ("" if args.path_pattern else
                                    " (or the subject from the path: --path-pattern)"))
    return ColumnSpec(**given, path_pattern=args.path_pattern)


def _rest_class(text: str):
    """``--rest-class``: a class name, ``auto``, or ``''``/``none`` for no rest class."""
    return None if text.strip().lower() in ("", "none") else text.strip()


def _skipped_lines(skipped) -> list[str]:
    """The files of folders not read, with why (the first ten)."""
    if not skipped:
        return []
    lines = [f"files skipped:  {len(skipped)}"]
    lines += [f"  {path}: {why}" for path, why in skipped[:10]]
    if len(skipped) > 10:
        lines.append(f"  ... and {len(skipped) - 10} more (--report-json lists them)")
    return lines


def format_report(report, out_path=None) -> str:
    """The summary table printed after preprocessing."""
    lines = []
    sessions = report.sessions
    lines.append(f"files read:     {len(report.files)}")
    lines.extend(_skipped_lines(getattr(report, "skipped", None) or []))
    lines.append(f"sessions:       {len(sessions)} "
                 f"({len({s.subject for s in sessions})} subjects)")
    lines.append(f"rows read:      {report.rows_read} (with the repeated timestamps)"
                 if any(s.duplicate_rows for s in sessions)
                 else f"rows read:      {report.rows_read}")
    dropped = report.rows_dropped()
    lines.append(f"rows dropped:   {sum(dropped.values())}")
    for reason, n in dropped.items():
        lines.append(f"  {reason + ':':40s} {n}")
    mapped: dict[str, int] = {}
    for s in sessions:
        for k, v in s.labels_mapped.items():
            mapped[k] = mapped.get(k, 0) + v
    for source, n in mapped.items():
        lines.append(f"rows relabelled {source} -> {report.config['label_map'][source]}: {n}")
    mirrored = [s for s in sessions if s.mirrored]
    if mirrored:
        columns = report.config.get("columns") or {}
        lines.append(f"sessions mirrored ({columns.get('mirror_when')}: negated "
                     f"{', '.join(columns.get('mirror_columns') or ())}): {len(mirrored)}")
    if report.config.get("squat_rule"):
        lines.append(f"squat edge rows relabelled Break: "
                     f"{sum(s.squat_rows_relabelled for s in sessions)}")
    duplicates = sum(s.duplicate_rows for s in sessions)
    if duplicates:
        verb = "averaged" if report.config.get("duplicate_timestamps") == "average" else "dropped"
        lines.append(f"rows repeating a timestamp ({verb}): {duplicates}")
    blanked = sum(s.values_out_of_range for s in sessions)
    if blanked:
        lines.append(f"values beyond +-{report.config['max_abs_value']:g} treated as missing: "
                     f"{blanked}")
    far = [s for s in sessions if getattr(s, "values_far_outside", 0)]
    if far:
        lines.append(f"warning: values far outside the rest of their session (kept): "
                     f"{sum(s.values_far_outside for s in far)}; first: "
                     f"{far[0].far_outside_note}")
    lines.append(f"rows interpolated (short gaps): {sum(s.rows_interpolated for s in sessions)}")
    splits = sum(s.time_gaps_split for s in sessions)
    if splits:
        pause = report.config.get("max_pause_seconds")
        rule = (f"intervals > {pause:g} s" if pause is not None
                else f"intervals >= {report.config['max_gap'] + 1.5:g} rows")
        lines.append(f"sessions split at pauses in the timestamps ({rule}): {splits}")
    if report.config.get("resample"):
        lines.append(f"rows after resampling: {sum(s.resampled_rows or 0 for s in sessions)}")
    rates = [s.rate.rate_hz for s in sessions]
    jitter = [s.rate.jitter_s for s in sessions]
    lines.append(f"median rate:    {min(rates):.3g}-{max(rates):.3g} Hz, "
                 f"jitter (sd of intervals) up to {max(jitter) * 1000:.1f} ms")
    lines.append(f"segments:       {sum(s.segments for s in sessions)}")
    cfg = report.config
    rest = cfg.get("rest_class") or "none (a set is a run of one label)"
    lines.append(f"windows:        {cfg['timesteps']} rows "
                 f"({cfg['timesteps'] / cfg['expected_rate_hz']:.3g} s), stride {cfg['stride']}, "
                 f"label offset {cfg['label_offset']}; rest class: {rest}")
    lines.append("")
    width = max(len(c) for c in report.classes) + 2
    lines.append(f"{'class':{width}s}{'windows':>10s}")
    for name, n in report.windows_per_class.items():
        lines.append(f"{name:{width}s}{n:>10d}")
    lines.append(f"{'total':{width}s}{report.windows:>10d}")
    lines.append("")
    lines.append(f"{'subject':>8s}{'sessions':>10s}{'windows':>10s}")
    for subject, n in report.windows_per_subject.items():
        n_sessions = sum(1 for s in sessions if s.subject == subject)
        lines.append(f"{subject:>8d}{n_sessions:>10d}{n:>10d}")
    if out_path is not None:
        lines.append("")
        lines.append(f"wrote {report.windows} windows to {out_path}")
    return "\n".join(lines)


def check_outputs(out, report_json=None) -> None:
    """Refuse an output path that cannot be written before any work is done: ``--out`` and
    ``--report-json`` must name files (not folders) below folders (not files), and differ."""
    from pathlib import Path

    from ..errors import ExermoteInputError

    for option, path in (("--out", out), ("--report-json", report_json)):
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            raise ExermoteInputError(f"{option} is a folder; give a file name such as "
                                     f"{'windows.h5' if option == '--out' else 'report.json'}",
                                     path=path)
        blocking = next((p for p in path.absolute().parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise ExermoteInputError(f"{option}: {blocking} is a file, not a folder; choose "
                                     f"another path", path=path)
    if report_json is not None and Path(report_json).resolve() == Path(out).resolve():
        raise ExermoteInputError("--report-json names the windows file (--out); give another "
                                 "file", path=report_json)


def config_from_args(args):
    """The :class:`PreprocessConfig` of ``preprocess``'s (or ``inspect``'s) options."""
    from ..recordings.pipeline import PreprocessConfig

    columns = _column_spec(args)
    return PreprocessConfig(
        format=args.format, columns=columns,
        classes=tuple(_split(args.classes)) if args.classes is not None else None,
        features=tuple(_split(args.features)) if args.features else None,
        label_map=_label_map(args.label_map) if args.label_map is not None else None,
        squat_rule=not args.no_squat_rule,
        squat_edge_rows=args.squat_edge_rows, max_gap=args.max_gap, resample=args.resample,
        expected_rate_hz=args.expected_rate, rate_tolerance=args.rate_tolerance,
        timesteps=args.timesteps, stride=args.stride, label_offset=args.label_offset,
        window_seconds=args.window_seconds, stride_seconds=args.stride_seconds,
        label_offset_seconds=args.label_offset_seconds, rest_class=_rest_class(args.rest_class),
        path_pattern=args.path_pattern, duplicate_timestamps=args.duplicate_timestamps,
        max_abs_value=args.max_abs_value, out_of_range=args.out_of_range,
        max_pause_seconds=args.max_pause, include=args.include)


def run(args) -> int:
    from ..atomic import atomic_write_text
    from ..recordings.pipeline import preprocess_to_file

    check_outputs(args.out, args.report_json)
    config = config_from_args(args)
    # streamed: one recording at a time into the file, whatever the number of recordings
    report = preprocess_to_file(args.inputs, args.out, config=config,
                                progress=not args.no_progress and sys.stderr.isatty())
    if args.report_json:
        atomic_write_text(args.report_json, json.dumps(report.to_dict(), indent=2) + "\n")
    print(format_report(report, args.out))
    return 0
