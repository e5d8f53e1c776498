"""The package declares compatible ranges, and CI's exact tested set lies within them.

The wheel check itself (``.ci/check_wheels.py``) needs the package index and runs in ``.ci/run``;
these tests keep the two files it relies on consistent without the network.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    return [Requirement(req) for req in project["dependencies"] + extras]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / ".ci" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_dependencies_are_ranges_not_pins_and_install_on_macos():
    for req in _declared():
        assert not any(spec.operator in ("==", "===") for spec in req.specifier), req
        assert req.specifier, f"{req.name} has no version range"
    names = {req.name.lower() for req in _declared()}
    assert "tensorflow" in names and "tensorflow-cpu" not in names


def test_constraints_pin_every_declared_dependency_within_its_range():
    pins = _constraints()
    for req in _declared():
        name = req.name.lower().replace("_", "-")
        if req.marker is not None and not req.marker.evaluate():
            continue
        assert name in pins, f"{name} is missing from .ci/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f".ci/constraints.txt pins {name}=={pins[name]}, outside {req.specifier}")
