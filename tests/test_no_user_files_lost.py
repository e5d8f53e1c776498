"""No command deletes what it did not write (issue 33, item 1).

Every writing command is pointed at a folder of the user's own files: each refuses it with one
line and exit status 2 (a folder where a file or a run directory belongs), or writes its own
file beside them; either way every one of the user's files survives byte-for-byte.  The runs
are tiny baselines on the synthetic sample in data/sample.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exermote_sgan.cli import main

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
RECORDING = SAMPLE / "2020-01-04 10-00-00 Synthetic 4.csv"
TINY = ["--model", "baseline", "--test-subjects", "4", "--epochs", "1", "--steps-per-epoch",
        "2", "--conv-filters", "4", "--lstm-units", "4", "--quiet"]


def _user_folder(path: Path) -> Path:
    """A folder of the user's own files: text, binary, a subfolder, names a command uses."""
    (path / "notes").mkdir(parents=True)
    (path / "thesis.txt").write_text("three years of work\n", encoding="utf-8")
    (path / "data.bin").write_bytes(os.urandom(4096))
    (path / "notes" / "results.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (path / "history.txt").write_text("not a run's history\n", encoding="utf-8")
    return path


def _contents(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A windows file and two tiny runs (seeds 0 and 1) of it."""
    root = tmp_path_factory.mktemp("made")
    windows = root / "windows.h5"
    assert main(["preprocess", str(SAMPLE), "--out", str(windows), "--stride", "2",
                 "--no-progress"]) == 0
    runs = [root / "run0", root / "run1"]
    for seed, run in enumerate(runs):
        assert main(["train", str(windows), "--out", str(run), "--seed", str(seed),
                     *TINY]) == 0
    return {"windows": windows, "run": runs[0], "run1": runs[1], "root": root}


# every writing command, its output (USER) pointing at the user's folder
REFUSED = {
    "preprocess": ["preprocess", str(SAMPLE), "--out", "USER", "--stride", "2"],
    "train": ["train", "WINDOWS", "--out", "USER", *TINY],
    "compare": ["compare", "WINDOWS", "--test-subjects", "4", "--labeled-fractions", "0.5",
                "--seeds", "0", "--epochs", "1", "--steps-per-epoch", "2", "--out", "USER"],
    "ensemble": ["ensemble", "RUN", "RUN1", "--out", "USER", "--quiet"],
    "export": ["export", "RUN", "--out", "USER_PACKAGE", "--quiet"],
    "personalize": ["personalize", "RUN", str(RECORDING), "--out", "USER", "--epochs", "1",
                    "--steps-per-epoch", "2", "--quiet"],
    "predict": ["predict", "RUN", str(RECORDING), "--out", "USER"],
    "evaluate": ["evaluate", "RUN", "WINDOWS", "--json", "USER"],
    "evaluate-reps": ["evaluate-reps", "RUN", str(RECORDING), "--json", "USER"],
    "demo": ["demo", "--out", "USER", "--epochs", "1"],
}


def _argv(words, made, user: Path) -> list[str]:
    names = {"WINDOWS": made["windows"], "RUN": made["run"], "RUN1": made["run1"],
             "USER": user, "USER_PACKAGE": user.with_suffix("")}
    return [str(names.get(w, w)) for w in words]


@pytest.mark.parametrize("command", sorted(REFUSED))
def test_a_folder_of_the_users_files_is_refused_and_kept(command, made, tmp_path, capsys):
    # export writes NAME.mlpackage, a folder: the user's folder is one of that name
    user = _user_folder(tmp_path / ("Model.mlpackage" if command == "export" else "mine"))
    before = _contents(user)
    assert main(_argv(REFUSED[command], made, user)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"exermote-sgan {command}: error: "), err
    assert str(user) in err[0]
    assert _contents(user) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [user.name]  # nothing beside it


# commands whose output is a file: given a new file in the user's folder, they write it and
# leave everything else there as it was
WRITTEN = {
    "preprocess": (["preprocess", str(SAMPLE), "--out", "USER/w.h5", "--stride", "4",
                    "--no-progress"], ["w.h5"]),
    "predict": (["predict", "RUN", str(RECORDING), "--out", "USER/p.csv"], ["p.csv"]),
    "evaluate": (["evaluate", "RUN", "WINDOWS", "--json", "USER/m.json"], ["m.json"]),
    "evaluate-reps": (["evaluate-reps", "RUN", str(RECORDING), "--json", "USER/r.json"],
                      ["r.json"]),
    # (no Exermote.mlmodel: the tiny run's 4 LSTM units do not fit the app)
    "export": (["export", "RUN", "--out", "USER/Model", "--quiet"], ["Model.mlpackage"]),
    "ensemble": (["ensemble", "RUN", "RUN1", "--out", "USER/both", "--quiet"], ["both"]),
}


@pytest.mark.parametrize("command", sorted(WRITTEN))
def test_a_new_output_among_the_users_files_leaves_them_alone(command, made, tmp_path):
    user = _user_folder(tmp_path / "mine")
    before = _contents(user)
    words, outputs = WRITTEN[command]
    argv = [w.replace("USER", str(user)) if w.startswith("USER") else w for w in words]
    assert main(_argv(argv, made, user)) == 0
    after = _contents(user)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(p.name for p in user.iterdir()) == sorted(
        {Path(k).parts[0] for k in before} | set(outputs))
