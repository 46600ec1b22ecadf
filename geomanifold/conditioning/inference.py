"""Conditioning inference: the context of an unlabeled batch drawn from one unknown context.

A model conditioned on ``s`` is confident where ``s`` matches the data. For a batch ``x`` from
one unknown context the estimate is the chart point of least mean prediction entropy,

    ŝ = argmin_s  H(s),   H(s) = mean_i −Σ_c p_c(x_i; s) log p_c(x_i; s),   p = softmax(model(x, s)),

found by a grid search over the chart (periodic coordinates: ``n`` points over one period;
intervals: ``n`` points including both ends) and refined by golden-section search in the grid
cell around the best point, one coordinate at a time (periodic coordinates may cross the seam;
interval ones stay inside). Several batches are handled at once, each with its own ``ŝ``.
The search runs in float64; ``ŝ`` is returned in the model's floating dtype (``x``'s for a model
without floating parameters), so ``model(x, ŝ)`` works directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..chart import Chart, Interval, Periodic

__all__ = ["ContextEstimate", "infer_context", "mean_prediction_entropy"]

_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class ContextEstimate:
    """``s: (N, m)`` the inferred contexts (periodic coordinates wrapped into the chart) and
    ``objective: (N,)`` the mean prediction entropy at ``s``, one per batch."""

    s: Tensor
    objective: Tensor


def _model_chart(model: nn.Module) -> Chart:
    inner = getattr(model, "module", model)
    if hasattr(inner, "basis"):
        return inner.basis.chart
    if isinstance(getattr(inner, "chart", None), Chart):
        return inner.chart
    raise TypeError(
        f"cannot tell the context chart of {type(inner).__name__}; pass chart= "
        "(a WeightManifold or a baseline ContextModule knows its own)"
    )


@torch.no_grad()
def mean_prediction_entropy(model: nn.Module, x: Tensor, s: Tensor) -> Tensor:
    """``H``: mean prediction entropy of each batch at its candidate contexts.

    Args:
        model: called as ``model(x, s)`` with one context per example, returns logits ``(·, C)``.
        x: ``(N, B, *F)``, ``N`` batches of ``B`` examples.
        s: ``(N, J, m)``, ``J`` candidate contexts per batch.

    Returns:
        ``(N, J)`` entropies in nats.
    """
    n, b = x.shape[:2]
    j = s.shape[1]
    inputs = x[:, None].expand(n, j, *x.shape[1:]).reshape(n * j * b, *x.shape[2:])
    contexts = s[:, :, None, :].expand(n, j, b, s.shape[-1]).reshape(n * j * b, s.shape[-1])
    log_p = torch.log_softmax(model(inputs, contexts.to(x.dtype)), dim=-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    return entropy.reshape(n, j, b).mean(-1)


def _axis(coordinate, points: int) -> tuple[Tensor, float]:
    """Grid values of one coordinate and the grid spacing."""
    if isinstance(coordinate, Periodic):
        step = coordinate.period / points
        return coordinate.low + step * torch.arange(points, dtype=torch.float64), step
    if isinstance(coordinate, Interval):
        values = torch.linspace(coordinate.low, coordinate.high, points, dtype=torch.float64)
        return values, (coordinate.high - coordinate.low) / max(points - 1, 1)
    raise ValueError(f"context inference needs bounded coordinates; got {coordinate.describe()}")


@torch.no_grad()
def infer_context(
    model: nn.Module,
    x: Tensor,
    chart: Chart | None = None,
    grid: int = 24,
    refine: int = 12,
    rounds: int = 2,
) -> ContextEstimate:
    """Infer the context of each unlabeled batch by minimising the mean prediction entropy.

    Args:
        model: a context-conditioned classifier ``model(x, s)`` (e.g. a
            :class:`~geomanifold.conditioning.WeightManifold` or a baseline), in eval mode.
        x: ``(N, B, *F)``: ``N`` batches of ``B`` examples, each batch from its own context
            (``x[None]`` for a single batch).
        chart: the context chart (default: the model's); every coordinate bounded.
        grid: grid points per coordinate (``grid ** m`` evaluations per batch).
        refine: golden-section iterations per coordinate and round (0: grid only).
        rounds: coordinate sweeps of the refinement (``m = 1`` needs one).

    Returns:
        :class:`ContextEstimate` with ``s: (N, m)`` (in the model's floating dtype) and
        ``objective: (N,)``.

    Raises:
        ValueError: ``grid < 2``, negative ``refine``/``rounds``, or an unbounded coordinate.
        TypeError: no ``chart`` given and the model does not carry one.
    """
    if not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an int >= 2, got {grid!r}")
    for name, value in (("refine", refine), ("rounds", rounds)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    chart = chart if chart is not None else _model_chart(model)
    m = chart.dim
    axes = [_axis(c, grid) for c in chart.coordinates]
    n = x.shape[0]
    mesh = torch.cartesian_prod(*[values for values, _ in axes]).reshape(-1, m)
    candidates = mesh.to(x.device)[None].expand(n, -1, -1)
    values = mean_prediction_entropy(model, x, candidates)
    best, index = values.min(dim=1)
    s = candidates[torch.arange(n), index].clone()
    for _ in range(rounds if refine else 0):
        for i, (coordinate, (_, step)) in enumerate(zip(chart.coordinates, axes, strict=True)):
            low, high = s[:, i] - step, s[:, i] + step
            if isinstance(coordinate, Interval):
                low, high = low.clamp(min=coordinate.low), high.clamp(max=coordinate.high)
            s, best = _golden_section(model, x, s, best, i, low, high, refine)
        if m == 1:
            break
    return ContextEstimate(chart.wrap(s).to(_floating_dtype(model, x)), best)


def _floating_dtype(model: nn.Module, x: Tensor) -> torch.dtype:
    """The dtype the model computes in: its first floating parameter's, else ``x``'s if floating,
    else torch's default."""
    parameters = model.parameters() if isinstance(model, nn.Module) else ()
    for parameter in parameters:
        if parameter.is_floating_point():
            return parameter.dtype
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _golden_section(
    model: nn.Module, x: Tensor, s: Tensor, best: Tensor, i: int, low: Tensor, high: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    """Golden-section search of coordinate ``i`` of every batch over ``[low, high]`` (``(N,)``
    each); a batch keeps its incoming ``s`` and ``best`` unless a probed point beats them."""

    def entropy(value: Tensor) -> Tensor:
        point = s.clone()
        point[:, i] = value
        return mean_prediction_entropy(model, x, point[:, None])[:, 0]

    a, b = low, high
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = entropy(c), entropy(d)
    for _ in range(steps):
        left = fc < fd  # the minimum lies in [a, d]: d <- c; else in [c, b]: c <- d
        a, b = torch.where(left, a, c), torch.where(left, d, b)
        probe = torch.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_probe = entropy(probe)
        c, fc, d, fd = (
            torch.where(left, probe, d),
            torch.where(left, f_probe, fd),
            torch.where(left, c, probe),
            torch.where(left, fc, f_probe),
        )
    value, f_value = torch.where(fc < fd, c, d), torch.minimum(fc, fd)
    better = f_value < best
    s = s.clone()
    s[:, i] = torch.where(better, value, s[:, i])
    return s, torch.where(better, f_value, best)
