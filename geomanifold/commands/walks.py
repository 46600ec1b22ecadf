"""Options and run of the commands that walk functionally invariant paths (``sparsify``,
``continual``): the network and walk options, the settings dataclass built from them, and the
run over seeds with its printed summary (mean ± 95 % t-interval, or "(1 seed)")."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .common import add_arch_options, non_negative_float, positive_int, setup_run

__all__ = ["OFFLINE_DATA", "add_walk_options", "add_walk_parser", "run_walk", "settings_from"]

OFFLINE_DATA = ("mnist5k", "digits", "mnist1d")


def add_walk_options(parser: argparse.ArgumentParser, defaults) -> None:
    """``--data``, ``--arch``, ``--width``, ``--epochs``, ``--steps``, ``--penalty``, ``--batch-size``,
    ``--record-every`` with the defaults of the settings dataclass ``defaults`` (shared by
    ``sparsify`` and ``continual``)."""
    parser.add_argument(
        "--data", choices=OFFLINE_DATA, default=defaults.data, help=f"data set (default: {defaults.data})"
    )
    add_arch_options(parser, defaults.arch, defaults.width)
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
        type=non_negative_float,
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


def add_walk_parser(
    commands: argparse._SubParsersAction, name: str, help: str, description: str | None, defaults
) -> argparse.ArgumentParser:
    """The sub-parser of a path-walking command with :func:`add_walk_options` added."""
    parser = commands.add_parser(name, help=help, description=description)
    add_walk_options(parser, defaults)
    return parser


def settings_from(settings_class: type, args: argparse.Namespace, **others: Any) -> Any:
    """``settings_class`` (a dataclass) with every field that has an option of the same name taken
    from ``args``, and ``others`` for the rest."""
    named = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(settings_class)
        if hasattr(args, field.name) and field.name not in others
    }
    return settings_class(**named, **others)


def run_walk(
    args: argparse.Namespace,
    run: Callable[..., dict],
    settings: Any,
    keys: Sequence[str],
    fields: Sequence[str],
) -> int:
    """``run(args.out, settings, args.seeds, device, progress)`` (an experiment's ``run``) after
    :func:`~geomanifold.commands.common.setup_run`, then one printed line per summary entry: the
    ``keys`` and, per field of ``fields``, ``mean ± h`` (or ``mean (1 seed)``)."""
    from ..summary import format_mean_interval  # scipy.stats: slow to import, not needed to parse

    device = setup_run(args)
    result = run(args.out, settings, args.seeds, device, not args.no_progress)
    widths = [max(len(key), *(len(str(row[key])) for row in result["summary"])) for key in keys]
    cell = 24
    print(
        "  ".join(key.ljust(w) for key, w in zip(keys, widths, strict=True)) + "  "
        + "  ".join(field.replace("_", " ").rjust(cell) for field in fields)
    )
    for row in result["summary"]:
        values = [format_mean_interval(row[f"{field}_mean"], row[f"{field}_ci95"]) for field in fields]
        print(
            "  ".join(str(row[key]).ljust(w) for key, w in zip(keys, widths, strict=True)) + "  "
            + "  ".join(value.rjust(cell) for value in values)
        )
    print(f"(mean ± 95 % t-interval over {len(args.seeds)} seed(s)); wrote {args.out}")
    return 0
