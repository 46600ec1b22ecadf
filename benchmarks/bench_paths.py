"""Cost of task-metric products and of a geodesic solve between two trained networks (docs/concepts.md,
"Paths of networks that keep their function").

1. **Metric–vector product over forward + backward.** For MLPs (784-w-w-10) and CNNs (two 3×3
   convolutions, 28×28 inputs) of about 10⁴, 10⁵ and 10⁶ weights, on one batch: the Fisher
   metric–vector product ``G v`` (one jvp and one vjp, :class:`geomanifold.weightspace.TaskMetric`)
   against one forward pass with cross-entropy and its backward pass on the same batch. Two
   variants: ``reuse`` (the vjp graph is built once and reused, as in Lanczos) and ``fresh`` (a new
   metric per product, graph included). Target: ratio at most 2.
2. **Step costs of the path methods.** For an MLP (784-256-256-10, 2.7·10⁵ weights), the small
   CNN (width 32) and the ResNet-18 layout (small-input stem, ``--resnet-width`` channels in its
   first stage; 64 gives 1.1·10⁷ weights), on random 28×28 batches: seconds per step of the
   geodesic solver (``n = --interior`` interior points, default settings: backtracking, redrawn
   sampling times and the held-out check included) against
   ``(n + 1)`` training steps (target: at most 1.2), of the Bézier curve (one ``t`` per minibatch)
   against one training step, and of AutoNEB (``m = n`` pivots) against ``m`` training steps; and
   the peak growth of the resident memory during each (CPU; sampled every millisecond).
3. **Geodesic solve.** Two MLPs of about 2 × 10⁵ weights trained on MNIST-5k (different seeds),
   joined by a polyline with 16 interior points minimising the 2·KL path energy with the default
   solver; wall time, the test-loss barrier against the straight line's and the function-space
   energy, without and with permutation alignment.

Prints the numbers, asserts nothing. On a shared machine ``--clock cpu --threads 1`` times the
process's own CPU time.

    python benchmarks/bench_paths.py [--repeats 10] [--threads 2] [--clock wall|cpu] [--steps 200]
                                     [--interior 8] [--path-steps 5] [--resnet-width 16]
                                     [--networks mlp,cnn,resnet18]
                                     [--skip-products] [--skip-steps] [--skip-geodesic]
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

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
    bezier,
    evaluate_path,
    parameter_count,
    parameter_vector,
    polyline,
    solve_geodesic,
    straight_line,
    train_curve_on_loss,
)
from geomanifold.weightspace.autoneb import autoneb
from geomanifold.weightspace.geodesic import HOLDOUT, REDRAW

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
    aligned = align_hidden_units(model_a, model_b, split.x_train[:512])
    for label, other in (("unaligned", model_b), ("aligned", aligned)):
        b = parameter_vector(other)
        straight = evaluate_path(model_a, straight_line(a, b), data, metric_x, progress=False)
        started = time.perf_counter()
        result = solve_geodesic(
            model_a, polyline(a, b, 16), split.x_train, "kl", steps=args.steps, progress=False
        )
        seconds = time.perf_counter() - started
        geodesic = evaluate_path(model_a, result.constant_speed, data, metric_x, progress=False)
        ratio = geodesic["test_barrier_max_mean"] / straight["test_barrier_max_mean"]
        print(
            f"{label:<10} solve {seconds:6.1f} s ({args.steps} steps); test-loss barrier straight "
            f"{straight['test_barrier_max_mean']:.4f}, geodesic {geodesic['test_barrier_max_mean']:.4f} "
            f"(ratio {ratio:.1%}); function energy {straight['function_energy']:.3f} -> "
            f"{geodesic['function_energy']:.3f}"
        )


NETWORKS = {"mlp": ("mlp", 256, 128), "cnn": ("cnn", 32, 128), "resnet18": ("resnet18", None, 32)}
METHODS = ("train", "geodesic", "bezier", "autoneb")


def _rss_mib() -> float:
    """Resident set size of this process (Linux), MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _runs(name: str, args: argparse.Namespace) -> dict[str, Callable[[int], int]]:
    """``{method: run(steps) -> steps taken}`` for network ``name``: training steps, and the path
    methods between two initialisations (``args.interior`` interior points or pivots)."""
    arch, width, batch = NETWORKS[name]
    shape = DataSplit(
        torch.zeros(1, 1, 28, 28), torch.zeros(1), torch.zeros(1, 1, 28, 28), torch.zeros(1), "", 10
    )
    width = args.resnet_width if width is None else width
    model, other = build_network(arch, shape, width, 0), build_network(arch, shape, width, 1)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (batch,), generator=generator)
    a, b = parameter_vector(model), parameter_vector(other)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    n = args.interior

    def train(steps: int) -> int:
        model.train()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return steps

    held_out = torch.rand(HOLDOUT, *x.shape[1:], generator=generator)

    def geodesic(steps: int) -> int:
        """Default solver on ``HOLDOUT + batch`` random inputs: it holds out the first half (at most
        ``HOLDOUT``) for its check and draws fitting batches of ``batch`` from the other half, with
        fresh sampling times, every ``REDRAW`` steps."""
        path = polyline(a, b, n)
        inputs = torch.cat([held_out, x])
        return len(solve_geodesic(model, path, inputs, steps=steps, batch_size=batch, progress=False).history)

    def bezier_curve(steps: int) -> int:
        train_curve_on_loss(
            model, bezier(a, b, 2), x.repeat(steps, 1, 1, 1), y.repeat(steps), 1, 1e-3, batch, progress=False
        )
        return steps

    def neb(steps: int) -> int:
        autoneb(
            model,
            a,
            b,
            x,
            y,
            pivots=n,
            max_pivots=n,
            cycles=1,
            steps=steps,
            batch_size=batch,
            eval_size=batch,
            progress=False,
        )
        return steps

    train.weights = parameter_count(model)  # type: ignore[attr-defined]
    return {"train": train, "geodesic": geodesic, "bezier": bezier_curve, "autoneb": neb}


def memory_of(name: str, method: str, args: argparse.Namespace) -> None:
    """Print the peak growth of the resident set (MiB) over one step of ``method`` on ``name`` in
    this fresh process (no allocator cache yet), sampled every 0.2 ms from a second thread."""
    run = _runs(name, args)[method]
    gc.collect()
    base, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run(2 if method == "geodesic" else 1)
    finally:
        done.set()
        sampler.join()
    print(max(peak[0], _rss_mib()) - base)


def step_costs(args: argparse.Namespace) -> None:
    """Seconds per step and peak memory of each path method against one training step."""
    n, k = args.interior, args.path_steps
    header = (
        "weights",
        "train ms",
        "geo ms",
        "/(n+1)",
        "bez ms",
        "/1",
        "neb ms",
        "/n",
        "train MiB",
        "geo MiB",
        "bez MiB",
        "neb MiB",
    )
    print(f"{'network':<10}" + "".join(f"{h:>11}" for h in header))
    for name in args.networks:
        runs = _runs(name, args)
        seconds = {}
        for method, run in runs.items():
            # the geodesic solver redraws its batch and checks the held-out energy every REDRAW
            # steps: whole rounds, so that the difference carries that cost
            rounds = -(-k // REDRAW)
            short, long = (REDRAW, REDRAW * (1 + rounds)) if method == "geodesic" else (1, 1 + k)
            run(1)  # warm-up
            best = {short: float("inf"), long: float("inf")}
            taken = {}
            for _ in range(args.repeats):
                for steps in (short, long):
                    start = args.timer()
                    taken[steps] = run(steps)
                    best[steps] = min(best[steps], args.timer() - start)
            seconds[method] = (best[long] - best[short]) / max(taken[long] - taken[short], 1)
        memory = []
        for method in METHODS:
            command = [
                sys.executable,
                __file__,
                "--memory",
                f"{name}:{method}",
                "--interior",
                str(n),
                "--resnet-width",
                str(args.resnet_width),
                "--threads",
                str(args.threads),
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            memory.append(float(out.split()[-1]))
        train = seconds["train"]
        weights = runs["train"].weights  # type: ignore[attr-defined]
        print(
            f"{name:<10}{weights:>11,}{1e3 * train:>11.1f}{1e3 * seconds['geodesic']:>11.1f}"
            f"{seconds['geodesic'] / ((n + 1) * train):>11.2f}{1e3 * seconds['bezier']:>11.1f}"
            f"{seconds['bezier'] / train:>11.2f}{1e3 * seconds['autoneb']:>11.1f}"
            f"{seconds['autoneb'] / (n * train):>11.2f}" + "".join(f"{m:>11.0f}" for m in memory),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--steps", type=int, default=200, help="steps of the geodesic solve")
    parser.add_argument("--interior", type=int, default=8, help="interior points / pivots in the step costs")
    parser.add_argument("--path-steps", type=int, default=5, help="timed steps of each path method")
    parser.add_argument(
        "--resnet-width", type=int, default=16, help="first-stage channels (64: 1.1e7 weights)"
    )
    parser.add_argument(
        "--networks",
        type=lambda text: text.split(","),
        default=list(NETWORKS),
        help=f"step costs for these networks (default: {','.join(NETWORKS)})",
    )
    parser.add_argument("--skip-products", action="store_true", help="skip the metric-vector products")
    parser.add_argument("--skip-geodesic", action="store_true", help="skip the geodesic solve")
    parser.add_argument("--skip-steps", action="store_true", help="skip the step costs of the path methods")
    parser.add_argument("--memory", metavar="NETWORK:METHOD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.timer = CLOCKS[args.clock]
    unknown = sorted(set(args.networks) - set(NETWORKS))
    if unknown:
        parser.error(f"--networks: unknown {', '.join(unknown)}; valid: {', '.join(NETWORKS)}")
    torch.set_num_threads(args.threads)
    if args.memory:
        memory_of(*args.memory.split(":"), args)
        return
    if not args.skip_products:
        product_ratios(args)
    if not args.skip_steps:
        step_costs(args)
    if not args.skip_geodesic:
        geodesic_solve(args)


if __name__ == "__main__":
    main()
