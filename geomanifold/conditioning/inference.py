"""Conditioning inference: the context of an unlabeled batch drawn from one unknown context.

A model conditioned on ``s`` is confident where ``s`` matches the data. For a batch ``x`` from
one unknown context the estimate is the chart point that minimises a label-free criterion of the
predictions ``p_i = softmax(model(x_i, s))``:

- ``"entropy"``: the mean prediction entropy ``H(s) = mean_i H(p_i)``;
- ``"information"``: minus the mutual information between inputs and predicted classes,
  ``mean_i H(p_i) − H(mean_i p_i)`` (Bridle, Heading & MacKay 1992; Krause, Perona & Gomes 2010,
  "Discriminative clustering by regularized information maximization"): confident predictions
  that also spread over the classes, so a context where the model answers one class for every
  input is not preferred.

The search is global on the chart: a grid (periodic coordinates: ``n`` points over one period;
intervals: ``n`` points including both ends), then golden-section refinement, one coordinate at
a time, in the grid cell around each of the ``starts`` best local minima of the grid (periodic
coordinates may cross the seam; interval ones stay inside); the best refined point wins. Several
batches are handled at once, each with its own ``ŝ``. The search runs in float64; ``ŝ`` is
returned in the model's floating dtype (``x``'s for a model without floating parameters), so
``model(x, ŝ)`` works directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..arguments import check_int
from ..chart import Chart, Interval, Periodic
from ..settings import CRITERIA

__all__ = ["CRITERIA", "ContextEstimate", "context_criterion", "infer_context", "mean_prediction_entropy"]

_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class ContextEstimate:
    """``s: (N, m)`` the inferred contexts (periodic coordinates wrapped into the chart) and
    ``objective: (N,)`` the criterion at ``s``, one per batch."""

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
def context_criterion(model: nn.Module, x: Tensor, s: Tensor, criterion: str = "entropy") -> Tensor:
    """The label-free ``criterion`` (see the module docstring) of each batch at its candidate contexts.

    Args:
        model: called as ``model(x, s)`` with one context per example, returns logits ``(·, C)``.
        x: ``(N, B, *F)``, ``N`` batches of ``B`` examples.
        s: ``(N, J, m)``, ``J`` candidate contexts per batch.
        criterion: one of :data:`CRITERIA`.

    Returns:
        ``(N, J)`` values in nats (lower is better).
    """
    n, b = x.shape[:2]
    j = s.shape[1]
    inputs = x[:, None].expand(n, j, *x.shape[1:]).reshape(n * j * b, *x.shape[2:])
    contexts = s[:, :, None, :].expand(n, j, b, s.shape[-1]).reshape(n * j * b, s.shape[-1])
    log_p = torch.log_softmax(model(inputs, contexts.to(x.dtype)), dim=-1)
    log_p = log_p.reshape(n, j, b, -1)
    value = -(log_p.exp() * log_p).sum(-1).mean(-1)
    if criterion == "information":
        marginal = log_p.exp().mean(2)
        value = value + (marginal * torch.log(marginal.clamp_min(1e-300))).sum(-1)
    return value


def mean_prediction_entropy(model: nn.Module, x: Tensor, s: Tensor) -> Tensor:
    """``H``: mean prediction entropy of each batch at its candidate contexts,
    ``context_criterion(model, x, s, "entropy")``: ``x: (N, B, *F)``, ``s: (N, J, m)`` →
    ``(N, J)`` entropies in nats."""
    return context_criterion(model, x, s, "entropy")


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
    criterion: str = "entropy",
    starts: int = 8,
) -> ContextEstimate:
    """Infer the context of each unlabeled batch by minimising a label-free criterion.

    Args:
        model: a context-conditioned classifier ``model(x, s)`` (e.g. a
            :class:`~geomanifold.conditioning.WeightManifold` or a baseline), in eval mode.
        x: ``(N, B, *F)``: ``N`` batches of ``B`` examples, each batch from its own context
            (``x[None]`` for a single batch).
        chart: the context chart (default: the model's); every coordinate bounded.
        grid: grid points per coordinate (``grid ** m`` evaluations per batch).
        refine: golden-section iterations per coordinate and round (0: grid only).
        rounds: coordinate sweeps of the refinement (``m = 1`` needs one).
        criterion: ``"entropy"`` or ``"information"`` (:data:`CRITERIA`).
        starts: at most this many local minima of the grid are refined (the best refined point wins).

    Returns:
        :class:`ContextEstimate` with ``s: (N, m)`` (in the model's floating dtype) and
        ``objective: (N,)``.

    Raises:
        ValueError: ``x`` without a batch dimension or without examples, ``grid < 2``, negative
            ``refine``/``rounds``, ``starts < 1``, unknown ``criterion``, or an unbounded coordinate.
        TypeError: no ``chart`` given and the model does not carry one.
    """
    if not isinstance(x, Tensor) or x.ndim < 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"x must have shape (N, B, *F), N batches of B examples with their features, got {shape}; "
            "for one batch pass x[None]"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"x must hold at least one batch of at least one example, got shape {tuple(x.shape)}"
        )
    for name, value, low in (
        ("grid", grid, 2), ("refine", refine, 0), ("rounds", rounds, 0), ("starts", starts, 1)
    ):
        check_int(name, value, low)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    chart = chart if chart is not None else _model_chart(model)
    m = chart.dim
    axes = [_axis(c, grid) for c in chart.coordinates]
    n = x.shape[0]

    def objective(points: Tensor) -> Tensor:
        return context_criterion(model, x, points, criterion)

    mesh = torch.cartesian_prod(*[values for values, _ in axes]).reshape(-1, m).to(x.device)
    values = objective(mesh[None].expand(n, -1, -1))  # (N, G)
    minima = _grid_minima(values, [len(v) for v, _ in axes], [c for c in chart.coordinates])
    count = min(starts, int(minima.sum(1).max()))
    ranked = torch.where(minima, values, torch.full_like(values, math.inf)).topk(count, largest=False)
    index = ranked.indices  # (N, S): the best local minima (then other grid points, where fewer)
    s, best = mesh[index].clone(), values.gather(1, index)  # (N, S, m), (N, S)
    for _ in range(rounds if refine else 0):
        for i, (coordinate, (_, step)) in enumerate(zip(chart.coordinates, axes, strict=True)):
            low, high = s[..., i] - step, s[..., i] + step
            if isinstance(coordinate, Interval):
                low, high = low.clamp(min=coordinate.low), high.clamp(max=coordinate.high)
            s, best = _golden_section(objective, s, best, i, low, high, refine)
        if m == 1:
            break
    winner = best.argmin(dim=1)
    rows = torch.arange(n, device=s.device)
    return ContextEstimate(chart.wrap(s[rows, winner]).to(_floating_dtype(model, x)), best[rows, winner])


def _grid_minima(values: Tensor, shape: list[int], coordinates) -> Tensor:
    """``(N, G) -> (N, G)`` bool: grid points no larger than any neighbour along each coordinate
    (periodic coordinates wrap; an interval's ends have one neighbour)."""
    grid = values.reshape(-1, *shape)
    minimum = torch.ones_like(grid, dtype=torch.bool)
    for axis, coordinate in enumerate(coordinates, start=1):
        for shift in (1, -1):
            neighbour = torch.roll(grid, shift, dims=axis)
            if isinstance(coordinate, Interval):
                edge = [slice(None)] * grid.ndim
                edge[axis] = 0 if shift == 1 else -1
                neighbour[tuple(edge)] = math.inf
            minimum &= grid <= neighbour
    return minimum.reshape(values.shape)


def _floating_dtype(model: nn.Module, x: Tensor) -> torch.dtype:
    """The dtype the model computes in: its first floating parameter's, else ``x``'s if floating,
    else torch's default."""
    parameters = model.parameters() if isinstance(model, nn.Module) else ()
    for parameter in parameters:
        if parameter.is_floating_point():
            return parameter.dtype
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _golden_section(objective, s: Tensor, best: Tensor, i: int, low: Tensor, high: Tensor, steps: int):
    """Golden-section search of coordinate ``i`` of every start ``s: (N, S, m)`` over
    ``[low, high]`` (``(N, S)`` each); a start keeps its incoming ``s`` and ``best`` unless a
    probed point beats them. ``objective: (N, S, m) -> (N, S)``."""

    def value_at(v: Tensor) -> Tensor:
        point = s.clone()
        point[..., i] = v
        return objective(point)

    a, b = low, high
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = value_at(c), value_at(d)
    for _ in range(steps):
        left = fc < fd  # the minimum lies in [a, d]: d <- c; else in [c, b]: c <- d
        a, b = torch.where(left, a, c), torch.where(left, d, b)
        probe = torch.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_probe = value_at(probe)
        c, fc, d, fd = (
            torch.where(left, probe, d),
            torch.where(left, f_probe, fd),
            torch.where(left, c, probe),
            torch.where(left, fc, f_probe),
        )
    value, f_value = torch.where(fc < fd, c, d), torch.minimum(fc, fd)
    better = f_value < best
    s = s.clone()
    s[..., i] = torch.where(better, value, s[..., i])
    return s, torch.where(better, f_value, best)
