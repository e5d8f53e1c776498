"""From raw recording files to a :class:`~exermote_sgan.data.windows_file.WindowSet`.

:func:`preprocess` is the library behind ``exermote-sgan preprocess``: it finds the CSV files,
reads each (Exermote or generic format), cleans it (:mod:`exermote_sgan.data.cleaning`), cuts
windows per gap-free segment (:mod:`exermote_sgan.data.windowing`) and returns the windows with
a :class:`PreprocessReport` saying what was read, dropped and produced.  Sessions are numbered
in sorted file order.  It never imports TensorFlow.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import ExermoteInputError
from .cleaning import SessionReport, clean_recording
from .readers import ColumnSpec, find_csv_files, read_exermote_csv, read_generic_csv
from .schema import (DEFAULT_LABEL_MAP, EXERMOTE_CLASSES, EXERMOTE_FEATURES, LABEL_COLUMN,
                     NOMINAL_RATE_HZ, TIMESTAMP_COLUMN)
from .windowing import cut_windows, write_segments
from .windows_file import WindowSet, WindowsWriter

__all__ = ["PreprocessConfig", "PreprocessReport", "preprocess", "preprocess_to_file",
           "FORMATS"]

FORMATS = ("exermote", "generic")


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ExermoteInputError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class PreprocessConfig:
    """Every preprocessing option; the defaults reproduce the original Exermote preprocessing.

    ``columns`` is required with ``format="generic"``.  ``label_map`` maps file labels to
    ``classes``; ``max_gap`` is the longest run of rows with missing values that is interpolated;
    ``rate_tolerance`` is the allowed relative difference between the median and the expected
    sampling rate (unless ``resample``, which puts every session on an exact grid at
    ``expected_rate_hz``).  ``features`` keeps only the named features, in that order (default:
    every feature of the format); the others are not read into the windows at all.
    """

    format: str = "exermote"
    columns: ColumnSpec | None = None
    features: tuple[str, ...] | None = None
    classes: tuple[str, ...] = EXERMOTE_CLASSES
    label_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LABEL_MAP))
    squat_rule: bool = True
    squat_edge_rows: int = 2
    max_gap: int = 3
    resample: bool = False
    expected_rate_hz: float = NOMINAL_RATE_HZ
    rate_tolerance: float = 0.2
    timesteps: int = 40
    stride: int = 1
    label_offset: int = 20

    def validate(self) -> None:
        """Raise :class:`ExermoteInputError` for an option out of range."""
        if self.format not in FORMATS:
            raise ExermoteInputError(f"format must be one of {', '.join(FORMATS)}, "
                                     f"got {self.format!r}")
        if self.format == "generic" and self.columns is None:
            raise ExermoteInputError("the generic format needs the column names (a columns "
                                     "file or the column options)")
        classes = tuple(self.classes)
        if not classes or len(set(classes)) != len(classes) or not all(classes):
            raise ExermoteInputError(f"classes must be distinct non-empty names, got {classes}")
        _positive_int("timesteps", self.timesteps)
        _positive_int("stride", self.stride)
        _positive_int("max gap", self.max_gap, 0)
        _positive_int("squat edge rows", self.squat_edge_rows, 0)
        if (isinstance(self.label_offset, bool) or not isinstance(self.label_offset, int)
                or not 0 <= self.label_offset < self.timesteps):
            raise ExermoteInputError(f"label offset must be an integer with 0 <= label offset < "
                                     f"timesteps ({self.timesteps}), got {self.label_offset!r}")
        if not (np.isfinite(self.expected_rate_hz) and self.expected_rate_hz > 0):
            raise ExermoteInputError(f"expected rate must be > 0 Hz, got {self.expected_rate_hz}")
        if not (np.isfinite(self.rate_tolerance) and 0 <= self.rate_tolerance < 1):
            raise ExermoteInputError(f"rate tolerance must be in [0, 1), got "
                                     f"{self.rate_tolerance}")
        if self.features is not None:
            names = tuple(self.features)
            if not names or len(set(names)) != len(names) or not all(names):
                raise ExermoteInputError(f"features must be distinct non-empty names, got "
                                         f"{list(names)}")
        bad_targets = sorted({t for t in self.label_map.values() if t not in classes})
        if bad_targets:
            raise ExermoteInputError(f"label map targets {', '.join(bad_targets)} are not "
                                     f"classes ({', '.join(classes)})")


@dataclass
class PreprocessReport:
    """What preprocessing read, changed, dropped and produced; rendered by the CLI."""

    files: list[str]
    sessions: list[SessionReport]
    classes: tuple[str, ...]
    windows_per_class: dict[str, int]
    windows_per_subject: dict[int, int]
    config: dict

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sessions)

    @property
    def windows(self) -> int:
        return sum(self.windows_per_class.values())

    def rows_dropped(self) -> dict[str, int]:
        """Rows dropped per reason, summed over sessions."""
        return {
            "missing values at start/end": sum(s.rows_dropped_edges for s in self.sessions),
            "missing values in long gaps": sum(s.rows_dropped_long_gaps for s in self.sessions),
            "in stretches shorter than one window": sum(s.rows_dropped_short
                                                        for s in self.sessions),
        }

    def to_dict(self) -> dict:
        """JSON-ready form (subjects as string keys)."""
        out = asdict(self)
        out["windows_per_subject"] = {str(k): v for k, v in self.windows_per_subject.items()}
        out["rows_read"] = self.rows_read
        out["rows_dropped"] = self.rows_dropped()
        out["windows"] = self.windows
        return out


def _read(path: Path, config: PreprocessConfig):
    if config.format == "exermote":
        return [read_exermote_csv(path)]
    return read_generic_csv(path, columns=config.columns)


def _kept_features(available, wanted) -> list[int] | None:
    """Column indices of the ``wanted`` features among ``available`` (``None``: keep all)."""
    if wanted is None:
        return None
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ExermoteInputError(f"unknown feature(s) {', '.join(unknown)}; the recordings have "
                                 f"{', '.join(available)}", column="features")
    return [list(available).index(name) for name in wanted]


class _FileSink:
    """Where :func:`preprocess_to_file` puts each recording's segments: a
    :class:`~exermote_sgan.data.windows_file.WindowsWriter`, fed one recording at a time.

    A recording's segments are written when the next recording arrives (or at the end), when
    its session name is known for messages; so at most one recording is held in memory.
    """

    def __init__(self, out, stack):
        self.out, self.stack = out, stack
        self.writer, self.pending, self.written = None, [], 0

    def start(self, *, classes, features, config: PreprocessConfig, session_names: list):
        self.session_names = session_names
        self.writer = self.stack.enter_context(WindowsWriter(
            self.out, classes=classes, features=features, timesteps=config.timesteps,
            stride=config.stride, label_offset=config.label_offset,
            sample_rate_hz=config.expected_rate_hz))

    def extend(self, pieces) -> None:
        self.flush()
        self.pending = list(pieces)

    def flush(self) -> None:
        write_segments(self.writer, self.pending, session_names=self.session_names,
                       first_position=self.written)
        self.written += len(self.pending)
        self.pending = []
        self.writer.session_names = tuple(self.session_names)


def preprocess(inputs, *, config: PreprocessConfig | None = None,
               progress: bool = False) -> tuple[WindowSet, PreprocessReport]:
    """Read, clean and window every CSV in ``inputs`` (files, or folders holding ``*.csv``).

    With ``progress``, a tqdm bar over the files is shown on stderr.  Any bad input raises
    :class:`ExermoteInputError` naming the file, row and column.  The windows are a view of
    the segments' rows, held in memory once (:func:`preprocess_to_file` streams them to a
    windows file instead).
    """
    return _preprocess(inputs, config=config, progress=progress, sink=None)


def preprocess_to_file(inputs, out, *, config: PreprocessConfig | None = None,
                       progress: bool = False) -> PreprocessReport:
    """:func:`preprocess` straight into the windows file ``out``, one recording at a time.

    Each recording's rows go to the file as soon as it is cleaned, so memory holds one
    recording (and the window counts), whatever the number of recordings.  ``out`` is
    replaced atomically: on any error nothing is written.
    """
    import contextlib

    with contextlib.ExitStack() as stack:
        sink = _FileSink(out, stack)
        _, report = _preprocess(inputs, config=config, progress=progress, sink=sink)
    return report


def _preprocess(inputs, *, config, progress, sink) -> tuple[WindowSet | None, PreprocessReport]:
    from tqdm import tqdm

    config = config or PreprocessConfig()
    config.validate()
    classes = tuple(config.classes)
    files = find_csv_files(inputs)
    if config.format == "exermote":
        features = EXERMOTE_FEATURES
        label_column, timestamp_column = LABEL_COLUMN, TIMESTAMP_COLUMN
    else:
        features = config.columns.names
        label_column, timestamp_column = config.columns.label, config.columns.timestamp
    keep = _kept_features(features, config.features)
    if keep is not None:
        features = tuple(features[i] for i in keep)
    segments, reports, session_names = [], [], []
    if sink is not None:
        sink.start(classes=classes, features=features, config=config,
                   session_names=session_names)
        segments = sink
    for path in tqdm(files, desc="preprocess", unit="file", disable=not progress,
                     file=sys.stderr, leave=False):
        for recording in _read(path, config):
            if keep is not None:
                recording = replace(recording, features=features,
                                    values=recording.values[:, keep])
            if len(recording) < config.timesteps:
                raise ExermoteInputError(
                    f"session {recording.session_name!r} has {len(recording)} rows, shorter than "
                    f"one window of {config.timesteps} rows", path=path)
            session = len(session_names)
            pieces, report = clean_recording(
                recording, session=session, classes=classes, label_map=config.label_map,
                squat_rule=config.squat_rule, squat_edge_rows=config.squat_edge_rows,
                max_gap=config.max_gap, expected_rate_hz=config.expected_rate_hz,
                rate_tolerance=config.rate_tolerance, resample=config.resample,
                min_rows=config.timesteps, label_column=label_column,
                timestamp_column=timestamp_column)
            if not pieces:
                raise ExermoteInputError(
                    f"session {recording.session_name!r} has no stretch of {config.timesteps} "
                    f"rows without a long gap (dropped {report.rows_dropped_edges} rows with "
                    f"missing values at start/end, {report.rows_dropped_long_gaps} in long gaps, "
                    f"{report.rows_dropped_short} in short stretches); expected at least one "
                    f"window", path=path)
            segments.extend(pieces)
            reports.append(report)
            session_names.append(recording.session_name)
    if sink is None:
        windows = cut_windows(segments, classes=classes, features=features,
                              timesteps=config.timesteps, stride=config.stride,
                              label_offset=config.label_offset,
                              sample_rate_hz=config.expected_rate_hz,
                              session_names=session_names)
        per_class = windows.class_counts()
        subjects, counts = np.unique(windows.subjects, return_counts=True)
        per_subject = {int(s): int(c) for s, c in zip(subjects, counts)}
        per_session = np.bincount(windows.sessions, minlength=len(reports))
    else:
        sink.flush()
        windows, writer = None, sink.writer
        per_class = {name: int(c) for name, c in zip(classes, writer.class_counts)}
        per_subject = {s: writer.subject_counts[s] for s in sorted(writer.subject_counts)}
        per_session = [writer.session_counts.get(k, 0) for k in range(len(reports))]
    for report, n in zip(reports, per_session):
        report.windows = int(n)
    config_dict = asdict(config)
    config_dict["label_map"] = dict(config.label_map)
    report = PreprocessReport(
        files=[str(f) for f in files], sessions=reports, classes=classes,
        windows_per_class=per_class, windows_per_subject=per_subject, config=config_dict)
    return windows, report
