"""A look at recordings before preprocessing them: what ``preprocess`` would read and do.

:func:`guess_column_spec` reads a CSV's header and first rows and proposes the roles of its
columns (timestamp and its unit, features, label, subject or a path pattern giving it,
session); :func:`inspect_files` reads every file through the reader registry
(:func:`~exermote_sgan.recordings.readers.read_recording_file`) and reports, per file, whether it
would be read or skipped and why, and per session its subject, rows, rate and jitter, repeated
timestamps, the pauses that would split it and its label counts.  Nothing is written.  The
command ``exermote-sgan inspect`` prints the result and the one ``preprocess`` command it
implies.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ExermoteInputError
from .readers import ColumnSpec, read_recording_file, sort_selection
from .schema import EXERMOTE_FEATURE_COLUMNS, TIMESTAMP_COLUMN


_TIME = ("timestamp", "time", "ts", "datetime", "date", "t", "time_ms", "time_s")
_LABEL = ("label", "activity", "class", "exercise", "action", "target", "activity_label")
_SUBJECT = ("subject", "user", "person", "participant", "individual", "subject_id",
            "user_id", "participant_id")
_SESSION = ("session", "trial", "recording", "session_id")
#: numeric timestamps above these magnitudes are unix times in ns, us, ms (else seconds)
_UNIT_BY_MAGNITUDE = ((1e17, "ns"), (1e14, "us"), (1e11, "ms"))


@dataclass
class SessionInspection:
    """One session as preprocess would see it (rows before any cleaning)."""

    name: str
    subject: int
    rows: int                    # rows read, with the repeated timestamps
    duplicates: int              # rows whose timestamp repeats the previous row's
    rate_hz: float
    jitter_ms: float             # standard deviation of the intervals between rows
    max_interval_s: float
    pauses: list[tuple[int, float]]   # (row from the first data row, seconds) where it splits
    missing_rows: int            # rows with a missing value
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class FileInspection:
    """One file: read (with its sessions) or skipped (with why)."""

    path: Path
    read: bool
    why: str = ""
    sessions: list[SessionInspection] = field(default_factory=list)


def detect_format(path) -> str:
    """``exermote`` when the file's header has the Exermote columns, else ``generic``."""
    header = _header(Path(path))
    return ("exermote" if TIMESTAMP_COLUMN in header
            and set(EXERMOTE_FEATURE_COLUMNS) <= set(header) else "generic")


def _header(path: Path, rows: int = 0, delimiter: str = ",") -> pd.DataFrame:
    try:
        return pd.read_csv(path, nrows=rows, sep=delimiter, low_memory=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:
        raise ExermoteInputError(f"cannot read the header ({type(exc).__name__}); expected a "
                                 f"CSV file with a header row", path=path) from None


def _pick(names, wanted) -> str | None:
    """The first column whose lowercased name is one of ``wanted`` (in their order)."""
    lower = {n.strip().lower(): n for n in names}
    return next((lower[w] for w in wanted if w in lower), None)


def _time_unit(values: pd.Series) -> str:
    """The unit of numeric timestamps, from their magnitude (unix times) or their steps."""
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(numbers) == 0:
        return "s"
    first = abs(numbers[0])
    for limit, unit in _UNIT_BY_MAGNITUDE:
        if first > limit:
            return unit
    steps = np.diff(numbers)
    step = float(np.median(steps)) if len(steps) else 0.0
    # intervals of 1-1000 units in whole numbers: milliseconds since the start
    whole = np.all(numbers == np.round(numbers))
    return "ms" if whole and 1 <= step <= 1000 else "s"


def _subject_pattern(path: Path) -> str | None:
    """A path pattern taking the subject from the digits ending the file's folder name
    (``s01/x.csv``, ``subject_3/x.csv``), the session from the file name; None if none."""
    found = re.fullmatch(r"(.*?)(\d+)", path.parent.name)
    if found is None:
        return None
    prefix = re.escape(found.group(1)).replace("/", "")
    return rf"{prefix}(?P<subject>\d+)/(?P<session>[^/]+)\.csv$"


def guess_column_spec(path, *, given: dict | None = None) -> tuple[ColumnSpec, list[str]]:
    """A :class:`ColumnSpec` for a generic CSV from its header and first rows, and what was
    guessed (one line per role).  ``given`` (ColumnSpec keys) wins over every guess; a role
    that cannot be guessed is a one-line error naming the option that gives it."""
    path = Path(path)
    given = dict(given or {})
    head = _header(path, rows=200, delimiter=given.get("delimiter") or ",")
    names = [str(c) for c in head.columns]
    notes = []

    def role(key, wanted, option):
        if key in given:
            return given[key]
        found = _pick(names, wanted)
        if found is not None:
            notes.append(f"{key}: column {found!r} (by its name; {option} to change)")
        return found

    spec = {"timestamp": role("timestamp", _TIME, "--timestamp-column"),
            "label": role("label", _LABEL, "--label-column"),
            "subject": role("subject", _SUBJECT, "--subject-column"),
            "session": role("session", _SESSION, "--session-column")}
    if spec["timestamp"] is None:
        raise ExermoteInputError(f"no column looks like a timestamp ({', '.join(names)}); "
                                 f"name it with --timestamp-column", path=path)
    stamps = head[spec["timestamp"]]
    if "timestamp_unit" in given:
        spec["timestamp_unit"] = given["timestamp_unit"]
    elif pd.api.types.is_numeric_dtype(stamps.dtype):
        spec["timestamp_unit"] = _time_unit(stamps)
        notes.append(f"timestamp_unit: {spec['timestamp_unit']} (from the values; "
                     f"--timestamp-unit to change)")
    if "features" in given:
        spec["features"] = tuple(given["features"])
    else:
        taken = {v for v in spec.values() if isinstance(v, str)}
        spec["features"] = tuple(
            n for n in names if n not in taken and not n.lower().startswith("unnamed")
            and n.lower() not in ("index", "id", "row")
            and pd.api.types.is_numeric_dtype(head[n].dtype)
            and not pd.api.types.is_bool_dtype(head[n].dtype))
        notes.append(f"features: the other numeric columns {', '.join(spec['features'])} "
                     f"(--feature-columns to choose)")
    if spec["subject"] is None and "path_pattern" not in given:
        pattern = _subject_pattern(path)
        if pattern is not None:
            spec["path_pattern"] = pattern
            notes.append(f"subject: from the folder name, path_pattern '{pattern}' "
                         f"(--path-pattern to change)")
    rest = {k: v for k, v in given.items() if k not in spec}
    spec = {k: v for k, v in {**spec, **rest}.items() if v is not None}
    if not spec.get("features"):
        raise ExermoteInputError("no numeric feature columns found; name them with "
                                 "--feature-columns", path=path)
    return ColumnSpec(**spec), notes


def guess_include(files) -> tuple[str | None, list[tuple[str, int]]]:
    """(a glob for the largest group of files named alike, ``*_sw.csv`` beside ``*_ph.csv``;
    the other groups with their file counts), or (None, []) when all files end alike or no
    ending is shared by two files.  Ties go to the first ending in name order."""
    endings = Counter(m.group(0) for p in files
                      for m in [re.search(r"[_-][A-Za-z]+\.csv$", Path(p).name)] if m)
    ranked = sorted(endings.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) < 2 or ranked[0][1] < 2:
        return None, []
    return "*" + ranked[0][0], [("*" + e, n) for e, n in ranked[1:]]


def _session(recording, *, max_pause_s: float | None, rate_rows_rule) -> SessionInspection:
    steps = np.diff(recording.timestamps)
    median = float(np.median(steps)) if len(steps) else float("nan")
    if max_pause_s is not None:
        split = np.flatnonzero(steps > max_pause_s) + 1
    else:
        split = np.flatnonzero(steps / median >= rate_rows_rule) + 1 if len(steps) else []
    first = recording.file_rows[0]
    pauses = [(int(recording.file_rows[i] - first), float(steps[i - 1])) for i in split]
    labels = Counter(str(x) for x in recording.labels)
    return SessionInspection(
        name=recording.session_name, subject=int(recording.subject),
        rows=len(recording) + recording.duplicate_rows, duplicates=recording.duplicate_rows,
        rate_hz=1.0 / median if median > 0 else float("nan"),
        jitter_ms=float(np.std(steps) * 1000) if len(steps) else float("nan"),
        max_interval_s=float(steps.max()) if len(steps) else float("nan"), pauses=pauses,
        missing_rows=int(np.isnan(recording.values).any(axis=1).sum()),
        labels=dict(sorted(labels.items())))


def inspect_files(inputs, *, format: str, columns: ColumnSpec | None = None,
                  include: str | None = None, max_pause_s: float | None = None,
                  max_gap: int = 3) -> list[FileInspection]:
    """Every CSV of ``inputs`` as ``preprocess`` would read it, one :class:`FileInspection`
    each: files of folders that ``include`` or the path pattern do not match, or that the
    reader refuses, are skipped with the reason (a file named on its own too: inspecting never
    stops at the first problem)."""
    chosen, skipped = sort_selection(inputs, include=include,
                                     pattern=None if columns is None else columns.path_pattern)
    out = [FileInspection(path, False, why) for path, why in skipped]
    for path in chosen:
        try:
            recordings = read_recording_file(path, format=format, columns=columns)
        except ExermoteInputError as exc:
            text = str(exc)
            if exc.path and text.startswith(exc.path + ", "):
                text = text[len(exc.path) + 2:]  # the row and column, then the message
            elif exc.path and text.startswith(exc.path + ": "):
                text = text[len(exc.path) + 2:]
            out.append(FileInspection(path, False, text))
            continue
        out.append(FileInspection(path, True, sessions=[
            _session(r, max_pause_s=max_pause_s, rate_rows_rule=max_gap + 1.5)
            for r in recordings]))
    return sorted(out, key=lambda f: (str(f.path.parent), f.path.name))
