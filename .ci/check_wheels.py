"""Check that every runtime dependency installs from a binary wheel where the package's users are.

The users are app developers on Apple-silicon Macs and researchers on Linux x86_64.  For each of
those platforms and each Python version that ``requires-python`` admits, pip resolves the
package's declared dependency ranges (``[project] dependencies`` in ``pyproject.toml``) as that
machine would, accepting binary wheels only (``--only-binary=:all:``, ``--dry-run``: nothing is
downloaded beyond metadata, nothing installed).  A dependency with no wheel for a target, such as
``tensorflow-cpu`` on macOS, fails the check and names the target.

    python .ci/check_wheels.py                      # the project's own dependencies
    python .ci/check_wheels.py --expect-failure tensorflow-cpu==2.21.0   # the check can fail

Exit status 0 when every target resolves (or, with ``--expect-failure``, when the given
requirements fail on at least one target), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]

#: pip platform tags per target; pip expands a macOS tag to the older macOS versions it
#: supports, but not a manylinux tag, so every glibc level up to a current distribution is listed
PLATFORMS = {
    "macOS arm64": ["macosx_14_0_arm64"],
    "Linux x86_64": [f"manylinux_2_{minor}_x86_64" for minor in range(17, 29)]
                    + ["manylinux2014_x86_64", "linux_x86_64"],
}

#: CPython minor versions considered; those admitted by requires-python are checked
CANDIDATE_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def project_metadata(pyproject: Path) -> tuple[list[str], list[str]]:
    """``(dependencies, python versions)`` declared by ``pyproject``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    admitted = SpecifierSet(project["requires-python"])
    versions = [v for v in CANDIDATE_PYTHONS if f"{v}.0" in admitted]
    return list(project["dependencies"]), versions


def resolve(requirements: list[str], *, platforms: list[str], python: str) -> tuple[bool, str]:
    """Resolve ``requirements`` for one target with wheels only; ``(ok, detail)``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                   "--quiet", "--report", str(report)]
        for platform in platforms:
            command += ["--platform", platform]
        done = subprocess.run(command + requirements, capture_output=True, text=True)
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            return False, "; ".join(errors) or done.stderr.strip()[-300:]
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
        wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in installs]
        not_wheels = [name for name in wheels if not name.endswith(".whl")]
        if not_wheels:
            return False, f"not binary wheels: {', '.join(not_wheels)}"
        pinned = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                  for item in installs}
        key = ", ".join(f"{name} {pinned[name]}" for name in ("tensorflow", "coremltools")
                        if name in pinned)
        return True, f"{len(wheels)} wheels ({key})" if key else f"{len(wheels)} wheels"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect-failure", nargs="+", metavar="REQUIREMENT",
                        help="check these requirements instead and succeed only if some target "
                             "cannot install them from wheels (shows the check can fail)")
    args = parser.parse_args(argv)
    requirements, pythons = project_metadata(REPO / "pyproject.toml")
    if args.expect_failure:
        requirements = args.expect_failure
    failures = 0
    for target, platforms in PLATFORMS.items():
        for python in pythons:
            ok, detail = resolve(requirements, platforms=platforms, python=python)
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {target}, Python {python}: {detail}")
    if args.expect_failure:
        if failures:
            print(f"as expected, {' '.join(requirements)} has no wheel for {failures} target(s)")
            return 0
        print(f"expected {' '.join(requirements)} to fail on some target, but all resolved")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
