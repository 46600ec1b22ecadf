"""A user-defined basis from any callable; derivatives by nested forward-mode autodiff."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..arguments import check_int
from ..chart import Chart
from ..jets import directional_derivative
from .basis import Basis

__all__ = ["FunctionBasis"]


class FunctionBasis(Basis):
    """Basis ``φ = fn`` for a pointwise callable ``fn: (..., m) -> (..., K)``.

    Partial derivatives are nested ``torch.func.jvp`` calls along the coordinate axes (as in
    :mod:`geomanifold.jets`), so ``fn`` must be built from differentiable torch ops and act
    on each point independently. Gram and mean use the default quadrature over the chart.

    Args:
        fn: the basis functions.
        dim: number of context coordinates ``m`` (1 to 3).
        size: number of functions ``K``.
        chart: domain of ``s``; defaults to ``[0, 1]`` per coordinate.
    """

    def __init__(
        self, fn: Callable[[Tensor], Tensor], dim: int, size: int, chart: Chart | None = None
    ):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if not isinstance(dim, int) or not 1 <= dim <= 3:
            raise ValueError(f"dim must be an int in 1..3, got {dim!r}")
        check_int("size", size, 1)
        chart = Chart.unit([False] * dim) if chart is None else chart
        if chart.dim != dim:
            raise ValueError(f"chart has {chart.dim} coordinates; it must have dim = {dim}")
        self.fn = fn
        self.dim = dim
        self.size = size
        self.chart = chart

    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """``∂^order fn(s)`` by nested jvps, ``(..., m) -> (..., K)``."""
        eye = torch.eye(self.dim, dtype=s.dtype, device=s.device)
        derivative = self.fn
        for axis, count in enumerate(order):
            for _ in range(count):
                derivative = directional_derivative(derivative, eye[axis].expand_as(s))
        values = derivative(s)
        if values.shape != (*s.shape[:-1], self.size):
            raise ValueError(
                f"fn must map (..., {self.dim}) to (..., {self.size}); "
                f"got {tuple(values.shape)} from s of shape {tuple(s.shape)}"
            )
        return values

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", "fn")
        return f"FunctionBasis({name}, dim={self.dim}, size={self.size})"

