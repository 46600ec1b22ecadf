"""Command line: the ``geomanifold`` console script.

Each sub-command lives in its own module of :mod:`geomanifold.commands` (``demo``, and the
experiment commands); only the module of the command that runs is imported, so ``--help`` and
usage errors start without loading torch. Usage errors (unknown command or option, bad values)
exit with status 2, as argparse does; a run that stops on bad input (a missing data folder, a
mismatched checkpoint) or on a fault (a diverging loss) prints one line naming the problem and the
option, and exits with status 1; Ctrl-C prints one line saying where the last checkpoint is and
exits with status 130. Set ``GEOMANIFOLD_TRACEBACK=1`` to see the full traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .commands import command_infos

__all__ = ["build_parser", "main"]

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``: its first word that is not an option (the top-level
    parser takes only flags)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per command module.

    With ``argv`` only the command it names gets its full sub-parser (and its module imported);
    the others are listed by name and help line. Without, every command is built in full.
    """
    parser = argparse.ArgumentParser(
        prog="geomanifold",
        description="Geometry-first Riemannian toolkit for the weight space of neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = None if argv is None else _chosen_command(argv)
    for command in command_infos():
        if argv is None or command.name == chosen:
            command.load().register(commands)
        else:
            commands.add_parser(command.name, help=command.help, add_help=False)
    return parser


def _error_line(args: argparse.Namespace, error: BaseException) -> str:
    """The one line printed for ``error``: its message, with the CLI's own advice added for a
    run that diverged (``--lr``) or was interrupted (``--resume``)."""
    from .training import LOWER_LR, NonFiniteError

    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, KeyboardInterrupt):
        message = message or "interrupted"
        if getattr(args, "resume", None) is not None:
            return f"{message}; rerun with --resume (and the same options) to continue"
        return f"{message}; rerun the command to start again"
    if isinstance(error, NonFiniteError) and getattr(args, "lr", None) is not None:
        message = message.replace(LOWER_LR, f"lower --lr (now {args.lr:g})")
    return f"error: {message}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geomanifold`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        unknown = [word for word in argv if word not in ("-h", "--help", "--version")]
        if _chosen_command(argv) is None and unknown:  # argparse would only say COMMAND is missing
            parser.error(f"unrecognized arguments: {' '.join(unknown)}; a COMMAND comes first")
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else 2
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError, KeyError, KeyboardInterrupt) as error:
        if os.environ.get("GEOMANIFOLD_TRACEBACK"):
            raise
        print(f"geomanifold {args.command}: {_error_line(args, error)}", file=sys.stderr)
        return INTERRUPTED if isinstance(error, KeyboardInterrupt) else 1


if __name__ == "__main__":
    sys.exit(main())
