"""The package's rooms import only what docs/design.md allows, read from the source itself.

Each room (a subpackage, or a module at the top) may import the rooms ``RULES`` lists for it
and the base modules (``errors``, ``atomic``, ``_quiet``); the command line (``cli``) may import
anything and nothing imports it.  TensorFlow, Keras and coremltools are never imported by
``data`` or ``recordings`` (preprocessing stays light), and at module level only by the modules
that define Keras classes.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "exermote_sgan"
BASE = ("errors", "atomic", "_quiet", "__version__")
#: room -> the rooms it may import (besides the base), as docs/design.md draws them
RULES = {
    "data": set(),
    "recordings": {"data"},
    "runs": {"data"},
    "models": {"runs", "data"},
    "training": {"runs", "data", "recordings", "models"},
    "experiments": {"runs", "data", "recordings", "models", "training"},
    "personalization": {"runs", "data", "recordings", "models", "training"},
    "export": {"runs", "data", "recordings", "models"},
    "inference": {"runs", "data", "recordings", "models", "export"},
}
LIGHT = ("data", "recordings")
HEAVY = ("tensorflow", "keras", "coremltools")
# modules that subclass Keras classes (models, losses, callbacks), so import Keras when
# they are imported
HEAVY_AT_MODULE_LEVEL = {"models.networks", "models.replica_layers", "training.losses",
                         "training.sgan", "training.backup"}


def allowed(unit: str) -> set[str]:
    """The package units (first name under ``exermote_sgan``) ``unit`` may import."""
    if unit in ("cli", "__main__"):
        return set(BASE) | set(RULES) | {"cli"}
    if unit in BASE or unit == "__init__":
        return set(BASE)
    return set(BASE) | {unit} | RULES[unit]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__") or "__init__"
        # a relative import resolves against the module's package (an __init__'s own)
        yield path, name, parts[0], parts[:-1]


def _imports(path: Path, package: tuple[str, ...]):
    """``(target, top_level, line)`` for every import in ``path``: targets inside the package
    as their first name under it (``"data"``), others as their first name (``"keras"``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                target = parts[1] if parts[0] == "exermote_sgan" and len(parts) > 1 else parts[0]
                yield target, id(node) in top_level, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(package)[:len(package) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
                if parts:
                    yield parts[0], id(node) in top_level, node.lineno
                else:  # "from . import x" at the package root
                    for alias in node.names:
                        yield alias.name, id(node) in top_level, node.lineno
            else:
                parts = (node.module or "").split(".")
                if parts[0] == "exermote_sgan":
                    targets = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
                    for target in targets:
                        yield target, id(node) in top_level, node.lineno
                else:
                    yield parts[0], id(node) in top_level, node.lineno


def _package_units() -> set[str]:
    return {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))} | {
        "__version__"}


def test_every_unit_of_the_package_has_a_rule():
    units = {unit for _, _, unit, _ in _modules()}
    known = set(RULES) | set(BASE) | {"cli", "__main__", "__init__"}
    assert units <= known, f"new package units need a rule in docs/design.md: {units - known}"


def test_layers_import_only_the_layers_before_them():
    units = _package_units()
    problems = []
    for path, _name, unit, package in _modules():
        for target, _top, line in _imports(path, package):
            if target in units and target not in allowed(unit):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {unit} imports "
                                f"{target}, which docs/design.md does not allow")
    assert not problems, "\n".join(problems)


def test_heavy_libraries_stay_out_of_data_and_out_of_module_level():
    problems = []
    for path, name, unit, package in _modules():
        for target, top, line in _imports(path, package):
            if target not in HEAVY:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if unit in LIGHT:
                problems.append(f"{where}: the {unit} room imports {target}")
            elif top and name not in HEAVY_AT_MODULE_LEVEL:
                problems.append(f"{where}: {target} imported at module level (import it inside "
                                "the function that needs it)")
    assert not problems, "\n".join(problems)


def test_the_rules_catch_a_violation(tmp_path):
    # the checker itself: an experiment importing training is allowed, data importing
    # models is not, and a relative import is resolved to its unit
    assert "training" in allowed("experiments") and "models" not in allowed("data")
    assert "inference" not in allowed("export") and "cli" not in allowed("inference")
    assert "training" not in allowed("export") and "experiments" not in allowed("training")
    bad = tmp_path / "bad.py"
    bad.write_text("from ..models import networks\nimport keras\n")
    found = list(_imports(bad, ("data",)))
    assert found == [("models", True, 1), ("keras", True, 2)]


@pytest.mark.parametrize("code", [
    "import exermote_sgan",
    "import exermote_sgan.cli as c; c.build_parser()",
    "import exermote_sgan.recordings.pipeline, exermote_sgan.cli.preprocess",
    "import exermote_sgan.models, exermote_sgan.training.config",
])
def test_importing_the_package_the_cli_and_preprocessing_loads_no_tensorflow(code):
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\n"
                               "print(sorted(m for m in ('tensorflow', 'keras', 'coremltools') "
                               "if m in sys.modules))"],
        capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- import cycles -----------------------------------------------------------------------------
def _module_names() -> set[str]:
    return {name for _, name, _, _ in _modules()}


def _module_edges(path: Path, package: tuple[str, ...], names: set[str]):
    """``(imported module, line)`` for every import of a package module in ``path``, at module
    level or inside a function: ``from .x import y`` names ``x.y`` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [[".".join(alias.name.split(".")[1:])] for alias in node.names
                          if alias.name.split(".")[0] == "exermote_sgan"]
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level:  # relative: against the module's package
                module = list(package)[:len(package) - (node.level - 1)] + parts
            elif parts and parts[0] == "exermote_sgan":
                module = parts[1:]
            else:
                continue
            candidates = [[".".join(module + [a.name]), ".".join(module)] for a in node.names]
        else:
            continue
        for options in candidates:
            found = [name or "__init__" for name in options if (name or "__init__") in names]
            if found:
                yield found[0], node.lineno


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (or a module importing itself),
    by Tarjan's algorithm; each group as a sorted list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _import_graph() -> dict[str, set[str]]:
    names = _module_names()
    graph: dict[str, set[str]] = {}
    for path, name, _unit, package in _modules():
        graph[name] = {target for target, _ in _module_edges(path, package, names)}
    return graph


def test_no_import_cycle_anywhere_in_the_package():
    # module-level and function-level imports alike: a cycle means two modules that each need
    # the other, which the layers (and lazy imports) only hide
    cycles = _cycles(_import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle(tmp_path):
    # the checker itself, on a made-up graph and on real source: a function-level import counts
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "report.py"
    source.write_text("def f():\n    from .compare import pm\n    from . import grid\n")
    names = {"training.compare", "training.grid", "training.report"}
    assert list(_module_edges(source, ("training",), names)) == [
        ("training.compare", 2), ("training.grid", 3)]


# -- private names stay in their room ----------------------------------------------------------
def _private_imports_across_rooms():
    """``path:line: name from module`` for every ``_private`` name one room imports from
    another (within a room, modules share their private helpers)."""
    found = []
    for path, _name, unit, package in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = list(package)[:len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and target and target[0] != unit:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: "
                                 f"{alias.name} from {'.'.join(target)}")
    return found


def test_no_room_imports_another_rooms_private_names():
    found = _private_imports_across_rooms()
    assert not found, ("a room uses another room's private name (make it public there, with a "
                       "docstring, or keep it in one room): " + "; ".join(found))


def test_no_room_holds_more_than_a_fifth_of_the_package():
    # a room that grows past a fifth of the code has become a catch-all (issue 32): split it
    lines: dict[str, int] = {}
    for path, _name, unit, _package in _modules():
        lines[unit] = lines.get(unit, 0) + len(path.read_text(encoding="utf-8").splitlines())
    rooms = {unit: n for unit, n in lines.items() if (PACKAGE / unit).is_dir()}
    total = sum(lines.values())
    too_big = {unit: f"{n / total:.0%}" for unit, n in rooms.items() if n > 0.2 * total}
    assert len(rooms) >= 8 and not too_big, f"rooms over 20% of the package's lines: {too_big}"
