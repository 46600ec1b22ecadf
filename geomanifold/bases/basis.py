"""The basis contract: functions ``φ_k(s)`` of the context that mix K control points.

A linear-basis manifold is ``phi(s) = Σ_k φ_k(s) P_k`` (docs/concepts.md). A :class:`Basis` gives
the values ``φ(s)`` and every mixed partial derivative, its Gram matrix ``G = ∫ φ φᵀ dμ``
and mean ``∫ φ dμ`` under the **uniform probability measure** ``μ`` of its chart (for the unit
charts used by the built-in bases this is plain ``ds`` on ``[0, 1]^m``), and ``G⁻¹``.

Subclasses implement :meth:`Basis.partial` and set ``dim``, ``size`` and ``chart``; they may
override :meth:`Basis.gram` / :meth:`Basis.mean` with closed forms (the default is
quadrature over the chart).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from ..chart import Chart
from ..jets import counts, multi_indices

__all__ = ["Basis", "SingularGramError", "combine", "spd_inverse"]


class SingularGramError(ValueError):
    """The Gram matrix of a basis (or of the contexts seen) is not positive definite."""


class Basis(ABC):
    """Functions ``φ: chart ⊂ R^m -> R^K``.

    Attributes:
        dim: number of context coordinates ``m``.
        size: number of basis functions ``K``.
        chart: the domain of ``s``.
        quadrature_points: points per coordinate used by the default :meth:`gram`.
    """

    dim: int
    size: int
    chart: Chart
    quadrature_points: int = 64

    @abstractmethod
    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """Mixed partial derivative ``∂^order φ(s)``.

        Args:
            s: contexts ``(..., m)``, already validated.
            order: derivative count per coordinate, length ``m`` (``(0,)*m`` gives values).

        Returns:
            ``(..., K)`` in the dtype and device of ``s``.
        """

    def __call__(self, s) -> Tensor:
        """Basis values ``φ(s)``: ``(..., m) -> (..., K)``; validates ``s`` against the chart."""
        s = self.chart.validate(s, "s")
        return self.partial(s, (0,) * self.dim)

    def jet(self, s: Tensor, order: int) -> Tensor:
        """Values and derivatives for every multi-index up to ``order``.

        Args:
            s: contexts ``(..., m)``, already validated (like :meth:`partial`, no domain check,
                so integrators may probe just outside the chart).

        Returns:
            ``(..., n, K)`` in the order of :func:`geomanifold.jets.multi_indices`.
        """
        return torch.stack(
            [self.partial(s, counts(alpha, self.dim)) for alpha in multi_indices(self.dim, order)],
            dim=-2,
        )

    def _quadrature_moments(self, dtype, device) -> tuple[Tensor, Tensor]:
        nodes, weights = self.chart.quadrature(self.quadrature_points, dtype=dtype, device=device)
        weights = weights / self.chart.measure()
        values = self.partial(nodes, (0,) * self.dim)
        return values.T @ (weights[:, None] * values), weights @ values

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``G = ∫ φ(s) φ(s)ᵀ dμ(s)``, shape ``(K, K)``."""
        return self._quadrature_moments(dtype, device)[0]

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``∫ φ(s) dμ(s)``, shape ``(K,)``."""
        return self._quadrature_moments(dtype, device)[1]

    def gram_inverse(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """``G⁻¹``, shape ``(K, K)``; raises :class:`SingularGramError` if ``G`` is not PD."""
        return spd_inverse(self.gram(dtype, device), f"the Gram matrix of {self!r}")

    def empirical_gram(self, s, ridge: float = 1e-3) -> Tensor:
        """``mean_i φ(s_i) φ(s_i)ᵀ + ridge · I`` over contexts ``s: (N, m)``, shape ``(K, K)``.

        The consistent metric when training contexts are far from uniform (the volume constraint under
        the contexts' empirical distribution).
        """
        s = self.chart.validate(s, "s")
        if s.ndim != 2 or s.shape[0] == 0:
            raise ValueError(f"s must have shape (N, {self.dim}) with N >= 1, got {tuple(s.shape)}")
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        values = self.partial(s, (0,) * self.dim)
        eye = torch.eye(self.size, dtype=s.dtype, device=s.device)
        return values.T @ values / s.shape[0] + ridge * eye

    def empirical_gram_inverse(self, s, ridge: float = 1e-3) -> Tensor:
        """Inverse of :meth:`empirical_gram`, ``(K, K)``; :class:`SingularGramError` if not PD."""
        return spd_inverse(self.empirical_gram(s, ridge), f"the empirical Gram matrix of {self!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, size={self.size})"


def combine(coefficients: Tensor, points: Tensor) -> Tensor:
    """``Σ_k c_k P_k``: ``(..., K), (K, *S) -> (..., *S)`` (one matrix product).

    With basis values as coefficients this is ``W(s) = Σ_k φ_k(s) P_k``; with a ``(K, K)`` matrix
    it mixes control points along dim 0, ``(M ⊗ I) P``.
    """
    flat = coefficients @ points.flatten(1)
    return flat.reshape(*coefficients.shape[:-1], *points.shape[1:])


def spd_inverse(matrix: Tensor, what: str) -> Tensor:
    """Inverse of a symmetric positive definite ``(K, K)`` matrix by Cholesky.

    Raises:
        SingularGramError: ``matrix`` is not positive definite (``what`` names it in the message).
    """
    factor, info = torch.linalg.cholesky_ex(matrix)
    if info.item() != 0:
        raise SingularGramError(
            f"{what} is not positive definite (Cholesky failed at column {info.item()}); "
            "use a ridge or a smaller basis"
        )
    # cholesky_inverse returns column-major strides, which torch.kron (TensorProduct) cannot view
    return torch.cholesky_inverse(factor).contiguous()
