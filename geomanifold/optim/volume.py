"""The volume measure: Gram matrix of the basis under the manifold's own volume element.

With the measure ``ρ(s) ds``, ``ρ = sqrt(det g(s))``, of the whole network's ``W(s)`` instead of
the chart measure ``ds``, the volume-constrained step (Benjamin et al. 2025) bounds the movement per unit
of manifold volume. The metric is still ``G ⊗ I`` with

    G_vol = ∫ φ φᵀ ρ ds / ∫ ρ ds,    g(s) = A(s) Q A(s)ᵀ,    Q = Σ_t P_t P_tᵀ,

``A(s) = ∂φ/∂s: (m, K)`` and ``P_t: (K, D_t)`` every control-point tensor of the group. ``G_vol``
depends on ``P``: it is recomputed at each step from ``Q`` (one pass over the parameters, in their
dtype, at least float32) by quadrature over the chart in float64, at ``O(N K²)`` for ``N`` nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..bases.basis import Basis
from .metric import KroneckerMetric

__all__ = ["VolumeMetric", "control_gram"]


def control_gram(params: Sequence[Tensor]) -> Tensor:
    """``Q = Σ_t P_t P_tᵀ`` over control-point tensors ``P_t: (K, *S_t)``: ``(K, K)``.

    Accumulated in the parameters' dtype promoted to at least float32.
    """
    dtype = torch.promote_types(params[0].dtype, torch.float32)
    flat = [p.detach().reshape(p.shape[0], -1).to(dtype) for p in params]
    return sum(f @ f.T for f in flat)


class VolumeMetric(KroneckerMetric):
    """``G_vol``: the basis Gram matrix under the normalised volume measure ``ρ ds / ∫ ρ ds``.

    A manifold of (numerically) zero volume has no volume measure, e.g. a line whose control
    points are equal copies (a common initialisation); the chart measure is used when
    ``∫ ρ ds <= sqrt(ε) ∫ (tr Q · ||A(s)||_F² / m)^{m/2} ds`` (``ε`` the epsilon of the dtype of
    ``Q``; the right side bounds ``∫ ρ ds`` from above). For a constant-speed manifold ``G_vol``
    equals the chart Gram matrix.

    Args:
        basis: the basis ``φ`` (its chart gives the quadrature: Gauss–Legendre on intervals, the
            trapezoid rule on periodic coordinates).
        points: quadrature nodes per chart coordinate (default ``basis.quadrature_points``);
            the rule has ``points^m`` nodes.
    """

    def __init__(self, basis: Basis, points: int | None = None):
        self.basis = basis
        self.size = basis.size
        self.points = basis.quadrature_points if points is None else points
        self._tables: dict[torch.device, tuple[Tensor, Tensor, Tensor]] = {}

    def _quadrature(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """Basis values ``(N, K)``, ``A = ∂φ/∂s: (N, m, K)`` and weights ``(N,)`` at the nodes."""
        if device not in self._tables:
            m = self.basis.dim
            nodes, weights = self.basis.chart.quadrature(self.points, torch.float64, device)
            values = self.basis.partial(nodes, (0,) * m)
            orders = [tuple(int(i == j) for j in range(m)) for i in range(m)]
            jac = torch.stack([self.basis.partial(nodes, order) for order in orders], dim=-2)
            self._tables[device] = (values, jac, weights)
        return self._tables[device]

    def matrix(self, params: Sequence[Tensor]) -> Tensor:
        values, jac, weights = self._quadrature(params[0].device)
        q = control_gram(params)
        tolerance = torch.finfo(q.dtype).eps ** 0.5
        q = q.to(torch.float64)
        m = self.basis.dim
        induced = jac @ q @ jac.transpose(-1, -2)
        density = torch.linalg.det(induced).clamp_min(0).sqrt()
        bound = (q.trace() * jac.square().sum(dim=(-2, -1)) / m) ** (m / 2)
        degenerate = weights @ density <= tolerance * (weights @ bound)
        density = torch.where(degenerate, torch.ones_like(density), density)
        measure = weights * density
        gram = values.T @ (measure[:, None] * values) / measure.sum()
        return gram.to(params[0].dtype)

    def __repr__(self) -> str:
        return f"VolumeMetric({self.basis!r}, points={self.points})"
