"""Cost of low-rank conditioning, of torch.compile and of bfloat16 autocast on conditioned models.

One step = forward, cross-entropy, backward, optimizer update, one context per example unless
said otherwise. Two parts:

``--part lowrank``: a ViT-style encoder (torchvision layout, 6 layers, width 384, MLP 1536,
65 tokens: >= 10^7 weights) conditioned by ``LowRankWeightManifold`` (rank 8, Fourier(1), K = 3)
against the plain encoder's SGD step. Target: per-example step <= 1.3× plain, extra parameters
<= 20 % of the model's. Every weight matrix is adapted (the attention's in- and out-projections
included). Variants: pretrained weights frozen (only the factors train, the usual use) and
trained; shared ``s``; the attention projections excluded (frozen).

``--part compile``: eager against ``torch.compile`` (inductor), float32 against bfloat16 autocast,
for the MLP 784-256-256-10 with ``WeightManifold`` (Fourier(1), K = 3; per-example and shared s)
and the ViT-style encoder of the issue (6 layers, width 256, 65 tokens) with
``LowRankWeightManifold`` (rank 8, K = 3), each beside its plain model (``--cases`` selects).
The first compiled call (compilation) is reported separately.

Variants are timed round-robin and the median is kept (the machine is shared and noisy;
``--clock cpu`` times this process's CPU seconds, steadier under load, best with
``OMP_WAIT_POLICY=PASSIVE``). Targets are reported, never asserted.

    python benchmarks/bench_lowrank.py [--part lowrank|compile|all] [--repeats 5] [--threads 2]
                                       [--batch 16] [--clock wall|cpu] [--cases MLP]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from common import CLOCKS, median_times, reference_mlp
from torch import nn

from geomanifold.bases import Fourier
from geomanifold.conditioning import LowRankWeightManifold, WeightManifold
from geomanifold.models import VisionTransformer
from geomanifold.optim import NaturalGradientSGD

RANK, BASIS = 8, Fourier(1)


def vit(hidden: int, mlp: int, heads: int) -> nn.Module:
    """6 pre-norm blocks on 32×32×3 images in 4×4 patches: 64 patch tokens and a class token."""
    return VisionTransformer(32, 4, layers=6, heads=heads, hidden=hidden, mlp=mlp, num_classes=10)


def step(model: nn.Module, optimizer: torch.optim.Optimizer, x, y, s=None, bf16: bool = False) -> Callable:
    """A closure taking one training step (``s`` given: the model is conditioned)."""
    args = (x,) if s is None else (x, s)

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(*args).float(), y)
        loss.backward()
        optimizer.step()

    return run


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lowrank_part(args) -> None:
    torch.manual_seed(0)
    batch = args.batch
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    s = torch.rand(batch, 1)
    plain = vit(384, 1536, 6)
    frozen = LowRankWeightManifold(plain, BASIS, rank=RANK)
    trained = LowRankWeightManifold(plain, BASIS, rank=RANK, train_base=True)
    no_attention = LowRankWeightManifold(plain, BASIS, rank=RANK, exclude="*self_attention*")
    for lr in (frozen, trained, no_attention):
        with torch.no_grad():
            for f in lr.factors.values():
                f.U.normal_(std=0.01)
    runs = {
        "plain": step(plain, torch.optim.SGD(plain.parameters(), lr=1e-3), x, y),
        "low-rank, base frozen": step(frozen, NaturalGradientSGD(frozen.param_groups(), lr=1e-3), x, y, s),
        "low-rank, base trained": step(trained, NaturalGradientSGD(trained.param_groups(), lr=1e-3), x, y, s),
        "low-rank, shared s": step(frozen, NaturalGradientSGD(frozen.param_groups(), lr=1e-3), x, y, s[0]),
        "low-rank, no attention": step(
            no_attention, NaturalGradientSGD(no_attention.param_groups(), lr=1e-3), x, y, s
        ),
    }
    times = median_times(runs, args.repeats, clock=args.timer)
    weights = count(plain)
    print(f"ViT-style encoder: {weights:,} weights, batch {batch}, rank {RANK}, K = {BASIS.size}, "
          f"{len(frozen.factors)} adapted layers, {args.threads} threads")
    for name, lr in (("all weights", frozen), ("attention excluded", no_attention)):
        extra = lr.extra_parameters()
        print(f"extra parameters, {name}: {extra:,} = {100 * extra / weights:.1f} % (target <= 20 %)")
    print(f"{'variant':<24} {'ms/step':>9} {'× plain':>8}")
    for name, t in times.items():
        print(f"{name:<24} {1e3 * t:9.1f} {t / times['plain']:8.2f}")
    print("target: per-example step <= 1.3× plain")


def compile_part(args) -> None:
    torch.manual_seed(0)
    mlp_x, mlp_y = torch.randn(256, 1, 28, 28), torch.randint(0, 10, (256,))
    vit_x, vit_y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    cases = {}
    mlp = reference_mlp()
    cases["MLP plain"] = (mlp, lambda m: torch.optim.SGD(m.parameters(), lr=1e-3), mlp_x, mlp_y, None)
    wm = WeightManifold(reference_mlp(), BASIS, noise=0.1)
    cases["MLP WeightManifold K=3"] = (
        wm, lambda m: NaturalGradientSGD(wm.param_groups(), lr=1e-3), mlp_x, mlp_y, torch.rand(256, 1)
    )
    cases["MLP WeightManifold K=3 shared s"] = (
        wm, lambda m: NaturalGradientSGD(wm.param_groups(), lr=1e-3), mlp_x, mlp_y, torch.rand(1)
    )
    small = vit(256, 1024, 8)
    cases["ViT plain"] = (small, lambda m: torch.optim.SGD(m.parameters(), lr=1e-3), vit_x, vit_y, None)
    lr = LowRankWeightManifold(small, BASIS, rank=RANK)
    cases["ViT low-rank r=8 K=3"] = (
        lr, lambda m: NaturalGradientSGD(lr.param_groups(), lr=1e-3), vit_x, vit_y, torch.rand(args.batch, 1)
    )
    print(f"{'model':<32} {'variant':<16} {'ms/step':>9} {'× eager fp32':>12} {'compile s':>10}")
    torch._dynamo.config.cache_size_limit = 64  # one graph per model, dtype and context shape
    chosen = {name: case for name, case in cases.items() if args.cases in name}
    for name, (model, optimizer, x, y, s) in chosen.items():
        runs, compile_seconds = {}, {}
        for compiled in (False, True):
            target = torch.compile(model) if compiled else model
            for bf16 in (False, True):
                label = f"{'compiled' if compiled else 'eager'} {'bf16' if bf16 else 'fp32'}"
                runs[label] = step(target, optimizer(model), x, y, s, bf16)
                start = time.perf_counter()
                runs[label]()  # compiles on the first call
                compile_seconds[label] = time.perf_counter() - start
        times = median_times(runs, args.repeats, clock=args.timer)
        for label, t in times.items():
            seconds = f"{compile_seconds[label]:10.1f}" if label.startswith("compiled") else f"{'':10}"
            print(f"{name:<32} {label:<16} {1e3 * t:9.1f} {t / times['eager fp32']:12.2f} {seconds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["lowrank", "compile", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="ViT batch size")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--cases", default="", help="compile part: only the models whose name contains this")
    args = parser.parse_args()
    args.timer = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    if args.part in ("lowrank", "all"):
        lowrank_part(args)
    if args.part in ("compile", "all"):
        compile_part(args)


if __name__ == "__main__":
    main()
