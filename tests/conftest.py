"""Shared fixtures: the real Exermote recordings beside the checkout, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
REAL_RAW_DIR = Path(os.environ.get("EXERMOTE_RAW_DIR",
                                   REPO.parent / "shared" / "data" / "exermote" / "raw"))


@pytest.fixture(scope="session")
def real_raw_dir() -> Path:
    """The 30 real recordings; CI always has them, so their absence fails under CI."""
    if not REAL_RAW_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real recordings not found at {REAL_RAW_DIR}")
        pytest.skip(f"real recordings not found at {REAL_RAW_DIR}")
    return REAL_RAW_DIR


@pytest.fixture(scope="session")
def real_recordings(real_raw_dir) -> list[Path]:
    files = sorted(real_raw_dir.glob("*.csv"))
    assert len(files) == 30, f"expected 30 recordings in {real_raw_dir}, found {len(files)}"
    return files
