"""Every shell and Python example in README.md and docs/*.md runs as written.

For each page, its fenced blocks whose info string is ``bash`` or ``python`` run in order in
one fresh scratch directory, in which ``data/`` and ``examples/`` are the repository's and
``../shared`` is the real shared folder (as beside a checkout).  ``exermote-sgan`` and
``python`` are this test's interpreter running this checkout's code.  Python blocks of a page
share one namespace, as cells of a notebook do; bash blocks run with ``set -e -o pipefail``.

A block too expensive to run follows a line::

    <!-- docs-test: skip (REASON; covered by tests/test_FILE.py) -->

A skip line without a reason, or naming a test file that does not exist, fails
:func:`test_skip_markers_give_a_reason` (fast, not marked slow).  Pages other helpers are
still writing are skipped until they exist.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the pages whose examples run, in the order docs/index.md lists them; any other docs/*.md
# found is run as well
PAGES = ("README.md", "docs/index.md", "docs/data.md", "docs/training.md", "docs/results.md",
         "docs/export.md", "docs/api.md", "docs/design.md", "docs/reliability.md",
         "docs/scale.md", "docs/cluster.md", "docs/personalize.md")
RUN = ("bash", "python")
SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\s*\((?P<reason>.*)\)\s*-->\s*$")
MARKER = re.compile(r"^<!--\s*docs-test\b")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>[\w+-]*)")
BLOCK_TIMEOUT_S = 600


def _all_pages() -> list[str]:
    found = sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))
    return list(PAGES) + [page for page in found if page not in PAGES]


def parse_blocks(text: str) -> list[dict]:
    """The fenced blocks of a Markdown page: ``info``, ``code``, ``line`` (1-based, the
    opening fence) and ``skip`` (the reason of a skip line right before it, or ``None``)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, start = match["fence"], i
        body = []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        before = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()),
                      "")
        skip = SKIP.match(before)
        blocks.append({"info": match["info"].lower(), "code": "\n".join(body) + "\n",
                       "line": start + 1, "skip": skip["reason"].strip() if skip else None,
                       "marker": before if MARKER.match(before) else None})
        i += 1
    return blocks


def _scratch(tmp_path: Path) -> tuple[Path, dict]:
    """A scratch directory laid out like a checkout, and the environment its commands get."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("data", "examples"):
        if (REPO / name).exists():
            (work / name).symlink_to(REPO / name)
    shared = REPO.parent / "shared"
    if shared.exists():
        (tmp_path / "shared").symlink_to(shared.resolve())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # scripts, not symlinks: a symlinked venv interpreter would not find its venv
    for name, command in (("python", ""), ("python3", ""), ("exermote-sgan", " -m exermote_sgan")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}"{command} "$@"\n')
        shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return work, env


def _run_page(page: str, tmp_path: Path, monkeypatch) -> int:
    blocks = [b for b in parse_blocks((REPO / page).read_text(encoding="utf-8"))
              if b["info"] in RUN and b["skip"] is None]
    work, env = _scratch(tmp_path)
    monkeypatch.chdir(work)
    for name in ("PATH", "PYTHONPATH", "MPLBACKEND"):
        monkeypatch.setenv(name, env[name])
    namespace = {"__name__": "__main__"}
    for block in blocks:
        where = f"{page}:{block['line']}"
        if block["info"] == "bash":
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block["code"]],
                                  cwd=work, env=env, capture_output=True, text=True,
                                  timeout=BLOCK_TIMEOUT_S)
            assert done.returncode == 0, (
                f"{where}: the bash block exited {done.returncode}\n--- block\n{block['code']}"
                f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
        else:
            try:
                exec(compile(block["code"], where, "exec"), namespace)
            except BaseException as exc:  # SystemExit included: a block must not exit
                raise AssertionError(f"{where}: the python block raised {exc!r}\n"
                                     f"--- block\n{block['code']}") from exc
    return len(blocks)


def test_skip_markers_give_a_reason():
    problems = []
    for page in _all_pages():
        path = REPO / page
        if not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if not MARKER.match(line.strip()):
                continue
            skip = SKIP.match(line.strip())
            reason = skip["reason"].strip() if skip else ""
            if not reason:
                problems.append(f"{page}:{number}: a docs-test line needs the form "
                                "'<!-- docs-test: skip (REASON; covered by tests/test_FILE.py) "
                                "-->' with a reason")
                continue
            for test_file in re.findall(r"tests/test_\w+\.py", reason):
                if not (REPO / test_file).is_file():
                    problems.append(f"{page}:{number}: {test_file} does not exist")
    assert not problems, "\n".join(problems)


def test_the_parser_reads_blocks_info_and_skip_lines():
    text = ("text\n```bash\necho one\n```\n"
            "<!-- docs-test: skip (too slow; covered by tests/test_demo.py) -->\n"
            "```python\nprint(2)\n```\n```text\nnot run\n```\n")
    blocks = parse_blocks(text)
    assert [(b["info"], b["line"], b["skip"]) for b in blocks] == [
        ("bash", 2, None), ("python", 6, "too slow; covered by tests/test_demo.py"),
        ("text", 9, None)]
    assert blocks[1]["code"] == "print(2)\n"


@pytest.mark.slow
@pytest.mark.parametrize("page", _all_pages())
def test_page_examples_run(page, tmp_path, monkeypatch):
    if not (REPO / page).is_file():
        pytest.skip(f"{page} does not exist yet")
    ran = _run_page(page, tmp_path, monkeypatch)
    if ran == 0:
        pytest.skip(f"{page} has no bash or python block to run")


# pages other helpers are writing: links to them may dangle until they land
PENDING = {"docs/data.md", "docs/export.md", "docs/reliability.md", "docs/scale.md",
           "docs/cluster.md", "docs/personalize.md"}
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _heading_anchors(text: str) -> set[str]:
    anchors = set()
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def test_links_between_pages_resolve():
    problems = []
    for page in _all_pages():
        path = REPO / page
        if not path.is_file():
            continue
        for match in LINK.finditer(path.read_text(encoding="utf-8")):
            target = match["target"]
            if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked here
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            relative = str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else ""
            if not resolved.exists():
                if relative not in PENDING:
                    problems.append(f"{page}: link to {target} does not resolve")
                continue
            if anchor and resolved.suffix == ".md" and \
                    anchor not in _heading_anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{page}: link to {target}: no heading #{anchor}")
    assert not problems, "\n".join(problems)


def test_the_index_links_every_page():
    index = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {m["target"].partition("#")[0] for m in LINK.finditer(index)}
    expected = {Path(p).name for p in PAGES if p.startswith("docs/") and p != "docs/index.md"}
    expected |= {p.name for p in (REPO / "docs").glob("*.md") if p.name != "index.md"}
    assert expected <= linked, f"docs/index.md does not link {sorted(expected - linked)}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/index.md" in readme
