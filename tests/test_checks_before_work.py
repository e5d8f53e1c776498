"""Checks before work (issue 33, item 14): every command refuses a bad option or path with one
line and exit status 2 before TensorFlow loads (seconds, not the 20 s of its import) and before
it writes anything.

All the cases run in one fresh interpreter: after each refusal ``tensorflow`` must still be
absent from ``sys.modules``, and the working folder must hold only what the test made.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = str(REPO / "data" / "sample")

#: (arguments, a fragment of the one-line error); W is a real windows file of the sample,
#: USER a folder of the user's files (tests/test_no_user_files_lost.py has the cases that need
#: a trained run)
CASES = [
    (["train", "missing.h5", "--out", "r"], "missing.h5: windows file not found"),
    (["train", "W", "--out", "r", "--seed", "-1"], "option 'seed'"),
    (["train", "W", "--out", "USER"], "is not a run directory"),
    (["train", "W", "--out", "r", "--test-subjects", "4", "--unlabeled-windows", "missing.h5"],
     "missing.h5: windows file not found"),
    (["train", "W", "--out", "r", "--test-subjects", "9"], "test subject(s) 9 not in"),
    (["compare", "missing.h5", "--test-subjects", "1", "--out", "c"], "windows file not found"),
    (["compare", "W", "--test-subjects", "4", "--seeds", "-1", "--out", "c"], "option 'seed'"),
    (["compare", "W", "--test-subjects", "4", "--out", "USER"], "not a comparison folder"),
    (["ensemble", "nope1", "nope2", "--out", "e"], "nope1: run directory not found"),
    (["ensemble", "nope1", "nope2", "--out", "USER"], "is not a run directory"),
    (["export", "nope", "--out", "X"], "nope: run directory not found"),
    (["evaluate", "nope", "W"], "nope: run directory not found"),
    (["evaluate", "nope", "W", "--json", "USER"], "is a folder"),
    (["predict", "nope", "missing.csv"], "missing.csv: no such file"),
    (["predict", "nope", SAMPLE, "--out", "USER"], "is a folder"),
    (["evaluate-reps", "nope", SAMPLE, "--json", "USER"], "is a folder"),
    (["personalize", "nope", SAMPLE, "--out", "p"], "nope: no such run directory"),
    (["preprocess", "missing", "--out", "x.h5"], "missing: no such file"),
    (["preprocess", SAMPLE, "--out", "USER"], "is a folder"),
    (["demo", "--seed", "-1", "--out", "d"], "option '--seed'"),
    (["demo", "--out", "USER"], "not a folder the demo wrote"),
]

SCRIPT = """
import contextlib, io, json, sys, time
from pathlib import Path
from exermote_sgan.cli import main
from exermote_sgan.recordings.pipeline import PreprocessConfig, preprocess
from exermote_sgan.data.windows_file import save_windows

save_windows("W", preprocess([sys.argv[1]], config=PreprocessConfig(stride=4))[0])
Path("USER").mkdir()
Path("USER", "mine.txt").write_text("the user's")
results = []
for argv in json.loads(sys.argv[2]):
    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    results.append({"code": code, "err": err.getvalue(), "tensorflow": "tensorflow" in
                    sys.modules, "seconds": time.perf_counter() - started})
print(json.dumps(results))
"""


def test_bad_options_and_paths_are_refused_before_tensorflow_or_a_write(tmp_path):
    argvs = [words for words, _ in CASES]
    out = subprocess.run([sys.executable, "-c", SCRIPT, SAMPLE, json.dumps(argvs)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for (words, fragment), result in zip(CASES, results, strict=True):
        lines = result["err"].strip().splitlines()
        assert result["code"] == 2, (words, result)
        assert len(lines) == 1 and lines[0].startswith(f"exermote-sgan {words[0]}: error: "), \
            (words, lines)
        assert fragment in lines[0], (words, lines[0])
        assert not result["tensorflow"], f"{words}: TensorFlow loaded before the error"
        assert result["seconds"] < 10, (words, result["seconds"])
    # nothing written beside what the test made, and the user's files as they were
    assert sorted(p.name for p in tmp_path.iterdir()) == ["USER", "W"]
    assert [p.name for p in (tmp_path / "USER").iterdir()] == ["mine.txt"]
    assert (tmp_path / "USER" / "mine.txt").read_text() == "the user's"
