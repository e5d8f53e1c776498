"""``exermote-sgan inspect PATH...``: a look at recordings before preprocessing them.

Reads the files (writes no windows) and prints, per file, whether ``preprocess`` would read it
or skip it and why, each session's subject, rows, rate and jitter, repeated timestamps, the
pauses that would split it and its labels; then the roles it gave the columns and the one
``preprocess`` command that it implies.  ``--write-columns FILE`` keeps the columns in a
columns file for that command (and for ``personalize``, ``predict``, ``evaluate-reps``).
The logic is in :mod:`exermote_sgan.recordings.inspection`.  Never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import shlex


_OPTION_OF = {"timestamp": "--timestamp-column", "label": "--label-column",
              "subject": "--subject-column", "session": "--session-column",
              "sub_label": "--sub-label-column", "timestamp_unit": "--timestamp-unit",
              "timestamp_format": "--timestamp-format", "delimiter": "--delimiter",
              "path_pattern": "--path-pattern", "mirror_when": "--mirror-when",
              "duplicate_timestamps": "--duplicate-timestamps"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .preprocess import add_reading_options

    parser = subparsers.add_parser(
        "inspect", help="look at recordings before preprocessing them (writes no windows)",
        description="Read recording CSVs (files, or folders searched for *.csv) as preprocess "
                    "would, write no windows, and print per file whether it is read or "
                    "skipped and why, the subject and session found, the columns and their "
                    "roles (guessed from the header where no option names them), rate and "
                    "jitter, repeated timestamps, the pauses that would split a recording and "
                    "the label counts; then the one preprocess command to run.  Takes "
                    "preprocess's options.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="recording CSV files, or folders whose *.csv files are read")
    parser.add_argument("--write-columns", metavar="FILE.toml",
                        help="write the columns (and path pattern) to this columns file, "
                             "for --columns-file")
    parser.add_argument("--out", default="windows.h5", metavar="WINDOWS.h5",
                        help="the windows file named in the command printed (default: "
                             "%(default)s); nothing is written to it")
    add_reading_options(parser)
    parser.set_defaults(run=run)
    return parser


def _given(args) -> dict:
    """The ColumnSpec keys given on the command line."""
    from .preprocess import _split

    given = {"timestamp": args.timestamp_column, "label": args.label_column,
             "subject": args.subject_column, "session": args.session_column,
             "sub_label": args.sub_label_column, "timestamp_unit": args.timestamp_unit,
             "timestamp_format": args.timestamp_format, "delimiter": args.delimiter,
             "path_pattern": args.path_pattern, "mirror_when": args.mirror_when or None,
             "features": tuple(_split(args.feature_columns)) if args.feature_columns else None,
             "mirror_columns": (tuple(_split(args.mirror_columns)) if args.mirror_columns
                                else None)}
    return {k: v for k, v in given.items() if v is not None}


def _columns(args, files):
    """(format, ColumnSpec or None, notes on what was guessed, include glob)."""
    from ..recordings.inspection import detect_format, guess_column_spec, guess_include
    from ..errors import ExermoteInputError
    from .preprocess import _column_spec

    given = _given(args)
    include, others, notes = args.include, [], []
    if include is None and args.format != "exermote":
        include, others = guess_include(files)
    if include and not args.include:
        also = "; also " + ", ".join(f"'{g}' ({n} files)" for g, n in others) if others else ""
        notes.append(f"include: '{include}', the files most named alike{also} "
                     f"(--include to choose)")
    candidates = [p for p in files if include is None or p.match(include)] or files
    fmt = args.format or ("generic" if given or args.columns_file
                          else detect_format(candidates[0]))
    if fmt == "exermote":
        if args.write_columns:
            raise ExermoteInputError("--write-columns: Exermote files need no columns file; "
                                     "give --format generic for other files",
                                     option="write_columns")
        args.format = "exermote"
        _column_spec(args)  # refuses column options without --format generic
        return "exermote", None, notes, include
    args.format = "generic"
    if args.columns_file:
        return "generic", _column_spec(args), notes, include
    first_error = None
    for candidate in candidates:  # the first file whose header gives the roles
        try:
            spec, guessed = guess_column_spec(candidate, given=given)
        except ExermoteInputError as exc:
            first_error = first_error or exc
            continue
        return "generic", spec, notes + guessed, include
    raise first_error


def _session_line(s) -> str:
    dup = f", {s.duplicates} repeated timestamp(s) dropped" if s.duplicates else ""
    miss = f", {s.missing_rows} row(s) with missing values" if s.missing_rows else ""
    split = ("; splits at " + ", ".join(f"row {r} ({g:.3g} s)" for r, g in s.pauses[:5])
             + (f" and {len(s.pauses) - 5} more" if len(s.pauses) > 5 else "")
             if s.pauses else "; no pause splits it")
    labels = ", ".join(f"{k} {v}" for k, v in s.labels.items()) or "none"
    return (f"    session {s.name!r}, subject {s.subject}: {s.rows} rows{dup}{miss}, "
            f"{s.rate_hz:.4g} Hz, jitter {s.jitter_ms:.2g} ms, longest interval "
            f"{s.max_interval_s:.3g} s{split}; labels: {labels}")


def _command(args, fmt, spec, include, columns_file) -> str:
    words = ["exermote-sgan", "preprocess", *args.inputs, "--out", args.out]
    if fmt == "generic":
        if columns_file:
            words += ["--columns-file", str(columns_file)]
        else:
            words += ["--format", "generic"]
            defaults = {"timestamp_unit": "s", "delimiter": ",", "duplicate_timestamps": "drop"}
            for key, value in spec.to_dict().items():
                if value in (None, [], ()) or defaults.get(key) == value:
                    continue
                if key in ("features", "mirror_columns"):
                    option = "--feature-columns" if key == "features" else "--mirror-columns"
                    words += [option, ",".join(value)]
                elif key in _OPTION_OF:
                    words += [_OPTION_OF[key], str(value)]
    if include:
        words += ["--include", include]
    return " ".join(shlex.quote(w) for w in words)


def run(args) -> int:
    from ..recordings.inspection import inspect_files
    from ..recordings.pipeline import GENERIC_MAX_PAUSE_SECONDS
    from ..recordings.readers import find_csv_files, write_column_spec

    files = find_csv_files(args.inputs)
    fmt, spec, notes, include = _columns(args, files)
    pause = args.max_pause
    if pause is None and fmt == "generic":
        pause = GENERIC_MAX_PAUSE_SECONDS
    found = inspect_files(args.inputs, format=fmt, columns=spec, include=include,
                          max_pause_s=pause, max_gap=args.max_gap)
    read = [f for f in found if f.read]
    sessions = [s for f in read for s in f.sessions]
    for f in found:
        print(f"{'read' if f.read else 'skip'}  {f.path}" + ("" if f.read else f": {f.why}"))
        for s in f.sessions:
            print(_session_line(s))
    print()
    print(f"format: {fmt}; {len(read)} file(s) read, {len(found) - len(read)} skipped, "
          f"{len(sessions)} session(s), {len({s.subject for s in sessions})} subject(s)")
    if spec is not None:
        roles = spec.to_dict()
        print("columns: " + "; ".join(f"{k} = {v}" for k, v in roles.items()
                                      if v not in (None, [], ())))
    for note in notes:
        print(f"  guessed {note}")
    _print_summary(sessions, fmt=fmt, pause=pause)
    if not read:
        print("no file would be read: name the columns (see above) or choose --include")
        return 0
    columns_file = None
    if args.write_columns and spec is not None:
        columns_file = write_column_spec(spec, args.write_columns)
        print(f"wrote the columns file {columns_file}")
    print("preprocess would run:")
    print("  " + _command(args, fmt, spec, include, columns_file))
    return 0


def _print_summary(sessions, *, fmt: str, pause) -> None:
    """Rates, repeated timestamps, splits and labels over all sessions."""
    import numpy as np

    if not sessions:
        return
    rates = np.array([s.rate_hz for s in sessions])
    print(f"rate: {np.nanmin(rates):.4g}-{np.nanmax(rates):.4g} Hz (median of each session); "
          f"jitter up to {max(s.jitter_ms for s in sessions):.2g} ms"
          + ("; preprocess takes the first session's rate" if fmt == "generic" else ""))
    print(f"repeated timestamps: {sum(s.duplicates for s in sessions)} row(s)"
          + (" (dropped)" if fmt == "generic" else ""))
    rule = f"> {pause:g} s" if pause is not None else "of more than --max-gap + 1.5 rows"
    splits = sum(len(s.pauses) for s in sessions)
    print(f"pauses {rule} that split a recording: {splits}")
    totals: dict[str, int] = {}
    for s in sessions:
        for k, v in s.labels.items():
            totals[k] = totals.get(k, 0) + v
    print("labels (rows): " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    if fmt == "generic":
        from ..recordings.pipeline import GENERIC_STRIDE_SECONDS, GENERIC_WINDOW_SECONDS

        rest = ("Break" if "Break" in totals
                else "none (a set is a run of one label; --rest-class NAME names one)")
        print(f"preprocess defaults: classes = the labels above, not mapped; windows of "
              f"{GENERIC_WINDOW_SECONDS:g} s every {GENERIC_STRIDE_SECONDS:g} s at the measured "
              f"rate; rest class: {rest}")
