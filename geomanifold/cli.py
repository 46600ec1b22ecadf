"""Command line: ``geomanifold demo`` and friends.

The demo is a list of steps (:data:`DEMO_STEPS`); each step receives the parsed arguments and the
output folder, does its work (printing what it shows), and returns a small summary. Later parts of
the demo (conditioning, geodesics between networks) are added by appending a :class:`DemoStep`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__

__all__ = ["DEMO_STEPS", "DemoStep", "build_parser", "main"]

DEFAULT_OUT = Path("results/demo")


@dataclass(frozen=True)
class DemoStep:
    """One part of ``geomanifold demo``.

    ``run(args, out) -> summary`` does the work (printing what it shows, writing into ``out``) and
    returns a JSON-serialisable summary; ``add_arguments(parser)``, if given, adds the step's own
    options to the ``demo`` sub-parser.
    """

    name: str
    description: str
    run: Callable[[argparse.Namespace, Path], dict]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


def _geometry_tour(args: argparse.Namespace, out: Path) -> dict:
    from .experiments import geometry_tour

    return geometry_tour.run(out, points=args.points, seed=args.seed, progress=not args.no_progress)


DEMO_STEPS: list[DemoStep] = [
    DemoStep(
        "geometry",
        "metric, volume and Gaussian curvature of the built-in surfaces against closed forms; "
        "the torus's curvature with geodesics (torus_curvature.png)",
        _geometry_tour,
    ),
]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="geomanifold",
        description="Geometry-first Riemannian toolkit for the weight space of neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    steps = "\n".join(f"  {step.name}: {step.description}" for step in DEMO_STEPS)
    demo = commands.add_parser(
        "demo",
        help="run the demo (geometry tour; writes tables and figures)",
        description=f"Run the demo. Steps:\n{steps}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
        help=f"output folder (default: {DEFAULT_OUT})",
    )
    demo.add_argument(
        "--points", type=_positive_int, default=4, metavar="N",
        help="chart points per surface in the geometry table (default: 4)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument(
        "--threads", type=_positive_int, default=None, metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.add_argument(
        "--only", action="append", choices=[step.name for step in DEMO_STEPS], metavar="STEP",
        help="run only this step (repeatable; default: all steps)",
    )
    for step in DEMO_STEPS:
        if step.add_arguments is not None:
            step.add_arguments(demo)
    demo.set_defaults(handler=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary: dict[str, dict] = {}
    for step in DEMO_STEPS:
        if args.only and step.name not in args.only:
            continue
        print(f"\n== {step.name}: {step.description}", flush=True)
        t0 = time.perf_counter()
        result = step.run(args, out)
        result["seconds"] = round(time.perf_counter() - t0, 3)
        summary[step.name] = result
        print(f"-- {step.name} done in {result['seconds']:.1f} s", flush=True)
    total = time.perf_counter() - started
    (out / "demo_summary.json").write_text(
        json.dumps({"seconds": round(total, 3), "steps": summary}, indent=2, default=str) + "\n"
    )
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    print(f"\ndemo finished in {total:.1f} s; wrote to {out}: {', '.join(files)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geomanifold`` console script; returns the exit status.

    Usage errors (unknown command or option, bad values) exit with status 2, as argparse does.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
