"""Intrinsic geometry at a batch of points, from the Gram matrix of the jet alone.

Every intrinsic quantity of an embedded manifold is an inner product of derivative vectors
(do Carmo, *Riemannian Geometry*, ch. 6, the Gauss equation). Given the *jet Gram*
``Γ[p, q] = <∂^{α_p} phi, ∂^{α_q} phi>`` over the multi-indices of
:func:`geomanifold.jets.multi_indices`, everything below is ``m × m`` algebra:

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

import warnings
from functools import cache, cached_property

import torch
from torch import Tensor

from ..jets import multi_index_position

__all__ = ["LocalGeometry", "SingularMetricError", "curvature_tolerance"]


class SingularMetricError(ValueError):
    """The induced metric is singular (or numerically so) at a requested point, or so close to
    singular that a curvature cannot be computed to the requested relative accuracy."""


def curvature_tolerance(dtype: torch.dtype) -> float:
    """Largest accepted estimated relative error of curvature: 1e-8 in float64, ``10⁴ eps`` in
    lower precision (about 1.2e-3 in float32)."""
    return max(1e-8, 1e4 * torch.finfo(dtype).eps)


def _determinant_and_adjugate(g: Tensor) -> tuple[Tensor, Tensor]:
    """``det g`` and ``adj g`` (``g⁻¹ = adj g / det g``) by cofactors for ``m ≤ 3``: elementwise
    kernels only, no LAPACK call per batch (which is the most of a geodesic right-hand side on
    small batches and scales badly when threads are oversubscribed)."""
    m = g.shape[-1]
    if m == 1:
        return g[..., 0, 0], torch.ones_like(g)
    if m == 2:
        a, b, c, d = g[..., 0, 0], g[..., 0, 1], g[..., 1, 0], g[..., 1, 1]
        return a * d - b * c, torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    # rows of the adjugate: cross products of pairs of columns (for any 3 × 3 matrix)
    c0, c1, c2 = g[..., :, 0], g[..., :, 1], g[..., :, 2]
    adjugate = torch.stack(
        [torch.linalg.cross(c1, c2), torch.linalg.cross(c2, c0), torch.linalg.cross(c0, c1)], -2
    )
    return (c0 * adjugate[..., 0, :]).sum(-1), adjugate


def _determinant(g: Tensor) -> Tensor:
    return _determinant_and_adjugate(g)[0] if g.shape[-1] <= 3 else torch.linalg.det(g)


def _singular(g: Tensor, det: Tensor) -> Tensor:
    m = g.shape[-1]
    scale = (torch.diagonal(g, dim1=-2, dim2=-1).sum(-1) / m) ** m
    return ~(det / scale > 1000 * torch.finfo(g.dtype).eps)


def singular_metric(g: Tensor) -> Tensor:
    """Where the metric ``g: (..., m, m)`` counts as singular: ``(...)`` bool.

    Singular means ``det g / (tr g / m)^m`` (about the ratio of the smallest to the largest
    eigenvalue) below ``1000 · eps`` of the dtype, or not finite.
    """
    return _singular(g, _determinant(g))


def _masked_inverse(g: Tensor, bad: Tensor) -> Tensor:
    eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
    inverse, _ = torch.linalg.inv_ex(torch.where(bad[..., None, None], eye, g))
    return inverse.masked_fill(bad[..., None, None], float("nan"))


def solve_metric(g: Tensor, b: Tensor) -> Tensor:
    """``g⁻¹ b`` for ``g: (..., m, m)``, ``b: (..., m)``; NaN where ``g`` is singular."""
    if g.shape[-1] > 3:
        return (_masked_inverse(g, singular_metric(g)) @ b.unsqueeze(-1)).squeeze(-1)
    det, adjugate = _determinant_and_adjugate(g)
    solved = (adjugate @ b.unsqueeze(-1)).squeeze(-1) / det.unsqueeze(-1)
    return solved.masked_fill(_singular(g, det).unsqueeze(-1), float("nan"))


def _gauss_equation(products: Tensor, sign: float = -1.0) -> Tensor:
    """``R_ijkl = <II_ik, II_jl> − <II_il, II_jk>`` from ``products[..., a, b, c, d] = <II_ab, II_cd>``
    (with ``sign = 1`` the sum, for error bounds)."""
    return torch.einsum("...ikjl->...ijkl", products) + sign * torch.einsum("...iljk->...ijkl", products)


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
        curvature_check: where the estimated relative error of curvature
            (:attr:`curvature_error`) exceeds :func:`curvature_tolerance`, ``"raise"`` (default)
            raises :class:`SingularMetricError` and ``"warn"`` warns with the estimate.
    """

    def __init__(
        self,
        points: Tensor,
        jet_gram: Tensor,
        order: int,
        singular: str = "raise",
        curvature_check: str = "raise",
    ):
        if singular not in ("raise", "nan"):
            raise ValueError(f"singular must be 'raise' or 'nan', got {singular!r}")
        if curvature_check not in ("raise", "warn"):
            raise ValueError(f"curvature_check must be 'raise' or 'warn', got {curvature_check!r}")
        self.singular = singular
        self.curvature_check = curvature_check
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
        """``g^ij``: ``(..., m, m)``; raises :class:`SingularMetricError` where ``g`` is singular
        (see :func:`singular_metric`)."""
        g = self.metric
        bad = singular_metric(g)
        if self.singular == "nan":
            return _masked_inverse(g, bad)
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
        """Fully covariant ``R_ijkl``: ``(..., m, m, m, m)``, ``R_1212 = K det g`` on a surface.

        Checked against :attr:`curvature_error` (see ``curvature_check``)."""
        self._check_curvature()
        return _gauss_equation(self.second_fundamental_gram)

    @cached_property
    def curvature_error(self) -> Tensor:
        """Estimated relative rounding error of the curvature (Riemann, Ricci, scalar): ``(...)``.

        First-order propagation of rounding through the Gauss equation (Higham, *Accuracy and
        Stability of Numerical Algorithms*, §3.1 and §14.1): an inner product ``<a, b>`` of jet
        vectors carries an error of about ``eps |a| |b|``, the inverse metric one of about
        ``eps κ |g^{kl}|`` with ``κ`` the condition number of the metric scaled to unit diagonal.
        The errors of ``<II_ab, II_cd>`` add up in ``R_ijkl``; contracted with ``|g^{ik}| |g^{jl}|``
        like the scalar curvature, the sum is divided by the size of the curvature terms,
        ``max(|S|, Σ |g^{ik}| |g^{jl}| |<II_ij, II_kl>|)``. Near a chart singularity (the poles
        of polar coordinates) the terms cancel and the estimate grows like ``eps / det g``.
        """
        self._need(2, "the curvature error")
        eps = torch.finfo(self.jet_gram.dtype).eps
        g, inv = self.metric, self.metric_inverse.abs()
        second = torch.tensor(self._second, device=self.jet_gram.device)
        diagonal = torch.diagonal(self.jet_gram, dim1=-2, dim2=-1).clamp_min(0).sqrt()
        first_norm, second_norm = diagonal[..., self._first], diagonal[..., second]  # |∂_k phi|, |∂_ab phi|
        gamma = self.christoffel_first_kind.abs()  # [..., l, a, b]
        unit = g / (first_norm[..., :, None] * first_norm[..., None, :])
        eigen = torch.linalg.eigvalsh(unit)
        kappa = (eigen[..., -1] / eigen[..., 0]).abs()[..., None, None, None, None]
        weight = torch.einsum("...k,...kl,...lab->...ab", first_norm, inv, gamma)
        outer = lambda a, b: a[..., :, :, None, None] * b[..., None, None, :, :]  # noqa: E731
        error = outer(second_norm, second_norm) + outer(second_norm, weight) + outer(weight, second_norm)
        error = error + kappa * torch.einsum("...kab,...kl,...lcd->...abcd", gamma, inv, gamma)
        contract = lambda r: torch.einsum("...ik,...jl,...ijkl->...", inv, inv, r)  # noqa: E731
        scalar_error = eps * contract(_gauss_equation(error, sign=1.0))
        size = contract(self.second_fundamental_gram.abs())
        scalar = contract(_gauss_equation(self.second_fundamental_gram).abs())
        return scalar_error / torch.maximum(size, scalar).clamp_min(torch.finfo(g.dtype).tiny)

    def _check_curvature(self) -> None:
        error = self.curvature_error
        limit = curvature_tolerance(error.dtype)
        bad = ~(error <= limit)
        if not bad.any():
            return
        worst = int(error.reshape(-1).nan_to_num(float("inf")).argmax())
        where = self.points.reshape(-1, self.dim)[worst].tolist()
        message = (
            f"curvature at s = {where} is only accurate to about {error.reshape(-1)[worst].item():.1e} "
            f"(relative; tolerance {limit:.0e}): the metric is nearly singular there; evaluate "
            "farther from the chart's singular points or use another chart"
        )
        if self.curvature_check == "raise":
            raise SingularMetricError(message + " (or set curvature_check = 'warn')")
        warnings.warn(message, RuntimeWarning, stacklevel=4)

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
