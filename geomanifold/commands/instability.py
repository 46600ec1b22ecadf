"""``geomanifold instability``: the instability analysis of Frankle et al. (2020): train a network
for k steps, train two copies on to the end on different data orders, and measure the error and
loss barriers on the straight line between them, for several k and seeds
(:mod:`geomanifold.experiments.instability`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path

from ..io import write_csv, write_json
from ..settings import OPTIMIZERS, InstabilityOptions
from .common import (
    add_arch_options,
    add_data_options,
    add_run_options,
    positive_float,
    positive_int,
    setup_run,
)

__all__ = ["DEFAULT_OUT", "SMOKE_ARGS", "register", "run", "step_list"]

NAME = "instability"
HELP = "instability analysis: barrier between two copies parted at step k"
ORDER = 35
DEFAULT_OUT = Path("results/instability")
SMOKE_ARGS = [
    "--data",
    "digits",
    "--width",
    "4",
    "--k",
    "0,2",
    "--steps",
    "4",
    "--points",
    "3",
    "--seeds",
    "1",
    "--threads",
    "1",
    "--no-progress",
]


def step_list(text: str) -> tuple[int, ...]:
    """argparse type for ``--k``: comma-separated, distinct step counts ``>= 0``."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"expected distinct steps >= 0 separated by commas, e.g. 0,10,100; got {text!r}"
        )
    return values


def register(commands: argparse._SubParsersAction) -> None:
    defaults = InstabilityOptions()
    parser = commands.add_parser(
        NAME, help=HELP, description=__doc__
    )
    add_data_options(parser)
    add_arch_options(parser, defaults.arch, defaults.width)
    parser.add_argument(
        "--k",
        type=step_list,
        default=defaults.ks,
        metavar="LIST",
        help=f"steps at which the copies part (default: {','.join(map(str, defaults.ks))})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=defaults.steps,
        metavar="N",
        help=f"total optimizer steps of each copy (default: {defaults.steps})",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=defaults.optimizer,
        help=f"optimizer (SGD with momentum 0.9; default: {defaults.optimizer})",
    )
    parser.add_argument(
        "--lr", type=positive_float, default=defaults.lr, help=f"learning rate (default: {defaults.lr})"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        metavar="B",
        help=f"batch size (default: {defaults.batch_size})",
    )
    parser.add_argument(
        "--points",
        type=positive_int,
        default=defaults.points,
        metavar="T",
        help=f"evaluation points on the line between the copies (default: {defaults.points})",
    )
    add_run_options(parser, DEFAULT_OUT, several_seeds=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments import instability
    from ..experiments.datasets import load_data

    options = InstabilityOptions(
        ks=args.k,
        steps=args.steps,
        arch=args.arch,
        width=args.width,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        points=args.points,
    )
    device = setup_run(args)
    split = load_data(args.data, args.data_dir)
    split = replace(
        split, **{f: getattr(split, f).to(device) for f in ("x_train", "y_train", "x_test", "y_test")}
    )
    rows = [row for seed in args.seeds for row in instability.instability(split, options, seed)]
    summary = instability.summarise(rows)
    write_csv(args.out / "instability.csv", rows)
    write_csv(args.out / "instability_summary.csv", summary)
    write_json(
        args.out / "instability.json",
        {
            "settings": {"data": args.data, "seeds": args.seeds, **asdict(options)},
            "rows": rows,
            "summary": summary,
        },
    )
    print(instability.format_table(summary))
    print(f"wrote {args.out}")
    return 0
