"""The default geodesic solver on a large network: the ResNet-18 layout (small-input stem) on 8 × 8
digits at ``--width`` channels in its first stage (64: 1.1·10⁷ weights), two networks trained from
different seeds for ``--epochs`` epochs, joined by a polyline with ``--interior`` interior points.

Prints the number of weights, the CPU seconds of this process (one thread: on a shared machine its
own time, not the other jobs') for one training step (Adam, batch ``--batch``, best of 3) and for
one accepted solver step (mean over the solve, backtracking, redrawn batches and the held-out check
included; the final resampling to constant speed, timed in a solve of 0 steps, subtracted) and their
ratio against ``(interior + 1)`` training steps, the peak resident memory of the process before and
after the solve, the sizes of the solver's ``(interior, D)`` tensors, and the
path energy on the held-out inputs at the start and after each round. Asserts nothing.

    python benchmarks/geodesic_at_scale.py [--width 64] [--epochs 1] [--steps 20] [--interior 6]
                                           [--batch 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
import torch.nn.functional as F

from geomanifold.experiments.connect import train_endpoints
from geomanifold.experiments.datasets import load_data
from geomanifold.weightspace import parameter_count, parameter_vector, polyline, solve_geodesic


def peak_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def training_step_seconds(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 3
) -> float:
    """Best of ``repeats`` Adam steps of cross-entropy on ``(x, y)`` (on a copy of the weights)."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.process_time()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        best = min(best, time.process_time() - start)
    model.load_state_dict(state)
    model.eval()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--interior", type=int, default=6)
    parser.add_argument(
        "--batch", type=int, default=256, help="fitting batch of the solver and training batch"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = load_data("digits")
    started = time.perf_counter()
    model_a, model_b = train_endpoints(split, "resnet18", args.width, 0, False, epochs=args.epochs)
    print(f"trained the pair ({args.epochs} epochs each) in {time.perf_counter() - started:.0f} s")
    weights = parameter_count(model_a)
    x, y = split.x_train[: args.batch], split.y_train[: args.batch]
    train = training_step_seconds(model_a, x, y)
    a, b = parameter_vector(model_a), parameter_vector(model_b)
    before = peak_mib()
    fixed_cost = time.process_time()  # resampling to constant speed: paid once, not per step
    solve_geodesic(model_a, polyline(a, b, args.interior), split.x_train, steps=0, progress=False)
    fixed_cost = time.process_time() - fixed_cost
    started, cpu = time.perf_counter(), time.process_time()
    result = solve_geodesic(
        model_a,
        polyline(a, b, args.interior),
        split.x_train,
        steps=args.steps,
        batch_size=args.batch,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    taken = len(result.history)
    per_step = (cpu - fixed_cost) / taken
    tensor_mib = args.interior * weights * a.element_size() / 2**20
    print(f"weights: {weights:,}; one (interior, D) tensor: {tensor_mib:.0f} MiB")
    print(f"training step (batch {args.batch}): {train:.3f} s of CPU")
    print(
        f"solve: {seconds:.0f} s wall, {cpu:.0f} s CPU for {taken} accepted steps of {args.steps}, of which "
        f"{fixed_cost:.0f} s resampling; {per_step:.2f} s CPU per step = "
        f"{per_step / ((args.interior + 1) * train):.2f} x (interior + 1) training steps"
    )
    print(f"peak resident memory: {before:.0f} MiB before the solve, {peak_mib():.0f} MiB after")
    print(
        f"fitting-batch energy: {result.initial_energy:.2f} at the start, {result.history[-1]['energy']:.2f} "
        "at the last step (batches differ)"
    )
    print(
        "held-out energy: "
        + ", ".join(
            f"{c['step']}: {c['energy']:.2f}{'' if c['kept'] else ' (undone)'}" for c in result.held_out
        )
    )


if __name__ == "__main__":
    main()
