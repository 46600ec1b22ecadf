"""Cost of the volume-constrained natural-gradient step within a training step.

An MLP 784-256-256-10 conditioned by a weight manifold (``WeightManifold``, one context per
example, batch 256) with K = 2 (line), 3 (circle, Fourier(1)) and 9 (torus, Fourier(1) ⊗ Fourier(1))
control points per tensor. Timed round-robin, medians after warm-up:

- ``mix/step``: inside one training step (zero_grad, forward, cross-entropy, backward,
  ``NaturalGradientPreconditioner.precondition_``, ``torch.optim.SGD`` with momentum 0.9), the
  time of the ``G⁻¹`` mixing of every control-point gradient over the time of the whole step,
  measured in the same step so the caches are as in training (target: under 5 %);
- ``NaturalGradientSGD`` (chart and volume metrics) against the same step with plain
  ``torch.optim.SGD``, and ``NaturalGradientAdam`` against ``torch.optim.Adam``;
- the optimizer step alone (gradients given): ``geoopt.optim.RiemannianSGD`` on the bridge's
  ``ControlPointManifold`` parameters against ``NaturalGradientSGD``, both with momentum 0.9
  (target: ≤ 1.05×), and against its floor: ``NaturalGradientSGD``'s step plus the two passes
  that geoopt's step code makes whatever the manifold does (``grad.add_(point, alpha=weight_decay)``
  even at ``weight_decay = 0``, and the new tensor ``-lr · buffer`` handed to the retraction).

Prints ratios, asserts nothing. On a shared machine, ``--clock cpu --threads 1`` times the
process's CPU time, which other processes do not inflate.

    python benchmarks/bench_optim.py [--repeats 30] [--threads 2] [--clock wall|cpu]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import geoopt
import torch
import torch.nn.functional as F
from common import BATCH, median_times, reference_mlp, step_benchmark_setup

from geomanifold.conditioning import WeightManifold
from geomanifold.optim import (
    NaturalGradientAdam,
    NaturalGradientPreconditioner,
    NaturalGradientSGD,
    to_manifold_parameters,
)

LR = 1e-3
clock = time.perf_counter


def closures(
    basis, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor, mix_fractions: list[float]
) -> dict[str, Callable[[], None]]:
    """One training step per optimizer, each a closure; the preconditioned step appends the
    fraction of its time spent mixing to ``mix_fractions``."""
    model = WeightManifold(reference_mlp(), basis, noise=0.1)
    optimizers = {
        "sgd": torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9),
        "ng-sgd": NaturalGradientSGD(model.param_groups(), lr=LR, momentum=0.9),
        "ng-sgd-volume": NaturalGradientSGD(model.param_groups(), lr=LR, momentum=0.9, metric="volume"),
        "adam": torch.optim.Adam(model.parameters(), lr=LR),
        "ng-adam": NaturalGradientAdam(model.param_groups(), lr=LR),
    }

    def train(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        def run() -> None:
            optimizer.zero_grad()
            F.cross_entropy(model(x, s), y).backward()
            optimizer.step()

        return run

    preconditioner = NaturalGradientPreconditioner(model.param_groups())
    sgd = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)

    def preconditioned() -> None:
        start = clock()
        sgd.zero_grad()
        F.cross_entropy(model(x, s), y).backward()
        before = clock()
        preconditioner.precondition_()
        after = clock()
        sgd.step()
        mix_fractions.append((after - before) / (clock() - start))

    return {**{name: train(opt) for name, opt in optimizers.items()}, "preconditioned": preconditioned}


def step_closures(basis) -> dict[str, Callable[[], None]]:
    """The optimizer step alone, with fixed gradients restored before each step (the steps
    overwrite ``.grad``): ``NaturalGradientSGD`` and geoopt's ``RiemannianSGD`` on the bridge."""
    runs = {}
    for name in ("ng-sgd", "geoopt", "geoopt floor"):
        model = WeightManifold(reference_mlp(), basis, noise=0.1)
        generator = torch.Generator().manual_seed(0)
        if name == "geoopt":
            optimizer = geoopt.optim.RiemannianSGD(
                to_manifold_parameters(model, model.param_groups()), LR, 0.9
            )
        else:
            optimizer = NaturalGradientSGD(model.param_groups(), LR, momentum=0.9)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = [torch.randn(p.shape, generator=generator) for p in params]

        def run(optimizer=optimizer, params=params, grads=grads, floor=name == "geoopt floor") -> None:
            for p, g in zip(params, grads, strict=True):
                if p.grad is None:
                    p.grad = g.clone()
                else:
                    p.grad.copy_(g)
            if floor:
                with torch.no_grad():
                    for p in params:
                        p.grad.add_(p, alpha=0.0)
            optimizer.step()
            if floor:
                for p in params:
                    _ = -LR * optimizer.state[p]["momentum_buffer"]

        runs[name] = run
    return runs


def main() -> None:
    args, bases, x, y = step_benchmark_setup(__doc__.splitlines()[0], repeats=30)
    global clock
    clock = args.timer
    print(
        f"MLP 784-256-256-10, batch {BATCH}, {torch.get_num_threads()} threads, "
        f"{args.clock} clock, median of {args.repeats}"
    )
    header = (
        f"{'basis':6} {'K':>2} | {'step ms':>8} {'mix/step':>8} | "
        f"{'NG-SGD/SGD':>10} {'volume/SGD':>10} | {'NG-Adam/Adam':>12} | {'geoopt/NG-SGD':>13}"
        f" {'geoopt/floor':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, basis in bases.items():
        fractions: list[float] = []
        t = median_times(
            closures(basis, x, y, torch.rand(BATCH, basis.dim), fractions), args.repeats, clock, warmup=3
        )
        mix = statistics.median(fractions[-args.repeats :])
        step = median_times(step_closures(basis), args.repeats, clock, warmup=3)
        print(
            f"{name:6} {basis.size:>2} | {1e3 * t['sgd']:8.2f} {100 * mix:7.2f}% | "
            f"{t['ng-sgd'] / t['sgd']:10.3f} {t['ng-sgd-volume'] / t['sgd']:10.3f} | "
            f"{t['ng-adam'] / t['adam']:12.3f} | {step['geoopt'] / step['ng-sgd']:13.3f}"
            f" {step['geoopt'] / step['geoopt floor']:12.3f}"
        )
    print("targets: mix/step < 5 %; geoopt/NG-SGD (optimizer step alone) <= 1.05 (floor: see the module doc)")


if __name__ == "__main__":
    main()
