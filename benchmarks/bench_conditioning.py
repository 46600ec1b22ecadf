"""Cost of a weight-manifold training step (basis-point decomposition, docs/conditioning.md).

One step = forward, cross-entropy, backward, plain SGD update, at batch 256 with one context per
example, for an MLP 784-256-256-10 and a small CNN on 28×28 inputs, and bases with K = 2 (line),
3 (circle, Fourier(1)) and 9 (torus, Fourier(1) ⊗ Fourier(1)). Compared with:

- the plain network's step                      (target: per-example ≤ 1.15·K × plain);
- per-example weights by torch.func.vmap over functional_call   (target: ≥ 50× faster);
- the shared-s fast path against the plain step (target: ≤ 1.1× plain).

Variants are timed round-robin (one of each per repeat) so machine load affects all alike; the
table shows medians after warm-up. ``--clock cpu`` times the process's CPU seconds instead of
wall-clock seconds, which is steadier on a machine shared with other jobs (run it with
``OMP_WAIT_POLICY=PASSIVE`` so that waiting OpenMP threads do not spin). Targets are reported,
never asserted.

    python benchmarks/bench_conditioning.py [--repeats 15] [--threads 2] [--clock wall|cpu]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from common import BATCH, median_times, reference_mlp, step_benchmark_setup
from torch import nn
from torch.func import functional_call, vmap

from geomanifold.conditioning import WeightManifold


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )


def sgd_step(params: list[torch.Tensor], loss: torch.Tensor, lr: float = 1e-3) -> None:
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        torch._foreach_add_(params, grads, alpha=-lr)


def steps(make: Callable[[], nn.Module], basis, x, y, s) -> dict[str, Callable[[], None]]:
    """The four training steps to time, each a closure."""
    plain = make()
    wm = WeightManifold(make(), basis, noise=0.1)
    shared_s = s[0]
    plain_params = list(plain.parameters())
    wm_params = list(wm.parameters())

    # per-example weights: W_i = Σ_k φ_k(s_i) P_k for every tensor, one functional call per example
    names = [name.replace(".layer.", ".").removeprefix("model.") for name, _ in wm.named_parameters()]
    points_ids = {id(p) for p in wm.control_points()}
    is_points = [id(p) in points_ids for p in wm_params]
    skeleton = wm.export(shared_s)

    def one(weights, xi):
        return functional_call(skeleton, weights, (xi[None],))[0]

    def vmap_step() -> None:
        phi = basis(s)
        weights = {
            name: torch.einsum("bk,k...->b...", phi, p) if points else p.expand(BATCH, *p.shape)
            for name, p, points in zip(names, wm_params, is_points, strict=True)
        }
        sgd_step(wm_params, F.cross_entropy(vmap(one)(weights, x), y))

    return {
        "plain": lambda: sgd_step(plain_params, F.cross_entropy(plain(x), y)),
        "per-example": lambda: sgd_step(wm_params, F.cross_entropy(wm(x, s), y)),
        "shared": lambda: sgd_step(wm_params, F.cross_entropy(wm(x, shared_s), y)),
        "vmap": vmap_step,
    }


def main() -> None:
    args, bases, x, y = step_benchmark_setup(__doc__.splitlines()[0], repeats=15)
    clock = args.timer
    print(
        f"batch {BATCH}, {torch.get_num_threads()} threads, {args.clock} clock, median of {args.repeats} (ms)"
    )
    header = (
        f"{'model':5} {'basis':6} {'K':>2} | {'plain':>7} {'per-ex':>8} {'/plain':>7} {'/(K·plain)':>10}"
        f" | {'vmap':>8} {'vmap/per-ex':>11} | {'shared':>7} {'/plain':>7}"
    )
    print(header)
    print("-" * len(header))
    for model_name, make in {"mlp": reference_mlp, "cnn": cnn}.items():
        for basis_name, basis in bases.items():
            s = torch.rand(BATCH, basis.dim)
            t = median_times(
                steps(make, basis, x, y, s),
                args.repeats,
                clock,
                prime=True,
                limits={"vmap": max(3, args.repeats // 3)},
            )
            k = basis.size
            print(
                f"{model_name:5} {basis_name:6} {k:>2} | {1e3 * t['plain']:7.2f} "
                f"{1e3 * t['per-example']:8.2f} {t['per-example'] / t['plain']:7.2f} "
                f"{t['per-example'] / (k * t['plain']):10.2f} | {1e3 * t['vmap']:8.1f} "
                f"{t['vmap'] / t['per-example']:11.1f} | {1e3 * t['shared']:7.2f} "
                f"{t['shared'] / t['plain']:7.2f}"
            )
    print("targets: /(K·plain) ≤ 1.15, vmap/per-ex ≥ 50, shared /plain ≤ 1.1")


if __name__ == "__main__":
    main()
