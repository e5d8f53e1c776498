import subprocess
import sys
import time

import pytest

from exermote_sgan.cli import COMMANDS, build_parser, main


def test_help_lists_commands_and_does_not_import_tensorflow():
    code = ("import sys; from exermote_sgan.cli import build_parser; build_parser(); "
            "print('tensorflow' in sys.modules)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert time.perf_counter() - start < 10
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == {name for name, _ in COMMANDS}


def test_every_registered_command_documents_every_option():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert subparsers.choices, "no subcommands registered"
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.dest in ("help",):
                continue
            assert action.help, f"'exermote-sgan {name}': option {action.dest!r} has no help"


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_public_api_resolves_lazily():
    code = ("import sys, exermote_sgan as ex; assert 'tensorflow' not in sys.modules; "
            "[getattr(ex, n) for n in ex.__all__]; print(len(ex.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
