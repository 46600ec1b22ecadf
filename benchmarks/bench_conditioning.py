"""Cost of a weight-manifold training step (basis-point decomposition, docs/conditioning.md).

One step = forward, cross-entropy, backward, plain SGD update, with one context per example,
for the models of the conditioning benchmarks, and bases with K = 3 (circle, Fourier(1)) and 9
(torus, Fourier(1) ⊗ Fourier(1)) (``--bases line,circle,torus`` adds K = 2):

- ``mlp``: MLP 784-256-256-10, batch 256;
- ``cnn``: conv(1→32, 3) → conv(32→64, 3) → max-pool 2 → linear, 28×28, batch 128;
- ``resnet``: ResNet-18 in torchvision's layout on 32×32 (small-input stem), batch 64, width
  ``--resnet-width`` (64 is the original; the default 16 keeps a CPU run short);
- ``vit``: ViT-style encoder on 32×32 with 4×4 patches (64 tokens and a class token), width
  ``--vit-width`` and ``--vit-layers`` (the issue's 256 and 6 by default), batch ``--vit-batch``.

BatchNorm runs in evaluation mode in every variant (per-example weights by vmap cannot use batch
statistics). Compared with:

- the plain network's step                                (target: per-example ≤ 1.15·K × plain);
- per-example weights by torch.func.vmap over functional_call (target: per-example ≤ 1.0× vmap);
- the shared-s fast path against the plain step            (target: ≤ 1.05× plain);
- the shared-s fast path against its floor: the plain step, plus the work any autograd step on
  control points must add, less the plain update of ``|W|`` numbers (timed alone). The added work
  is forming ``W(s)`` (reading ``K·|W|``), writing the ``K·|W|`` gradient ``φ_k(s) ∂L/∂W`` and the
  SGD update of ``K·|W|`` numbers, memory-bound; it runs right after a plain step in the same
  timed call, so that it meets the caches as the shared step does.

Variants are timed round-robin (one of each per repeat) so machine load affects all alike; the
table shows medians after warm-up. ``--clock cpu`` times the process's CPU seconds instead of
wall-clock seconds, which is steadier on a machine shared with other jobs (run it with
``OMP_WAIT_POLICY=PASSIVE`` so that waiting OpenMP threads do not spin). Targets are reported,
never asserted.

    python benchmarks/bench_conditioning.py [--repeats 15] [--threads 2] [--clock wall|cpu]
        [--models mlp,cnn,resnet,vit] [--bases circle,torus] [--strategy auto|stacked|weights]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from common import BATCH, median_times, reference_mlp, step_benchmark_setup
from torch import nn
from torch.func import functional_call, vmap

from geomanifold.bases.basis import combine
from geomanifold.conditioning import WeightManifold
from geomanifold.models import VisionTransformer, resnet18


def cnn() -> nn.Module:
    """The CNN of the conditioning benchmarks: conv(1→32, 3) → conv(32→64, 3) → pool → linear."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 14 * 14, 10),
    )


def models(args: argparse.Namespace) -> dict[str, tuple[Callable[[], nn.Module], int, tuple[int, ...], dict]]:
    """``name -> (builder, batch, input shape, WeightManifold options)``."""
    return {
        "mlp": (reference_mlp, BATCH, (1, 28, 28), {}),
        "cnn": (cnn, 128, (1, 28, 28), {}),
        "resnet": (
            lambda: resnet18(num_classes=10, width=args.resnet_width, small_input=True).eval(),
            64,
            (3, 32, 32),
            {},
        ),
        "vit": (
            lambda: VisionTransformer(
                32, 4, args.vit_layers, heads=8, hidden=args.vit_width, mlp=4 * args.vit_width, num_classes=10
            ),
            args.vit_batch,
            (3, 32, 32),
            {"batch_dim": 0},
        ),
    }


def sgd_step(params: list[torch.Tensor], loss: torch.Tensor, lr: float = 1e-3) -> None:
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        torch._foreach_add_(params, grads, alpha=-lr)


def steps(make: Callable[[], nn.Module], basis, x, y, s, options: dict) -> dict[str, Callable[[], None]]:
    """The training steps to time, each a closure, and the two parts of the shared step's floor."""
    torch.manual_seed(0)
    plain = make()
    wm = WeightManifold(make(), basis, noise=0.1, **options)
    shared_s = s[0]
    plain_params = list(plain.parameters())
    wm_params = list(wm.parameters())

    # per-example weights: W_i = Σ_k φ_k(s_i) P_k for every tensor, one functional call per example
    skeleton = wm.export(shared_s)
    points = {id(p) for p in wm.control_points()}
    names = list(wm.parameters_at(shared_s))  # original names, in the order of wm.parameters()
    batch = x.shape[0]

    def one(weights, xi):
        return functional_call(skeleton, weights, (xi[None],))[0]

    def vmap_step() -> None:
        phi = basis(s).to(x)
        weights = {
            name: torch.einsum("bk,k...->b...", phi, p) if id(p) in points else p.expand(batch, *p.shape)
            for name, p in zip(names, wm_params, strict=True)
        }
        sgd_step(wm_params, F.cross_entropy(vmap(one)(weights, x), y))

    points_list = wm.control_points()
    phi = basis(shared_s).to(x)
    weight_grads = [torch.randn(p.shape[1:]) for p in points_list]  # stand-ins for ∂L/∂W(s)
    plain_grads = [torch.randn_like(p) for p in plain_params]

    def shared_extra() -> None:
        """What a shared-s step adds to the plain one, at the memory floor."""
        with torch.no_grad():
            for p in points_list:
                combine(phi, p)
            grads = [phi.reshape(-1, *[1] * g.ndim) * g for g in weight_grads]  # K·|W| written
            torch._foreach_add_(points_list, grads, alpha=-1e-3)

    def plain_update() -> None:
        with torch.no_grad():
            torch._foreach_add_(plain_params, plain_grads, alpha=-1e-3)

    def plain_step() -> None:
        sgd_step(plain_params, F.cross_entropy(plain(x), y))

    return {
        "plain": plain_step,
        "plain + shared extra": lambda: (plain_step(), shared_extra()),
        "plain update": plain_update,
        "per-example": lambda: sgd_step(wm_params, F.cross_entropy(wm(x, s), y)),
        "shared": lambda: sgd_step(wm_params, F.cross_entropy(wm(x, shared_s), y)),
        "vmap": vmap_step,
    }


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="mlp,cnn,resnet,vit")
    parser.add_argument("--bases", default="circle,torus")
    parser.add_argument("--strategy", default="auto", choices=["auto", "stacked", "weights"])
    parser.add_argument("--resnet-width", type=int, default=16)
    parser.add_argument("--vit-width", type=int, default=256)
    parser.add_argument("--vit-layers", type=int, default=6)
    parser.add_argument("--vit-batch", type=int, default=32)


def main() -> None:
    args, bases, _, _ = step_benchmark_setup(__doc__.splitlines()[0], repeats=15, options=options)
    clock = args.timer
    print(
        f"{torch.get_num_threads()} threads, {args.clock} clock, median of {args.repeats} (ms), "
        f"strategy {args.strategy}"
    )
    header = (
        f"{'model':6} {'B':>3} {'K':>2} | {'plain':>8} {'per-ex':>8} {'/plain':>7} {'/(K·plain)':>10}"
        f" | {'vmap':>8} {'per-ex/vmap':>11} | {'shared':>8} {'/plain':>7} {'floor':>8} {'/floor':>7}"
    )
    print(header)
    print("-" * len(header))
    table = models(args)
    unknown = sorted(set(args.models.split(",")) - table.keys())
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; valid: {', '.join(table)}")
    for model_name in args.models.split(","):
        make, batch, shape, wm_options = table[model_name]
        x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
        for basis_name in args.bases.split(","):
            basis = bases[basis_name]
            s = torch.rand(batch, basis.dim)
            wm_options = {**wm_options, "strategy": args.strategy}
            t = median_times(
                steps(make, basis, x, y, s, wm_options),
                args.repeats,
                clock,
                prime=True,
                limits={"vmap": max(3, args.repeats // 3)},
            )
            k = basis.size
            floor = t["plain + shared extra"] - t["plain update"]
            print(
                f"{model_name:6} {batch:>3} {k:>2} | {1e3 * t['plain']:8.1f} "
                f"{1e3 * t['per-example']:8.1f} {t['per-example'] / t['plain']:7.2f} "
                f"{t['per-example'] / (k * t['plain']):10.2f} | {1e3 * t['vmap']:8.1f} "
                f"{t['per-example'] / t['vmap']:11.2f} | {1e3 * t['shared']:8.1f} "
                f"{t['shared'] / t['plain']:7.2f} {1e3 * floor:8.1f} {t['shared'] / floor:7.2f}",
                flush=True,
            )
    print("targets: /(K·plain) ≤ 1.15, per-ex/vmap ≤ 1.0, shared /plain ≤ 1.05 (floor: see the module doc)")


if __name__ == "__main__":
    main()
