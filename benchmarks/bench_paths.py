"""Cost of task-metric products and of a geodesic solve between two trained networks.

1. **Metric–vector product over forward + backward.** For MLPs (784-w-w-10) and CNNs (two 3×3
   convolutions, 28×28 inputs) of about 10⁴, 10⁵ and 10⁶ weights, on one batch: the Fisher
   metric–vector product ``G v`` (one jvp and one vjp, :class:`geomanifold.weightspace.TaskMetric`)
   against one forward pass with cross-entropy and its backward pass on the same batch. Two
   variants: ``reuse`` (the vjp graph is built once and reused, as in Lanczos) and ``fresh`` (a new
   metric per product, graph included). Target: ratio at most 2.
2. **Geodesic solve.** Two MLPs of about 2 × 10⁵ weights trained on MNIST-5k (different seeds),
   joined by a polyline with 16 interior points minimising the 2·KL path energy (800 Adam steps, cosine
   decay); wall time of the solve (target: at most 2 minutes on 2 cores) and the test-loss barrier
   (``max − mean of the ends``) relative to the straight line's (target: at most 10 %), without and
   with permutation alignment.

Prints the numbers, asserts nothing. On a shared machine ``--clock cpu --threads 1`` times the
process's own CPU time.

    python benchmarks/bench_paths.py [--repeats 10] [--threads 2] [--clock wall|cpu] [--steps 800]
                                     [--skip-products] [--skip-geodesic]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import CLOCKS, median_times
from torch import nn

from geomanifold.data import DataSplit
from geomanifold.experiments.connect import train_endpoints
from geomanifold.experiments.datasets import load_data
from geomanifold.experiments.networks import build_network
from geomanifold.weightspace import (
    TaskMetric,
    align_hidden_units,
    evaluate_path,
    parameter_count,
    parameter_vector,
    polyline,
    solve_geodesic,
    straight_line,
)

MLP_WIDTHS = (12, 120, 660)  # about 1e4, 1e5, 1e6 weights on 784 inputs
CNN_WIDTHS = (24, 74, 234)
BATCH = 128
GEODESIC_WIDTH = 380  # 196-380-380-10 on 14×14 MNIST-5k: 2.2e5 weights


def product_ratios(args: argparse.Namespace) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (BATCH,), generator=generator)
    shape = DataSplit(x, y, x, y, "shape-only", 10)  # build_network reads the input shape and classes
    header = ("weights", "fwd+bwd ms", "Gv reuse ms", "ratio", "Gv fresh ms", "ratio")
    print(f"{'network':<10}" + "".join(f"{h:>12}" for h in header))
    for arch, widths in (("mlp", MLP_WIDTHS), ("cnn", CNN_WIDTHS)):
        for width in widths:
            model = build_network(arch, shape, width).eval()
            w = parameter_vector(model)
            v = torch.randn(w.numel(), generator=generator)
            metric = TaskMetric(model, w, x, "fisher")

            def forward_backward(model: nn.Module = model) -> None:
                model.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()

            def reuse(metric: TaskMetric = metric, v: torch.Tensor = v) -> None:
                metric.matvec(v)

            def fresh(model: nn.Module = model, w: torch.Tensor = w, v: torch.Tensor = v) -> None:
                TaskMetric(model, w, x, "fisher").matvec(v)

            times = median_times(
                {"ref": forward_backward, "reuse": reuse, "fresh": fresh}, args.repeats, args.timer
            )
            ref = times["ref"]
            print(
                f"{arch:<10}{parameter_count(model):>12,}{1e3 * ref:>12.2f}{1e3 * times['reuse']:>12.2f}"
                f"{times['reuse'] / ref:>12.2f}{1e3 * times['fresh']:>12.2f}{times['fresh'] / ref:>12.2f}"
            )


def geodesic_solve(args: argparse.Namespace) -> None:
    split = load_data("mnist5k")
    model_a, model_b = train_endpoints(split, "mlp", GEODESIC_WIDTH, seed=0, progress=False, epochs=10)
    print(f"endpoints: {parameter_count(model_a):,} weights each")
    a = parameter_vector(model_a)
    data = {"test": split.test}
    metric_x = split.x_test[:500]
    for label, other in (("unaligned", model_b), ("aligned", align_hidden_units(model_a, model_b))):
        b = parameter_vector(other)
        straight = evaluate_path(model_a, straight_line(a, b), data, metric_x, progress=False)
        started = time.perf_counter()
        result = solve_geodesic(
            model_a,
            polyline(a, b, 16),
            split.x_train,
            "kl",
            steps=args.steps,
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )
        seconds = time.perf_counter() - started
        geodesic = evaluate_path(model_a, result.constant_speed, data, metric_x, progress=False)
        ratio = geodesic["test_barrier_max_mean"] / straight["test_barrier_max_mean"]
        print(
            f"{label:<10} solve {seconds:6.1f} s ({args.steps} steps); test-loss barrier straight "
            f"{straight['test_barrier_max_mean']:.4f}, geodesic {geodesic['test_barrier_max_mean']:.4f} "
            f"(ratio {ratio:.1%}); function length {straight['function_length']:.3f} -> "
            f"{geodesic['function_length']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--steps", type=int, default=800, help="Adam steps of the geodesic solve")
    parser.add_argument("--skip-products", action="store_true", help="only the geodesic solve")
    parser.add_argument("--skip-geodesic", action="store_true", help="only the metric-vector products")
    args = parser.parse_args()
    args.timer = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    if not args.skip_products:
        product_ratios(args)
    if not args.skip_geodesic:
        geodesic_solve(args)


if __name__ == "__main__":
    main()
