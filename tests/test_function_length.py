"""No function of the package over 80 lines without a reason written beside it.

Read from the source with :mod:`ast` (``def`` line, decorators included, to the body's last
line).  A function may stay long with a comment ``# long: REASON`` on the line above its
``def``; no other exception remains.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "exermote_sgan"
LIMIT = 80


def long_functions(root: Path = PACKAGE, limit: int = LIMIT) -> dict[str, int]:
    """``{"path/inside/package.py::name": lines}`` of every function over ``limit`` lines
    that has no ``# long: REASON`` comment on the line above it."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = node.end_lineno - start + 1
            reason = start >= 2 and lines[start - 2].strip().startswith("# long:")
            if length > limit and not reason:
                found[f"{path.relative_to(root).as_posix()}::{node.name}"] = length
    return found


def test_no_function_is_over_80_lines_without_a_reason():
    unexplained = long_functions()
    assert not unexplained, (f"functions over {LIMIT} lines: {unexplained}; split them into "
                             "steps a reader can follow, or write '# long: REASON' above")


def test_the_rule_counts_lines_and_reads_the_reason(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n\n\n"
                                   f"# long: a table, one row per line\ndef table():\n{body}\n")
    assert long_functions(tmp_path) == {"m.py::long": LIMIT + 1}
