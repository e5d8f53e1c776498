"""Write files and directories so that a reader never sees a half-written result.

Everything the package writes goes to a temporary sibling first and is renamed into place
only when complete; on any error the temporary is removed and an existing file of the same
name is left as it was.

A temporary is named ``.<name>.<pid>.<random>.tmp`` after the process writing it.  A process
killed outright (``kill -9``, power loss) cannot remove its temporary, so every later write
next to it removes the temporaries of ``<name>`` whose writer is no longer running
(:func:`remove_stale_temporaries`): a temporary of a live process is never touched.

A full disk (``ENOSPC``, ``EDQUOT``), wherever the library that writes reports it, becomes one
:class:`~exermote_sgan.errors.DiskFullError` (an ``ExermoteInputError``) naming the destination
and the fix.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import DiskFullError, ExermoteInputError


_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
# h5py, TensorFlow and zipfile report a full disk in their own words and types
_DISK_FULL_TEXT = re.compile(r"No space left on device|Disk quota exceeded|errno = 28\b",
                             re.IGNORECASE)
# ".<name>.<pid>.<random>.tmp" (or ".old"), maybe with a suffix a library insisted on
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.(?:tmp|old)(?:\.[\w.]+)?$")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the disk is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        if _DISK_FULL_TEXT.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(path, *, fix: str = "free some space (or choose another disk) and run "
                                        "the command again") -> DiskFullError:
    """The one-line error for a full disk while writing ``path``."""
    return DiskFullError(f"the disk is full (no space left on device); nothing was written "
                         f"here; {fix}", path=path)


def writer_alive(pid: int) -> bool:
    """Whether process ``pid`` (the writer of a temporary) is still running on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: leave its files alone
    return True


def remove_stale_temporaries(directory, name: str | None = None) -> list[Path]:
    """Remove the temporaries in ``directory`` (of ``name``, or of any name) whose writer died.

    Only files and folders named like this module's temporaries (``.<name>.<pid>.<x>.tmp`` or
    ``.old``) are considered, and only those whose process ``pid`` no longer runs; returns
    what was removed.
    """
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or (name is not None and match["name"] != name):
            continue
        if writer_alive(int(match["pid"])):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            pass  # another process cleaned it first
        except OSError:
            continue
    return removed


def _temporary_prefix(destination: Path) -> str:
    return f".{destination.name}.{os.getpid()}."


def check_output_file(path, *, option: str | None = None, example: str | None = None) -> Path:
    """Refuse an output FILE path that is an existing folder (before any work is done).

    ``example`` is a file name to suggest inside that folder.
    """
    path = Path(path)
    if path.is_dir():
        hint = f" (for example {path / example})" if example else ""
        raise ExermoteInputError(f"is a folder; give a file name{hint}", path=path,
                                 option=option)
    return path


def check_replaceable_dir(path, *, markers, what: str, option: str | None = "--out") -> Path:
    """Refuse to replace ``path`` unless it is new, empty or what this package wrote there.

    The rule behind every command that writes a folder as a whole: no command deletes what it
    did not write.  ``markers`` are names (files or folders) of which the package's own folder
    holds at least one (a run directory's ``preprocessing.json``, an ``.mlpackage``'s
    ``Manifest.json``); an existing folder with none of them is the user's, and is refused
    before any work is done.  A file where the folder belongs is refused as well.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ExermoteInputError(f"is a file; choose a new folder for {what}", path=path,
                                 option=option)
    try:
        empty = not path.is_dir() or not any(path.iterdir())
    except OSError as exc:
        raise ExermoteInputError(f"cannot read this folder ({exc.strerror or exc})",
                                 path=path, option=option) from None
    if empty or any((path / name).exists() for name in markers):
        return path
    raise ExermoteInputError(
        f"exists and is not {what} (it has no {' or '.join(markers)}): the command would "
        "write over or replace the files in it; choose a new or empty folder", path=path,
        option=option)


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
    if not directory:
        check_output_file(destination)
    parent = ensure_writable_dir(destination.parent if str(destination.parent) else Path("."))
    remove_stale_temporaries(parent, destination.name)
    prefix = _temporary_prefix(destination)
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual permissions
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
            os.close(fd)
            tmp = Path(name)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(destination) from None
        raise ExermoteInputError(f"cannot write here ({exc.strerror or exc})",
                                 path=destination) from None
    try:
        yield tmp
        if directory:
            replace_directory(tmp, destination)
        else:
            os.replace(tmp, destination)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        if not isinstance(exc, ExermoteInputError) and is_disk_full(exc):
            raise disk_full_error(destination) from None
        raise


_RENAME_EXCHANGE = 2
_LIBC = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    global _LIBC
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = _LIBC.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EINVAL)):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_directory(source, destination) -> Path:
    """Move the complete folder ``source`` to ``destination``, replacing any folder there.

    Where the system can (Linux), the two are exchanged in one step and the old folder is
    removed afterwards, so ``destination`` always holds either the old or the new folder.
    Elsewhere the old folder is first renamed aside (``.<name>.<pid>.<x>.old``), a window in
    which ``destination`` is briefly missing; a later write removes that leftover.
    """
    source, destination = Path(source), Path(destination)
    if not destination.exists():
        source.rename(destination)
        return destination
    if _exchange(source, destination):
        shutil.rmtree(source, ignore_errors=True)
        return destination
    aside = Path(tempfile.mkdtemp(prefix=_temporary_prefix(destination), suffix=".old",
                                  dir=destination.parent))
    aside.rmdir()
    destination.rename(aside)
    source.rename(destination)
    shutil.rmtree(aside, ignore_errors=True)
    return destination


def atomic_write_text(destination, text: str) -> Path:
    """Write ``text`` to ``destination`` atomically (UTF-8)."""
    with atomic_output(destination) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(destination)
