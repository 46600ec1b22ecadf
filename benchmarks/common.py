"""Shared pieces of the benchmark scripts: the reference MLP, clocks and round-robin timing."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from geomanifold.bases import Fourier, Line, TensorProduct

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def reference_mlp() -> nn.Module:
    """The MLP 784-256-256-10 of the issue's step benchmarks."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def median_times(
    runs: Mapping[str, Callable[[], None]],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
    warmup: int = 2,
    prime: bool = False,
    limits: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Median seconds per call, timing the closures round-robin so that load affects all alike.

    Args:
        runs: closures by name.
        repeats: timed calls per closure (after ``warmup`` untimed turns).
        clock: ``time.perf_counter`` (wall) or ``time.process_time`` (CPU of this process).
        prime: run each closure once untimed right before its timed call, so the timed call sees
            the memory allocator in the steady state of that same variant.
        limits: fewer timed calls for slow references, by name.
    """
    limits = limits or {}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(warmup + repeats):
        for name, run in runs.items():
            if r >= warmup + limits.get(name, repeats):
                continue
            if prime:
                run()
            start = clock()
            run()
            if r >= warmup:
                times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


BATCH = 256


def step_benchmark_setup(
    description: str, repeats: int, options: Callable[[argparse.ArgumentParser], None] | None = None
) -> tuple[argparse.Namespace, dict, Tensor, Tensor]:
    """Parse ``--repeats/--threads/--clock`` (and what ``options`` adds), set threads and seed;
    return the arguments (with ``args.timer`` the chosen clock), the line/circle/torus bases and a
    random batch ``(x, y)``."""
    parser = argparse.ArgumentParser(description=description)
    if options is not None:
        options(parser)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    args.timer = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bases = {"line": Line(), "circle": Fourier(1), "torus": TensorProduct(Fourier(1), Fourier(1))}
    return args, bases, torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
