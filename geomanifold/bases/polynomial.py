"""Monomial basis ``(1, s, s², …, sᵈ)`` on ``[0, 1]`` (a line as offset + slope is degree 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..arguments import check_int
from ..chart import Chart
from .basis import Basis

__all__ = ["Monomial"]


class Monomial(Basis):
    """``φ_k(s) = sᵏ`` for ``k = 0 … d`` on ``s ∈ [0, 1]``, ``K = d + 1``.

    ``dʳφ_k/dsʳ = k!/(k−r)! s^{k−r}`` (zero for ``k < r``). Closed forms: the Hilbert matrix
    ``G_ij = 1/(i + j + 1)`` and mean ``1/(k + 1)``.
    """

    def __init__(self, degree: int):
        check_int("degree", degree, 0)
        self.degree = degree
        self.dim = 1
        self.size = degree + 1
        self.chart = Chart.unit([False])

    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """``dʳφ/dsʳ`` for ``s: (..., 1)``, ``order = (r,)`` → ``(..., K)``."""
        (r,) = order
        zeros = s.new_zeros((*s.shape[:-1], min(r, self.size)))
        if r > self.degree:
            return zeros
        powers = [torch.ones_like(s)]
        for _ in range(self.degree - r):
            powers.append(powers[-1] * s)
        factors = [float(math.perm(k, r)) for k in range(r, self.degree + 1)]
        scale = torch.tensor(factors, dtype=s.dtype, device=s.device)
        return torch.cat([zeros, scale * torch.cat(powers, dim=-1)], dim=-1)

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """The Hilbert matrix ``1/(i + j + 1)``."""
        k = torch.arange(self.size, dtype=dtype, device=device)
        return 1 / (k[:, None] + k + 1)

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``1/(k + 1)``."""
        return 1 / torch.arange(1, self.size + 1, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"Monomial({self.degree})"
