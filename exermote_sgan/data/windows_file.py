"""The windows file: fixed-length windows of raw sensor values with their labels, in HDF5.

Layout (all written atomically):

- datasets ``windows`` float32 ``(N, timesteps, features)`` in raw sensor units (unscaled),
  ``labels`` int64 ``(N,)`` indexing ``classes``, ``subjects`` int64 ``(N,)``,
  ``sessions`` int64 ``(N,)`` indexing ``session_names``, ``end_index`` int64 ``(N,)``
  (row of the session at which the window ends, inclusive);
- attributes ``classes``, ``features``, ``timesteps``, ``stride``, ``label_offset``,
  ``sample_rate_hz``, ``session_names``; optional ``rest_class`` (``""``: no rest class; a file
  without it has ``Break`` as its rest class when ``Break`` is a class) and ``reader`` (JSON of
  the reader settings preprocessing used, so a trained run reads the same kind of file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import json

import numpy as np

from ..atomic import atomic_output
from ..errors import ExermoteInputError

__all__ = ["WindowSet", "save_windows", "load_windows", "read_subjects", "check_subjects"]

_DATASETS = ("windows", "labels", "subjects", "sessions", "end_index")
_ATTRIBUTES = ("classes", "features", "timesteps", "stride", "label_offset", "sample_rate_hz",
               "session_names")


@dataclass(frozen=True)
class WindowSet:
    """Windows cut from one or more sessions, with everything needed to split and train on them."""

    windows: np.ndarray
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

    def subset(self, index) -> "WindowSet":
        """The windows selected by a boolean mask or an integer index array."""
        index = np.asarray(index)
        return replace(self, windows=self.windows[index], labels=self.labels[index],
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
        return replace(self, windows=np.ascontiguousarray(self.windows[..., columns]),
                       features=names)

    def session_name(self, session: int) -> str:
        """The recording name of session id ``session`` (``"session N"`` when it has none)."""
        names = self.session_names
        return str(names[session]) if 0 <= session < len(names) else f"session {int(session)}"

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.classes, counts)}


def save_windows(path, window_set: WindowSet) -> Path:
    """Write ``window_set`` to ``path`` (HDF5), atomically."""
    import h5py

    path = Path(path)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("windows", data=np.asarray(window_set.windows, dtype=np.float32))
            for name in _DATASETS[1:]:
                f.create_dataset(name, data=np.asarray(getattr(window_set, name), dtype=np.int64))
            f.attrs["classes"] = list(window_set.classes)
            f.attrs["features"] = list(window_set.features)
            f.attrs["session_names"] = list(window_set.session_names) or [""]
            f.attrs["timesteps"] = int(window_set.timesteps)
            f.attrs["stride"] = int(window_set.stride)
            f.attrs["label_offset"] = int(window_set.label_offset)
            f.attrs["sample_rate_hz"] = float(window_set.sample_rate_hz)
            f.attrs["rest_class"] = window_set.rest_class or ""
            if window_set.reader is not None:
                f.attrs["reader"] = json.dumps(window_set.reader)
    return path


def _strings(values) -> tuple[str, ...]:
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values))


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise ExermoteInputError("windows file not found (create it with "
                                 "'exermote-sgan preprocess')", path=path)


def read_subjects(path) -> set[int]:
    """The subjects of a windows file, read without loading its windows (to check options)."""
    import h5py

    path = Path(path)
    _check_exists(path)
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


def load_windows(path) -> WindowSet:
    """Read a windows file written by :func:`save_windows` (or ``exermote-sgan preprocess``)."""
    import h5py

    path = Path(path)
    _check_exists(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [n for n in _DATASETS if n not in f] + \
                      [a for a in _ATTRIBUTES if a not in f.attrs]
            if missing:
                raise ExermoteInputError(
                    f"not a windows file: missing {', '.join(missing)}", path=path)
            arrays = {n: f[n][()] for n in _DATASETS}
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
    _check_labels(arrays["labels"], _strings(attrs["classes"]), path)
    try:
        return WindowSet(
            windows=arrays["windows"].astype(np.float32, copy=False),
            labels=arrays["labels"].astype(np.int64, copy=False),
            subjects=arrays["subjects"].astype(np.int64, copy=False),
            sessions=arrays["sessions"].astype(np.int64, copy=False),
            end_index=arrays["end_index"].astype(np.int64, copy=False),
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
