"""B-spline bases (open, periodic, arbitrary knots) and the Bernstein (Bézier) basis.

Values by the Cox–de Boor recursion over a knot vector ``t`` (length ``L``)::

    B_{i,0}(s) = [t_i <= s < t_{i+1}]
    B_{i,q}(s) = (s - t_i)/(t_{i+q} - t_i) B_{i,q-1}(s)
               + (t_{i+q+1} - s)/(t_{i+q+1} - t_{i+1}) B_{i+1,q-1}(s)

with ``0/0 := 0`` for repeated knots, and derivatives by the linear recursion
``B'_{i,q} = q/(t_{i+q} - t_i) B_{i,q-1} - q/(t_{i+q+1} - t_{i+1}) B_{i+1,q-1}`` so that
``dʳφ/dsʳ = B_{p-r}(s) · D_{p-r+1} ⋯ D_p`` with precomputed matrices ``D_q``. Only plain torch
ops act on ``s``, so ``torch.func.jvp`` differentiates the values too. The domain is
``[t_p, t_{L-p-1}]``, right end included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..arguments import check_int
from ..chart import Chart, Interval, Periodic
from .basis import Basis

__all__ = ["BSpline", "Bernstein", "Line"]


class _Tables(NamedTuple):
    knots: Tensor
    inverse_widths: list[Tensor]
    derivative_maps: list[Tensor]


def _inverse_or_zero(width: Tensor) -> Tensor:
    """``1/width`` where ``width > 0``, else 0 (the ``0/0 := 0`` rule of repeated knots)."""
    return torch.where(width > 0, 1 / torch.where(width > 0, width, 1.0), 0.0)


class BSpline(Basis):
    """B-spline basis of degree ``p`` over a nondecreasing knot vector.

    Args:
        knots: ``t``, length ``L >= 2p + 2`` with ``t_p < t_{L-p-1}``; the domain is
            ``[t_p, t_{L-p-1}]``.
        degree: ``p >= 0``.
        periodic: treat ``knots`` as the extended knot vector of a periodic spline of period
            ``t_{L-p-1} - t_p``: it must satisfy ``t_{j+N} = t_j + period`` for ``j <= 2p``
            (``N = L - 2p - 1``), and the ``p`` functions past ``N`` are folded back onto the
            first ``p``, giving ``K = N`` functions on a :class:`~geomanifold.chart.Periodic`
            chart. Otherwise ``K = L - p - 1`` on an :class:`~geomanifold.chart.Interval`.

    Values ``φ: (..., 1) -> (..., K)``.
    """

    def __init__(self, knots: Sequence[float] | Tensor, degree: int, periodic: bool = False):
        t = torch.as_tensor(knots, dtype=torch.float64, device="cpu")
        low, high = _check_knots(t, degree, periodic)
        p, length = degree, t.shape[0]
        raw = length - p - 1
        self.knots, self.degree = t, p
        self.dim = 1
        self.size = raw - p if periodic else raw
        fold = torch.eye(self.size, dtype=torch.float64)
        if periodic:
            fold = torch.cat([fold, fold[:p]])
            self.chart = Chart([Periodic(high - low, low)])
        else:
            self.chart = Chart([Interval(low, high)])
        nonempty = [i for i in range(p, raw) if t[i] < t[i + 1]]
        self._spans = (nonempty[0], nonempty[-1])
        # inverse knot widths 1/(t_{i+q} - t_i), i < L - q, at entry q - 1 for q = 1 … p
        self._inverse_widths = [_inverse_or_zero(t[q:] - t[: length - q]) for q in range(1, p + 1)]
        # coefficient maps: dʳφ = B_{p-r} @ _derivative_maps[r], shape (L - p + r - 1, K)
        maps = [fold]
        for q in range(p, 0, -1):
            maps.append(self._derivative_matrix(q) @ maps[-1])
        self._derivative_maps = maps
        self._cache: dict[tuple[torch.dtype, torch.device], _Tables] = {}

    @classmethod
    def open(cls, n_basis: int, degree: int = 3) -> BSpline:
        """Clamped uniform B-spline basis on ``[0, 1]`` with ``n_basis >= degree + 1`` functions."""
        _check_counts(n_basis, degree)
        inner = np.linspace(0.0, 1.0, n_basis - degree + 1)
        return cls(np.concatenate([[0.0] * degree, inner, [1.0] * degree]), degree)

    @classmethod
    def periodic(cls, n_basis: int, degree: int = 3) -> BSpline:
        """Uniform periodic B-spline basis of period 1 with ``n_basis >= degree + 1`` functions."""
        _check_counts(n_basis, degree)
        return cls(np.arange(-degree, n_basis + degree + 1) / n_basis, degree, periodic=True)

    def _derivative_matrix(self, q: int) -> Tensor:
        """``D_q``, shape ``(L - q, L - q - 1)``: ``dB_q/ds = B_{q-1} @ D_q``."""
        w = q * self._inverse_widths[q - 1]
        return torch.diag(w)[:, :-1] - torch.diag(w[1:], -1)[:, :-1]

    def _tables(self, dtype: torch.dtype, device: torch.device) -> _Tables:
        """Knots, inverse widths and derivative maps in ``dtype`` on ``device`` (cached)."""
        key = (dtype, device)
        if key not in self._cache:

            def convert(tensors: list[Tensor]) -> list[Tensor]:
                return [x.to(dtype=dtype, device=device) for x in tensors]

            knots = self.knots.to(dtype=dtype, device=device)
            tables = _Tables(knots, convert(self._inverse_widths), convert(self._derivative_maps))
            self._cache[key] = tables
        return self._cache[key]

    def _raw(self, x: Tensor, degree: int) -> Tensor:
        """Unfolded B-splines of ``degree <= p`` at ``x: (...)`` → ``(..., L - degree - 1)``."""
        tables = self._tables(x.dtype, x.device)
        t = tables.knots
        span = torch.searchsorted(t, x.detach().contiguous(), right=True) - 1
        span = span.clamp(*self._spans)
        b = (span[..., None] == torch.arange(t.shape[0] - 1, device=x.device)).to(x.dtype)
        x = x[..., None]
        for q in range(1, degree + 1):
            inv = tables.inverse_widths[q - 1]
            left = (x - t[: -q - 1]) * inv[:-1]
            right = (t[q + 1 :] - x) * inv[1:]
            b = left * b[..., :-1] + right * b[..., 1:]
        return b

    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """``dʳφ/dsʳ`` for ``s: (..., 1)``, ``order = (r,)`` → ``(..., K)``; zero for ``r > p``."""
        (r,) = order
        if r > self.degree:
            return s.new_zeros((*s.shape[:-1], self.size))
        x = self.chart.wrap(s)[..., 0]
        return self._raw(x, self.degree - r) @ self._tables(s.dtype, s.device).derivative_maps[r]

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``G = ∫ φ φᵀ dμ`` by ``p + 1``-point Gauss–Legendre per knot span (exact)."""
        return self._span_moments()[0].to(dtype=dtype, device=device)

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``∫ φ dμ`` by the same quadrature as :meth:`gram`."""
        return self._span_moments()[1].to(dtype=dtype, device=device)

    def _span_moments(self) -> tuple[Tensor, Tensor]:
        xi, omega = np.polynomial.legendre.leggauss(self.degree + 1)
        first, last = self._spans
        a, b = self.knots[first : last + 1, None], self.knots[first + 1 : last + 2, None]
        nodes = (a + (b - a) * (torch.as_tensor(xi) + 1) / 2).reshape(-1)
        weights = ((b - a) * torch.as_tensor(omega) / 2).reshape(-1)
        weights = weights / self.chart.measure()
        values = self.partial(nodes[:, None], (0,))
        return values.T @ (weights[:, None] * values), weights @ values

    def __repr__(self) -> str:
        return f"BSpline(degree={self.degree}, size={self.size}, periodic={self.chart.periodic[0]})"


def _check_knots(t: Tensor, degree: int, periodic: bool) -> tuple[float, float]:
    """Validate a knot vector for ``degree``; return the domain ``(t_p, t_{L-p-1})``."""
    check_int("degree", degree, 0)
    if t.ndim != 1 or not torch.isfinite(t).all():
        raise ValueError(f"knots must be a 1-D sequence of finite numbers, got {tuple(t.shape)}")
    if (t[1:] < t[:-1]).any():
        raise ValueError("knots must be nondecreasing")
    p, length = degree, t.shape[0]
    needed = 3 * p + 2 if periodic else 2 * p + 2
    if length < needed:
        raise ValueError(
            f"knots: degree {p} needs >= {needed} knots ({p + 1} basis functions), got {length}"
        )
    low, high = t[p].item(), t[length - p - 1].item()
    if not low < high:
        raise ValueError(f"knots give an empty domain [t_p, t_(L-p-1)] = [{low}, {high}]")
    n, period = length - 2 * p - 1, high - low
    if periodic and not torch.allclose(t[n:], t[: 2 * p + 1] + period, rtol=0, atol=1e-12 * period):
        raise ValueError("periodic knots must repeat with the period: t[j + K] = t[j] + period")
    return low, high


def _check_counts(n_basis: int, degree: int) -> None:
    check_int("degree", degree, 0)
    check_int("n_basis", n_basis, degree + 1)


class Bernstein(BSpline):
    """Bernstein (Bézier) basis ``C(n,k) sᵏ (1−s)ⁿ⁻ᵏ`` on ``[0, 1]``, ``K = n + 1``.

    Closed forms: ``G_ij = C(n,i) C(n,j) / ((2n+1) C(2n,i+j))``, mean ``1/(n+1)``.
    """

    def __init__(self, degree: int):
        check_int("degree", degree, 0)
        super().__init__([0.0] * (degree + 1) + [1.0] * (degree + 1), degree)

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        n = self.degree
        c = math.comb
        entries = [
            [c(n, i) * c(n, j) / ((2 * n + 1) * c(2 * n, i + j)) for j in range(n + 1)]
            for i in range(n + 1)
        ]
        return torch.tensor(entries, dtype=dtype, device=device)

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.full((self.size,), 1 / self.size, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"Bernstein({self.degree})"


class Line(Bernstein):
    """The line through two endpoints, ``φ(s) = (1 − s, s)`` (docs/bases.md).

    ``G = [[1/3, 1/6], [1/6, 1/3]]``, ``G⁻¹ = [[4, −2], [−2, 4]]``.
    """

    def __init__(self):
        super().__init__(1)

    def gram_inverse(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.tensor([[4.0, -2.0], [-2.0, 4.0]], dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Line()"
