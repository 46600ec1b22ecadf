"""``geomanifold demo``: the README's main job, a list of steps (:data:`DEMO_STEPS`).

Each step receives the parsed arguments and the output folder, does its work (printing what it
shows, writing files), and returns a JSON-serialisable summary; the summaries are collected in
``demo_summary.json`` and the wall times in ``timing.json`` (the only file that changes between two
runs with the same seed). Parts of the toolkit add themselves to the demo by appending a
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

__all__ = ["DEFAULT_OUT", "DEMO_STEPS", "SMOKE_ARGS", "DemoStep", "register", "run"]

NAME = "demo"
HELP = "run the demo (writes tables and figures)"
ORDER = 0
DEFAULT_OUT = Path("results/demo")
# a seconds-long complete run (the reproducibility test runs it twice)
SMOKE_ARGS = ["--only", "geometry", "--points", "1"]


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


def _connect_paths(args: argparse.Namespace, out: Path) -> dict:
    from ..experiments.connect import run_demo

    return run_demo(out, seed=args.seed, progress=not args.no_progress)


def _rotation_comparison(args: argparse.Namespace, out: Path) -> dict:
    from ..experiments import rotation_demo

    return rotation_demo.run(
        out, args.demo_epochs, args.demo_seeds, args.device, not args.no_progress, threads=args.threads or 1
    )


def _rotation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo-epochs", type=positive_int, default=10, metavar="N",
        help="training epochs of the rotation comparison (default: 10)",
    )
    parser.add_argument(
        "--demo-seeds", type=positive_int, default=3, metavar="N",
        help="seeds of the rotation comparison (default: 3)",
    )


DEMO_STEPS: list[DemoStep] = [
    DemoStep(
        "rotation",
        "rotated MNIST-5k with a held-out 90° arc: circle weight manifold vs input concatenation vs "
        "unconditioned (conditioning/: results, accuracy_vs_context.png, accuracy_polar.png)",
        _rotation_comparison,
        _rotation_arguments,
    ),
    DemoStep(
        "geometry",
        "metric, volume and Gaussian curvature of the built-in surfaces against closed forms; "
        "the torus's curvature with geodesics (torus_curvature.png)",
        _geometry_tour,
        _geometry_arguments,
    ),
    DemoStep(
        "connect",
        "two MLPs on MNIST-5k joined by the straight line, the mode-connecting Bézier curve and the KL "
        "geodesic: loss barriers and function-space length (connect_demo_along_paths.png)",
        _connect_paths,
    ),
]


def register(commands: argparse._SubParsersAction) -> None:
    steps = "\n".join(f"  {step.name}: {step.description}" for step in DEMO_STEPS)
    parser = commands.add_parser(
        NAME,
        help=HELP,
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
    seconds: dict[str, float] = {}
    for step in DEMO_STEPS:
        if args.only and step.name not in args.only:
            continue
        print(f"\n== {step.name}: {step.description}", flush=True)
        t0 = time.perf_counter()
        summary[step.name] = step.run(args, out)
        seconds[step.name] = round(time.perf_counter() - t0, 3)
        print(f"-- {step.name} done in {seconds[step.name]:.1f} s", flush=True)
    total = time.perf_counter() - started
    # wall times only in timing.json: every other file is the same for the same seed
    write_json(out / "demo_summary.json", {"steps": summary})
    write_json(out / "timing.json", {"seconds": round(total, 3), "steps": seconds})
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    print(f"\ndemo finished in {total:.1f} s; wrote to {out}: {', '.join(files)}")
    return 0
