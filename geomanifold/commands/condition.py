"""``geomanifold condition``: one conditioning method on one task and protocol, over seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import CONDITIONING_METHODS as METHODS
from .conditioning_options import register_experiment, run_experiment, smoke_args

__all__ = ["DEFAULT_OUT", "SMOKE_ARGS", "register", "run"]

NAME = "condition"
HELP = "train and evaluate one conditioning method (a weight manifold by default)"
ORDER = 10
DEFAULT_OUT = Path("results/condition")
SMOKE_ARGS = smoke_args("digits", "rotation", "heldout", 1)


def _add_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", choices=METHODS, default="manifold", help="method (default: manifold)")


def register(commands: argparse._SubParsersAction) -> None:
    register_experiment(
        commands,
        NAME,
        HELP,
        "Train one method on a context task (noise, rotation, ...) under a protocol and evaluate it "
        "at every test context, with conditioning inference.",
        DEFAULT_OUT,
        _add_method,
        run,
    )


def run(args: argparse.Namespace) -> int:
    return run_experiment(args, (args.method,))
