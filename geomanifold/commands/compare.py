"""``geomanifold compare``: a suite of conditioning methods on one task and protocol, over seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments.methods import METHODS
from .common import name_list
from .conditioning_options import add_experiment_options, run_experiment

__all__ = ["DEFAULT_METHODS", "DEFAULT_OUT", "SMOKE_ARGS", "register", "run"]

NAME = "compare"
HELP = "compare conditioning methods on one task and protocol"
ORDER = 11
DEFAULT_OUT = Path("results/compare")
DEFAULT_METHODS = ("manifold", "manifold-adam", "unconditioned", "concat", "film", "scn", "specialists")
SMOKE_ARGS = [
    "--data",
    "digits",
    "--task",
    "noise",
    "--protocol",
    "extrapolation",
    "--epochs",
    "1",
    "--seeds",
    "2",
    "--methods",
    "manifold,concat,unconditioned",
    "--train-size",
    "200",
    "--test-size",
    "64",
    "--no-progress",
    "--threads",
    "1",
]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME,
        help=HELP,
        description="Train every method of --methods for every seed on a context task under a "
        "protocol; writes results.json/csv, summary.csv, curves.csv and accuracy-vs-context plots.",
    )
    parser.add_argument(
        "--methods",
        type=name_list(METHODS, "methods"),
        default=DEFAULT_METHODS,
        metavar="LIST",
        help=f"comma-separated methods (default: {','.join(DEFAULT_METHODS)}); valid: {', '.join(METHODS)}",
    )
    add_experiment_options(parser, DEFAULT_OUT)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_experiment(args, args.methods)
