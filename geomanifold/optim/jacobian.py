"""The metric of a parameterisation ``W(s; P)`` that is not linear in ``P``, applied matrix-free.

The volume constraint ``∫ ||W(s; P + ΔP) − W(s; P)||² dμ(s) <= ε`` has, to second order, the
metric (Benjamin et al. 2025, arXiv 2505.22994)

    M = ∫ J_P(s)ᵀ J_P(s) dμ(s) ≈ Σ_i w_i J_P(s_i)ᵀ J_P(s_i),     J_P = ∂W/∂P,

over quadrature nodes ``s_i`` of the chart with weights ``w_i`` normalised to sum to 1. ``M v``
costs one jvp and one vjp of ``W`` at all nodes; ``M⁻¹ g`` is found by conjugate gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.func import jvp, vjp

from ..chart import Chart
from .cg import conjugate_gradient
from .metric import Metric

__all__ = ["JacobianMetric"]

Parameterisation = Callable[[Tensor, tuple[Tensor, ...]], Tensor]


class JacobianMetric(Metric):
    """``M = Σ_i w_i J_P(s_i)ᵀ J_P(s_i) (+ damping · I)`` for a user map ``W(s; P)``.

    Args:
        fn: ``fn(s, params) -> W``: contexts ``s: (N, m)`` and the group's parameters as a tuple
            (same order as the group) to weights ``(N, ...)``, one row per context, built from
            differentiable torch ops.
        chart: domain of ``s``; nodes and weights are its quadrature rule, normalised to the
            uniform probability measure (as the Gram matrices of the bases).
        points: quadrature nodes per chart coordinate.
        damping: added to ``M`` (``>= 0``); needed when ``M`` is singular.
        rtol: conjugate-gradient relative tolerance.
        max_iter: conjugate-gradient iteration cap.

    Parameters without a gradient are held fixed: ``M`` is restricted to the others.
    """

    def __init__(
        self,
        fn: Parameterisation,
        chart: Chart,
        points: int | Sequence[int] = 16,
        damping: float = 0.0,
        rtol: float = 1e-10,
        max_iter: int = 100,
    ):
        if damping < 0:
            raise ValueError(f"damping must be >= 0, got {damping}")
        nodes, weights = chart.quadrature(points)
        self.fn, self.damping, self.rtol, self.max_iter = fn, damping, rtol, max_iter
        self.nodes, self.weights = nodes, weights / weights.sum()

    def operator(
        self, params: Sequence[Tensor], active: Sequence[int]
    ) -> Callable[[list[Tensor]], list[Tensor]]:
        """``v ↦ M v`` on the parameters at indices ``active`` (the others fixed)."""
        ref = params[active[0]]
        nodes, weights = self.nodes.to(ref), self.weights.to(ref)
        fixed = [p.detach() for p in params]

        def weights_of(*values: Tensor) -> Tensor:
            full = list(fixed)
            for i, value in zip(active, values, strict=True):
                full[i] = value
            return self.fn(nodes, tuple(full))

        primals = tuple(fixed[i] for i in active)
        with torch.enable_grad():
            out, pullback = vjp(weights_of, *primals)
        scale = weights.reshape(-1, *([1] * (out.ndim - 1)))

        def apply(vectors: list[Tensor]) -> list[Tensor]:
            with torch.enable_grad():
                tangent = jvp(weights_of, primals, tuple(vectors))[1]
                back = pullback(scale * tangent)
            return [b + self.damping * v for b, v in zip(back, vectors, strict=True)]

        return apply

    def solve(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> list[Tensor | None]:
        """``M⁻¹ g`` by conjugate gradients (never forming ``M``)."""
        active = [i for i, g in enumerate(grads) if g is not None]
        if not active:
            return list(grads)
        rhs = [grads[i] for i in active]
        solution = conjugate_gradient(self.operator(params, active), rhs, self.rtol, self.max_iter)
        out: list[Tensor | None] = [None] * len(grads)
        for i, x in zip(active, solution, strict=True):
            out[i] = x
        return out

    def __repr__(self) -> str:
        return f"JacobianMetric(nodes={self.nodes.shape[0]}, damping={self.damping})"
