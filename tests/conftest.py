"""Shared fixtures: the real Exermote recordings beside the checkout, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exermote_sgan._quiet import QUIET_ENV

for _name, _value in QUIET_ENV.items():  # TensorFlow's C++ logging, as in the Ray workers
    os.environ.setdefault(_name, _value)

REPO = Path(__file__).resolve().parents[1]
REAL_RAW_DIR = Path(os.environ.get("EXERMOTE_RAW_DIR",
                                   REPO.parent / "shared" / "data" / "exermote" / "raw"))
WATCH_RAW_DIR = Path(os.environ.get("WATCH_RAW_DIR",
                                    REPO.parent / "shared" / "data" / "watch" / "raw"))


def _shared_folder(path: Path, what: str) -> Path:
    """``path`` if present; CI always has ../shared, so its absence fails under CI."""
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{what} not found at {path}")
        pytest.skip(f"{what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def real_raw_dir() -> Path:
    """The 30 real Exermote recordings."""
    return _shared_folder(REAL_RAW_DIR, "real recordings")


@pytest.fixture(scope="session")
def watch_raw_dir() -> Path:
    """The 140 real smartwatch recordings (one folder per subject)."""
    return _shared_folder(WATCH_RAW_DIR, "watch recordings")


@pytest.fixture(scope="session")
def real_recordings(real_raw_dir) -> list[Path]:
    files = sorted(real_raw_dir.glob("*.csv"))
    assert len(files) == 30, f"expected 30 recordings in {real_raw_dir}, found {len(files)}"
    return files


@pytest.fixture(scope="session")
def watch_windows(watch_raw_dir, tmp_path_factory) -> Path:
    """Subjects 1-3 of the watch recordings, left arm: 21 recordings, read by one preprocess
    command with the worked example's columns file (4 s windows at 10 Hz, stride 1 s)."""
    from exermote_sgan.cli import main

    files = sorted(str(p) for s in (1, 2, 3)
                   for p in (watch_raw_dir / f"subject_{s:02d}").glob("*_left.csv"))
    assert len(files) == 21
    out = tmp_path_factory.mktemp("watch") / "watch.h5"
    code = main(["preprocess", *files, "--out", str(out), "--format", "generic",
                 "--columns-file", str(REPO / "examples" / "watch" / "columns.toml"),
                 "--classes", "PEN,ABD,FEL,IR,ER,TRAP,ROW", "--label-map", "",
                 "--expected-rate", "10", "--resample", "--window-seconds", "4",
                 "--stride-seconds", "1"])
    assert code == 0
    return out
