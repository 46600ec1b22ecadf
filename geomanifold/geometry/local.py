"""Intrinsic geometry at a batch of points, from the Gram matrix of the jet alone.

Every intrinsic quantity of an embedded manifold is an inner product of derivative vectors
(do Carmo 1976, §2-5, §3-3, §4-3; Lee 2018, ch. 5, 7-8). Given the *jet Gram*
``Γ[p, q] = <∂^{α_p} phi, ∂^{α_q} phi>`` over the
multi-indices of :func:`geomanifold.jets.multi_indices`, everything below is ``m × m`` algebra:

* metric ``g_ij = <∂_i phi, ∂_j phi>``
* Christoffel symbols of the first kind ``Γ_{l,ij} = <∂_l phi, ∂_i ∂_j phi>`` and of the second
  kind ``Γ^k_ij = g^{kl} Γ_{l,ij}``
* inner products of the second fundamental form ``II_ij = ∂_i∂_j phi − Γ^k_ij ∂_k phi``:
  ``<II_ab, II_cd> = <∂_a∂_b phi, ∂_c∂_d phi> − Γ_{k,ab} g^{kl} Γ_{l,cd}``
* Riemann tensor by the Gauss equation ``R_ijkl = <II_ik, II_jl> − <II_il, II_jk>``
  (so ``R_1212 = K det g`` on a surface), Ricci ``R_jl = g^{ik} R_ijkl``, scalar ``g^{jl} R_jl``
* curve invariants from the Gram determinants ``D_k`` of ``(γ', …, γ^(k))``:
  curvature ``κ = sqrt(D_2) / D_1^{3/2}`` and torsion ``|τ| = sqrt(D_3) / D_2``.

The generic path (nested jvps, then inner products) and the linear-basis fast path
(``A Q Aᵀ`` from the ``K × K`` control-point Gram) both end here, so they agree by construction
of everything after the Gram.
"""

from __future__ import annotations

from functools import cache, cached_property

import torch
from torch import Tensor

from ..jets import multi_index_position

__all__ = ["LocalGeometry", "SingularMetricError"]


class SingularMetricError(ValueError):
    """The induced metric is singular (or numerically so) at a requested point."""


@cache
def _positions(dim: int, order: int) -> tuple[list[int], list[list[int]]]:
    pos = multi_index_position(dim, order)
    first = [pos[(i,)] for i in range(dim)]
    second = [[pos[tuple(sorted((i, j)))] for j in range(dim)] for i in range(dim)] if order > 1 else []
    return first, second


class LocalGeometry:
    """Intrinsic geometry at points ``s: (..., m)`` from a jet Gram ``(..., n, n)``.

    Args:
        points: the chart points, kept to name offending points in errors.
        jet_gram: inner products of the jet vectors, up to ``order``.
        order: the jet order (1 gives the metric only, 2 curvature, 3 curve torsion).
        singular: ``"raise"`` (default) raises :class:`SingularMetricError` where the metric is
            singular; ``"nan"`` returns NaN there instead (used inside integrators, which treat
            non-finite states as failures).
    """

    def __init__(self, points: Tensor, jet_gram: Tensor, order: int, singular: str = "raise"):
        if singular not in ("raise", "nan"):
            raise ValueError(f"singular must be 'raise' or 'nan', got {singular!r}")
        self.singular = singular
        self.points = points
        self.jet_gram = jet_gram
        self.order = order
        self.dim = points.shape[-1]
        self._first, self._second = _positions(self.dim, order)

    def _need(self, order: int, what: str) -> None:
        if self.order < order:
            raise ValueError(f"{what} needs a jet of order {order}, this one has order {self.order}")

    @cached_property
    def metric(self) -> Tensor:
        """``g_ij``: ``(..., m, m)``."""
        idx = self._first
        return self.jet_gram[..., idx, :][..., :, idx]

    @cached_property
    def volume_element(self) -> Tensor:
        """``sqrt(det g)``: ``(...)``."""
        return torch.linalg.det(self.metric).clamp_min(0).sqrt()

    @cached_property
    def metric_inverse(self) -> Tensor:
        """``g^ij``: ``(..., m, m)``; raises :class:`SingularMetricError` where ``g`` is singular.

        A point counts as singular when ``det g / (tr g / m)^m`` (about the ratio of the smallest
        to the largest eigenvalue) is below ``1000 · eps`` of the dtype, or is not finite.
        """
        g = self.metric
        m = self.dim
        scale = (torch.diagonal(g, dim1=-2, dim2=-1).sum(-1) / m) ** m
        ratio = torch.linalg.det(g) / scale
        bad = ~(ratio > 1000 * torch.finfo(g.dtype).eps)
        if self.singular == "nan":
            inverse, _ = torch.linalg.inv_ex(
                torch.where(bad[..., None, None], torch.eye(m, dtype=g.dtype), g)
            )
            return inverse.masked_fill(bad[..., None, None], float("nan"))
        if bad.any():
            where = self.points[bad][0].tolist()
            raise SingularMetricError(
                f"the induced metric is singular at s = {where} (phi's derivatives are linearly "
                "dependent there); evaluate away from such points"
            )
        return torch.linalg.inv(g)

    @cached_property
    def christoffel_first_kind(self) -> Tensor:
        """``Γ_{l,ij} = <∂_l phi, ∂_i∂_j phi>``: ``(..., m, m, m)`` indexed ``[..., l, i, j]``."""
        self._need(2, "Christoffel symbols")
        second = torch.tensor(self._second, device=self.jet_gram.device)
        rows = self.jet_gram[..., self._first, :]  # (..., m, n)
        return rows[..., second]  # (..., m, m, m)

    @cached_property
    def christoffel(self) -> Tensor:
        """``Γ^k_ij``: ``(..., m, m, m)`` indexed ``[..., k, i, j]``."""
        return torch.einsum("...kl,...lij->...kij", self.metric_inverse, self.christoffel_first_kind)

    @cached_property
    def second_fundamental_gram(self) -> Tensor:
        """``<II_ab, II_cd>``: ``(..., m, m, m, m)``."""
        self._need(2, "the second fundamental form")
        second = torch.tensor(self._second, device=self.jet_gram.device)
        hh = self.jet_gram[..., second, :][..., second]  # (..., m, m, m, m)
        b = self.christoffel_first_kind
        return hh - torch.einsum("...kab,...kl,...lcd->...abcd", b, self.metric_inverse, b)

    @cached_property
    def riemann(self) -> Tensor:
        """Fully covariant ``R_ijkl``: ``(..., m, m, m, m)``, ``R_1212 = K det g`` on a surface."""
        s = self.second_fundamental_gram
        return torch.einsum("...ikjl->...ijkl", s) - torch.einsum("...iljk->...ijkl", s)

    @cached_property
    def ricci(self) -> Tensor:
        """``R_jl = g^{ik} R_ijkl``: ``(..., m, m)``."""
        return torch.einsum("...ik,...ijkl->...jl", self.metric_inverse, self.riemann)

    @cached_property
    def scalar_curvature(self) -> Tensor:
        """``g^{jl} R_jl``: ``(...)`` (``2K`` on a surface)."""
        return torch.einsum("...jl,...jl->...", self.metric_inverse, self.ricci)

    @cached_property
    def gaussian_curvature(self) -> Tensor:
        """``K = R_1212 / det g`` for surfaces: ``(...)``."""
        if self.dim != 2:
            raise ValueError(f"Gaussian curvature is defined for m = 2, this manifold has m = {self.dim}")
        self.metric_inverse  # noqa: B018 - raises on singular points
        return self.riemann[..., 0, 1, 0, 1] / torch.linalg.det(self.metric)

    def sectional_curvature(self, u: Tensor, v: Tensor) -> Tensor:
        """``R(u, v, u, v) / (g(u,u) g(v,v) − g(u,v)²)`` for tangent vectors ``u, v: (..., m)``."""
        r = torch.einsum("...ijkl,...i,...j,...k,...l->...", self.riemann, u, v, u, v)
        g = self.metric
        guu = torch.einsum("...ij,...i,...j->...", g, u, u)
        gvv = torch.einsum("...ij,...i,...j->...", g, v, v)
        guv = torch.einsum("...ij,...i,...j->...", g, u, v)
        area2 = guu * gvv - guv**2
        if not (area2 > 1e3 * torch.finfo(g.dtype).eps * guu * gvv).all():
            raise ValueError("u and v must span a plane (they are linearly dependent)")
        return r / area2

    def _curve_gram_determinant(self, k: int) -> Tensor:
        gram = self.jet_gram[..., 1 : k + 1, 1 : k + 1]
        return torch.linalg.det(gram).clamp_min(0)

    def _need_curve(self, order: int, what: str) -> None:
        if self.dim != 1:
            raise ValueError(f"{what} is defined for curves (m = 1), this manifold has m = {self.dim}")
        self._need(order, what)

    @cached_property
    def curvature(self) -> Tensor:
        """Curvature of a curve ``κ = sqrt(D_2) / D_1^{3/2}``: ``(...)``."""
        self._need_curve(2, "curvature")
        d1 = self._curve_gram_determinant(1)
        return self._curve_gram_determinant(2).sqrt() / d1**1.5

    @cached_property
    def torsion(self) -> Tensor:
        """Unsigned torsion of a curve ``|τ| = sqrt(D_3) / D_2``: ``(...)`` (any ambient dimension)."""
        self._need_curve(3, "torsion")
        return self._curve_gram_determinant(3).sqrt() / self._curve_gram_determinant(2)
