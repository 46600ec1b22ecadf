"""``geomanifold sparsify``: prune trained networks to target sparsities along functionally
invariant paths, against one-shot magnitude pruning and pruning + fine-tuning for the same number
of steps (:mod:`geomanifold.experiments.sparsify`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments import sparsify
from ..experiments.networks import ARCHITECTURES
from ..summary import format_mean_interval
from .common import add_run_options, positive_int, setup_run

__all__ = [
    "DEFAULT_OUT",
    "OFFLINE_DATA",
    "SMOKE_ARGS",
    "add_walk_options",
    "fraction_list",
    "register",
    "run",
]

NAME = "sparsify"
HELP = "sparsify networks along functionally invariant paths"
ORDER = 32
DEFAULT_OUT = Path("results/sparsify")
OFFLINE_DATA = ("mnist5k", "digits", "mnist1d")
SMOKE_ARGS = [
    "--data",
    "digits",
    "--width",
    "16",
    "--epochs",
    "1",
    "--sparsities",
    "0.5,0.9",
    "--steps",
    "4",
    "--record-every",
    "2",
    "--seeds",
    "1",
    "--threads",
    "1",
    "--no-progress",
]


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


def add_walk_options(parser: argparse.ArgumentParser, defaults) -> None:
    """``--data``, ``--arch``, ``--width``, ``--epochs``, ``--steps``, ``--penalty``, ``--batch-size``,
    ``--record-every`` with the defaults of the settings dataclass ``defaults`` (shared by
    ``sparsify`` and ``continual``)."""
    parser.add_argument(
        "--data", choices=OFFLINE_DATA, default=defaults.data, help=f"data set (default: {defaults.data})"
    )
    parser.add_argument(
        "--arch", choices=ARCHITECTURES, default=defaults.arch, help=f"network (default: {defaults.arch})"
    )
    parser.add_argument(
        "--width",
        type=positive_int,
        default=defaults.width,
        metavar="W",
        help=f"hidden units (mlp) or first-layer channels (cnn) (default: {defaults.width})",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=defaults.epochs,
        metavar="N",
        help=f"epochs of the first training (default: {defaults.epochs})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=defaults.steps,
        metavar="N",
        help=f"steps of every path and baseline (default: {defaults.steps})",
    )
    parser.add_argument(
        "--penalty",
        type=float,
        default=defaults.penalty,
        metavar="LAMBDA",
        help=f"weight of the output divergence in the FIP steps (default: {defaults.penalty})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        metavar="B",
        help=f"examples per step (default: {defaults.batch_size})",
    )
    parser.add_argument(
        "--record-every",
        type=positive_int,
        default=defaults.record_every,
        metavar="N",
        help=f"steps between records along the paths (default: {defaults.record_every})",
    )


def register(commands: argparse._SubParsersAction) -> None:
    defaults = sparsify.SparsifySettings()
    parser = commands.add_parser(
        NAME, help=HELP, description=__doc__
    )
    add_walk_options(parser, defaults)
    parser.add_argument(
        "--sparsities",
        type=fraction_list,
        default=defaults.sparsities,
        metavar="LIST",
        help="comma-separated target sparsities (default: 0.5,0.8,0.9,0.95)",
    )
    parser.add_argument(
        "--length-factor",
        type=float,
        default=defaults.length_factor,
        metavar="F",
        help="FIP path length as a multiple of the distance to the pruned hyperplane "
        f"(default: {defaults.length_factor})",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        metavar="A.pt",
        help="sparsify this `geomanifold train` checkpoint (its data, arch and width) "
        "instead of training one network per seed",
    )
    add_run_options(parser, DEFAULT_OUT, several_seeds=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    device = setup_run(args)
    settings = sparsify.SparsifySettings(
        data=args.data,
        arch=args.arch,
        width=args.width,
        epochs=args.epochs,
        sparsities=args.sparsities,
        steps=args.steps,
        penalty=args.penalty,
        length_factor=args.length_factor,
        batch_size=args.batch_size,
        record_every=args.record_every,
        checkpoint=None if args.checkpoint is None else str(args.checkpoint),
    )
    result = sparsify.run(args.out, settings, args.seeds, device, not args.no_progress)
    print(f"{'sparsity':>8}  {'method':<18} {'test accuracy (mean ± 95 % CI)':>30}")
    for row in result["summary"]:
        print(
            f"{row['sparsity']:>8g}  {row['method']:<18} "
            f"{format_mean_interval(row['test_accuracy_mean'], row['test_accuracy_ci95']):>30}"
        )
    print(f"wrote {args.out}")
    return 0
