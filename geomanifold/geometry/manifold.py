"""Embedded manifolds: geometry derived from the immersion ``phi`` alone (docs/concepts.md, "A manifold
is a map"; do Carmo, *Riemannian Geometry*, ch. 1-6).

A subclass sets ``dim`` (m, 1 to 3), implements ``phi(s): (..., m) -> (..., D)`` and optionally a
``chart`` (default: all of ``R^m``). Everything else is derived matrix-free: derivative vectors by
nested forward-mode jvps (:func:`geomanifold.jets.jet`), their Gram matrix, then ``m × m`` algebra
in :class:`~geomanifold.geometry.local.LocalGeometry`. Subclasses with structure (the linear-basis
manifold) override :meth:`EmbeddedManifold.jet_gram` only.
"""

from __future__ import annotations

from abc import abstractmethod
from itertools import chain

import torch
from torch import Tensor, nn
from torch.func import jvp

from ..chart import Chart, as_points
from ..jets import ScalarArithmetic, jet
from . import geodesics
from .local import LocalGeometry, solve_metric

__all__ = ["EmbeddedManifold"]


class EmbeddedManifold(nn.Module):
    """A smooth map ``phi: U ⊂ R^m -> R^D`` and the geometry it induces.

    Shapes: chart points ``s`` are ``(..., m)``; all results are batched over ``...``.
    Device and dtype follow ``s`` (which must match the manifold's parameters, if any).
    Numbers, lists and arrays are converted to float64 tensors.
    """

    dim: int
    #: where the estimated relative error of a curvature exceeds 1e-8 (float64): ``"raise"``
    #: :class:`~geomanifold.geometry.local.SingularMetricError`, or ``"warn"`` with the estimate
    curvature_check: str = "raise"

    def __init__(self, chart: Chart | None = None):
        super().__init__()
        if chart is not None:
            if chart.dim != self.dim:
                raise ValueError(f"chart has {chart.dim} coordinates but dim = {self.dim}")
            self.chart = chart

    @property
    def chart(self) -> Chart:
        """The chart domain; all of ``R^m`` unless the subclass or constructor says otherwise."""
        return self.__dict__.get("_chart") or Chart.euclidean(self.dim)

    @chart.setter
    def chart(self, chart: Chart) -> None:
        self.__dict__["_chart"] = chart

    @abstractmethod
    def phi(self, s: Tensor) -> Tensor:
        """The immersion: ``(..., m) -> (..., D)``, acting independently on each point."""

    # ----------------------------------------------------------------- input handling
    def _reference(self) -> Tensor | None:
        """The first parameter or buffer (its dtype and device rule), or None."""
        return next(chain(self.parameters(), self.buffers()), None)

    def points(self, s, name: str = "s") -> Tensor:
        """Validate chart points: shape ``(..., m)``, finite, in the domain, dtype/device of the manifold."""
        ref = self._reference()
        s = self.chart.validate(s, name, dtype=None if ref is None else ref.dtype)
        if ref is not None and s.device != ref.device:
            raise ValueError(
                f"{name} is on {s.device} but the manifold's tensors are on {ref.device}; "
                f"move {name} with .to({str(ref.device)!r})"
            )
        return s

    def tangent(self, v, s: Tensor, name: str = "v") -> Tensor:
        """Validate chart tangent vectors ``(..., m)`` against points ``s`` (broadcastable)."""
        v = as_points(v, name, dtype=s.dtype).to(s.device)
        if v.ndim == 0 or v.shape[-1] != self.dim:
            raise ValueError(f"{name} must have shape (..., {self.dim}), got {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or Inf")
        return v

    # ----------------------------------------------------------------- derivatives
    def point(self, s) -> Tensor:
        """``phi(s)``: ``(..., m) -> (..., D)``."""
        return self.phi(self.points(s))

    def jet(self, s: Tensor, order: int) -> Tensor:
        """Derivative vectors of ``phi`` for every multi-index up to ``order``: ``(..., n, D)``."""
        return jet(self.phi, s, order)

    def jet_gram(self, s: Tensor, order: int) -> Tensor:
        """Ambient inner products of the jet vectors: ``(..., n, n)``."""
        vectors = self.jet(s, order)
        return vectors @ vectors.transpose(-1, -2)

    def squared_chords(self, path: Tensor) -> Tensor:
        """``|phi(p_{i+1}) − phi(p_i)|²`` along chart points ``path: (n + 1, ..., m)``: ``(n, ...)``
        (differentiable; the discrete path energy of the geodesic solver sums them)."""
        x = self.phi(path)
        return ((x[1:] - x[:-1]) ** 2).sum(-1)

    def local_geometry(self, s, order: int = 2) -> LocalGeometry:
        """All intrinsic quantities at ``s`` from one jet Gram (see :class:`LocalGeometry`)."""
        s = self.points(s)
        return LocalGeometry(s, self.jet_gram(s, order), order, curvature_check=self.curvature_check)

    # ----------------------------------------------------------------- extrinsic
    def tangent_basis(self, s) -> Tensor:
        """Columns ``∂_i phi``: ``(..., D, m)``."""
        return self.jet(self.points(s), 1)[..., 1:, :].transpose(-1, -2)

    def second_fundamental_form(self, s) -> Tensor:
        """``II_ij = ∂_i∂_j phi − Γ^k_ij ∂_k phi`` (normal part): ``(..., m, m, D)``."""
        s = self.points(s)
        vectors = self.jet(s, 2)
        local = LocalGeometry(s, vectors @ vectors.transpose(-1, -2), 2)
        m = self.dim
        first = vectors[..., 1 : m + 1, :]
        second = torch.stack(
            [torch.stack([vectors[..., p, :] for p in row], dim=-2) for row in local._second],
            dim=-3,
        )
        return second - torch.einsum("...kij,...kd->...ijd", local.christoffel, first)

    def mean_curvature_vector(self, s) -> Tensor:
        """``H = (1/m) g^{ij} II_ij``: ``(..., D)`` (length ``1/r`` on a sphere of radius r)."""
        s = self.points(s)
        ginv = self.local_geometry(s, 1).metric_inverse
        return torch.einsum("...ij,...ijd->...d", ginv, self.second_fundamental_form(s)) / self.dim

    # ----------------------------------------------------------------- intrinsic
    def metric(self, s) -> Tensor:
        """Induced metric ``g_ij = <∂_i phi, ∂_j phi>``: ``(..., m, m)``."""
        return self.local_geometry(s, 1).metric

    def metric_inverse(self, s) -> Tensor:
        """``g^ij``: ``(..., m, m)``; raises ``SingularMetricError`` at singular points."""
        return self.local_geometry(s, 1).metric_inverse

    def volume_element(self, s) -> Tensor:
        """``sqrt(det g)``: ``(...)``."""
        return self.local_geometry(s, 1).volume_element

    def volume(self, points: int = 64) -> Tensor:
        """Total volume (length for curves, area for surfaces) by quadrature over the chart.

        Gauss–Legendre on interval coordinates, the uniform rule on periodic ones, ``points``
        nodes per coordinate. Needs a bounded chart.
        """
        ref = self._reference()
        dtype = torch.float64 if ref is None else ref.dtype
        nodes, weights = self.chart.quadrature(
            points, dtype=dtype, device=None if ref is None else ref.device
        )
        return weights @ self.local_geometry(nodes, 1).volume_element

    def christoffel(self, s) -> Tensor:
        """``Γ^k_ij``: ``(..., m, m, m)`` indexed ``[..., k, i, j]``."""
        return self.local_geometry(s, 2).christoffel

    def riemann(self, s) -> Tensor:
        """Fully covariant Riemann tensor (Gauss equation): ``(..., m, m, m, m)``."""
        return self.local_geometry(s, 2).riemann

    def ricci(self, s) -> Tensor:
        """Ricci tensor ``R_jl = g^{ik} R_ijkl``: ``(..., m, m)``."""
        return self.local_geometry(s, 2).ricci

    def scalar_curvature(self, s) -> Tensor:
        """Scalar curvature: ``(...)``."""
        return self.local_geometry(s, 2).scalar_curvature

    def gaussian_curvature(self, s) -> Tensor:
        """Gaussian curvature (surfaces only): ``(...)``."""
        return self.local_geometry(s, 2).gaussian_curvature

    def sectional_curvature(self, s, u, v) -> Tensor:
        """Sectional curvature of the plane spanned by chart vectors ``u, v: (..., m)``: ``(...)``."""
        s = self.points(s)
        return self.local_geometry(s, 2).sectional_curvature(self.tangent(u, s, "u"), self.tangent(v, s, "v"))

    def curvature(self, s) -> Tensor:
        """Curvature ``κ`` of a curve (m = 1): ``(...)``."""
        return self.local_geometry(s, 2).curvature

    def torsion(self, s) -> Tensor:
        """Unsigned torsion ``|τ|`` of a curve (m = 1): ``(...)``."""
        return self.local_geometry(s, 3).torsion

    # ----------------------------------------------------------------- geodesics
    def christoffel_field(self, s: Tensor) -> Tensor:
        """``Γ^k_ij`` at points not checked against the chart, NaN where the metric is singular
        (for integrators)."""
        return LocalGeometry(s, self.jet_gram(s, 2), 2, singular="nan").christoffel

    def acceleration_terms(self, s: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """``g_ij`` and ``b_l = <∂_l phi, D²phi[v, v]> = Γ_{l,ij} v^i v^j`` at unchecked points
        ``s, v: (..., m)``: ``(..., m, m)`` and ``(..., m)``.

        One nested jvp over the ``m + 1`` directions ``e_1, …, e_m, v`` per point; subclasses with
        structure override it (the linear-basis manifold uses its cached Gram).
        """
        m = self.dim
        eye = torch.eye(m, dtype=s.dtype, device=s.device).expand(*s.shape[:-1], m, m)
        directions = torch.cat([eye, v.unsqueeze(-2)], dim=-2)  # (..., m + 1, m)
        points = s.unsqueeze(-2).expand_as(directions).contiguous()
        # the directions enter the outer jvp as inputs with a zero tangent: as captured constants
        # they would make torch.func fall back to slow reference kernels for zero tangents
        with ScalarArithmetic():
            first, second = jvp(
                lambda x, d: jvp(self.phi, (x,), (d,))[1],
                (points, directions),
                (directions, torch.zeros_like(directions)),
            )
        tangent = first[..., :m, :]
        return tangent @ tangent.transpose(-1, -2), (tangent @ second[..., m, :, None]).squeeze(-1)

    def geodesic_acceleration(self, s: Tensor, v: Tensor) -> Tensor:
        """``s'' = −Γ^k_ij v^i v^j`` at unchecked points ``s, v: (..., m)``; NaN where the metric is
        singular (the right-hand side of the geodesic equation). Compiled after
        :meth:`compile_geodesics`."""
        compiled = self.__dict__.get("_compiled_acceleration")
        return self._acceleration(s, v) if compiled is None else compiled(s, v)

    def _acceleration(self, s: Tensor, v: Tensor) -> Tensor:
        g, b = self.acceleration_terms(s, v)
        return -solve_metric(g, b)

    def compile_geodesics(self, backend: str = "inductor") -> EmbeddedManifold:
        """Opt in to a ``torch.compile``-d geodesic right-hand side for this instance; returns it.

        Every geodesic method (``exp``, ``log``, ``distance``, ``shortest_geodesics``, ...) then
        integrates with the compiled :meth:`geodesic_acceleration` (``dynamic=True``: the batch
        shrinking as trajectories finish does not recompile). The first call compiles (seconds to
        tens of seconds with ``"inductor"``, which needs a C++ compiler on CPU); values agree with
        the eager ones to rounding. Worth it for large batches of long integrations only.
        """
        backends = torch.compiler.list_backends(exclude_tags=())
        if backend not in backends:
            raise ValueError(
                f"backend must be a torch.compile backend such as 'inductor' or 'aot_eager', got {backend!r}"
            )
        compiled = torch.compile(self._acceleration, backend=backend, dynamic=True)
        self.__dict__["_compiled_acceleration"] = compiled
        return self

    def exp(self, s, v, tol: float = 1e-12) -> Tensor:
        """Exponential map: the end ``γ(1)`` of the geodesic with ``γ(0) = s``, ``γ'(0) = v``.

        Integrates ``s''^k + Γ^k_ij s'^i s'^j = 0`` by the adaptive Dormand–Prince 8(5,3) method
        with local tolerance ``tol`` (relative and absolute, per step).
        Shapes: ``s, v: (..., m)`` (broadcast) ``-> (..., m)``; periodic coordinates wrapped.
        Raises :class:`~geomanifold.geometry.geodesics.GeodesicError` if a geodesic leaves the chart.
        """
        s = self.points(s)
        return geodesics.exp(self, s, self.tangent(v, s), tol)

    def geodesic(self, s, v, times: int = 65, tol: float = 1e-12) -> Tensor:
        """Points of the geodesic from ``s`` along ``v`` at ``times`` evenly spaced ``t ∈ [0, 1]``.

        Shapes: ``s, v: (..., m)`` ``-> (times, ..., m)`` (not wrapped, so it plots continuously).
        """
        s = self.points(s)
        return geodesics.trajectory(self, s, self.tangent(v, s), times, tol)

    def _pairs(self, s0, s1) -> tuple[Tensor, Tensor]:
        s0, s1 = self.points(s0, "s0"), self.points(s1, "s1")
        if s1.dtype != s0.dtype:
            raise TypeError(
                f"s1 has dtype {s1.dtype} but s0 has {s0.dtype}; the points of a pair must share a dtype"
            )
        try:  # broadcast_tensors, not broadcast_shapes: the latter imports sympy on first use (seconds)
            torch.broadcast_tensors(s0, s1)
        except RuntimeError:
            raise ValueError(
                f"s0 has shape {tuple(s0.shape)} and s1 has shape {tuple(s1.shape)}; they must be "
                "broadcastable (..., m)"
            ) from None
        return s0, s1

    def shortest_geodesics(
        self, s0, s1, tol: float = 1e-10, max_iter: int = geodesics.MAX_ITER
    ) -> geodesics.ShortestGeodesics:
        """Certified shortest geodesics for all pairs, without raising for pairs that fail.

        Shooting (Newton on ``exp(s0, v) = s1``) from every wrap-around of the periodic coordinates
        in one batch. A pair converges when the endpoint residual ``|exp(s0, v) − s1|_g / |v|_g`` is
        at most ``tol`` and the shortest such geodesic is no longer than the straight chart line;
        the result holds the velocities, lengths, residuals, a mask of converged pairs and the
        reason for each failure (see :class:`~geomanifold.geometry.geodesics.ShortestGeodesics`).
        """
        s0, s1 = self._pairs(s0, s1)
        return geodesics.shortest_geodesics(self, s0, s1, tol, max_iter)

    def log(self, s0, s1, tol: float = 1e-10) -> Tensor:
        """Initial velocity of the shortest geodesic from ``s0`` to ``s1``: ``(..., m)``.

        Raises :class:`~geomanifold.geometry.geodesics.GeodesicError` naming the first pair that
        could not be certified (see :meth:`shortest_geodesics`, which returns a mask instead).
        """
        result = self.shortest_geodesics(s0, s1, tol)
        result.raise_if_failed("log")
        return result.velocity

    def distance(self, s0, s1, tol: float = 1e-10) -> Tensor:
        """Geodesic distance ``|log(s0, s1)|_g``: ``(...)``; raises like :meth:`log`."""
        result = self.shortest_geodesics(s0, s1, tol)
        result.raise_if_failed("distance")
        return result.length

    def pairwise_distance(self, s, tol: float = 1e-10) -> Tensor:
        """Distance matrix of the points ``s: (N, m)``: ``(N, N)``, all ``N (N − 1) / 2`` pairs in
        one batch; raises like :meth:`log`, naming the pair ``(i, j)``."""
        s = self.points(s)
        if s.ndim != 2:
            raise ValueError(f"s must have shape (N, {self.dim}), got {tuple(s.shape)}")
        i, j = torch.triu_indices(len(s), len(s), 1, device=s.device)
        result = geodesics.shortest_geodesics(self, s[i], s[j], tol, geodesics.MAX_ITER)
        if not bool(result.converged.all()):
            k = int((~result.converged).nonzero()[0])
            raise geodesics.GeodesicError(
                f"pairwise_distance: no shortest geodesic certified between s[{int(i[k])}] = "
                f"{s[i[k]].tolist()} and s[{int(j[k])}] = {s[j[k]].tolist()}: {result.reasons[k]}"
            )
        out = torch.zeros(len(s), len(s), dtype=s.dtype, device=s.device)
        out[i, j] = result.length
        out[j, i] = result.length
        return out

    def parallel_transport(self, s, v, w, tol: float = 1e-12) -> Tensor:
        """Transport the tangent vector ``w`` along the geodesic ``exp(s, t v)``, ``t ∈ [0, 1]``.

        Integrates ``w'^k + Γ^k_ij s'^i w^j = 0`` with the geodesic (adaptive, local tolerance
        ``tol``). Shapes ``(..., m)``.
        """
        s = self.points(s)
        return geodesics.transport(self, s, self.tangent(v, s), self.tangent(w, s, "w"), tol)
