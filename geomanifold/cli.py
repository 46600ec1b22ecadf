"""Command line: the ``geomanifold`` console script.

Each sub-command lives in its own module of :mod:`geomanifold.commands` (``demo``, and the
experiment commands). Usage errors (unknown command or option, bad values) exit with status 2, as
argparse does; a run that stops on bad input (a missing data folder, a mismatched checkpoint)
prints one line naming the problem and exits with status 1. Set ``GEOMANIFOLD_TRACEBACK=1`` to
see the full traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .commands import command_modules

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="geomanifold",
        description="Geometry-first Riemannian toolkit for the weight space of neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geomanifold`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else 2
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError, KeyError) as error:
        if os.environ.get("GEOMANIFOLD_TRACEBACK"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"geomanifold {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
