"""Geodesics between two networks under a task metric (Raghavan & Thomson, arXiv 2106.02793).

The discrete energy of a path sampled at ``t_i = i / n`` is ``E = n Σ_i D(w_i, w_{i+1})`` with
``D`` an output divergence (:func:`~geomanifold.weightspace.divergence.output_divergence`); it
approximates ``∫ γ'ᵀ G γ' dt``. :func:`solve_geodesic` minimises it over the free control points
of a :class:`~geomanifold.weightspace.paths.PinnedCurve` (endpoints fixed) on minibatches of
inputs (Adam) or on one fixed batch (L-BFGS), then :func:`constant_speed` resamples the result
as a polyline whose points are equally spaced in function space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .batchnorm import weight_function
from .divergence import check_divergence, output_divergence
from .metrics import check_batch
from .paths import PinnedCurve, polyline

__all__ = ["GeodesicResult", "constant_speed", "path_energy", "path_outputs", "solve_geodesic"]

OPTIMIZERS = ("adam", "lbfgs")


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
        history: ``[{"step", "energy"}]`` (minibatch energies for Adam, the fixed batch for L-BFGS).
    """

    path: PinnedCurve
    constant_speed: PinnedCurve
    history: list[dict]


def solve_geodesic(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    kind: str = "kl",
    steps: int = 200,
    batch_size: int = 256,
    lr: float = 1e-3,
    optimizer: str = "adam",
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
        steps: optimiser steps (Adam) or iterations (L-BFGS).
        batch_size: inputs per step; Adam draws a fresh minibatch per step from ``generator``,
            L-BFGS uses the first ``batch_size`` inputs throughout.
        lr: learning rate (Adam: decayed to 0 on a cosine schedule; L-BFGS: initial step length).
        optimizer: ``"adam"`` or ``"lbfgs"``.
        segments: pieces of the energy sum (see :func:`path_energy`).

    Returns:
        :class:`GeodesicResult`; its ``constant_speed`` path is evaluated on the first
        ``batch_size`` inputs.
    """
    check_divergence(kind)
    check_batch(x, "x")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if steps < 0 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need steps >= 0, batch_size >= 1 and lr > 0, got {steps}, {batch_size} and {lr}")
    n = _segments(path, segments)
    history: list[dict] = []
    fixed = x[:batch_size]
    if path.basis.size > 2 and steps:
        params = [path.interior]
        bar = tqdm(range(steps), desc=f"geodesic ({kind})", disable=not progress, leave=False)
        if optimizer == "adam":
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
    return GeodesicResult(path, constant_speed(model, path, fixed, kind, n - 1), history)


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
