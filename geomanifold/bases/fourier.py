"""Trigonometric basis on the circle of period 1 (docs/bases.md).

``φ(s) = (1, cos 2πs, sin 2πs, cos 4πs, sin 4πs, …, cos 2πns, sin 2πns)``, ``K = 2n + 1``
(``2n`` without the constant). Every derivative is closed form:
``dʳ/dsʳ cos(ωs) = ωʳ cos(ωs + rπ/2)`` and ``dʳ/dsʳ sin(ωs) = ωʳ sin(ωs + rπ/2)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..arguments import check_int
from ..chart import Chart
from .basis import Basis

__all__ = ["Fourier"]


class Fourier(Basis):
    """Fourier basis of order ``n`` on ``s ∈ [0, 1)`` with period 1; ``Fourier(1)`` is the circle.

    Args:
        order: highest frequency ``n >= 0``.
        include_constant: whether ``φ_0 = 1`` comes first.

    Gram ``diag(1, ½, …, ½)``, mean ``(1, 0, …, 0)``, ``G⁻¹ = diag(1, 2, …, 2)`` (without the
    constant the leading 1 is dropped and the mean is 0).
    """

    def __init__(self, order: int = 1, include_constant: bool = True):
        check_int("order", order, 0 if include_constant else 1)
        self.order = order
        self.include_constant = include_constant
        self.dim = 1
        self.size = 2 * order + int(include_constant)
        self.chart = Chart.unit([True])

    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """``∂ʳ φ(s)`` for ``s: (..., 1)``, ``order = (r,)`` → ``(..., K)``."""
        (r,) = order
        omega = 2 * math.pi * torch.arange(1, self.order + 1, dtype=s.dtype, device=s.device)
        angle = omega * s + r * math.pi / 2
        amplitude = omega**r
        waves = torch.stack([amplitude * torch.cos(angle), amplitude * torch.sin(angle)], dim=-1)
        waves = waves.flatten(-2)
        if not self.include_constant:
            return waves
        constant = torch.full_like(s, 1.0 if r == 0 else 0.0)
        return torch.cat([constant, waves], dim=-1)

    def _diagonal(self, constant: float, wave: float, dtype, device) -> Tensor:
        head = [constant] if self.include_constant else []
        return torch.tensor(head + [wave] * (2 * self.order), dtype=dtype, device=device)

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``diag(1, ½, …, ½)``: the functions are orthogonal on the circle."""
        return torch.diag(self._diagonal(1.0, 0.5, dtype, device))

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``(1, 0, …, 0)`` (all zeros without the constant)."""
        return self._diagonal(1.0, 0.0, dtype, device)

    def gram_inverse(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``diag(1, 2, …, 2)``."""
        return torch.diag(self._diagonal(1.0, 2.0, dtype, device))

    def __repr__(self) -> str:
        return f"Fourier(order={self.order}, include_constant={self.include_constant})"
