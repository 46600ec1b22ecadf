"""Geodesics between two networks under a task metric (docs/concepts.md, "Paths of networks that keep their
function").

The discrete energy of a path sampled at ``t_i = i / n`` is ``E = n Σ_i D(w_i, w_{i+1})`` with
``D`` an output divergence (:func:`~geomanifold.weightspace.divergence.output_divergence`); it
approximates ``∫ γ'ᵀ G γ' dt``. :func:`solve_geodesic` minimises it over the free control points
of a :class:`~geomanifold.weightspace.paths.PinnedCurve` (endpoints fixed): by default on one
fixed batch with steps measured in segment lengths of the chord and taken only when they lower the
energy (so the defaults behave alike from 10⁴ to 10⁷ weights and never end above the initial
path), else by Adam on minibatches or L-BFGS on the fixed batch; then :func:`constant_speed`
resamples the result as a polyline whose points are equally spaced in function space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .batchnorm import weight_function
from .divergence import check_divergence, output_divergence
from .metrics import check_batch
from .paths import PinnedCurve, polyline

__all__ = ["GeodesicResult", "constant_speed", "path_energy", "path_outputs", "solve_geodesic"]

OPTIMIZERS = ("scaled", "adam", "lbfgs")
DEFAULT_LR = {"scaled": 0.1, "adam": 1e-3, "lbfgs": 1.0}
BACKTRACKS = 12
MAX_STEP = 1.0


def path_outputs(model: nn.Module, points: Tensor, x: Tensor) -> Tensor:
    """Outputs of the networks ``points: (T, D)`` on ``x: (N, *F)``: ``(T, N, C)`` (BatchNorm on batch
    statistics, see :func:`~geomanifold.weightspace.batchnorm.weight_function`)."""
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(
            f"points must hold at least two weight vectors (T >= 2, D), got {tuple(points.shape)}"
        )
    call = weight_function(model)
    return torch.stack([call(w, x).reshape(len(x), -1) for w in points])


def _segments(path: PinnedCurve, segments: int | None) -> int:
    """The polyline's own pieces by default (its points are its control points), else 16."""
    if segments is None:
        return path.basis.size - 1 if path.basis.degree == 1 else 16
    if not isinstance(segments, int) or segments < 1:
        raise ValueError(f"segments must be an int >= 1, got {segments!r}")
    return segments


def path_energy(
    model: nn.Module, path: PinnedCurve, x: Tensor, kind: str = "kl", segments: int | None = None
) -> Tensor:
    """``n Σ_i D(γ(t_i), γ(t_{i+1}))`` at ``t_i = i / n`` on inputs ``x: (N, *F)``: scalar,
    differentiable in the path's interior points. ``n = segments`` (default: the pieces of a
    polyline, 16 for smooth curves)."""
    check_divergence(kind)
    check_batch(x, "x")
    n = _segments(path, segments)
    outputs = path_outputs(model, path(torch.linspace(0, 1, n + 1, dtype=torch.float64)), x)
    return n * output_divergence(outputs[:-1], outputs[1:], kind).sum()


@dataclass
class GeodesicResult:
    """The solved path and its optimisation record.

    Attributes:
        path: the optimised curve (same basis as the input).
        constant_speed: ``path`` resampled as a polyline with points equally spaced in function space.
        history: ``[{"step", "energy"}]`` (``"scaled"`` and L-BFGS: on the fixed batch; Adam:
            minibatch energies); ``"scaled"`` also records ``"step_length"``, the accepted move in
            units of the chord's segment length, and ``"seconds"`` since the solve began.
        initial_energy: the energy of the initial path on the fixed batch (``"scaled"``; ``None``
            otherwise).
    """

    path: PinnedCurve
    constant_speed: PinnedCurve
    history: list[dict]
    initial_energy: float | None = None


class _FixedBatchEnergy:
    """``n Σ_i D(γ(t_i), γ(t_{i+1}))`` on one fixed batch, with the two endpoints' outputs computed
    once (BatchNorm on the batch's own statistics, which are fixed with the batch)."""

    def __init__(self, model: nn.Module, path: PinnedCurve, x: Tensor, kind: str, segments: int) -> None:
        self.call = weight_function(model)
        self.path, self.x, self.kind, self.n = path, x, kind, segments
        self.times = torch.linspace(0, 1, segments + 1, dtype=torch.float64)[1:-1]
        with torch.no_grad():
            self.ends = [self.call(w, x).reshape(len(x), -1) for w in (path.start, path.end)]

    def __call__(self) -> Tensor:
        points = self.path(self.times)
        inner = [self.call(w, self.x).reshape(len(self.x), -1) for w in points]
        outputs = torch.stack([self.ends[0], *inner, self.ends[1]])
        return self.n * output_divergence(outputs[:-1], outputs[1:], self.kind).sum()


def _scaled_descent(
    energy: _FixedBatchEnergy, steps: int, fraction: float, history: list[dict], bar
) -> float:
    """Nonlinear conjugate gradients (Polak–Ribière+, Nocedal & Wright 2006 §5.2) with steps
    measured in segment lengths of the chord: the control points move ``τ · h`` in root mean
    square, ``h = |B − A| / n``; a step is taken only if it lowers the energy (else ``τ`` is halved
    and the step retried, up to :data:`BACKTRACKS` times, then the direction restarts along the
    gradient); accepted steps grow ``τ`` by 1.5, up to 1. The step rule does not depend on the
    number of weights, and the energy never increases.

    Returns:
        the initial energy.
    """
    began = time.perf_counter()
    interior = energy.path.interior
    h = float((energy.path.end - energy.path.start).norm()) / energy.n
    current = energy()
    initial = current.item()
    (gradient,) = torch.autograd.grad(current, interior)
    direction = -gradient
    tau = fraction
    for step in range(1, steps + 1):
        rms = float(direction.pow(2).sum(1).mean().sqrt())
        slope = float((gradient * direction).sum()) * h / rms if rms > 0 else 0.0  # dE/dτ at τ = 0
        if not slope < 0 or h == 0:
            if torch.equal(direction, -gradient):
                break  # the gradient vanished: converged
            direction = -gradient
            continue
        start = interior.detach().clone()
        trial = None
        for _ in range(BACKTRACKS):
            with torch.no_grad():
                interior.copy_(start + direction * (tau * h / rms))
            trial = energy()
            change = trial.item() - current.item()
            curvature = change - slope * tau  # of the parabola through E(0), E'(0) and E(τ)
            best = -slope * tau**2 / (2 * curvature) if curvature > 0 else 4 * tau
            if change < 0:
                break
            tau, trial = min(max(best, tau / 10), tau / 2), None
        if trial is None:
            with torch.no_grad():
                interior.copy_(start)
            if torch.equal(direction, -gradient):
                break  # no descent along the gradient at any tried length: converged
            direction, tau = -gradient, fraction
            continue
        current = trial
        (new,) = torch.autograd.grad(current, interior)
        beta = max(0.0, float((new * (new - gradient)).sum() / gradient.pow(2).sum().clamp_min(1e-300)))
        direction, gradient = -new + beta * direction, new
        seconds = time.perf_counter() - began
        history.append({"step": step, "energy": current.item(), "step_length": tau, "seconds": seconds})
        bar.update()
        bar.set_postfix(energy=f"{current.item():.4g}")
        tau = min(max(best, tau / 4), 4 * tau, MAX_STEP)
    return initial


def solve_geodesic(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    kind: str = "kl",
    steps: int = 200,
    batch_size: int = 256,
    lr: float | None = None,
    optimizer: str = "scaled",
    segments: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> GeodesicResult:
    """Minimise :func:`path_energy` over ``path.interior`` in place, endpoints fixed.

    Args:
        model: the architecture (its own weights are not used).
        path: the initial curve, e.g. ``polyline(A, B, 16)`` (starts on the straight line).
        x: ``(N, *F)`` inputs for the task metric (labels are not used).
        kind: ``"kl"`` or ``"squared"`` output divergence.
        steps: accepted steps (``"scaled"``), optimiser steps (Adam) or iterations (L-BFGS).
        batch_size: inputs: the fixed batch ``x[:batch_size]`` (``"scaled"``, L-BFGS) or a fresh
            minibatch per step drawn from ``generator`` (Adam).
        lr: ``"scaled"``: the first step in segment lengths of the chord (default 0.1); Adam: the
            learning rate, decayed to 0 on a cosine schedule (default 1e-3); L-BFGS: the initial step
            length (default 1).
        optimizer: ``"scaled"`` (default; see :func:`_scaled_descent`: size-independent steps, the
            energy on the fixed batch never rises, the endpoints' outputs are computed once),
            ``"adam"`` or ``"lbfgs"``.
        segments: pieces of the energy sum (see :func:`path_energy`).

    Returns:
        :class:`GeodesicResult`; its ``constant_speed`` path is evaluated on the fixed batch.
    """
    check_divergence(kind)
    check_batch(x, "x")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if steps < 0 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need steps >= 0, batch_size >= 1 and lr > 0, got {steps}, {batch_size} and {lr}")
    n = _segments(path, segments)
    history: list[dict] = []
    fixed = x[:batch_size]
    initial = None
    if path.basis.size > 2 and steps:
        params = [path.interior]
        bar = tqdm(range(steps), desc=f"geodesic ({kind})", disable=not progress, leave=False)
        if optimizer == "scaled":
            initial = _scaled_descent(_FixedBatchEnergy(model, path, fixed, kind, n), steps, lr, history, bar)
        elif optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
            for step in bar:
                index = torch.randperm(len(x), generator=generator)[:batch_size].to(x.device)
                opt.zero_grad(set_to_none=True)
                energy = path_energy(model, path, x[index], kind, n)
                energy.backward()
                opt.step()
                schedule.step()
                history.append({"step": step + 1, "energy": energy.item()})
                bar.set_postfix(energy=f"{energy.item():.4g}")
        else:
            opt = torch.optim.LBFGS(
                params, lr=lr, max_iter=steps, history_size=20, line_search_fn="strong_wolfe"
            )

            def closure() -> Tensor:
                opt.zero_grad(set_to_none=True)
                energy = path_energy(model, path, fixed, kind, n)
                energy.backward()
                history.append({"step": len(history) + 1, "energy": energy.item()})
                bar.update()
                return energy

            opt.step(closure)
        bar.close()
    return GeodesicResult(path, constant_speed(model, path, fixed, kind, n - 1), history, initial)


@torch.no_grad()
def constant_speed(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    kind: str = "kl",
    interior_points: int = 16,
    samples: int = 4,
) -> PinnedCurve:
    """Resample ``path`` as a polyline with ``interior_points`` interior points equally spaced in
    function space (segment lengths ``sqrt(D)`` on ``x: (N, *F)``).

    The curve is first sampled at ``samples · (interior_points + 1) + 1`` evenly spaced ``t``; the new
    points are linear interpolations between those samples at equal fractions of the total length.
    """
    check_divergence(kind)
    check_batch(x, "x")
    n = samples * (interior_points + 1)
    points = path(torch.linspace(0, 1, n + 1, dtype=torch.float64))
    outputs = path_outputs(model, points, x)
    lengths = output_divergence(outputs[:-1], outputs[1:], kind).clamp_min(0).sqrt().double()
    arc = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
    if arc[-1] <= 0:
        arc = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    targets = arc[-1] * torch.arange(1, interior_points + 1, dtype=torch.float64) / (interior_points + 1)
    piece = torch.searchsorted(arc, targets).clamp(1, n) - 1
    fraction = ((targets - arc[piece]) / (arc[piece + 1] - arc[piece]).clamp_min(1e-300)).to(points)
    interior = points[piece] + fraction[:, None] * (points[piece + 1] - points[piece])
    return polyline(path.start, path.end, interior_points, interior)
