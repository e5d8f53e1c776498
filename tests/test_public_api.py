"""The public API is small and is what docs/api.md documents (issue 32).

``exermote_sgan.__all__`` must equal the names of docs/api.md's table of public names, every
one must resolve, and no other module declares an ``__all__`` of its own: the package has one
public surface, and everything else is private to its room.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import exermote_sgan

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "exermote_sgan"


def documented_names(text: str | None = None) -> set[str]:
    """The names in the first column of docs/api.md's "The public names" table."""
    if text is None:
        text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("## The public names", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def test_the_public_names_are_the_documented_ones():
    public = set(exermote_sgan.__all__) - {"__version__"}
    assert public == documented_names(), (
        f"undocumented: {sorted(public - documented_names())}; "
        f"documented but not public: {sorted(documented_names() - public)}")
    assert len(public) <= 20


def test_every_public_name_resolves():
    for name in exermote_sgan.__all__:
        assert getattr(exermote_sgan, name) is not None


def test_no_other_module_declares_a_public_surface():
    declaring = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                declaring.append(str(path.relative_to(ROOT)))
    assert not declaring, f"only exermote_sgan/__init__.py lists public names: {declaring}"


def test_the_table_reader_reads_names():
    # the checker itself: two names in one cell, and a row that is not a name
    text = "## The public names\n\n| name | what |\n|---|---|\n| `a`, `b` | x `c` |\n"
    assert documented_names(text) == {"a", "b"}
