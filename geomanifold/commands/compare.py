"""``geomanifold compare``: a suite of conditioning methods on one task and protocol, over seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import CONDITIONING_METHODS as METHODS
from .common import name_list
from .conditioning_options import register_experiment, run_experiment, smoke_args

__all__ = ["DEFAULT_METHODS", "DEFAULT_OUT", "SMOKE_ARGS", "register", "run"]

NAME = "compare"
HELP = "compare conditioning methods on one task and protocol"
ORDER = 11
DEFAULT_OUT = Path("results/compare")
DEFAULT_METHODS = ("manifold", "manifold-adam", "unconditioned", "concat", "film", "scn", "specialists")
SMOKE_ARGS = smoke_args("digits", "noise", "extrapolation", 2, "--methods", "manifold,concat,unconditioned")


def _add_methods(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--methods",
        type=name_list(METHODS, "methods"),
        default=DEFAULT_METHODS,
        metavar="LIST",
        help=f"comma-separated methods (default: {','.join(DEFAULT_METHODS)}); valid: {', '.join(METHODS)}",
    )


def register(commands: argparse._SubParsersAction) -> None:
    register_experiment(
        commands,
        NAME,
        HELP,
        "Train every method of --methods for every seed on a context task under a protocol; writes "
        "results.json/csv, summary.csv, paired.csv, curves.csv and accuracy-vs-context plots.",
        DEFAULT_OUT,
        _add_methods,
        run,
    )


def run(args: argparse.Namespace) -> int:
    return run_experiment(args, args.methods)
