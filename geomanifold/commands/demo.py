"""``geomanifold demo``: the README's main job, a list of steps (:data:`DEMO_STEPS`).

Each step receives the parsed arguments and the output folder, does its work (printing what it
shows, writing files), and returns a JSON-serialisable summary; the summaries are collected in
``demo_summary.json``. Parts of the toolkit add themselves to the demo by appending a
:class:`DemoStep` here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io import write_json
from .common import add_run_options, positive_int, setup_run

__all__ = ["DEFAULT_OUT", "DEMO_STEPS", "DemoStep", "register", "run"]

NAME = "demo"
ORDER = 0
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
    from ..experiments import geometry_tour

    return geometry_tour.run(out, points=args.points, seed=args.seed, progress=not args.no_progress)


def _geometry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--points", type=positive_int, default=4, metavar="N",
        help="chart points per surface in the geometry table (default: 4)",
    )


DEMO_STEPS: list[DemoStep] = [
    DemoStep(
        "geometry",
        "metric, volume and Gaussian curvature of the built-in surfaces against closed forms; "
        "the torus's curvature with geodesics (torus_curvature.png)",
        _geometry_tour,
        _geometry_arguments,
    ),
]


def register(commands: argparse._SubParsersAction) -> None:
    steps = "\n".join(f"  {step.name}: {step.description}" for step in DEMO_STEPS)
    parser = commands.add_parser(
        NAME,
        help="run the demo (writes tables and figures)",
        description=f"Run the demo. Steps:\n{steps}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(parser, DEFAULT_OUT)
    parser.add_argument(
        "--only", action="append", choices=[step.name for step in DEMO_STEPS], metavar="STEP",
        help="run only this step (repeatable; default: all steps)",
    )
    for step in DEMO_STEPS:
        if step.add_arguments is not None:
            step.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    args.device = setup_run(args)
    out: Path = args.out
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
    write_json(out / "demo_summary.json", {"seconds": round(total, 3), "steps": summary})
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    print(f"\ndemo finished in {total:.1f} s; wrote to {out}: {', '.join(files)}")
    return 0
