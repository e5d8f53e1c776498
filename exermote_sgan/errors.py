"""Errors the package raises for bad input.

Every problem a user can cause (a missing column, a corrupt run directory, a recording too
short for one window) surfaces as :class:`ExermoteInputError`, whose message names the file, row
and column involved and what was expected.  The command line prints that one line and exits
with status 2 instead of showing a traceback from deep inside pandas or TensorFlow.
"""

from __future__ import annotations

import os


class ExermoteInputError(ValueError):
    """Bad user input: a file, a row, a column or an option that is not what was expected.

    Parameters
    ----------
    message:
        What was wrong and what was expected instead.
    path, row, column:
        Where the problem is, as far as it is known.  ``row`` is 1-based and counts the header
        as row 1, like a spreadsheet or ``sed -n`` would show the file.
    option:
        The setting at fault (a configuration field such as ``labeled_fraction``), when the
        problem is an option rather than the data.
    """

    def __init__(self, message: str, *, path=None, row: int | None = None,
                 column: str | None = None, option: str | None = None):
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.row = row
        self.column = column
        self.option = option
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.option is not None:
            where.append(f"option {self.option!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class NotFittedError(ExermoteInputError):
    """An object was used before ``fit`` gave it what it needs."""


class DiskFullError(ExermoteInputError):
    """The disk filled up while writing ``path`` (``ENOSPC``, ``EDQUOT``).

    Not a fault of the input, but like one something the user fixes (free some space, choose
    another disk), so it is reported the same way: one line naming the destination and the
    fix, exit status 2.  Its own type lets a caller tell it apart (``train`` adds that the
    completed epochs can be resumed).
    """


def wrong_type(option: str, value, expected: str, fix: str = "") -> ExermoteInputError:
    """The one-line error for an argument of the wrong type (a dict where a config belongs, a
    path where windows belong, 3 where a list of subjects belongs), naming it and the fix.

    Raised where the argument is first used, so that the Python API answers a wrong type as
    the command line answers a wrong option: one :class:`ExermoteInputError`, no traceback
    from deep inside NumPy or Keras.
    """
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    message = f"must be {expected}, got {type(value).__name__} {shown}"
    return ExermoteInputError(f"{message}; {fix}" if fix else message, option=option)


def as_path(value, *, option: str):
    """``value`` as a :class:`pathlib.Path`; a str or path-like only, else :func:`wrong_type`."""
    from pathlib import Path

    if not isinstance(value, (str, os.PathLike)):
        raise wrong_type(option, value, "a path (str or pathlib.Path)")
    return Path(value)


def require(value, expected: type | tuple, *, option: str, fix: str = ""):
    """``value`` if it is an instance of ``expected``, else :func:`wrong_type` naming the
    class(es) and ``fix`` (e.g. how to make one from a dict or a path)."""
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple)
                                                  else (expected,)))
        raise wrong_type(option, value, f"a {names}", fix)
    return value


def as_sequence(value, *, option: str, example: str) -> list:
    """``value`` as a list: a list, tuple, set or array, never a lone number or string (which
    Python would iterate character by character)."""
    if isinstance(value, (str, bytes, os.PathLike)) or not hasattr(value, "__iter__"):
        raise wrong_type(option, value, "a list", f"for example {option}={example}")
    return list(value)
