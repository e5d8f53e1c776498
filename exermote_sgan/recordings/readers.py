"""Reading raw recordings into :class:`Recording` objects, one per session.

Two formats are understood: the 70-column Exermote CSV (:func:`read_exermote_csv`) and any
other CSV whose timestamp, feature, label, subject and (optional) session columns the user
names in a :class:`ColumnSpec` (:func:`read_generic_csv`).  Readers only read and validate:
values stay in raw units, missing values stay NaN and labels stay as written in the file;
cleaning (label mapping, gaps, resampling) is :mod:`exermote_sgan.recordings.cleaning`'s job.

Every problem with a file raises :class:`~exermote_sgan.errors.ExermoteInputError` naming
the file, the 1-based row (the header is row 1) and the column.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ExermoteInputError
from .schema import (EXERMOTE_FEATURE_COLUMNS, EXERMOTE_FEATURES, LABEL_COLUMN, SUB_LABEL_COLUMN,
                     SUBJECT_COLUMN, TIMESTAMP_COLUMN, TIMESTAMP_FORMAT)


#: the input formats, in one place: each name maps to its reader in :func:`read_recording_file`
FORMATS = ("exermote", "generic")

_FIRST_DATA_ROW = 2  # file row of the first data row: the header is row 1
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
#: what to do with rows whose timestamp repeats the previous row's: refuse the file, keep the
#: first of them, or average their values (labels from the first)
DUPLICATE_POLICIES = ("refuse", "drop", "average")


def check_duplicate_policy(policy, *, option: str = "--duplicate-timestamps") -> str:
    """``policy`` if it is one of :data:`DUPLICATE_POLICIES`, else a one-line error."""
    if policy not in DUPLICATE_POLICIES:
        raise ExermoteInputError(f"{option} must be one of {', '.join(DUPLICATE_POLICIES)}, "
                                 f"got {policy!r}")
    return policy


class PathPattern:
    """A regular expression over a file's path that gives its subject and (optional) session.

    The named group ``subject`` must match an integer (``subject_(?P<subject>\\d+)``); the
    optional group ``session`` names the session (default: the matched part of the path).  The
    pattern is searched (:func:`re.search`) in the path written with ``/``, so it may match its
    end (``(?P<subject>\\d+)/[^/]+\\.csv$``).  A path it does not match is an error.
    """

    def __init__(self, pattern: str, *, option: str = "--path-pattern"):
        self.pattern = pattern
        self.option = option
        try:
            self.regex = re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ExermoteInputError(f"{option} '{pattern}' is not a regular expression "
                                     f"({exc})") from None
        groups = set(self.regex.groupindex)
        if not groups & {"subject", "session"}:
            raise ExermoteInputError(
                f"{option} '{pattern}' has no named group (?P<subject>...) or (?P<session>...); "
                f"e.g. 'subject_(?P<subject>\\d+)/(?P<session>[^/]+)\\.csv'")

    @property
    def gives_subject(self) -> bool:
        return "subject" in self.regex.groupindex

    def group(self, path: Path, name: str) -> str | None:
        """The text of the named group ``name`` in ``path``, or None where the path does not
        match or the group took no part in the match."""
        found = self.regex.search(Path(path).as_posix())
        return None if found is None else found.group(name)

    def match(self, path: Path) -> tuple[int | None, str]:
        """(subject or None, session name) of ``path``."""
        text = Path(path).as_posix()
        found = self.regex.search(text)
        if found is None:
            raise ExermoteInputError(f"path does not match {self.option} '{self.pattern}'; "
                                     f"change the pattern or move the file", path=path)
        subject = None
        if self.gives_subject:
            raw = found.group("subject")
            try:
                subject = int(raw)
            except (TypeError, ValueError):
                raise ExermoteInputError(
                    f"{self.option} '{self.pattern}' gives subject {raw!r}, which is not an "
                    f"integer; match only its digits, e.g. (?P<subject>\\d+)",
                    path=path) from None
        session = (found.group("session") if "session" in self.regex.groupindex
                   else found.group(0)) or Path(path).stem
        return subject, session


@dataclass
class Recording:
    """One recording session as read from a file: raw values, labels and timing, row by row.

    ``values`` is float64 ``(n_rows, n_features)`` in the file's units with NaN where the file
    has no value; ``labels`` (and ``sub_labels``, if the file has them) are the strings written
    in the file; ``timestamps`` are seconds since the session's first row; ``file_rows`` are
    the 1-based line numbers of the rows in the file (header = 1), for error messages.
    """

    path: Path
    session_name: str
    subject: int
    features: tuple[str, ...]
    values: np.ndarray
    labels: np.ndarray
    sub_labels: np.ndarray | None
    timestamps: np.ndarray
    file_rows: np.ndarray
    duplicate_rows: int = 0  # rows dropped or averaged away for repeating a timestamp
    mirrored: bool = False   # mirror_columns negated (ColumnSpec.mirror_when)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns of someone else's CSV hold what.

    ``timestamp`` holds numeric times (in ``timestamp_unit``: s, ms, us or ns) or date-times
    (parsed with ``timestamp_format``, a ``strptime`` format, or inferred when it is None).
    ``features`` are read in the given order and stored under ``feature_names`` (default: the
    column names).  ``subject`` must hold integer subject ids; without a subject column,
    ``path_pattern`` (a :class:`PathPattern`) takes the subject (and session) from each file's
    path.  With ``session``, one file may hold several sessions (rows grouped by that column's
    value); without it, a file is one session named after the file (or the pattern's session).
    ``duplicate_timestamps`` is one of :data:`DUPLICATE_POLICIES` (default ``drop``: a row whose
    timestamp exactly repeats the previous row's is dropped and counted, as loggers write
    them).  ``label`` may be None only
    to read unlabelled files for prediction.

    ``mirror_when`` (``"GROUP=VALUE"``, a named group of ``path_pattern``) and
    ``mirror_columns`` (feature columns) mirror the recordings whose path gives that value:
    those columns are negated as read.  It puts recordings of one body side into the other
    side's frame: a watch on the left wrist sees the mirror image of the right wrist's motion,
    which for a reflection is one acceleration axis and the other two rotation-rate axes
    negated (rotation rate is an axial vector).  Without it a model must learn every exercise
    twice, once per side, from half the data (:doc:`docs/data.md`).
    """

    timestamp: str
    features: tuple[str, ...]
    label: str | None
    subject: str | None = None
    session: str | None = None
    sub_label: str | None = None
    timestamp_unit: str = "s"
    timestamp_format: str | None = None
    feature_names: tuple[str, ...] | None = None
    delimiter: str = ","
    path_pattern: str | None = None
    duplicate_timestamps: str = "drop"
    mirror_when: str | None = None
    mirror_columns: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "mirror_columns", tuple(self.mirror_columns or ()))
        if self.feature_names is not None:
            object.__setattr__(self, "feature_names", tuple(self.feature_names))
        if not self.features:
            raise ExermoteInputError("column spec: 'features' must name at least one column")
        if self.timestamp_unit not in _TIME_UNITS:
            raise ExermoteInputError(
                f"column spec: timestamp_unit {self.timestamp_unit!r} is not one of "
                f"{', '.join(_TIME_UNITS)}")
        if self.feature_names is not None and len(self.feature_names) != len(self.features):
            raise ExermoteInputError(
                f"column spec: {len(self.feature_names)} feature_names for "
                f"{len(self.features)} features")
        if len(set(self.features)) != len(self.features):
            raise ExermoteInputError("column spec: a feature column is named twice")
        check_duplicate_policy(self.duplicate_timestamps, option="duplicate_timestamps")
        if self.path_pattern is not None:
            pattern = PathPattern(self.path_pattern, option="path_pattern")
            if self.subject is not None and pattern.gives_subject:
                raise ExermoteInputError(
                    "column spec: the subject comes from both the subject column and "
                    "path_pattern; give one of them")
        self._check_mirror()

    def _check_mirror(self) -> None:
        when, columns = self.mirror_when, self.mirror_columns
        if when is None and not columns:
            return
        if when is None or not columns:
            raise ExermoteInputError(
                "mirroring needs both --mirror-when GROUP=VALUE (columns-file key mirror_when) "
                "and --mirror-columns A,B,... (key mirror_columns); give both or neither",
                option="mirror_when" if when is None else "mirror_columns")
        group, sep, value = str(when).partition("=")
        if not sep or not group.strip() or not value.strip():
            raise ExermoteInputError(
                f"--mirror-when {when!r} is not GROUP=VALUE; e.g. side=left with a path "
                f"pattern holding (?P<side>left|right)", option="mirror_when")
        if self.path_pattern is None or \
                group.strip() not in PathPattern(self.path_pattern).regex.groupindex:
            raise ExermoteInputError(
                f"--mirror-when {when!r} names the group {group.strip()!r}, which the path "
                f"pattern {'does not have' if self.path_pattern else 'is not given'}; add "
                f"(?P<{group.strip()}>...) to --path-pattern", option="mirror_when")
        unknown = [c for c in columns if c not in self.features]
        if unknown:
            raise ExermoteInputError(
                f"--mirror-columns {unknown[0]!r} is not a feature column "
                f"({', '.join(self.features)}); name feature columns to negate",
                option="mirror_columns")
        if len(set(columns)) != len(columns):
            raise ExermoteInputError("--mirror-columns names a column twice",
                                     option="mirror_columns")

    def mirrors(self, path) -> bool:
        """Whether the recording at ``path`` is mirrored (see the class docstring)."""
        if self.mirror_when is None:
            return False
        group, _, value = self.mirror_when.partition("=")
        found = PathPattern(self.path_pattern).group(path, group.strip())
        return found is not None and found == value.strip()

    def to_dict(self) -> dict:
        """The spec as a columns file's keys (JSON-ready)."""
        return {f.name: (list(v) if isinstance(v, tuple) else v)
                for f in fields(self) for v in [getattr(self, f.name)]}

    @property
    def names(self) -> tuple[str, ...]:
        return self.feature_names or self.features


def load_column_spec(path) -> ColumnSpec:
    """Read a :class:`ColumnSpec` from a ``.json`` or ``.toml`` file with the same keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExermoteInputError(f"cannot read columns file ({exc.strerror})", path=path) from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ExermoteInputError(f"not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}"
                                 f" ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise ExermoteInputError("expected a table of column names", path=path)
    known = {f.name for f in fields(ColumnSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ExermoteInputError(f"unknown key(s) {', '.join(unknown)}; expected some of "
                                 f"{', '.join(sorted(known))}", path=path)
    # the subject (a column or the path pattern) is needed to train, not to recognise:
    # preprocess asks for it, predict and personalize do not
    missing = [k for k in ("timestamp", "features", "label") if k not in data]
    if missing:
        raise ExermoteInputError(f"missing key(s) {', '.join(missing)}", path=path)
    if isinstance(data["features"], str) or not isinstance(data["features"], list):
        raise ExermoteInputError("'features' must be a list of column names", path=path)
    try:
        return ColumnSpec(**data)
    except ExermoteInputError as exc:
        raise ExermoteInputError(exc.message, path=path) from None


def _toml_value(value) -> str:
    """One TOML value: a literal string where it can be (regular expressions stay readable),
    else a basic string (JSON's escapes are TOML's), a list of them, or a number."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool) or not isinstance(value, str):
        return json.dumps(value)
    if "'" not in value and "\n" not in value and "\r" not in value:
        return f"'{value}'"
    return json.dumps(value)


def write_column_spec(spec: ColumnSpec, path) -> Path:
    """Write ``spec`` as a TOML columns file (the keys :func:`load_column_spec` reads; defaults
    left out), atomically; returns the path.  The file keeps a dataset's reader settings for
    ``preprocess``, ``personalize``, ``predict`` and ``evaluate-reps`` (``--columns-file``)."""
    from ..atomic import atomic_write_text

    path = Path(path)
    if path.suffix.lower() != ".toml":
        raise ExermoteInputError("the columns file is written as TOML; give a name ending in "
                                 ".toml", path=path, option="write_columns")
    defaults = {f.name: f.default for f in fields(ColumnSpec) if f.default is not MISSING}
    lines = ["# columns file written by exermote-sgan inspect; read with --columns-file"]
    for key, value in spec.to_dict().items():
        if key in defaults and value == (list(defaults[key]) if isinstance(defaults[key], tuple)
                                         else defaults[key]):
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def select_csv_files(inputs, *, include: str | None = None,
                     pattern: str | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The CSV files of ``inputs`` to read, and the files of its folders skipped, with why.

    A file named in ``inputs`` is always read (an error later if it does not fit); from a
    folder, a file whose name (or path below the folder) does not match the glob ``include``
    (e.g. ``'*_sw.csv'``), or whose path the path ``pattern`` does not match, is skipped with a
    note, so a metadata CSV beside the recordings is no error.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if include is not None and (not isinstance(include, str) or not include.strip()):
        raise ExermoteInputError(f"--include must be a file-name pattern such as '*_sw.csv', "
                                 f"got {include!r}", option="include")
    chosen, skipped = sort_selection(inputs, include=include, pattern=pattern)
    if not chosen:
        raise ExermoteInputError(
            f"no recording left to read: {len(skipped)} file(s) skipped"
            + (f" (e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else "")
            + "; check --include and --path-pattern")
    return chosen, skipped


def sort_selection(inputs, *, include: str | None = None, pattern: str | None = None):
    """:func:`select_csv_files` without the error when nothing is left (for ``inspect``)."""
    import fnmatch

    from ..errors import as_path, as_sequence

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [as_path(i, option="inputs")
              for i in as_sequence(inputs, option="inputs", example="['data/sample']")]
    regex = None if pattern is None else PathPattern(pattern)
    named = set(find_csv_files([i for i in inputs if not Path(i).is_dir()])) \
        if any(not Path(i).is_dir() for i in inputs) else set()
    chosen, skipped = set(named), {}
    for folder in (Path(i) for i in inputs if Path(i).is_dir()):
        for path in find_csv_files([folder]):
            below = path.relative_to(folder).as_posix()
            if include is not None and not (fnmatch.fnmatch(path.name, include)
                                            or fnmatch.fnmatch(below, include)):
                skipped[path] = f"does not match --include '{include}'"
            elif regex is not None and regex.regex.search(path.as_posix()) is None:
                skipped[path] = f"does not match --path-pattern '{regex.pattern}'"
            else:
                chosen.add(path)
    order = lambda p: (str(p.parent), p.name)  # noqa: E731
    skipped_list = [(p, skipped[p]) for p in sorted(set(skipped) - chosen, key=order)]
    return sorted(chosen, key=order), skipped_list


def find_csv_files(inputs) -> list[Path]:
    """The CSV files named by ``inputs`` (files, or folders searched recursively for
    ``*.csv``), sorted by folder, then name."""
    from ..errors import as_path, as_sequence

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: set[Path] = set()
    for item in as_sequence(inputs, option="inputs", example="['data/sample']"):
        item = as_path(item, option="inputs")
        if item.is_dir():
            csvs = [p for p in item.rglob("*.csv") if p.is_file()]
            if not csvs:
                raise ExermoteInputError("folder (and its subfolders) holds no *.csv files",
                                         path=item)
            found.update(csvs)
        elif item.is_file():
            found.add(item)
        elif item.exists():
            raise ExermoteInputError("not a regular file or folder", path=item)
        else:
            raise ExermoteInputError("no such file or folder", path=item)
    if not found:
        raise ExermoteInputError("no input files given")
    return sorted(found, key=lambda p: (str(p.parent), p.name))


def read_exermote_csv(path, *, duplicate_timestamps: str = "refuse",
                      for_prediction: bool = False) -> Recording:
    """Read one raw Exermote recording (70-column CSV) as one session.

    The subject is the ``individual`` column, which must be one integer for the whole file.
    ``sub_labels`` is None when the file has no ``exerciseSubType`` column.  Rows repeating the
    previous row's timestamp are handled by ``duplicate_timestamps`` (see
    :data:`DUPLICATE_POLICIES`).  ``for_prediction`` also reads a file without the label and
    subject columns (as an app records it): labels ``""`` and subject 0 where missing.
    """
    from ..errors import as_path

    path = as_path(path, option="path")
    check_duplicate_policy(duplicate_timestamps)
    wanted = EXERMOTE_FEATURE_COLUMNS + (TIMESTAMP_COLUMN,)
    maybe = (LABEL_COLUMN, SUBJECT_COLUMN)
    frame = _read_table(path, wanted + (() if for_prediction else maybe),
                        optional=(SUB_LABEL_COLUMN,) + (maybe if for_prediction else ()),
                        text=(LABEL_COLUMN, SUB_LABEL_COLUMN, TIMESTAMP_COLUMN))
    rows = np.arange(len(frame)) + _FIRST_DATA_ROW
    values = _numeric(frame, EXERMOTE_FEATURE_COLUMNS, path, rows)
    labels = (_text(frame, LABEL_COLUMN, path, rows) if LABEL_COLUMN in frame.columns
              else np.full(len(frame), "", dtype=object).astype(str))
    sub_labels = (_text(frame, SUB_LABEL_COLUMN, path, rows)
                  if SUB_LABEL_COLUMN in frame.columns else None)
    stamps = _datetimes(frame[TIMESTAMP_COLUMN], TIMESTAMP_FORMAT, path, rows, TIMESTAMP_COLUMN,
                        expected="a time like 2017-03-30 18:45:36:794 (YYYY-MM-DD HH:MM:SS:mmm)")
    subjects = (_integers(frame, SUBJECT_COLUMN, path, rows) if SUBJECT_COLUMN in frame.columns
                else np.zeros(len(frame), dtype=np.int64))
    _check_constant(subjects, path, rows, SUBJECT_COLUMN, what="subject id")
    recording = Recording(path=path, session_name=path.stem, subject=int(subjects[0]),
                          features=EXERMOTE_FEATURES, values=values, labels=labels,
                          sub_labels=sub_labels, timestamps=stamps - stamps[0], file_rows=rows)
    return _handle_duplicates(recording, frame[TIMESTAMP_COLUMN].to_numpy(),
                              duplicate_timestamps, TIMESTAMP_COLUMN)


def read_labels(path, columns: ColumnSpec) -> set[str]:
    """The distinct labels in the label column of a generic file (only that column is read)."""
    path = Path(path)
    frame = _read_table(path, (columns.label,), text=(columns.label,),
                        delimiter=columns.delimiter)
    rows = np.arange(len(frame)) + _FIRST_DATA_ROW
    return set(np.unique(_text(frame, columns.label, path, rows)).tolist())


def read_recording_file(path, *, format: str = "exermote", columns: ColumnSpec | None = None,
                        duplicate_timestamps: str | None = None, for_prediction: bool = False,
                        mirror: bool | None = None) -> list[Recording]:
    """The recordings of one file in one of the :data:`FORMATS`: the one entry point that
    ``preprocess``, ``inspect``, ``personalize``, ``predict`` and ``evaluate-reps`` read through.

    ``columns`` (a :class:`ColumnSpec`) is needed by the generic format;
    ``duplicate_timestamps`` overrides its policy (Exermote default: refuse).
    ``for_prediction`` reads files without labels or subjects, or that the path pattern does not
    match (a recording to recognise); ``mirror`` overrides the mirroring rule (None: the rule
    decides by the path).
    """
    if format not in FORMATS:
        raise ExermoteInputError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}",
                                 option="format")
    if format == "exermote":
        if mirror:
            raise ExermoteInputError("--mirror yes: the run reads Exermote files, which have no "
                                     "mirroring rule; use --mirror auto", option="mirror")
        return [read_exermote_csv(path, duplicate_timestamps=duplicate_timestamps or "refuse",
                                  for_prediction=for_prediction)]
    if not isinstance(columns, ColumnSpec):
        raise ExermoteInputError("the generic format needs the column names (--columns-file or "
                                 "the column options)", option="columns_file")
    if duplicate_timestamps is not None:
        from dataclasses import replace

        columns = replace(columns, duplicate_timestamps=duplicate_timestamps)
    if mirror and not columns.mirror_columns:
        raise ExermoteInputError("--mirror yes: the run was trained with no mirroring rule "
                                 "(--mirror-when/--mirror-columns); use --mirror auto",
                                 option="mirror")
    return read_generic_csv(path, columns=columns, for_prediction=for_prediction, mirror=mirror)


def read_generic_csv(path, *, columns: ColumnSpec, for_prediction: bool = False,
                     mirror: bool | None = None) -> list[Recording]:
    """Read a CSV laid out as ``columns`` describes; one :class:`Recording` per session.

    Sessions keep the order of their first row in the file and are named ``<file stem>`` (no
    session column; with ``columns.path_pattern``, its session) or ``<file stem>:<session
    value>``.  Within a session the subject must be constant and the timestamps increasing
    (repeats are handled by ``columns.duplicate_timestamps``).  ``for_prediction`` reads files
    that may lack the label and subject columns and need not match the path pattern (labels
    ``""`` and subject 0 where missing): a recording to recognise, not to train on.
    ``mirror`` negates ``columns.mirror_columns`` (True), or not (False); None decides by
    ``columns.mirror_when`` on the path.
    """
    path = Path(path)
    if not isinstance(columns, ColumnSpec):
        raise TypeError("columns must be a ColumnSpec")
    subject, stem = None, path.stem
    if columns.path_pattern is not None:
        pattern = PathPattern(columns.path_pattern)
        try:
            subject, stem = pattern.match(path)
        except ExermoteInputError:
            if not for_prediction:
                raise
    if columns.subject is None and subject is None and not for_prediction:
        raise ExermoteInputError("no subject: name its column (--subject-column) or take it "
                                 "from the path (--path-pattern with (?P<subject>\\d+))",
                                 path=path)
    label_col = columns.label
    subject_col = columns.subject
    wanted = columns.features + (columns.timestamp,)
    optional = tuple(c for c in (columns.session, columns.sub_label) if c is not None)
    maybe = tuple(c for c in (label_col, subject_col) if c is not None)
    if for_prediction:
        optional += maybe
    else:
        wanted += maybe
    text = tuple(c for c in (label_col,) if c is not None) + optional
    frame = _read_table(path, wanted, optional=optional, text=text,
                        delimiter=columns.delimiter)
    rows = np.arange(len(frame)) + _FIRST_DATA_ROW
    values = _numeric(frame, columns.features, path, rows)
    mirrored = columns.mirrors(path) if mirror is None else bool(mirror)
    if mirrored:
        if not columns.mirror_columns:
            raise ExermoteInputError("cannot mirror: the reader settings name no mirror "
                                     "columns (--mirror-columns)", path=path)
        values[:, [columns.features.index(c) for c in columns.mirror_columns]] *= -1.0
    if label_col is not None and label_col in frame.columns:
        labels = _text(frame, label_col, path, rows)
    else:
        labels = np.full(len(frame), "", dtype=object).astype(str)
    sub_labels = (_text(frame, columns.sub_label, path, rows)
                  if columns.sub_label and columns.sub_label in frame.columns else None)
    stamps = _generic_times(frame[columns.timestamp], columns, path, rows)
    if subject_col is not None and subject_col in frame.columns:
        subjects = _integers(frame, subject_col, path, rows)
    else:
        subjects = np.full(len(frame), 0 if subject is None else subject, dtype=np.int64)
    if columns.session is None or columns.session not in frame.columns:
        groups = [(stem, np.arange(len(frame)))]
    else:
        keys = _text(frame, columns.session, path, rows)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first)
        groups = [(f"{stem}:{uniq[k]}", np.flatnonzero(inverse == k)) for k in order]
    recordings = []
    raw_times = frame[columns.timestamp].to_numpy()
    for name, idx in groups:
        _check_constant(subjects[idx], path, rows[idx], subject_col or "subject",
                        what="subject id")
        recording = Recording(
            path=path, session_name=name, subject=int(subjects[idx[0]]), features=columns.names,
            values=values[idx], labels=labels[idx],
            sub_labels=None if sub_labels is None else sub_labels[idx],
            timestamps=stamps[idx] - stamps[idx[0]], file_rows=rows[idx], mirrored=mirrored)
        recordings.append(_handle_duplicates(recording, raw_times[idx],
                                             columns.duplicate_timestamps, columns.timestamp))
    return recordings


def _handle_duplicates(recording: Recording, raw, policy: str, column: str) -> Recording:
    """Apply the duplicate-timestamp ``policy``, then require strictly increasing times."""
    from dataclasses import replace

    seconds = recording.timestamps
    steps = np.diff(seconds)
    repeats = np.flatnonzero(steps == 0) + 1
    if len(repeats) and policy != "refuse":
        first = np.r_[True, steps != 0]
        keep = np.flatnonzero(first)
        values = recording.values[keep]
        if policy == "average":
            group = np.cumsum(first) - 1
            frame = pd.DataFrame(recording.values).groupby(group).mean()  # skips NaN
            values = frame.to_numpy(dtype=np.float64)
        recording = replace(
            recording, values=values, labels=recording.labels[keep],
            sub_labels=None if recording.sub_labels is None else recording.sub_labels[keep],
            timestamps=seconds[keep], file_rows=recording.file_rows[keep],
            duplicate_rows=int(len(repeats)))
        raw = np.asarray(raw)[keep]
    _check_increasing(recording.timestamps, raw, recording.path, recording.file_rows, column)
    return recording


# ----------------------------------------------------------------------------- helpers

def _show(value) -> str:
    """A cell value quoted for a message (numpy scalars shown as plain text)."""
    return repr(str(value))


def _read_table(path: Path, required, *, optional=(), text=(), delimiter=",") -> pd.DataFrame:
    wanted = set(required) | set(optional)
    try:
        frame = pd.read_csv(path, usecols=lambda c: c in wanted, sep=delimiter,
                            dtype={c: str for c in text}, skip_blank_lines=False,
                            low_memory=False)
    except FileNotFoundError:
        raise ExermoteInputError("no such file", path=path) from None
    except IsADirectoryError:
        raise ExermoteInputError("is a folder, expected a CSV file", path=path) from None
    except PermissionError:
        raise ExermoteInputError("permission denied", path=path) from None
    except OSError as exc:
        raise ExermoteInputError(f"cannot read ({exc.strerror or exc})", path=path) from None
    except pd.errors.EmptyDataError:
        raise ExermoteInputError("file is empty: expected a header row and data rows",
                                 path=path) from None
    except UnicodeDecodeError:
        raise ExermoteInputError("not a text (UTF-8) CSV file", path=path) from None
    except pd.errors.ParserError as exc:
        raise ExermoteInputError(f"not a valid CSV file ({str(exc).strip()})", path=path) from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ExermoteInputError(f"missing column{more}; expected it in the header row",
                                 path=path, row=1, column=missing[0])
    if len(frame) == 0:
        raise ExermoteInputError("file has a header row but no data rows", path=path)
    return frame


def _numeric(frame: pd.DataFrame, columns, path, rows) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        col = frame[name]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            coerced = pd.to_numeric(col, errors="coerce")
            bad = np.flatnonzero(coerced.isna().to_numpy() & col.notna().to_numpy())
            if len(bad):
                i = bad[0]
                raise ExermoteInputError(f"value {_show(col.iloc[i])} is not a number",
                                         path=path, row=int(rows[i]), column=name)
            col = coerced
        out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.argwhere(np.isinf(out))
    if len(infinite):
        i, j = infinite[0]
        raise ExermoteInputError("value is infinite, expected a finite number",
                                 path=path, row=int(rows[i]), column=columns[j])
    return out


def _text(frame: pd.DataFrame, name: str, path, rows) -> np.ndarray:
    col = frame[name]
    missing = np.flatnonzero(col.isna().to_numpy())
    if len(missing):
        raise ExermoteInputError("empty value, expected a label", path=path,
                                 row=int(rows[missing[0]]), column=name)
    return col.astype(str).str.strip().to_numpy(dtype=str)


def _integers(frame: pd.DataFrame, name: str, path, rows) -> np.ndarray:
    values = _numeric(frame, (name,), path, rows)[:, 0]
    bad = np.flatnonzero(np.isnan(values) | (values != np.round(values)))
    if len(bad):
        i = bad[0]
        shown = frame[name].iloc[i]
        raise ExermoteInputError(f"value {_show(shown)} is not an integer subject id",
                                 path=path, row=int(rows[i]), column=name)
    return values.astype(np.int64)


def _check_constant(values: np.ndarray, path, rows, name: str, *, what: str):
    differs = np.flatnonzero(values != values[0])
    if len(differs):
        i = differs[0]
        raise ExermoteInputError(
            f"{what} {values[i]} differs from {values[0]} in the rows before; expected one "
            f"{what} per session", path=path, row=int(rows[i]), column=name)


def _datetimes(col: pd.Series, fmt, path, rows, name: str, *, expected: str) -> np.ndarray:
    """Seconds since the epoch, parsed in one vectorised call."""
    missing = np.flatnonzero(col.isna().to_numpy())
    if len(missing):
        raise ExermoteInputError(f"empty timestamp, expected {expected}", path=path,
                                 row=int(rows[missing[0]]), column=name)
    try:
        parsed = pd.to_datetime(col, format=fmt, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise ExermoteInputError(f"cannot parse timestamps ({exc}); expected {expected}",
                                 path=path, column=name) from None
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = bad[0]
        raise ExermoteInputError(f"timestamp {_show(col.iloc[i])} is not {expected}",
                                 path=path, row=int(rows[i]), column=name)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return (ns - ns[0]) / 1e9


def _generic_times(col: pd.Series, spec: ColumnSpec, path, rows) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        seconds = col.to_numpy(dtype=np.float64, na_value=np.nan) * _TIME_UNITS[spec.timestamp_unit]
        bad = np.flatnonzero(~np.isfinite(seconds))
        if len(bad):
            raise ExermoteInputError("empty or non-finite timestamp, expected a number",
                                     path=path, row=int(rows[bad[0]]), column=spec.timestamp)
        return seconds - seconds[0]
    expected = (f"a time in the format {spec.timestamp_format!r}" if spec.timestamp_format
                else "a number of seconds or a date-time")
    return _datetimes(col, spec.timestamp_format, path, rows, spec.timestamp, expected=expected)


def _check_increasing(seconds: np.ndarray, raw, path, rows, name: str):
    steps = np.diff(seconds)
    bad = np.flatnonzero(~(steps > 0))
    if len(bad):
        i = bad[0] + 1
        if steps[bad[0]] == 0:
            n = int(np.sum(steps == 0))
            raise ExermoteInputError(
                f"timestamp {_show(raw[i])} repeats the previous row's ({n} repeated "
                f"timestamp(s) in this session); expected strictly increasing timestamps, or "
                f"choose --duplicate-timestamps drop (keep the first row) or average", path=path, row=int(rows[i]),
                column=name)
        raise ExermoteInputError(
            f"timestamp {_show(raw[i])} is earlier than the previous row's {_show(raw[i - 1])}; "
            f"expected strictly increasing timestamps (sort the file by time)", path=path,
            row=int(rows[i]), column=name)
