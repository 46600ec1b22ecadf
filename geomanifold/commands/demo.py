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

    progress = not args.no_progress
    return rotation_demo.run(out, args.demo_epochs, args.demo_seeds, args.device, progress)


def _rotation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo-epochs", type=positive_int, default=5, metavar="N",
        help="training epochs of the rotation comparison (default: 5)",
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
    import torch

    # every step's matrices are tiny: one thread is fastest, and more threads spin against each
    # other on a busy machine (the geodesic step slowed down by an order of magnitude)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or 1)
    try:
        return _run_steps(args, out)
    finally:
        torch.set_num_threads(previous_threads)


def _run_steps(args: argparse.Namespace, out: Path) -> int:
    started, cpu_started = time.perf_counter(), time.process_time()
    summary: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}
    for step in DEMO_STEPS:
        if args.only and step.name not in args.only:
            continue
        print(f"\n== {step.name}: {step.description}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        summary[step.name] = step.run(args, out)
        seconds[step.name] = round(time.perf_counter() - t0, 3)
        cpu_seconds[step.name] = round(time.process_time() - c0, 3)
        done = f"{seconds[step.name]:.1f} s ({cpu_seconds[step.name]:.1f} s CPU)"
        print(f"-- {step.name} done in {done}", flush=True)
    total, cpu_total = time.perf_counter() - started, time.process_time() - cpu_started
    # times only in timing.json: every other file is the same for the same seed. CPU seconds say
    # how much of the wall time was this process's own work on a shared machine.
    write_json(out / "demo_summary.json", {"steps": summary})
    write_json(
        out / "timing.json",
        {
            "seconds": round(total, 3),
            "steps": seconds,
            "cpu_seconds": round(cpu_total, 3),
            "cpu_steps": cpu_seconds,
        },
    )
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    print(f"\ndemo finished in {total:.1f} s ({cpu_total:.1f} s CPU); wrote to {out}: {', '.join(files)}")
    return 0
