"""``geomanifold continual``: learn task B after task A along functionally invariant paths that
keep the outputs on a replay buffer of task-A inputs, against fine-tuning and replay +
cross-entropy (:mod:`geomanifold.experiments.continual`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import TASK_SPLITS, ContinualSettings
from .common import add_run_options, name_list, positive_float, positive_int
from .walks import add_walk_parser, run_walk, settings_from

__all__ = ["DEFAULT_OUT", "SMOKE_ARGS", "register", "run"]

NAME = "continual"
HELP = "learn a second task along functionally invariant paths"
ORDER = 33
DEFAULT_OUT = Path("results/continual")
SMOKE_ARGS = (
    "--data digits --task-split digits,rotation --width 16 --epochs 1 --steps 4 --buffer-size 20 "
    "--record-every 2 --seeds 1 --threads 1 --no-progress"
).split()


def register(commands: argparse._SubParsersAction) -> None:
    defaults = ContinualSettings()
    parser = add_walk_parser(commands, NAME, HELP, __doc__, defaults)
    parser.add_argument(
        "--task-split",
        type=name_list(TASK_SPLITS, "task splits"),
        default=defaults.task_splits,
        metavar="LIST",
        help="digits (0-4 then 5-9) and/or rotation (the digits, then rotated) (default: digits,rotation)",
    )
    parser.add_argument(
        "--rotation",
        type=float,
        default=defaults.rotation,
        metavar="TURNS",
        help=f"rotation of task B in turns for --task-split rotation (default: {defaults.rotation})",
    )
    parser.add_argument(
        "--buffer-size",
        type=positive_int,
        default=defaults.buffer_size,
        metavar="N",
        help=f"task-A inputs in the replay buffer (default: {defaults.buffer_size})",
    )
    parser.add_argument(
        "--step-length",
        type=positive_float,
        default=defaults.step_length,
        metavar="EPS",
        help=f"Euclidean length of every FIP step (default: {defaults.step_length})",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=defaults.lr,
        help=f"Adam learning rate of the baselines (default: {defaults.lr})",
    )
    add_run_options(parser, DEFAULT_OUT, several_seeds=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments import continual

    settings = settings_from(ContinualSettings, args, task_splits=args.task_split)
    fields = ("task_a_before", "task_a_accuracy", "task_b_accuracy")
    return run_walk(args, continual.run, settings, ("task_split", "method"), fields)
