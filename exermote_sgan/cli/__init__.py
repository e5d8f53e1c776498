"""The ``exermote-sgan`` command line: one subcommand per module of this package.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int`` and imports
heavy libraries (TensorFlow) only inside ``run``, so ``--help`` and ``preprocess`` stay fast.
Bad input raises :class:`~exermote_sgan.errors.ExermoteInputError`, printed here as one line
with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._quiet import filter_library_noise
from ..errors import ExermoteInputError

# (command name, module in exermote_sgan.cli)
COMMANDS = (
    ("demo", "demo"),
    ("preprocess", "preprocess"),
    ("inspect", "inspect"),
    ("train", "train"),
    ("evaluate", "evaluate"),
    ("compare", "compare"),
    ("ensemble", "ensemble"),
    ("export", "export"),
    ("predict", "predict"),
    ("evaluate-reps", "evaluate_reps"),
    ("learn-reps", "learn_reps"),
    ("personalize", "personalize"),
)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="exermote-sgan",
        description="Exercise recognition from wearable IMU recordings: preprocess raw "
                    "recordings, train a supervised baseline or a semi-supervised GAN, "
                    "evaluate on unseen people, export to Core ML, predict and count "
                    "repetitions.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for _name, module_name in COMMANDS:
        module = _command_module(module_name)
        if module is not None:
            module.add_parser(subparsers)
    return parser


def _command_module(module_name: str):
    try:
        return importlib.import_module(f".{module_name}", __package__)
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{module_name}":
            return None  # command not available in this build
        raise


def main(argv=None) -> int:
    filter_library_noise()  # the known TensorFlow/coremltools noise only: real warnings still show
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ExermoteInputError as exc:
        print(f"exermote-sgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"exermote-sgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
