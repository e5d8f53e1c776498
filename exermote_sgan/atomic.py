"""Write files and directories so that a reader never sees a half-written result.

Everything the package writes goes to a temporary sibling first and is renamed into place
only when complete; on any error the temporary is removed and an existing file of the same
name is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import ExermoteInputError

__all__ = ["atomic_output", "atomic_write_text", "ensure_writable_dir"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_writable_dir(directory) -> Path:
    """Create ``directory`` (and parents) if needed and check that it is writable."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExermoteInputError(f"cannot create output directory ({exc.strerror})",
                                 path=directory) from None
    if not os.access(directory, os.W_OK):
        raise ExermoteInputError("output directory is not writable", path=directory)
    return directory


@contextlib.contextmanager
def atomic_output(destination, *, directory: bool = False):
    """Yield a temporary path next to ``destination``; rename it over ``destination`` on success.

    With ``directory=True`` the temporary is a fresh empty directory (for bundles such as
    ``.mlpackage``); otherwise it is a path where the caller creates a file.
    """
    destination = Path(destination)
    parent = ensure_writable_dir(destination.parent if str(destination.parent) else Path("."))
    prefix = f".{destination.name}."
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual permissions
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp
        if directory:
            if destination.exists():
                backup = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old", dir=parent))
                backup.rmdir()
                destination.rename(backup)
                tmp.rename(destination)
                shutil.rmtree(backup, ignore_errors=True)
            else:
                tmp.rename(destination)
        else:
            os.replace(tmp, destination)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def atomic_write_text(destination, text: str) -> Path:
    """Write ``text`` to ``destination`` atomically (UTF-8)."""
    with atomic_output(destination) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(destination)
