"""Property-based fuzzing of the CSV readers on real files.

Real Exermote recordings (their first rows) and the committed synthetic sample are corrupted at
random: truncated, stray bytes inserted, a column dropped or duplicated, re-encoded, cells set to
extreme or malformed values, rows swapped, the delimiter changed.  Reading the result, and
preprocessing it into windows, must end either in a result or in the package's one-line
:class:`~exermote_sgan.errors.ExermoteInputError`, never in another exception.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
from exermote_sgan.recordings.readers import ColumnSpec, read_exermote_csv, read_generic_csv
from exermote_sgan.errors import ExermoteInputError

REPO = Path(__file__).resolve().parents[1]
ROWS = 90  # enough rows for a few short windows
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
# short windows so that an intact file gives windows and the whole pipeline runs
SMALL = PreprocessConfig(timesteps=10, label_offset=5, stride=5)
GENERIC = ColumnSpec(timestamp="timestamp",
                     features=("Phone: xGravity", "Phone: yGravity", "Phone: zGravity"),
                     label="exercise", subject="individual",
                     timestamp_format="%Y-%m-%d %H:%M:%S:%f")


def _head(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:
        return "".join(line for _, line in zip(range(ROWS + 1), handle))


@pytest.fixture(scope="module")
def originals(real_recordings) -> list[str]:
    """The first rows of three real recordings (three people) and of one sample file."""
    real = [_head(real_recordings[i]) for i in (0, 12, 29)]
    sample = _head(sorted((REPO / "data" / "sample").glob("*.csv"))[0])
    return real + [sample]


def _fields(line: str) -> list[str]:
    return line.split(",")


EXTREMES = ["1e30", "-1e30", "1e308", "1e400", "-inf", "inf", "nan", "NaN", "", " ",
            "9" * 40, "0x1F", "1,5", "--1", "１２", "\u00a0", '"', "'", "None", "true"]


@st.composite
def corruptions(draw, texts):
    text = draw(st.sampled_from(texts))
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["truncate", "stray", "drop", "duplicate", "encode", "extreme",
                                 "swap", "delimiter", "blank", "header"]))
    if kind == "truncate":
        return kind, text.encode()[:draw(st.integers(0, len(text.encode())))]
    if kind == "stray":
        at = draw(st.integers(0, len(text)))
        junk = draw(st.binary(min_size=1, max_size=12) | st.sampled_from(
            [b"\x00", b'"', b"\r", b"\n", b",,,", b"\xff\xfe", b"\xef\xbb\xbf"]))
        data = text.encode()
        return kind, data[:at] + junk + data[at:]
    if kind in ("drop", "duplicate"):
        width = len(_fields(lines[0]))
        k = draw(st.integers(0, width - 1))
        header_only = draw(st.booleans())
        out = []
        for i, line in enumerate(lines):
            end = "\n" if line.endswith("\n") else ""
            cells = _fields(line.rstrip("\r\n"))
            if k < len(cells) and (i == 0 or not header_only):
                cells = cells[:k] + cells[k + 1:] if kind == "drop" else \
                    cells[:k + 1] + [cells[k]] + cells[k + 1:]
            out.append(",".join(cells) + end)
        return kind, "".join(out).encode()
    if kind == "encode":
        encoding = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252", "utf-8-sig"]))
        accent = draw(st.booleans())
        body = text.replace("Break", "Pause\u00e9") if accent else text
        return kind, body.encode(encoding, errors="replace")
    if kind == "extreme":
        out = list(lines)
        for _ in range(draw(st.integers(1, 5))):
            i = draw(st.integers(1, len(out) - 1))
            cells = _fields(out[i].rstrip("\r\n"))
            j = draw(st.integers(0, len(cells) - 1))
            cells[j] = draw(st.sampled_from(EXTREMES))
            out[i] = ",".join(cells) + "\n"
        return kind, "".join(out).encode()
    if kind == "swap":
        out = list(lines)
        i, j = draw(st.integers(1, len(out) - 1)), draw(st.integers(1, len(out) - 1))
        out[i], out[j] = out[j], out[i]
        return kind, "".join(out).encode()
    if kind == "delimiter":
        return kind, text.replace(",", draw(st.sampled_from([";", "\t", "|"]))).encode()
    if kind == "blank":
        out = list(lines)
        for _ in range(draw(st.integers(1, 4))):
            out.insert(draw(st.integers(1, len(out))), draw(st.sampled_from(
                ["\n", ",,,\n", "\r\n", " \n"])))
        return kind, "".join(out).encode()
    # header: a header cell renamed, emptied or repeated
    cells = _fields(lines[0].rstrip("\r\n"))
    j = draw(st.integers(0, len(cells) - 1))
    cells[j] = draw(st.sampled_from(["", cells[j].upper(), cells[j] + " ", cells[(j + 1)
                                                                              % len(cells)]]))
    return kind, (",".join(cells) + "\n" + "".join(lines[1:])).encode()


def _only_input_errors(action):
    try:
        action()
    except ExermoteInputError as exc:
        assert "\n" not in str(exc), str(exc)  # one line


@pytest.mark.realdata
def test_the_intact_files_read_and_preprocess(originals):
    with tempfile.TemporaryDirectory() as folder:
        for i, text in enumerate(originals):
            path = Path(folder) / f"r{i}.csv"
            path.write_text(text, encoding="utf-8")
            recording = read_exermote_csv(path)
            assert len(recording) == ROWS and np.isfinite(recording.values).any()
        windows, _ = preprocess([folder], config=SMALL)
        assert len(windows) > 0


@pytest.mark.realdata
def test_corrupted_files_read_or_fail_with_one_input_error(originals):
    @FUZZ
    @given(corruption=corruptions(originals))
    def check(corruption):
        _kind, data = corruption
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "2017-03-30 18-50-49 Individual 1.csv"
            path.write_bytes(data)
            _only_input_errors(lambda: read_exermote_csv(path))
            _only_input_errors(lambda: read_generic_csv(path, columns=GENERIC))
            _only_input_errors(lambda: preprocess([path], config=SMALL))

    check()
