"""``geomanifold condition``: one conditioning method on one task and protocol, over seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments.methods import METHODS
from .conditioning_options import add_experiment_options, run_experiment

__all__ = ["DEFAULT_OUT", "SMOKE_ARGS", "register", "run"]

NAME = "condition"
HELP = "train and evaluate one conditioning method (a weight manifold by default)"
ORDER = 10
DEFAULT_OUT = Path("results/condition")
SMOKE_ARGS = [
    "--data",
    "digits",
    "--task",
    "rotation",
    "--protocol",
    "heldout",
    "--epochs",
    "1",
    "--seeds",
    "1",
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
        description="Train one method on a context task (noise, rotation, ...) under a protocol and "
        "evaluate it at every test context, with conditioning inference.",
    )
    parser.add_argument("--method", choices=METHODS, default="manifold", help="method (default: manifold)")
    add_experiment_options(parser, DEFAULT_OUT)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_experiment(args, (args.method,))
