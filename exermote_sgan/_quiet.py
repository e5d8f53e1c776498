"""Keep TensorFlow's and coremltools' known start-up and runtime chatter out of the output.

The one place where the package quiets other libraries.  Importing the package changes nothing
in the process: :func:`filter_library_noise` is installed by the command line (``cli.main``)
and is the opt-in for notebooks and host applications; the scoped helpers below are what the
library itself uses while it converts a model.

TensorFlow (2.17+) writes C++ log lines straight to file descriptor 2, some before its logging
is initialised and so regardless of ``TF_CPP_MIN_LOG_LEVEL``: the oneDNN notice, "Could not find
cuda drivers", the CPU-instructions notice (each twice, as two libraries load), a failed
``cuInit`` on machines without a GPU, and ``NodeDef mentions attribute
use_unbounded_threadpool`` once per ``tf.data`` map it instantiates.  coremltools logs, off
macOS, that its native proxies cannot load, and that the installed scikit-learn and TensorFlow
are newer than those it was tested with.  None of these says anything a user can act on.

:func:`filter_library_noise` filters exactly those messages, and nothing else, from the moment
TensorFlow, Keras or coremltools is first imported: file descriptor 2 is routed through a pipe
whose reader thread drops lines matching :data:`FD_NOISE` and passes every other byte on
unchanged (partial lines such as progress bars are passed on at once); Python log records of the
``tensorflow`` and ``coremltools`` loggers matching :data:`LOG_NOISE` are dropped.  Every other
warning, from these libraries or anywhere else, still reaches stderr.  Set the environment
variable ``EXERMOTE_SGAN_VERBOSE=1`` to turn the filtering off.  A hook waits for the first
heavy import, so a command that never loads TensorFlow (``preprocess``) is never touched.

:data:`QUIET_ENV` is the environment of processes the package starts itself (Ray workers, the
tests' subprocesses), :func:`quiet_converter_logs` and :func:`no_converter_progress_bars` keep
coremltools' and TensorFlow's warnings and tqdm bars out of an export, command line or not.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import logging
import os
import re
import sys
import threading


ENV_VERBOSE = "EXERMOTE_SGAN_VERBOSE"
HEAVY_MODULES = ("tensorflow", "keras", "coremltools")
# the environment of worker processes the package starts: TensorFlow's C++ logging off
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# A C++ log line: "I0000 00:00:1795997249.177540    6721 port.cc:153] message"
_CPP_LINE = re.compile(rb"^[IWEF]\d{4} [\d:.]+\s+\d+ (?P<file>[\w.]+):\d+\] (?P<message>.*)")
# (source file, start of the message) of the C++ lines known to be noise
FD_NOISE = (
    (b"port.cc", b"oneDNN custom operations are on"),
    (b"cudart_stub.cc", b"Could not find cuda drivers"),
    (b"cpu_feature_guard.cc", b"This TensorFlow binary is optimized"),
    (b"cuda_platform.cc", b"failed call to cuInit"),
    (b"cuda_executor.cc", b"failed call to cuInit"),
    (b"node_def_util.cc", b"NodeDef mentions attribute use_unbounded_threadpool"),
    (b"devices.cc", b"Number of eligible GPUs"),
    (b"single_machine.cc", b"Starting new session"),
    (b"mlir_graph_optimization_pass.cc", b"MLIR V1 optimization pass is not enabled"),
)
# whole lines known to be noise (the second follows cpu_feature_guard's notice)
_PLAIN_NOISE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"To enable the following instructions:",
)
# (logger, pattern) of Python log records known to be noise
LOG_NOISE = (
    ("coremltools", r"Failed to load _ML\w*Proxy: No module named 'coremltools\.libcoremlpython'"),
    ("coremltools", r"scikit-learn version \S+ is not supported\."),
    ("coremltools", r"TensorFlow version \S+ has not been tested with coremltools\."),
    ("coremltools", r"TensorFlow version \S+ is not supported\."),
    # int64 shape constants stored as int32; the export's numerical check covers the result
    ("coremltools", r"Saving value type of int64 into a builtin type of int32"),
    # the package's own validation predictions retrace once per epoch: harmless
    ("tensorflow", r"triggered tf\.function retracing"),
)

_lock = threading.Lock()
_state = {"installed": False, "active": False}


def is_noise(line: bytes) -> bool:
    """Whether one line written to file descriptor 2 is known TensorFlow noise."""
    line = line.rstrip(b"\r\n")
    if any(line.startswith(plain) for plain in _PLAIN_NOISE):
        return True
    match = _CPP_LINE.match(line)
    return bool(match) and any(match["file"] == source and match["message"].startswith(text)
                               for source, text in FD_NOISE)


_CPP_ANYWHERE = re.compile(rb"[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] ")
_CPP_PARTIAL = re.compile(rb"^[IWEF]\d{0,4}( [\d:.]*(\s+\d*( \S*)?)?)?$")


def _could_become_noise(fragment: bytes, *, at_line_start: bool = True) -> bool:
    """Whether an unfinished piece of output may still turn out to be noise (so it is held
    back until its line ends)."""
    if _CPP_PARTIAL.match(fragment) or _CPP_LINE.match(fragment):
        return True
    return at_line_start and any(plain.startswith(fragment) or fragment.startswith(plain)
                                 for plain in _PLAIN_NOISE)


class _Pump:
    """Reads the pipe now behind file descriptor 2 and writes all but the noise to the real
    stderr.

    A C++ log line may also start in the middle of a line, right after a progress bar that
    redraws itself with a carriage return and never ends its line: such a noise line is cut
    out and the bar kept.  Output that cannot be the start of noise is passed on at once.
    """

    def __init__(self, read_fd: int, out_fd: int):
        self.read_fd, self.out_fd = read_fd, out_fd
        self.pending = b""          # output held back: it may be the start of noise
        self.at_line_start = True   # whether ``pending`` (or what comes next) starts a line

    def _write(self, data: bytes) -> None:
        while data:
            try:
                written = os.write(self.out_fd, data)
            except OSError:
                return
            data = data[written:]

    def _clean(self, line: bytes, at_line_start: bool) -> bytes:
        if at_line_start and is_noise(line):
            return b""
        for match in _CPP_ANYWHERE.finditer(line):
            if is_noise(line[match.start():]):
                return line[:match.start()]
        return line

    def _hold_from(self, tail: bytes) -> int:
        if _could_become_noise(tail, at_line_start=self.at_line_start):
            return 0
        for i in range(1, len(tail)):
            if tail[i] in b"IWEF" and _could_become_noise(tail[i:], at_line_start=False):
                return i
        return len(tail)

    def feed(self, chunk: bytes) -> None:
        data = self.pending + chunk
        self.pending = b""
        out = []
        while True:
            end = data.find(b"\n")
            if end < 0:
                break
            line, data = data[:end + 1], data[end + 1:]
            out.append(self._clean(line, self.at_line_start))
            self.at_line_start = True
        if data:
            keep = self._hold_from(data)
            out.append(data[:keep])
            self.pending = data[keep:]
            if keep:
                self.at_line_start = False
        if any(out):
            self._write(b"".join(out))

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.read_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            self.feed(chunk)
        if self.pending:
            self._write(self.pending)
        os.close(self.read_fd)


def _filter_fd2() -> None:
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return  # no usable stderr: nothing to filter
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = _Pump(read_fd, original)
    thread = threading.Thread(target=pump.run, name="exermote-sgan-stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(original, 2)  # closes the pipe's last writer: the pump drains it and stops
        thread.join(timeout=2.0)

    atexit.register(restore)


class _LogNoise(logging.Filter):
    def __init__(self, patterns):
        super().__init__()
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not any(p.search(message) for p in self.patterns)


def _activate() -> None:
    with _lock:
        if _state["active"]:
            return
        _state["active"] = True
    for name in {logger for logger, _ in LOG_NOISE}:
        logging.getLogger(name).addFilter(
            _LogNoise([p for logger, p in LOG_NOISE if logger == name]))
    _filter_fd2()


class _FirstHeavyImport:
    """A meta path finder that finds nothing: it only notices the first heavy import."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in HEAVY_MODULES:
            _remove_hook()
            _activate()
        return None


_hook = _FirstHeavyImport()


def _remove_hook() -> None:
    try:
        sys.meta_path.remove(_hook)
    except ValueError:
        pass


def filter_library_noise() -> None:
    """Filter the known noise from the first import of TensorFlow, Keras or coremltools on
    (at once if one is already imported).  Idempotent; ``EXERMOTE_SGAN_VERBOSE=1`` skips it.

    The command line calls it; a notebook or host application opts in by calling it (the
    package's import never does: file descriptor 2 is the process's, not the library's)."""
    if os.environ.get(ENV_VERBOSE, "").strip() not in ("", "0"):
        return
    with _lock:
        if _state["installed"]:
            return
        _state["installed"] = True
    if any(name in sys.modules for name in HEAVY_MODULES):
        _activate()
    else:
        sys.meta_path.insert(0, _hook)


@contextlib.contextmanager
def quiet_converter_logs():
    """Within the block, only errors of the ``coremltools`` and ``tensorflow`` loggers: they
    log a dozen warnings on conversion (no Core ML runtime on Linux, untested versions, int64
    constants) and the export reports by itself."""
    loggers = [logging.getLogger(name) for name in ("coremltools", "tensorflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# (coremltools module, the name it imported tqdm under) of the bars a TensorFlow conversion
# draws: coremltools has no option of its own to turn them off
_CONVERTER_BARS = (
    ("coremltools.converters.mil.frontend.tensorflow.convert_utils", "_tqdm"),
    ("coremltools.converters.mil.frontend.tensorflow.load", "_tqdm"),
    ("coremltools.converters.mil.frontend.tensorflow2.load", "_tqdm"),
    ("coremltools.converters.mil.mil.passes.pass_pipeline", "tqdm"),
    ("coremltools.converters.mil.backend.nn.op_mapping", "_tqdm"),
)


@contextlib.contextmanager
def no_converter_progress_bars():
    """Within the block, coremltools' conversion passes draw no tqdm bars: each bar is made with
    tqdm's own ``disable=True``.  (``TQDM_DISABLE`` would not do: tqdm reads it once, when it
    is first imported.)  Thread-unsafe like any module attribute swap; restored on exit."""
    swapped = []
    try:
        for module_name, attribute in _CONVERTER_BARS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # a frontend this coremltools does not ship
                continue
            bar = getattr(module, attribute, None)
            if bar is None:
                continue
            swapped.append((module, attribute, bar))
            setattr(module, attribute, functools.partial(bar, disable=True))
        yield
    finally:
        for module, attribute, bar in reversed(swapped):
            setattr(module, attribute, bar)
