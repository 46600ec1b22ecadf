"""``geomanifold sparsify``: prune trained networks to target sparsities along functionally
invariant paths, against one-shot magnitude pruning and pruning + fine-tuning for the same number
of steps (:mod:`geomanifold.experiments.sparsify`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import SparsifySettings
from .common import add_run_options, existing_file, positive_float
from .walks import add_walk_parser, run_walk, settings_from

__all__ = [
    "DEFAULT_OUT",
    "SMOKE_ARGS",
    "fraction_list",
    "register",
    "run",
]

NAME = "sparsify"
HELP = "sparsify networks along functionally invariant paths"
ORDER = 32
DEFAULT_OUT = Path("results/sparsify")
SMOKE_ARGS = (
    "--data digits --width 16 --epochs 1 --sparsities 0.5,0.9 --steps 4 --record-every 2 --seeds 1 "
    "--threads 1 --no-progress"
).split()


def fraction_list(text: str) -> tuple[float, ...]:
    """argparse type for ``--sparsities``: comma-separated fractions in ``(0, 1)``."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated fractions in (0, 1), e.g. 0.5,0.9; got {text!r}"
        )
    return values


def register(commands: argparse._SubParsersAction) -> None:
    defaults = SparsifySettings()
    parser = add_walk_parser(commands, NAME, HELP, __doc__, defaults)
    parser.add_argument(
        "--sparsities",
        type=fraction_list,
        default=defaults.sparsities,
        metavar="LIST",
        help="comma-separated target sparsities (default: 0.5,0.8,0.9,0.95)",
    )
    parser.add_argument(
        "--length-factor",
        type=positive_float,
        default=defaults.length_factor,
        metavar="F",
        help="FIP path length as a multiple of the distance to the pruned hyperplane "
        f"(default: {defaults.length_factor})",
    )
    parser.add_argument(
        "--checkpoint",
        type=existing_file,
        default=None,
        metavar="A.pt",
        help="sparsify this `geomanifold train` checkpoint (its data, arch and width) "
        "instead of training one network per seed",
    )
    add_run_options(parser, DEFAULT_OUT, several_seeds=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments import sparsify

    checkpoint = None if args.checkpoint is None else str(args.checkpoint)
    settings = settings_from(SparsifySettings, args, checkpoint=checkpoint)
    return run_walk(args, sparsify.run, settings, ("sparsity", "method"), ("test_accuracy",))
