"""Shared fixtures: the real Exermote recordings beside the checkout, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
