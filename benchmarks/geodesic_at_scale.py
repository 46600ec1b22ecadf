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

Also, in the same run, the floor of a step: ``interior`` forward and backward passes of the network
alone (best of 3, no optimiser step) plus the passes over ``(interior, D)`` tensors that one accepted
step of this solver makes (best of 3, on tensors allocated once): forming the points at the trial
(one scaling and one fused multiply-add per point), scattering their gradients to the control
points (one scaling per point and per control point, one more addition for the second term), the
trial move, the conjugate-direction update, three inner products and a norm, and the copy of the
trial's start. Per-round costs (the gradient on each new batch, the held-out check, the endpoints'
outputs) come on top of it.

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
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 3, update: bool = True
) -> float:
    """Best of ``repeats`` Adam steps of cross-entropy on ``(x, y)`` (on a copy of the weights);
    ``update=False``: the forward and backward passes alone."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.process_time()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        if update:
            opt.step()
        best = min(best, time.process_time() - start)
    opt.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    model.eval()
    return best


def passes_seconds(interior: int, weights: int, repeats: int = 3) -> float:
    """Best of ``repeats`` of one accepted step's passes over ``(interior, D)`` tensors (see above)."""
    x, start, direction, gradient, new = (torch.rand(interior, weights) for _ in range(5))
    ends = torch.rand(2, weights)
    rows = [ends[0], *x.unbind(0), ends[1]]
    points = torch.empty(interior, weights)
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        torch.linalg.vector_norm(direction)
        torch.vdot(gradient.flatten(), direction.flatten())
        start.copy_(x)
        torch.add(start, direction, alpha=1e-3, out=x)
        for j, point in enumerate(points):  # a point between control points j and j + 1
            torch.mul(rows[j], 0.6, out=point).add_(rows[j + 1], alpha=0.4)
        for j in range(interior):  # each control point gets one term, all but two a second
            torch.mul(points[j], 0.6, out=new[j])
            if 0 < j < interior - 1:
                new[j].add_(torch.mul(points[j - 1], 0.4, out=start[0]))
        torch.vdot(new.flatten(), new.flatten())
        torch.vdot(new.flatten(), gradient.flatten())
        direction.mul_(0.5).sub_(new)
        best = min(best, time.process_time() - began)
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
    resampled = peak_mib()
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
    peak = peak_mib()
    # after the solve: the floor's tensors are not in the peaks above
    network = training_step_seconds(model_a, x, y, update=False)
    passes = passes_seconds(args.interior, weights)
    floor = args.interior * network + passes
    print(
        f"floor: {args.interior} x forward and backward {network:.3f} s + the solver's passes over "
        f"(interior, D) tensors {passes:.3f} s = {floor:.2f} s CPU = "
        f"{floor / ((args.interior + 1) * train):.2f} x (interior + 1) training steps"
    )
    print(
        f"peak resident memory: {before:.0f} MiB before the solve, {resampled:.0f} MiB after a resampling "
        f"alone, {peak:.0f} MiB after the solve"
    )
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
