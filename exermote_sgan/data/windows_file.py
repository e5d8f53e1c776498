"""The windows file: the rows of every gap-free segment, stored once, and a window index, in HDF5.

Overlapping windows share rows: at stride 1 with 40-row windows, storing every window as its
own copy multiplies the data by 40.  So the file keeps each segment's rows once and describes a
window by its segment and the row at which it starts; windows are cut from the rows when they
are read (:class:`RowWindows`).

Layout, format version 2 (all written atomically):

- ``rows`` float32 ``(R, features)``: the rows of every segment, one after the other, in raw
  sensor units (unscaled), stored contiguous and uncompressed so that it can be memory-mapped;
- ``segment_offsets`` int64 ``(S + 1,)``: segment ``s`` is ``rows[offsets[s]:offsets[s + 1]]``;
- the window index, one entry per window: ``window_segment`` and ``window_start`` int64 (the
  window is rows ``start .. start + timesteps - 1`` of its segment), ``labels`` int64 indexing
  ``classes``, ``subjects`` int64, ``sessions`` int64 indexing ``session_names`` and
  ``end_index`` int64 (row of the session at which the window ends, inclusive); compressed;
- attributes ``format_version`` (2), ``classes``, ``features``, ``timesteps``, ``stride``,
  ``label_offset``, ``sample_rate_hz``, ``session_names``; optional ``rest_class`` (``""``: no
  rest class; a file without it has ``Break`` as its rest class when ``Break`` is a class) and
  ``reader`` (JSON of the reader settings preprocessing used, so a trained run reads the same
  kind of file).

Version 1 (files written before the row layout, with a ``windows`` dataset of every window's
copy ``(N, timesteps, features)`` and no ``format_version``) is still read, into memory as it
always was; :func:`convert_windows` rewrites one in version 2.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..atomic import atomic_output
from ..errors import ExermoteInputError


#: the layout :func:`save_windows` writes; :func:`load_windows` reads it and version 1
FORMAT_VERSION = 2

_INDEX = ("labels", "subjects", "sessions", "end_index")  # one entry per window, as in v1
_V1_DATASETS = ("windows",) + _INDEX
_V2_DATASETS = ("rows", "segment_offsets", "window_segment", "window_start") + _INDEX
_ATTRIBUTES = ("classes", "features", "timesteps", "stride", "label_offset", "sample_rate_hz",
               "session_names")
_GATHER_WINDOWS = 65_536  # windows gathered per step when many are asked for at once
_BLOCK_ROWS = 1 << 20     # rows copied per step when writing
_HASH_ELEMENTS = 1 << 22  # values read per step when hashing a dataset


class RowWindows:
    """Windows ``(N, timesteps, features)`` cut on demand from rows that are stored once.

    Window ``i`` is ``rows[starts[i]:starts[i] + timesteps]`` (with only ``columns``, when set).
    It behaves like a read-only NumPy array of windows where code reads windows: ``len``,
    ``shape``, ``dtype``, ``nbytes`` (of the windows it stands for), indexing by an integer, a
    slice, an integer array or a boolean mask (which return a new array gathered from the rows),
    and ``np.asarray`` (which gathers all of them).  :meth:`take` and :meth:`select_columns`
    return new views without copying anything.  ``rows`` may be a NumPy array or a memory map
    of the windows file, so only the windows asked for are ever in memory.
    """

    __slots__ = ("rows", "starts", "segment_offsets", "timesteps", "columns")

    def __init__(self, rows, *, starts, segment_offsets, timesteps: int, columns=None):
        if getattr(rows, "ndim", None) != 2:
            raise ValueError(f"RowWindows: rows must be 2-D (rows, features), got shape "
                             f"{getattr(rows, 'shape', None)}")
        self.rows = rows
        self.starts = np.asarray(starts, dtype=np.int64)
        self.segment_offsets = np.asarray(segment_offsets, dtype=np.int64)
        self.timesteps = int(timesteps)
        self.columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        if self.starts.ndim != 1:
            raise ValueError("RowWindows: starts must be 1-D")

    @property
    def segments(self) -> np.ndarray:
        """The segment of each window (computed from its start row: not kept in memory)."""
        return np.searchsorted(self.segment_offsets, self.starts, side="right") - 1

    @classmethod
    def from_array(cls, windows) -> "RowWindows":
        """Dense windows ``(N, T, F)`` as row windows, each its own segment (no copy)."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        n, timesteps, features = windows.shape
        offsets = np.arange(n + 1, dtype=np.int64) * timesteps
        return cls(windows.reshape(n * timesteps, features), starts=offsets[:-1],
                   segment_offsets=offsets, timesteps=timesteps)

    # -- the array-like surface --------------------------------------------------------------
    @property
    def num_features(self) -> int:
        return self.rows.shape[1] if self.columns is None else len(self.columns)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.starts), self.timesteps, self.num_features)

    ndim = 3
    dtype = np.dtype(np.float32)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes of the windows once gathered (not of the rows they are cut from)."""
        return self.size * 4

    def __len__(self) -> int:
        return len(self.starts)

    def __repr__(self) -> str:
        return (f"RowWindows({len(self)} windows of {self.timesteps} x {self.num_features}, "
                f"from {len(self.rows)} rows)")

    def gather(self, index) -> np.ndarray:
        """The windows ``index`` (integer array) as a new float32 array ``(n, T, F)``."""
        index = np.asarray(index, dtype=np.int64)
        timesteps, width = self.timesteps, self.rows.shape[1]
        rows = self.rows
        if rows.flags.c_contiguous and len(rows) >= timesteps:
            # row s of this view is the window starting at row s, as timesteps x width
            # consecutive numbers: each window is copied as one run, not row by row
            windows = np.lib.stride_tricks.as_strided(
                rows, shape=(len(rows) - timesteps + 1, timesteps * width),
                strides=(rows.strides[0], rows.strides[1]), writeable=False)
            if self.columns is None:
                return np.asarray(windows[self.starts[index]], dtype=np.float32).reshape(
                    len(index), timesteps, width)
        else:
            windows = None
        out = np.empty((len(index), timesteps, self.num_features), dtype=np.float32)
        steps = np.arange(timesteps, dtype=np.int64)
        for lo in range(0, len(index), _GATHER_WINDOWS):
            starts = self.starts[index[lo:lo + _GATHER_WINDOWS]]
            part = rows[starts[:, None] + steps] if windows is None else \
                windows[starts].reshape(len(starts), timesteps, width)
            out[lo:lo + len(starts)] = part if self.columns is None else part[..., self.columns]
        return out

    def _positions(self, key) -> np.ndarray:
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n, dtype=np.int64)[key]
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (n,):
                raise IndexError(f"boolean index of shape {key.shape} for {n} windows")
            return np.flatnonzero(key)
        if key.size and not np.issubdtype(key.dtype, np.integer):
            raise IndexError(f"windows are indexed by integers, slices or masks, got "
                             f"{key.dtype}")
        key = key.astype(np.int64)
        if key.size and (key.max() >= n or key.min() < -n):
            raise IndexError(f"window index out of range for {n} windows")
        return np.where(key < 0, key + n, key)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            first, rest = key[0], key[1:]
            if first is Ellipsis:
                return np.asarray(self)[key]
            picked = self[first]
            return picked[rest] if isinstance(first, (int, np.integer)) else \
                picked[(slice(None),) + rest]
        if key is Ellipsis:
            return np.asarray(self)
        if isinstance(key, (int, np.integer)):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"window {key} out of range for {n} windows")
            return self.gather([int(key) % n])[0]
        positions = self._positions(key)
        return self.gather(positions).reshape(np.shape(positions) + self.shape[1:])

    def __iter__(self):
        for lo in range(0, len(self), 1024):
            yield from self.gather(np.arange(lo, min(lo + 1024, len(self))))

    def __getattr__(self, name):
        # any other array attribute (windows.mean(1), .reshape, .astype, ...) works on all
        # the windows, gathered: what code written for the array of every window expects
        if name.startswith("_") or not hasattr(np.ndarray, name):
            raise AttributeError(f"'RowWindows' object has no attribute {name!r}")
        return getattr(np.asarray(self), name)

    def __array__(self, dtype=None, copy=None):
        out = self.gather(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def release_pages(self) -> None:
        """Let the kernel drop the memory-mapped rows read so far from this process (a no-op
        for rows in memory): a pass over many windows then does not keep them all resident."""
        if getattr(self.rows, "_mmap", None) is not None:
            _forget_pages(self.rows)

    # -- views ------------------------------------------------------------------------------
    def take(self, index) -> "RowWindows":
        """The windows ``index`` (integer array or boolean mask), sharing the rows."""
        positions = self._positions(index)
        return RowWindows(self.rows, starts=self.starts[positions],
                          segment_offsets=self.segment_offsets, timesteps=self.timesteps,
                          columns=self.columns)

    def select_columns(self, columns) -> "RowWindows":
        """The same windows with only the feature columns ``columns`` (of this view)."""
        columns = np.asarray(columns, dtype=np.int64)
        base = columns if self.columns is None else self.columns[columns]
        return RowWindows(self.rows, starts=self.starts,
                          segment_offsets=self.segment_offsets, timesteps=self.timesteps,
                          columns=base)

    # -- rows ---------------------------------------------------------------------------------
    def covered_row_ranges(self) -> np.ndarray:
        """``(k, 2)`` half-open ranges of ``rows`` that the windows cover, merged and sorted."""
        if len(self) == 0:
            return np.zeros((0, 2), dtype=np.int64)
        starts = np.unique(self.starts)
        ends = starts + self.timesteps
        # a new range begins where a window starts after the previous one's end
        new = np.ones(len(starts), dtype=bool)
        new[1:] = starts[1:] > ends[:-1]
        first = np.flatnonzero(new)
        last = np.append(first[1:], len(starts)) - 1
        return np.stack([starts[first], ends[last]], axis=1)

    def iter_rows(self, *, block_rows: int = _BLOCK_ROWS):
        """The rows the windows cover (selected columns), block by block, each once."""
        mapped = getattr(self.rows, "_mmap", None)
        for lo, hi in self.covered_row_ranges():
            for a in range(int(lo), int(hi), block_rows):
                block = np.asarray(self.rows[a:min(a + block_rows, int(hi))])
                yield block if self.columns is None else block[:, self.columns]
                if mapped is not None:
                    _forget_pages(self.rows)


def _forget_pages(mapped) -> None:
    """Let the kernel drop the pages of a read-only memory map from this process (they stay
    in the page cache): a pass over all rows then does not leave them all resident."""
    import mmap

    try:
        mapped._mmap.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):
        pass


@dataclass(frozen=True)
class WindowSet:
    """Windows cut from one or more sessions, with everything needed to split and train on them.

    ``windows`` is either a NumPy array ``(N, timesteps, features)`` or a :class:`RowWindows`
    view (what :func:`load_windows` and the preprocessing return), which cuts the windows from
    rows stored once; code reads both alike (``windows[i]``, ``windows[index]``, ``len``).
    """

    windows: "np.ndarray | RowWindows"
    labels: np.ndarray
    subjects: np.ndarray
    sessions: np.ndarray
    end_index: np.ndarray
    classes: tuple[str, ...]
    features: tuple[str, ...]
    timesteps: int
    stride: int = 1
    label_offset: int = 20
    sample_rate_hz: float = 10.0
    session_names: tuple[str, ...] = field(default_factory=tuple)
    #: the class between sets (pauses); None: no rest class, a set is a run of one label.
    #: "auto": ``Break`` when it is a class, else None (files written before the option).
    rest_class: str | None = "auto"
    #: how the recordings were read (format, columns, rate...): see PreprocessConfig.reader
    reader: dict | None = None

    def __post_init__(self):
        if self.rest_class == "auto":
            object.__setattr__(self, "rest_class",
                               "Break" if "Break" in tuple(self.classes) else None)
        if self.rest_class is not None and self.rest_class not in tuple(self.classes):
            raise ValueError(f"WindowSet: rest class {self.rest_class!r} is not one of the "
                             f"classes {', '.join(self.classes)}")
        n = len(self.windows)
        if self.windows.ndim != 3 or self.windows.shape[1:] != (self.timesteps, len(self.features)):
            raise ValueError(
                f"WindowSet: windows have shape {self.windows.shape}, expected "
                f"(N, timesteps={self.timesteps}, features={len(self.features)})")
        for name in ("labels", "subjects", "sessions", "end_index"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"WindowSet: {name} has {len(getattr(self, name))} entries, "
                                 f"windows has {n}")

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def row_windows(self) -> RowWindows:
        """The windows as a :class:`RowWindows` view (dense windows are wrapped, not copied)."""
        if isinstance(self.windows, RowWindows):
            return self.windows
        return RowWindows.from_array(self.windows)

    def subset(self, index) -> "WindowSet":
        """The windows selected by a boolean mask or an integer index array."""
        index = np.asarray(index)
        windows = self.windows.take(index) if isinstance(self.windows, RowWindows) \
            else self.windows[index]
        return replace(self, windows=windows, labels=self.labels[index],
                       subjects=self.subjects[index], sessions=self.sessions[index],
                       end_index=self.end_index[index])

    def select_features(self, names, *, path=None) -> "WindowSet":
        """The same windows with only the features ``names``, in that order.

        Raises :class:`ExermoteInputError` (naming ``path``) for a name the windows lack or a
        name given twice.
        """
        names = tuple(str(n) for n in names)
        if names == tuple(self.features):
            return self
        missing = [n for n in names if n not in self.features]
        if missing:
            raise ExermoteInputError(
                f"windows have no feature {', '.join(missing)}; they have "
                f"{', '.join(self.features)}", path=path, column="features")
        if not names or len(set(names)) != len(names):
            raise ExermoteInputError(f"features must be distinct names, got {list(names)}",
                                     path=path, column="features")
        columns = [self.features.index(n) for n in names]
        if isinstance(self.windows, RowWindows):
            return replace(self, windows=self.windows.select_columns(columns), features=names)
        return replace(self, windows=np.ascontiguousarray(self.windows[..., columns]),
                       features=names)

    def session_name(self, session: int) -> str:
        """The recording name of session id ``session`` (``"session N"`` when it has none)."""
        names = self.session_names
        return str(names[session]) if 0 <= session < len(names) else f"session {int(session)}"

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.classes, counts)}


# -- writing ------------------------------------------------------------------------------------
class _Spool:
    """An append-only temporary file of one dtype and row shape, read back block by block."""

    def __init__(self, directory, dtype, width: int | None = None):
        self.file = tempfile.TemporaryFile(dir=directory)
        self.dtype = np.dtype(dtype)
        self.width = width
        self.length = 0

    def append(self, values) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.file.write(values.tobytes())
        self.length += len(values)

    def blocks(self, block: int):
        self.file.seek(0)
        per = self.width or 1
        for lo in range(0, self.length, block):
            n = min(block, self.length - lo)
            data = np.fromfile(self.file, dtype=self.dtype, count=n * per)
            yield lo, data.reshape((n, per)) if self.width else data

    def close(self) -> None:
        self.file.close()


class WindowsWriter:
    """Writes a windows file segment by segment, so memory does not grow with the data.

    Use as a context manager::

        with WindowsWriter(path, classes=..., features=..., timesteps=40) as writer:
            writer.add_segment(values, labels=..., starts=..., subject=..., session=...,
                               end_index=...)
            writer.session_names = [...]

    Rows and the window index go to temporary files next to ``path`` while segments come in;
    on leaving the block they are copied, block by block, into the HDF5 file, which replaces
    ``path`` atomically (on an error nothing is written).  ``counts`` tracks windows per class,
    subject and session for reports.
    """

    def __init__(self, path, *, classes, features, timesteps: int, stride: int = 1,
                 label_offset: int = 20, sample_rate_hz: float = 10.0, session_names=(),
                 rest_class: str | None = None, reader: dict | None = None):
        self.path = Path(path)
        self.classes = tuple(classes)
        self.features = tuple(features)
        self.timesteps = int(timesteps)
        self.stride = int(stride)
        self.label_offset = int(label_offset)
        self.sample_rate_hz = float(sample_rate_hz)
        self.session_names = tuple(session_names)
        self.rest_class = rest_class
        self.reader = reader
        self.class_counts = np.zeros(len(self.classes), dtype=np.int64)
        self.subject_counts: dict[int, int] = {}
        self.session_counts: dict[int, int] = {}
        self._atomic = None

    def __enter__(self) -> "WindowsWriter":
        self._atomic = atomic_output(self.path)
        self._tmp = self._atomic.__enter__()
        directory = self._tmp.parent
        self._rows = _Spool(directory, np.float32, len(self.features))
        self._index = {name: _Spool(directory, np.int64) for name in
                       ("window_segment", "window_start") + _INDEX}
        self._offsets = [0]
        return self

    @property
    def windows(self) -> int:
        return self._index["labels"].length

    def add_segment(self, values, *, starts, labels, subject, session, end_index) -> None:
        """One segment's rows ``(r, features)`` and its windows (``starts`` within it)."""
        values = np.asarray(values)
        starts = np.asarray(starts, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if values.ndim != 2 or values.shape[1] != len(self.features):
            raise ValueError(f"WindowsWriter: segment rows of shape {values.shape}, expected "
                             f"(rows, {len(self.features)})")
        if len(starts) and (starts.min() < 0 or starts.max() + self.timesteps > len(values)):
            raise ValueError("WindowsWriter: a window reaches past its segment")
        segment = len(self._offsets) - 1
        self._rows.append(values)
        self._offsets.append(self._offsets[-1] + len(values))
        n = len(starts)
        subjects = np.broadcast_to(np.asarray(subject, dtype=np.int64), (n,))
        sessions = np.broadcast_to(np.asarray(session, dtype=np.int64), (n,))
        for name, data in (("window_segment", np.full(n, segment, dtype=np.int64)),
                           ("window_start", starts), ("labels", labels),
                           ("subjects", subjects), ("sessions", sessions),
                           ("end_index", end_index)):
            self._index[name].append(data)
        self.class_counts += np.bincount(labels, minlength=len(self.classes))[:len(self.classes)]
        for key, counts in ((subjects, self.subject_counts), (sessions, self.session_counts)):
            for value, count in zip(*np.unique(key, return_counts=True)):
                counts[int(value)] = counts.get(int(value), 0) + int(count)

    def _write(self) -> None:
        import h5py

        rows = self._rows.length
        index_options = dict(compression="gzip", compression_opts=1, shuffle=True)
        with h5py.File(self._tmp, "w") as f:
            out = f.create_dataset("rows", shape=(rows, len(self.features)), dtype="<f4")
            for lo, block in self._rows.blocks(_BLOCK_ROWS):
                out[lo:lo + len(block)] = block
            f.create_dataset("segment_offsets", data=np.asarray(self._offsets, dtype="<i8"))
            n = self.windows
            for name, spool in self._index.items():
                options = dict(chunks=(min(n, 1 << 16),), **index_options) if n else {}
                out = f.create_dataset(name, shape=(n,), dtype="<i8", **options)
                for lo, block in spool.blocks(_BLOCK_ROWS):
                    out[lo:lo + len(block)] = block
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["classes"] = list(self.classes)
            f.attrs["features"] = list(self.features)
            f.attrs["session_names"] = list(self.session_names) or [""]
            f.attrs["timesteps"] = self.timesteps
            f.attrs["stride"] = self.stride
            f.attrs["label_offset"] = self.label_offset
            f.attrs["sample_rate_hz"] = self.sample_rate_hz
            f.attrs["rest_class"] = self.rest_class or ""
            if self.reader is not None:
                f.attrs["reader"] = json.dumps(self.reader)

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._write()
        except BaseException as error:
            self._close_spools()
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        self._close_spools()
        return self._atomic.__exit__(exc_type, exc, tb)

    def _close_spools(self) -> None:
        self._rows.close()
        for spool in self._index.values():
            spool.close()


def _runs_of_overlapping_windows(windows, sessions, end_index, stride: int) -> np.ndarray:
    """Whether each dense window starts a new run (is not the previous one moved by ``stride``).

    Windows ``i`` and ``i + 1`` are one run when they belong to the same session, end
    ``stride`` rows apart and share their ``timesteps - stride`` common rows exactly.
    """
    n, timesteps = len(windows), windows.shape[1]
    new = np.ones(n, dtype=bool)
    if n < 2 or stride >= timesteps:
        return new
    follows = (sessions[1:] == sessions[:-1]) & (end_index[1:] - end_index[:-1] == stride)
    same = np.zeros(n - 1, dtype=bool)
    for lo in range(0, n - 1, _GATHER_WINDOWS):
        hi = min(lo + _GATHER_WINDOWS, n - 1)
        a = windows[lo + 1:hi + 1, :timesteps - stride]
        b = windows[lo:hi, stride:]
        same[lo:hi] = np.all(a.reshape(hi - lo, -1) == b.reshape(hi - lo, -1), axis=1)
    new[1:] = ~(follows & same)
    return new


def _segments_of_dense(window_set: WindowSet):
    """Dense windows back into segments of rows: ``[(values, positions, starts)]``."""
    windows = np.asarray(window_set.windows, dtype=np.float32)
    timesteps, stride = window_set.timesteps, int(window_set.stride)
    new = _runs_of_overlapping_windows(windows, window_set.sessions, window_set.end_index, stride)
    firsts = np.flatnonzero(new)
    lasts = np.append(firsts[1:], len(windows))
    for lo, hi in zip(firsts, lasts):
        tail = windows[lo + 1:hi, timesteps - stride:].reshape(-1, windows.shape[2])
        values = np.concatenate([windows[lo], tail])
        yield values, np.arange(lo, hi), np.arange(hi - lo, dtype=np.int64) * stride


def _segments_of_rows(row_windows: RowWindows):
    """Runs of consecutive windows of one segment, each with the rows it covers:
    ``[(values, positions, starts)]``, in window order.

    A segment whose windows are interleaved with others' (a shuffled subset) is written once
    per run, each run with only the rows its windows cover.
    """
    segments = row_windows.segments
    if len(segments) == 0:
        return
    bounds = np.flatnonzero(np.diff(segments)) + 1
    firsts = np.concatenate([[0], bounds])
    lasts = np.append(bounds, len(segments))
    for lo, hi in zip(firsts, lasts):
        positions = np.arange(lo, hi)
        starts = row_windows.starts[lo:hi]
        first, last = int(starts.min()), int(starts.max()) + row_windows.timesteps
        values = np.asarray(row_windows.rows[first:last])
        if row_windows.columns is not None:
            values = values[:, row_windows.columns]
        yield values, positions, starts - first


def save_windows(path, window_set: WindowSet) -> Path:
    """Write ``window_set`` to ``path`` (HDF5, format version 2), atomically.

    The rows its windows cover are written once per run of consecutive windows of a segment
    (once in all, unless the windows were shuffled).  Dense windows (a NumPy array) are first
    turned back into rows: consecutive windows of a session that overlap exactly share their
    rows, so a file of today's windows shrinks to its rows again.  Windows keep their order.
    """
    from ..errors import as_path, require

    require(window_set, WindowSet, option="window_set",
            fix="pass the WindowSet that preprocess or load_windows returned")
    path = as_path(path, option="path")
    ws = window_set
    segments = _segments_of_rows(ws.windows) if isinstance(ws.windows, RowWindows) \
        else _segments_of_dense(ws)
    with WindowsWriter(path, classes=ws.classes, features=ws.features, timesteps=ws.timesteps,
                       stride=ws.stride, label_offset=ws.label_offset,
                       sample_rate_hz=ws.sample_rate_hz, session_names=ws.session_names,
                       rest_class=ws.rest_class, reader=ws.reader) as writer:
        for values, positions, starts in segments:
            writer.add_segment(values, starts=starts, labels=ws.labels[positions],
                               subject=ws.subjects[positions], session=ws.sessions[positions],
                               end_index=ws.end_index[positions])
    return path


# -- reading ------------------------------------------------------------------------------------
def _strings(values) -> tuple[str, ...]:
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values))


def check_exists(path: Path) -> None:
    """Refuse a windows file that does not exist, naming the command that makes one."""
    if not path.is_file():
        raise ExermoteInputError("windows file not found (create it with "
                                 "'exermote-sgan preprocess')", path=path)


def read_subjects(path) -> set[int]:
    """The subjects of a windows file, read without loading its windows (to check options)."""
    import h5py

    path = Path(path)
    check_exists(path)
    try:
        with h5py.File(path, "r") as f:
            if "subjects" not in f:
                raise ExermoteInputError("not a windows file: missing subjects", path=path)
            return set(np.unique(f["subjects"][()]).astype(int).tolist())
    except OSError as exc:
        raise ExermoteInputError(f"cannot read as HDF5 ({exc})", path=path) from None


def check_subjects(wanted, present, *, path=None, test: bool = False) -> None:
    """Refuse subjects without windows; for test subjects also refuse leaving none to train."""
    wanted = {int(s) for s in wanted}
    present = sorted({int(s) for s in present})
    names = ", ".join(map(str, present)) or "(none)"
    unknown = sorted(wanted - set(present))
    if unknown:
        raise ExermoteInputError(
            f"{'test subject(s)' if test else 'subject(s)'} {', '.join(map(str, unknown))} not "
            f"in the windows file, which holds subjects {names}", path=path, column="subjects")
    if test and wanted >= set(present):
        raise ExermoteInputError(f"every subject ({names}) is a test subject: none is left to "
                                 "train on", path=path, column="subjects")


def _mapped_rows(path: Path, dataset):
    """``dataset`` memory-mapped when HDF5 stores it contiguous and uncompressed, else read."""
    offset = dataset.id.get_offset()
    if (offset is None or dataset.chunks is not None or dataset.compression is not None
            or dataset.dtype != np.dtype("<f4") or dataset.size == 0):
        return np.asarray(dataset[()], dtype=np.float32)
    return np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=dataset.shape)


def _read_v2(path: Path, f):
    rows = _mapped_rows(path, f["rows"])
    offsets = f["segment_offsets"][()].astype(np.int64)
    segment = f["window_segment"][()].astype(np.int64)
    start = f["window_start"][()].astype(np.int64)
    index = {n: f[n][()].astype(np.int64, copy=False) for n in _INDEX}
    if len(offsets) < 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0) \
            or offsets[-1] != len(rows):
        raise ExermoteInputError("inconsistent windows file: segment_offsets do not cover the "
                                 "rows; write it again with 'exermote-sgan preprocess'",
                                 path=path)
    timesteps = int(f.attrs["timesteps"])
    if len(segment) != len(start) or (len(segment) and (
            segment.min() < 0 or segment.max() >= len(offsets) - 1 or start.min() < 0
            or np.any(start + timesteps > np.diff(offsets)[segment]))):
        raise ExermoteInputError("inconsistent windows file: a window reaches outside its "
                                 "segment; write it again with 'exermote-sgan preprocess'",
                                 path=path)
    _check_end_index(index["end_index"], segment, start, timesteps, path)
    windows = RowWindows(rows, starts=offsets[segment] + start, segment_offsets=offsets,
                         timesteps=timesteps)
    return windows, index


def _check_end_index(end_index, segment, start, timesteps: int, path) -> None:
    """Refuse ``end_index`` values that are not the windows' last rows in their recording.

    The windows of one stored segment are cut from consecutive rows of one recording, so
    ``end_index - window_start`` is the same for all of them (the recording's row at which the
    segment starts, plus ``timesteps - 1``); an edited or corrupt value breaks that and would
    put a window elsewhere in time, past its recording (sets, splits and timing errors read it).
    """
    if len(end_index) != len(segment):
        return  # WindowSet reports the lengths
    if not len(end_index):
        return
    offset = end_index - start
    first = np.zeros(int(segment.max()) + 1, dtype=np.int64)
    present, where = np.unique(segment, return_index=True)
    first[present] = offset[where]  # the offset of each segment's first window
    bad = np.flatnonzero(offset != first[segment])
    if len(bad):
        i = int(bad[0])
        raise ExermoteInputError(
            f"window {i}'s end_index {int(end_index[i])} does not fit its place in the "
            f"recording (the first window of its rows puts it at row "
            f"{int(first[segment[i]] + start[i])}): edited or corrupt; re-create the windows "
            "file with 'exermote-sgan preprocess'", path=path, column="end_index")


def load_windows(path) -> WindowSet:
    """Read a windows file written by :func:`save_windows` (or ``exermote-sgan preprocess``).

    The rows are memory-mapped, not read: the windows come as a :class:`RowWindows` view that
    gathers those asked for.  A version 1 file (every window stored) is read into memory as it
    always was (:func:`convert_windows` rewrites it as version 2, about 20 times smaller).
    """
    import h5py

    from ..errors import as_path

    path = as_path(path, option="path")
    check_exists(path)
    try:
        with h5py.File(path, "r") as f:
            version = int(f.attrs["format_version"]) if "format_version" in f.attrs else 1
            if version > FORMAT_VERSION:
                raise ExermoteInputError(
                    f"windows file format version {version} is newer than this exermote-sgan "
                    f"reads (up to {FORMAT_VERSION}); upgrade exermote-sgan or preprocess the "
                    f"recordings again", path=path)
            needed = _V2_DATASETS if version == 2 else _V1_DATASETS
            missing = [n for n in needed if n not in f] + \
                      [a for a in _ATTRIBUTES if a not in f.attrs]
            if missing:
                raise ExermoteInputError(
                    f"not a windows file: missing {', '.join(missing)}", path=path)
            if version == 2:
                windows, index = _read_v2(path, f)
            else:
                windows = f["windows"][()].astype(np.float32, copy=False)
                index = {n: f[n][()].astype(np.int64, copy=False) for n in _INDEX}
            attrs = {a: f.attrs[a] for a in _ATTRIBUTES}
            rest = f.attrs.get("rest_class", "auto")
            reader = f.attrs.get("reader")
    except OSError as exc:
        raise ExermoteInputError(f"cannot read as HDF5 ({exc})", path=path) from None
    session_names = _strings(attrs["session_names"])
    rest = _strings(rest)[0] or None
    try:
        reader = None if reader is None else json.loads(_strings(reader)[0])
    except json.JSONDecodeError as exc:
        raise ExermoteInputError(f"the 'reader' attribute is not JSON ({exc}); re-create the "
                                 "file with 'exermote-sgan preprocess'", path=path) from None
    _check_labels(index["labels"], _strings(attrs["classes"]), path)
    try:
        return WindowSet(
            windows=windows, **index,
            classes=_strings(attrs["classes"]),
            features=_strings(attrs["features"]),
            timesteps=int(attrs["timesteps"]),
            stride=int(attrs["stride"]),
            label_offset=int(attrs["label_offset"]),
            sample_rate_hz=float(attrs["sample_rate_hz"]),
            session_names=() if session_names == ("",) else session_names,
            rest_class=rest, reader=reader,
        )
    except ValueError as exc:
        raise ExermoteInputError(f"inconsistent windows file: {exc}", path=path) from None


def _check_labels(labels: np.ndarray, classes: tuple[str, ...], path) -> None:
    """Refuse label ids outside ``0 .. len(classes) - 1`` (a file edited or written elsewhere)."""
    bad = np.flatnonzero((labels < 0) | (labels >= len(classes)))
    if len(bad):
        i = int(bad[0])
        raise ExermoteInputError(
            f"window {i} has label {int(labels[i])}, but there are only {len(classes)} classes "
            f"({', '.join(classes)}); re-create the windows file with 'exermote-sgan "
            f"preprocess' (--classes names every label)", path=path, column="labels")


def content_sha256(path) -> str:
    """SHA-256 of what a windows file holds: every dataset (name, type, shape and values, read
    in blocks) and every attribute, in name order.

    Equal hashes mean the same rows, windows, labels, subjects and settings, whatever the HDF5
    layout (chunks, compression) or the file's name and date; a run records it so a later command can tell that the file it
    trained on was replaced (issue 33).  Streams the file: memory stays small at any size.
    """
    import h5py

    path = Path(path)
    check_exists(path)
    digest = hashlib.sha256()
    try:
        with h5py.File(path, "r") as f:
            for name in sorted(f.attrs):
                digest.update(f"attr {name}={_strings(f.attrs[name])!r}\n".encode())
            for name in sorted(f):
                dataset = f[name]
                if not isinstance(dataset, h5py.Dataset):
                    continue
                digest.update(f"dataset {name} {dataset.dtype.str} {dataset.shape}\n".encode())
                _hash_dataset(digest, dataset)
    except OSError as exc:
        raise ExermoteInputError(f"cannot read as HDF5 ({exc})", path=path) from None
    return digest.hexdigest()


def _hash_dataset(digest, dataset) -> None:
    """Feed ``dataset``'s values (little-endian, C order) to ``digest``, a block at a time."""
    if dataset.shape == () or dataset.size == 0:
        digest.update(np.asarray(dataset[()]).tobytes())
        return
    per_row = max(1, int(np.prod(dataset.shape[1:], dtype=np.int64)))
    step = max(1, _HASH_ELEMENTS // per_row)
    little = dataset.dtype.newbyteorder("<") if dataset.dtype.kind in "iuf" else dataset.dtype
    for lo in range(0, dataset.shape[0], step):
        block = np.ascontiguousarray(dataset[lo:lo + step], dtype=little)
        digest.update(block.tobytes())


def convert_windows(source, destination) -> Path:
    """Rewrite a windows file (version 1: every window stored) as version 2 (rows stored once).

    The windows read back are the same, in the same order.  ``source`` and ``destination``
    may be the same path (it is replaced atomically).
    """
    return save_windows(destination, load_windows(source))
