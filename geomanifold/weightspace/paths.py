"""Paths between two networks: curves in weight space with pinned ends (docs/concepts.md, "Paths of
networks that keep their function").

A path is a 1-D linear-basis manifold ``γ(t) = Σ_k φ_k(t) P_k``, ``t ∈ [0, 1]``, over a clamped
basis (``φ_0(0) = 1``, ``φ_{K-1}(1) = 1``), with ``P_0 = A`` and ``P_{K-1} = B`` fixed and the
``K − 2`` interior control points free (an ``nn.Parameter`` of shape ``(K − 2, D)``):

* :func:`straight_line`: Bernstein degree 1 (``K = 2``, nothing free);
* :func:`polyline`: ``n`` free interior points at ``t = i / (n + 1)`` (B-spline of degree 1);
* :func:`bezier`: Bernstein basis of degree ``d`` (``K = d + 1``);
* :func:`bspline_path`: clamped uniform cubic (or other degree) B-spline with ``K`` control points.

Interior points start on the chord at the basis's Greville abscissae, where every clamped
B-spline reproduces the straight line ``A + t (B − A)`` exactly. Euclidean speed, length and
curvature come from :class:`~geomanifold.geometry.LinearBasisManifold` on the control points
relative to ``A`` (the ``K × K`` fast path, in float64).
"""

from __future__ import annotations

import torch
from numpy.polynomial.legendre import leggauss
from torch import Tensor, nn

from ..arguments import check_int
from ..bases import Bernstein, BSpline
from ..geometry import LinearBasisManifold

NODES_PER_SPAN = 8

__all__ = ["PinnedCurve", "bezier", "bspline_path", "combine", "polyline", "straight_line"]


def _check_endpoints(start: Tensor, end: Tensor) -> None:
    for name, w in (("start", start), ("end", end)):
        if not isinstance(w, Tensor) or not w.is_floating_point() or w.ndim != 1:
            shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"{name} must be a floating-point weight vector (D,), got {shape}")
        bad = int((~torch.isfinite(w)).sum())
        if bad:
            raise ValueError(f"{name} has {bad} NaN or infinite entries")
    if start.shape != end.shape or start.dtype != end.dtype or start.device != end.device:
        raise ValueError(
            f"start and end must be weight vectors of the same architecture: got {tuple(start.shape)} "
            f"{start.dtype} on {start.device} and {tuple(end.shape)} {end.dtype} on {end.device}"
        )


def _times(t, like: Tensor) -> Tensor:
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
    if t.numel() == 0 or not ((t >= 0) & (t <= 1)).all():
        raise ValueError(f"t must be a non-empty set of times in [0, 1], got {t.tolist()}")
    return t.to(like.device)


def _clamped_on_unit_interval(basis: BSpline) -> bool:
    """First and last ``p + 1`` knots at 0 and 1: ``φ_0(0) = φ_{K-1}(1) = 1`` (the ends are pinned)."""
    p, knots = basis.degree, basis.knots
    return p >= 1 and bool((knots[: p + 1] == 0).all() and (knots[-p - 1 :] == 1).all())


class PinnedCurve(nn.Module):
    """``γ(t) = Σ_k φ_k(t) P_k`` with ``P_0 = start``, ``P_{K-1} = end`` fixed.

    Args:
        basis: a clamped 1-D :class:`~geomanifold.bases.BSpline` (``Bernstein`` included) on ``[0, 1]``.
        start, end: ``(D,)`` the endpoints (buffers, never trained).
        interior: ``(K − 2, D)`` initial interior control points; on the chord at the Greville
            abscissae when ``None``.

    Attributes:
        interior: ``nn.Parameter (K − 2, D)`` (an empty ``(0, D)`` buffer when ``K = 2``).
    """

    def __init__(self, basis: BSpline, start: Tensor, end: Tensor, interior: Tensor | None = None):
        super().__init__()
        if not isinstance(basis, BSpline) or basis.chart.periodic[0] or not _clamped_on_unit_interval(basis):
            raise ValueError(
                f"basis must be a clamped BSpline or Bernstein basis of degree >= 1 on [0, 1], got {basis!r}"
            )
        _check_endpoints(start, end)
        self.basis = basis
        self.register_buffer("start", start.detach().clone())
        self.register_buffer("end", end.detach().clone())
        free = basis.size - 2
        if interior is None:
            xi = self.greville()[1:-1].to(start)
            interior = start + xi[:, None] * (end - start)
        if interior.shape != (free, start.numel()):
            raise ValueError(
                f"interior must have shape (K - 2 = {free}, D = {start.numel()}), got {tuple(interior.shape)}"
            )
        if free:
            self.interior = nn.Parameter(interior.detach().clone().to(start))
        else:
            self.register_buffer("interior", interior.detach().clone().to(start))

    def greville(self) -> Tensor:
        """Greville abscissae ``ξ_k = mean(t_{k+1}, …, t_{k+p})``: ``(K,)`` float64 (``Σ ξ_k φ_k(t) = t``)."""
        p, knots = self.basis.degree, self.basis.knots
        return torch.stack([knots[k + 1 : k + p + 1].mean() for k in range(self.basis.size)])

    @property
    def dim(self) -> int:
        """``D``."""
        return self.start.numel()

    def control_points(self) -> Tensor:
        """``P: (K, D)``, endpoints included (differentiable in the interior points)."""
        return torch.cat([self.start[None], self.interior, self.end[None]])

    def derivative(self, t, order: int = 0) -> Tensor:
        """``dᵒγ/dtᵒ`` at times ``t: (T,)`` in ``[0, 1]`` → ``(T, D)``."""
        t = _times(t, self.start)
        coefficients = self.basis.partial(t[:, None], (order,)).to(self.start)
        if order == 0:
            return coefficients @ self.control_points()
        # derivative coefficients sum to 0: mix the offsets from the start (less cancellation)
        return coefficients[:, 1:] @ (self.control_points()[1:] - self.start)

    def terms(self, t) -> list[list[tuple[int, float]]]:
        """For each time of ``t: (T,)``, the nonzero basis values ``[(k, φ_k(t))]`` (at most
        ``degree + 1`` for a B-spline), ``k`` indexing the control points endpoints included:
        ``γ(t) = Σ φ_k(t) P_k`` over them."""
        coefficients = self.basis.partial(_times(t, self.start)[:, None], (0,))
        return [[(k, c) for k, c in enumerate(row) if c != 0] for row in coefficients.tolist()]

    def rows(self) -> list[Tensor]:
        """The control points ``[P_0, …, P_{K-1}]``, ``(D,)`` each (differentiable in the interior)."""
        return [self.start, *self.interior.unbind(0), self.end]

    def points(self, t) -> list[Tensor]:
        """``[γ(t_j)]``, one ``(D,)`` tensor per time of ``t: (T,)``, summing only the nonzero basis
        values (:func:`combine`; a point at a control point's own time is that point itself): no
        ``(K, D)`` concatenation and no dense ``(T, K) × (K, D)`` product, which with so few rows
        runs far below the machine's speed."""
        rows = self.rows()
        return [combine(terms, rows) for terms in self.terms(t)]

    def forward(self, t) -> Tensor:
        """``γ(t)``: ``(T,)`` → ``(T, D)``."""
        return self.derivative(t, 0)

    def manifold(self) -> LinearBasisManifold:
        """The curve ``γ(t) − A`` as a float64 :class:`~geomanifold.geometry.LinearBasisManifold`
        (detached): Euclidean metric ``|γ'|²``, length and curvature by its ``K × K`` fast path."""
        offsets = (self.control_points() - self.start).detach().double()
        return LinearBasisManifold(self.basis, offsets)

    def _squared_speed_quadrature(self) -> tuple[Tensor, Tensor]:
        """``|γ'(t_q)|²`` and weights ``w_q``, ``(Q,)`` each, Gauss–Legendre on every knot span
        (exact for the piecewise-polynomial ``|γ'|²``; no node on a kink)."""
        knots = torch.unique(self.basis.knots)
        base, base_weights = (torch.as_tensor(a) for a in leggauss(NODES_PER_SPAN))
        low, high = knots[:-1, None], knots[1:, None]
        nodes = ((low + high) / 2 + (high - low) / 2 * base).reshape(-1, 1)
        with torch.no_grad():
            speed2 = self.manifold().metric(nodes)[:, 0, 0]
        return speed2, ((high - low) / 2 * base_weights).reshape(-1)

    def euclidean_length(self) -> float:
        """``∫ |γ'(t)| dt`` (exact for polylines, Gauss–Legendre per knot span otherwise)."""
        speed2, weights = self._squared_speed_quadrature()
        return float(weights @ speed2.sqrt())

    def euclidean_energy(self) -> float:
        """``∫ |γ'(t)|² dt`` (exact: ``|B − A|²`` for the straight line)."""
        speed2, weights = self._squared_speed_quadrature()
        return float(weights @ speed2)


def combine(terms: list[tuple[int, float]], rows: list[Tensor], out: Tensor | None = None) -> Tensor:
    """``Σ c · rows[k]`` over ``terms = [(k, c)]``: ``(D,)``; the row itself for a single coefficient
    of 1 (no copy), else formed in ``out`` (a new tensor when ``None``) by one scaling and one
    fused ``add_`` per further term."""
    if len(terms) == 1 and terms[0][1] == 1:
        return rows[terms[0][0]]
    if not terms:
        return torch.zeros_like(rows[0]) if out is None else out.zero_()
    (k, c), *rest = terms
    point = torch.mul(rows[k], c, out=out) if out is not None else rows[k] * c
    for k, c in rest:
        point = point.add_(rows[k], alpha=c)
    return point


def straight_line(start: Tensor, end: Tensor) -> PinnedCurve:
    """``γ(t) = (1 − t) A + t B``."""
    return PinnedCurve(Bernstein(1), start, end)


def polyline(
    start: Tensor, end: Tensor, interior_points: int = 16, interior: Tensor | None = None
) -> PinnedCurve:
    """A free polyline with ``n = interior_points`` interior points at ``t = i / (n + 1)``."""
    check_int("interior_points", interior_points, 0)
    return PinnedCurve(BSpline.open(interior_points + 2, 1), start, end, interior)


def bezier(start: Tensor, end: Tensor, degree: int = 2) -> PinnedCurve:
    """A Bézier curve of ``degree`` (``degree − 1`` free control points)."""
    check_int("degree", degree, 1)
    return PinnedCurve(Bernstein(degree), start, end)


def bspline_path(start: Tensor, end: Tensor, control_points: int = 6, degree: int = 3) -> PinnedCurve:
    """A clamped uniform B-spline with ``control_points`` control points (``control_points − 2`` free)."""
    if (
        not isinstance(control_points, int)
        or not isinstance(degree, int)
        or degree < 1
        or control_points < degree + 1
    ):
        raise ValueError(
            "control_points must be an int >= degree + 1 with degree >= 1, "
            f"got {control_points!r} and {degree!r}"
        )
    return PinnedCurve(BSpline.open(control_points, degree), start, end)
