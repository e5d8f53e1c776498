"""From raw recording files to a :class:`~exermote_sgan.data.windows_file.WindowSet`.

:func:`preprocess` is the library behind ``exermote-sgan preprocess``: it finds the CSV files,
reads each (Exermote or generic format), cleans it (:mod:`exermote_sgan.recordings.cleaning`),
cuts windows per gap-free segment (:mod:`exermote_sgan.recordings.windowing`) and returns the
windows with a :class:`PreprocessReport` saying what was read, dropped and produced.  Sessions
are numbered in sorted file order.  It never imports TensorFlow.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import ExermoteInputError
from .cleaning import SessionReport, clean_recording
from .readers import (DUPLICATE_POLICIES, FORMATS, ColumnSpec, PathPattern, read_labels,
                      read_recording_file, select_csv_files)
from .schema import (BREAK_LABEL, DEFAULT_LABEL_MAP, EXERMOTE_CLASSES, EXERMOTE_FEATURE_COLUMNS,
                     EXERMOTE_FEATURES, LABEL_COLUMN, NOMINAL_RATE_HZ, TIMESTAMP_COLUMN)
from .windowing import cut_windows, write_segments
from ..data.windows_file import WindowSet, WindowsWriter


#: what to do with a sensor value whose magnitude exceeds ``max_abs_value``
OUT_OF_RANGE = ("refuse", "missing")
#: the default window: 4 s (40 rows at Exermote's 10 Hz), labelled at its middle
DEFAULT_WINDOW_SECONDS = 4.0
#: windows shorter than this get a ShortWindowWarning: one repetition of most exercises
#: takes 1-4 s, and a window must see a good part of one to tell exercises apart
SHORT_WINDOW_SECONDS = 1.0


#: generic recordings: 2 s windows every 0.5 s (docs/data.md): a 2 s window sees one repetition
#: or step cycle of most activities, and 0.5 s keeps the window count near four per second
GENERIC_WINDOW_SECONDS = 2.0
GENERIC_STRIDE_SECONDS = 0.5
#: generic recordings: an interval between rows longer than this splits a recording (Exermote's
#: rule, 4.5 rows, is 0.45 s at its 10 Hz); timestamp jitter (tens of ms) never does
GENERIC_MAX_PAUSE_SECONDS = 0.5
#: no window or stride is this many rows (1e7: more than a day at 100 Hz)
MAX_WINDOW_ROWS = 10_000_000


class ShortWindowWarning(UserWarning):
    """A window shorter than :data:`SHORT_WINDOW_SECONDS`: probably rows meant as seconds."""


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bad(name: str, message: str):
    shown = {"expected_rate_hz": "expected_rate", "max_pause_seconds": "max_pause"}.get(name, name)
    raise ExermoteInputError(f"{_option(shown)} {message}", option=name)


def _positive_number(name, value, *, unit: str) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and np.isfinite(value) and value > 0)
    if not ok:
        _bad(name, f"must be a finite number of {unit} > 0, got {value!r}")


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ExermoteInputError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _rows(name: str, seconds: float, rate: float) -> int:
    """``seconds`` at ``rate`` Hz as a whole number of rows; a one-line error when absurd."""
    rows = seconds * rate
    if not np.isfinite(rows) or rows > MAX_WINDOW_ROWS:
        _bad(name, f"{seconds:g} s is {rows:.3g} rows at {rate:g} Hz, more than "
                   f"{MAX_WINDOW_ROWS:,} rows; give a length in seconds that a recording has")
    return int(round(rows))


def _seconds(name, value, *, allow_zero=False) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
          and np.isfinite(value) and (value >= 0 if allow_zero else value > 0))
    if not ok:
        _bad(name, f"must be a number of seconds {'>= 0' if allow_zero else '> 0'}, "
                   f"got {value!r}")


@dataclass(frozen=True)
class PreprocessConfig:
    """Every preprocessing option; the defaults reproduce the original Exermote preprocessing.

    ``columns`` is required with ``format="generic"``.  ``label_map`` maps file labels to
    ``classes``; ``max_gap`` is the longest run of rows with missing values that is interpolated;
    ``rate_tolerance`` is the allowed relative difference between the median and the expected
    sampling rate (unless ``resample``, which puts every session on an exact grid at
    ``expected_rate_hz``).  ``features`` keeps only the named features, in that order (default:
    every feature of the format); the others are not read into the windows at all.

    Defaults that follow the format (None): Exermote reads 10 Hz, its four classes and
    ``setBreak -> Break``; the generic format measures the rate from the first recording's
    timestamps (every recording must then agree with it within ``rate_tolerance``), takes the
    classes from the labels found (sorted; after ``label_map``, default none), windows of
    :data:`GENERIC_WINDOW_SECONDS` every :data:`GENERIC_STRIDE_SECONDS`, and splits a recording
    only at a pause longer than ``max_pause_seconds`` (default
    :data:`GENERIC_MAX_PAUSE_SECONDS`), so timestamp jitter never splits one.  Exermote splits
    at a pause of more than ``max_gap`` + 1.5 rows unless ``max_pause_seconds`` is given.

    Reader settings: ``path_pattern`` (a regular expression with the named groups
    ``subject``/``session``, searched in each file's path; see
    :class:`~exermote_sgan.recordings.readers.PathPattern`) and ``duplicate_timestamps`` (refuse,
    drop or average rows repeating a timestamp) override the columns file's keys of the same
    name; ``include`` (a glob such as ``'*_sw.csv'``) picks the files read from folders, the
    others skipped with a note.  A value whose magnitude exceeds ``max_abs_value`` (default 1e6:
    no IMU unit reaches it, a corrupt or uninitialised value does) is refused, or with
    ``out_of_range="missing"`` treated as a missing value (interpolated or dropped like the
    others).

    Windows: ``timesteps`` rows or ``window_seconds`` (one of them; Exermote default 4 s at the
    expected rate), labelled by the row ``label_offset`` rows (or ``label_offset_seconds``)
    before their end (default: the middle of the window), a new one every ``stride`` rows (or
    ``stride_seconds``; Exermote default 1 row).  ``rest_class`` names the class of pauses
    between sets ("auto": ``Break`` when it is a class, else none; None or "": no rest class,
    a set is a run of one label).
    """

    format: str = "exermote"
    columns: ColumnSpec | None = None
    features: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    label_map: Mapping[str, str] | None = None
    squat_rule: bool = True
    squat_edge_rows: int = 2
    max_gap: int = 3
    resample: bool = False
    expected_rate_hz: float | None = None
    rate_tolerance: float = 0.2
    timesteps: int | None = None
    stride: int | None = None
    label_offset: int | None = None
    window_seconds: float | None = None
    stride_seconds: float | None = None
    label_offset_seconds: float | None = None
    rest_class: str | None = "auto"
    path_pattern: str | None = None
    duplicate_timestamps: str | None = None
    max_abs_value: float = 1e6
    out_of_range: str = "refuse"
    max_pause_seconds: float | None = None
    include: str | None = None

    @property
    def generic(self) -> bool:
        return self.format == "generic"

    def reader_columns(self) -> ColumnSpec | None:
        """``columns`` with ``path_pattern`` and ``duplicate_timestamps`` merged in."""
        if self.columns is None:
            return None
        merged = {k: v for k, v in (("path_pattern", self.path_pattern),
                                    ("duplicate_timestamps", self.duplicate_timestamps))
                  if v is not None}
        return replace(self.columns, **merged) if merged else self.columns

    def resolved(self, *, measured_rate_hz: float | None = None,
                 found_labels=None) -> "PreprocessConfig":
        """The config with rows computed from seconds and the defaults that follow the format
        and the rate, the rest class decided and the reader settings merged into ``columns``;
        validated.  ``measured_rate_hz`` and ``found_labels`` (the labels in the files) fill the
        generic format's rate and classes when they are not given."""
        self._validate_options()
        rate = self.expected_rate_hz
        if rate is None:
            rate = measured_rate_hz if self.generic and measured_rate_hz else NOMINAL_RATE_HZ
        rate = float(rate)
        label_map = dict(DEFAULT_LABEL_MAP if self.label_map is None and not self.generic
                         else self.label_map or {})
        classes = self.classes
        if classes is None:
            classes = (EXERMOTE_CLASSES if not self.generic or found_labels is None else
                       tuple(sorted({label_map.get(x, x) for x in found_labels})))
        for rows, secs in (("timesteps", "window_seconds"), ("stride", "stride_seconds"),
                           ("label_offset", "label_offset_seconds")):
            if getattr(self, rows) is not None and getattr(self, secs) is not None:
                raise ExermoteInputError(f"give {_option(rows)} or {_option(secs)}, not both",
                                         option=secs)
        window_s, stride_s = self.window_seconds, self.stride_seconds
        if self.generic and self.timesteps is None and window_s is None:
            window_s = GENERIC_WINDOW_SECONDS
        if self.generic and self.stride is None and stride_s is None:
            stride_s = GENERIC_STRIDE_SECONDS
        timesteps = self.timesteps
        if timesteps is None:
            timesteps = max(1, _rows("window_seconds", window_s or DEFAULT_WINDOW_SECONDS, rate))
        stride = self.stride
        if stride is None:
            stride = 1 if stride_s is None else max(1, _rows("stride_seconds", stride_s, rate))
        offset = self.label_offset
        if offset is None:
            offset = (timesteps // 2 if self.label_offset_seconds is None
                      else _rows("label_offset_seconds", self.label_offset_seconds, rate))
        rest = self.rest_class
        if rest == "auto":
            rest = "Break" if "Break" in tuple(classes) else None
        pause = self.max_pause_seconds
        if pause is None and self.generic:
            pause = GENERIC_MAX_PAUSE_SECONDS
        out = replace(self, timesteps=timesteps, stride=stride, label_offset=offset,
                      window_seconds=None, stride_seconds=None, label_offset_seconds=None,
                      rest_class=rest or None, columns=self.reader_columns(),
                      classes=tuple(classes), label_map=label_map, expected_rate_hz=rate,
                      max_pause_seconds=pause)
        out.validate()
        return out

    def _validate_options(self) -> None:
        if self.format not in FORMATS:
            _bad("format", f"must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.expected_rate_hz is not None:
            _positive_number("expected_rate_hz", self.expected_rate_hz, unit="Hz")
        if self.max_pause_seconds is not None:
            _seconds("max_pause_seconds", self.max_pause_seconds)
        for name in ("window_seconds", "stride_seconds"):
            if getattr(self, name) is not None:
                _seconds(name, getattr(self, name))
        if self.label_offset_seconds is not None:
            _seconds("label_offset_seconds", self.label_offset_seconds, allow_zero=True)
        if self.duplicate_timestamps is not None and \
                self.duplicate_timestamps not in DUPLICATE_POLICIES:
            _bad("duplicate_timestamps", f"must be one of {', '.join(DUPLICATE_POLICIES)}, "
                                         f"got {self.duplicate_timestamps!r}")
        if self.out_of_range not in OUT_OF_RANGE:
            _bad("out_of_range", f"must be one of {', '.join(OUT_OF_RANGE)}, "
                                 f"got {self.out_of_range!r}")
        if (isinstance(self.max_abs_value, bool)
                or not isinstance(self.max_abs_value, (int, float, np.floating))
                or not self.max_abs_value > 0):
            _bad("max_abs_value", f"must be a number > 0, got {self.max_abs_value!r}")
        if self.path_pattern is not None:
            if self.format != "generic":
                _bad("path_pattern", "needs --format generic (the Exermote files name their "
                                     "subject in the 'individual' column)")
            PathPattern(self.path_pattern)
        if self.rest_class not in (None, "", "auto") and not isinstance(self.rest_class, str):
            _bad("rest_class", f"must be a class name, '' or none, got {self.rest_class!r}")

    @property
    def reader(self) -> dict:
        """How to read a recording like these again (for ``predict`` and ``evaluate-reps``):
        format, columns (with path pattern and duplicate policy), features, classes, label map,
        rest class, rate, resampling, gap and value limits.  Call on a :meth:`resolved`
        config."""
        return {"format": self.format,
                "columns": None if self.columns is None else self.columns.to_dict(),
                "duplicate_timestamps": (self.duplicate_timestamps
                                         or (self.columns.duplicate_timestamps
                                             if self.columns else "refuse")),
                "features": None if self.features is None else list(self.features),
                "classes": list(self.classes), "label_map": dict(self.label_map),
                "rest_class": self.rest_class, "expected_rate_hz": float(self.expected_rate_hz),
                "rate_tolerance": float(self.rate_tolerance),
                "resample": bool(self.resample), "max_gap": int(self.max_gap),
                "max_abs_value": float(self.max_abs_value), "out_of_range": self.out_of_range,
                **({} if self.max_pause_seconds is None
                   else {"max_pause_seconds": float(self.max_pause_seconds)})}

    def validate(self) -> None:
        """Raise :class:`ExermoteInputError` for an option out of range."""
        self._validate_options()
        if self.format not in FORMATS:
            raise ExermoteInputError(f"format must be one of {', '.join(FORMATS)}, "
                                     f"got {self.format!r}")
        if self.format == "generic" and self.columns is None:
            raise ExermoteInputError("the generic format needs the column names (a columns "
                                     "file or the column options)")
        classes = tuple(EXERMOTE_CLASSES if self.classes is None else self.classes)
        if not classes or len(set(classes)) != len(classes) or not all(classes):
            raise ExermoteInputError(f"classes must be distinct non-empty names, got {classes}")
        # rows left None follow the rate: resolved() fills them in and validates again
        if self.timesteps is not None:
            _positive_int("timesteps", self.timesteps)
        if self.stride is not None:
            _positive_int("stride", self.stride)
        _positive_int("max gap", self.max_gap, 0)
        _positive_int("squat edge rows", self.squat_edge_rows, 0)
        if self.label_offset is not None and self.timesteps is not None and (
                isinstance(self.label_offset, bool) or not isinstance(self.label_offset, int)
                or not 0 <= self.label_offset < self.timesteps):
            raise ExermoteInputError(f"label offset must be an integer with 0 <= label offset < "
                                     f"timesteps ({self.timesteps}), got {self.label_offset!r}")
        if not (np.isfinite(self.rate_tolerance) and 0 <= self.rate_tolerance < 1):
            raise ExermoteInputError(f"rate tolerance must be in [0, 1), got "
                                     f"{self.rate_tolerance}")
        if self.features is not None:
            names = tuple(self.features)
            if not names or len(set(names)) != len(names) or not all(names):
                raise ExermoteInputError(f"features must be distinct non-empty names, got "
                                         f"{list(names)}")
        bad_targets = sorted({t for t in (self.label_map or {}).values() if t not in classes})
        if bad_targets:
            raise ExermoteInputError(
                f"--label-map targets {', '.join(bad_targets)} are not classes "
                f"({', '.join(classes)}); add them to --classes, or give --label-map \"\" "
                f"for no mapping", option="label_map")
        if self.rest_class not in (None, "", "auto") and self.rest_class not in classes:
            _bad("rest_class", f"{self.rest_class!r} is not one of the classes "
                               f"({', '.join(classes)}); name one of them, or \"\" for none")
        if self.format == "generic" and self.columns is not None:
            pattern = self.path_pattern or self.columns.path_pattern
            gives = pattern is not None and PathPattern(pattern).gives_subject
            if self.columns.subject is None and not gives:
                raise ExermoteInputError(
                    "the generic format needs the subject: a subject column (--subject-column)"
                    " or a path pattern with (?P<subject>\\d+) (--path-pattern)",
                    option="subject_column")
            if self.columns.label is None:
                raise ExermoteInputError("the generic format needs a label column "
                                         "(--label-column)", option="label_column")


@dataclass
class PreprocessReport:
    """What preprocessing read, changed, dropped and produced; rendered by the CLI."""

    files: list[str]
    sessions: list[SessionReport]
    classes: tuple[str, ...]
    windows_per_class: dict[str, int]
    windows_per_subject: dict[int, int]
    config: dict
    skipped: list = field(default_factory=list)   # [file, why] of folder files not read

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


def survey_recordings(files, config: PreprocessConfig) -> tuple[float | None, set[str]]:
    """(median rate of the first recording in Hz, rounded to 3 digits; labels in all files)
    for the generic format's defaults; only what ``config`` leaves open is read."""
    rate, labels = None, set()
    columns = config.reader_columns()
    if config.expected_rate_hz is None:
        for path in files:
            found = [r for r in read_recording_file(path, format="generic", columns=columns)
                     if len(r) > 1]
            if found:
                median = float(np.median(np.diff(found[0].timestamps)))
                rate = float(f"{1.0 / median:.3g}")
                break
    if config.classes is None:
        for path in files:
            labels |= read_labels(path, columns)
    return rate, labels


def _resolve_inputs(inputs, config: PreprocessConfig):
    """(resolved config, files to read, [(file, why)] skipped): the generic format's open
    defaults (rate, classes) measured on the files, which are chosen first."""
    config._validate_options()
    pattern = None
    if config.generic and config.columns is not None:
        pattern = config.reader_columns().path_pattern
    files, skipped = select_csv_files(inputs, include=config.include, pattern=pattern)
    rate, labels = None, None
    if config.generic and config.columns is not None and (config.expected_rate_hz is None
                                                          or config.classes is None):
        rate, labels = survey_recordings(files, config)
    return config.resolved(measured_rate_hz=rate, found_labels=labels), files, skipped


def _read(path: Path, config: PreprocessConfig):
    return read_recording_file(path, format=config.format, columns=config.columns,
                               duplicate_timestamps=(config.duplicate_timestamps
                                                     if config.format == "exermote" else None))


def read_recordings(path, *, reader: dict | None = None, for_prediction: bool = False,
                    mirror: bool | None = None):
    """The recordings of one file, read as a run's ``reader`` settings say (see
    :attr:`PreprocessConfig.reader`; None: the Exermote format, for runs from before they
    were recorded).  ``for_prediction`` also reads files without labels or subjects, or that do
    not match the path pattern.  ``mirror`` overrides the reader's mirroring rule (None: the
    rule decides by the path)."""
    reader = reader or {}
    policy = reader.get("duplicate_timestamps") or "refuse"
    columns = reader.get("columns")
    if isinstance(columns, dict):
        columns = ColumnSpec(**{**columns, "duplicate_timestamps": policy})
    return read_recording_file(Path(path), format=reader.get("format", "exermote"),
                               columns=columns, duplicate_timestamps=policy,
                               for_prediction=for_prediction, mirror=mirror)


def check_value_range(recording, *, max_abs_value: float = 1e6, policy: str = "refuse",
                      columns=None):
    """Refuse (or with ``policy="missing"`` blank out) values beyond ``max_abs_value``.

    Returns ``(recording, number of values blanked)``.  ``columns`` are the file's column names
    of the features, for the message (default: the feature names).
    """
    values = recording.values
    beyond = np.abs(np.nan_to_num(values, nan=0.0)) > max_abs_value
    if not beyond.any():
        return recording, 0
    if policy == "missing":
        values = values.copy()
        values[beyond] = np.nan
        return replace(recording, values=values), int(beyond.sum())
    i, j = np.argwhere(beyond)[0]
    names = columns or recording.features
    raise ExermoteInputError(
        f"value {values[i, j]:.6g} is beyond +-{max_abs_value:g}, which no sensor reading "
        f"reaches ({int(beyond.sum())} such value(s)); fix the row, treat such values as "
        f"missing (--out-of-range missing), or raise the limit (--max-abs-value)",
        path=recording.path, row=int(recording.file_rows[i]), column=str(names[j]))


#: a value is "far outside" the rest of its session when it lies more than this many times
#: the range of the session's central rows (0.1% to 99.9% quantiles of its column) beyond that
#: range.  ``predict`` warns on values one training range beyond the training range; within a
#: session, hard movements go beyond one range (8 values in the 30 Exermote recordings, up to
#: 2.4 ranges), so preprocess flags three: no real reading there, a corrupt one such as 1e5
FAR_OUTSIDE = 3.0
_BULK_QUANTILES = (0.001, 0.999)


def far_outside_values(recording, *, columns=None) -> tuple[int, str | None]:
    """(number of values far outside the rest of their session, a note naming the first), so
    that ``preprocess`` says what ``predict`` would warn about: a value under the absurd limit
    (1e5 m/s^2) but no reading the sensor makes among the others.  Values are kept."""
    values = recording.values
    if len(values) < 20:
        return 0, None
    low, high = np.nanquantile(values, _BULK_QUANTILES, axis=0)
    span = np.where(high > low, high - low, np.nan)
    with np.errstate(invalid="ignore"):
        far = (values < low - FAR_OUTSIDE * span) | (values > high + FAR_OUTSIDE * span)
    if not far.any():
        return 0, None
    i, j = np.argwhere(far)[0]
    names = columns or recording.features
    return int(far.sum()), (
        f"{recording.path}, row {int(recording.file_rows[i])}, column {str(names[j])!r}: value "
        f"{values[i, j]:.6g} is far outside the rest of its session [{low[j]:.4g}, "
        f"{high[j]:.4g}], which no real reading there is; predict warns on such values, and a "
        f"run's scaler would be stretched by it: fix the row, or treat such values as missing "
        f"(--max-abs-value below it with --out-of-range missing)")


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
            sample_rate_hz=config.expected_rate_hz, rest_class=config.rest_class,
            reader=config.reader))

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


def _warn_if_short(config: PreprocessConfig) -> None:
    """A :class:`ShortWindowWarning` for windows shorter than :data:`SHORT_WINDOW_SECONDS`."""
    window_s = config.timesteps / config.expected_rate_hz
    if window_s < SHORT_WINDOW_SECONDS:
        warnings.warn(f"windows of {config.timesteps} rows last {window_s:.2g} s at "
                      f"{config.expected_rate_hz:g} Hz, shorter than one repetition of most "
                      f"exercises; give the length in seconds (--window-seconds)",
                      ShortWindowWarning, stacklevel=4)


def _format_columns(config: PreprocessConfig):
    """(features kept, their file columns, their indices or None for all, label column,
    timestamp column) of the config's format."""
    if config.format == "exermote":
        features, file_columns = EXERMOTE_FEATURES, EXERMOTE_FEATURE_COLUMNS
        label_column, timestamp_column = LABEL_COLUMN, TIMESTAMP_COLUMN
    else:
        features, file_columns = config.columns.names, config.columns.features
        label_column, timestamp_column = config.columns.label, config.columns.timestamp
    keep = _kept_features(features, config.features)
    if keep is not None:
        features = tuple(features[i] for i in keep)
        file_columns = tuple(file_columns[i] for i in keep)
    return features, file_columns, keep, label_column, timestamp_column


def _windows_and_counts(segments, sink, *, config, classes, features, session_names,
                        n_sessions: int):
    """``(windows, per class, per subject, per session)``: the cleaned segments cut into
    windows (``None`` when ``sink`` streamed them to a file) and the window counts."""
    if sink is None:
        windows = cut_windows(segments, classes=classes, features=features,
                              timesteps=config.timesteps, stride=config.stride,
                              label_offset=config.label_offset,
                              sample_rate_hz=config.expected_rate_hz,
                              session_names=session_names)
        windows = replace(windows, rest_class=config.rest_class, reader=config.reader)
        per_class = windows.class_counts()
        subjects, counts = np.unique(windows.subjects, return_counts=True)
        per_subject = {int(s): int(c) for s, c in zip(subjects, counts)}
        per_session = np.bincount(windows.sessions, minlength=n_sessions)
    else:
        sink.flush()
        windows, writer = None, sink.writer
        per_class = {name: int(c) for name, c in zip(classes, writer.class_counts)}
        per_subject = {s: writer.subject_counts[s] for s in sorted(writer.subject_counts)}
        per_session = [writer.session_counts.get(k, 0) for k in range(n_sessions)]
    return windows, per_class, per_subject, per_session


def _preprocess(inputs, *, config, progress, sink) -> tuple[WindowSet | None, PreprocessReport]:
    """Read, check and clean every recording of ``inputs``, then cut the windows (in memory,
    or streamed into ``sink``): the windows and the report of what each recording gave."""
    from tqdm import tqdm

    from ..errors import require

    config = require(config or PreprocessConfig(), PreprocessConfig, option="config",
                     fix="pass PreprocessConfig(**options)")
    config, files, skipped = _resolve_inputs(inputs, config)
    classes = tuple(config.classes)
    _warn_if_short(config)
    features, file_columns, keep, label_column, timestamp_column = _format_columns(config)
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
            recording, blanked = check_value_range(recording,
                                                   max_abs_value=config.max_abs_value,
                                                   policy=config.out_of_range,
                                                   columns=file_columns)
            if len(recording) < config.timesteps:
                raise ExermoteInputError(
                    f"session {recording.session_name!r} has {len(recording)} rows, shorter than "
                    f"one window of {config.timesteps} rows", path=path)
            session = len(session_names)
            pieces, report = clean_recording(
                recording, session=session, classes=classes, label_map=config.label_map,
                squat_rule=config.squat_rule and config.rest_class == BREAK_LABEL,
                squat_edge_rows=config.squat_edge_rows,
                max_gap=config.max_gap, expected_rate_hz=config.expected_rate_hz,
                rate_tolerance=config.rate_tolerance, resample=config.resample,
                min_rows=config.timesteps, label_column=label_column,
                timestamp_column=timestamp_column, max_pause_s=config.max_pause_seconds)
            if not pieces:
                raise ExermoteInputError(
                    f"session {recording.session_name!r} has no stretch of {config.timesteps} "
                    f"rows without a long gap (dropped {report.rows_dropped_edges} rows with "
                    f"missing values at start/end, {report.rows_dropped_long_gaps} in long gaps, "
                    f"{report.rows_dropped_short} in short stretches); expected at least one "
                    f"window", path=path)
            report.values_out_of_range = blanked
            report.values_far_outside, report.far_outside_note = far_outside_values(
                recording, columns=file_columns)
            segments.extend(pieces)
            reports.append(report)
            session_names.append(recording.session_name)
    windows, per_class, per_subject, per_session = _windows_and_counts(
        segments, sink, config=config, classes=classes, features=features,
        session_names=session_names, n_sessions=len(reports))
    for report, n in zip(reports, per_session):
        report.windows = int(n)
    config_dict = asdict(config)
    config_dict["label_map"] = dict(config.label_map)
    config_dict["duplicate_timestamps"] = config.reader["duplicate_timestamps"]
    config_dict["squat_rule"] = bool(config.squat_rule and config.rest_class == BREAK_LABEL
                                     and "Squat" in classes)
    report = PreprocessReport(
        files=[str(f) for f in files], sessions=reports, classes=classes,
        windows_per_class=per_class, windows_per_subject=per_subject, config=config_dict,
        skipped=[[str(p), why] for p, why in skipped])
    return windows, report
