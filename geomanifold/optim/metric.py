"""Metrics on control points: the ``M`` of the natural step ``ΔP = −η M⁻¹ ∇_P L``
(Benjamin et al. 2025, arXiv 2505.22994).

For a linear-basis manifold ``W(s) = Σ_k φ_k(s) P_k`` the metric of the volume constraint
``∫ ||W(s; P + ΔP) − W(s; P)||² dμ(s)`` is ``M = G ⊗ I`` with a ``K × K`` matrix ``G``; it acts on
each control-point tensor ``P: (K, *S)`` along dim 0 (:func:`mix`), so no ``(K·D)²`` matrix is
ever formed. This module holds that family (:class:`KroneckerMetric`) and its constant members:
the chart Gram matrix (:class:`ChartMetric`), a user matrix (:class:`FixedMetric`) and the
running empirical Gram matrix of the contexts seen (:class:`EmpiricalMetric`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from ..bases.basis import Basis, combine, spd_inverse

__all__ = [
    "ChartMetric",
    "EmpiricalMetric",
    "FixedMetric",
    "KroneckerMetric",
    "Metric",
    "check_control_points",
    "compact",
    "fibre_inner",
    "mix",
    "mix_",
]


_BLOCK = 1 << 15  # columns per block of the in-place mixing: K × 32768 entries stay in cache


def _as_rows(diagonal: Tensor, tensor: Tensor) -> Tensor:
    return diagonal.to(tensor).reshape(-1, *([1] * (tensor.ndim - 1)))


def compact(matrix: Tensor) -> Tensor:
    """A symmetric ``(K, K)`` matrix as its diagonal ``(K,)`` when it is diagonal (Fourier bases and
    their products), else unchanged: :func:`mix` then scales rows instead of multiplying."""
    matrix = matrix.detach()
    return matrix.diagonal() if torch.equal(matrix, torch.diag(matrix.diagonal())) else matrix


def mix(matrix: Tensor, tensor: Tensor) -> Tensor:
    """``(M ⊗ I) x``: ``out_k = Σ_l M_kl x_l`` along dim 0.

    Args:
        matrix: ``(K, K)``, or ``(K,)`` for a diagonal ``M``; cast to the dtype and device of
            ``tensor``.
        tensor: ``(K, *S)``.

    Returns:
        A new ``(K, *S)`` tensor.
    """
    if matrix.ndim == 1:
        return tensor * _as_rows(matrix, tensor)
    return combine(matrix.to(tensor), tensor)


def mix_(matrix: Tensor, tensor: Tensor) -> Tensor:
    """In-place :func:`mix`: ``x ← (M ⊗ I) x``, by column blocks (no ``K × D`` temporary).

    Returns:
        ``tensor``.
    """
    if matrix.ndim == 1:
        return tensor.mul_(_as_rows(matrix, tensor))
    if not tensor.is_contiguous():
        return tensor.copy_(mix(matrix, tensor))
    matrix = matrix.to(tensor)
    for block in tensor.view(tensor.shape[0], -1).split(_BLOCK, dim=1):
        block.copy_(matrix @ block)
    return tensor


def fibre_inner(matrix: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Inner product ``Σ_kl G_kl u_{k,d} v_{l,d}`` of each fibre ``d`` (one weight coordinate).

    Args:
        matrix: symmetric ``G: (K, K)``.
        u, v: ``(K, *S)``.

    Returns:
        ``(1, *S)``; summing it over ``*S`` gives ``⟨u, v⟩_{G ⊗ I}``.
    """
    return (u * mix(matrix, v)).sum(dim=0, keepdim=True)


def check_control_points(params: Sequence[Tensor], size: int, group: int) -> None:
    """Raise ``ValueError`` unless each parameter of param group ``group`` is ``(size, ...)``."""
    for j, p in enumerate(params):
        if p.ndim == 0 or p.shape[0] != size:
            raise ValueError(
                f"params[{j}] of param group {group} has shape {tuple(p.shape)}; control points of "
                f"a basis or metric of size K={size} need shape ({size}, ...)"
            )


class Metric(ABC):
    """A metric ``M`` on the parameters of one param group."""

    @abstractmethod
    def solve(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> list[Tensor | None]:
        """Natural gradient ``M⁻¹ g`` of the group.

        Args:
            params: the group's parameters (the metric may depend on them).
            grads: one gradient per parameter (same shape), ``None`` for a frozen parameter.

        Returns:
            ``M⁻¹ g`` per parameter, ``None`` where ``grads`` has ``None``.
        """

    def solve_(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> None:
        """In place: ``g ← M⁻¹ g`` for every ``g`` that is not ``None``."""
        for g, natural in zip(grads, self.solve(params, grads), strict=True):
            if g is not None:
                g.copy_(natural)

    def check(self, params: Sequence[Tensor], group: int) -> None:  # noqa: B027 (optional hook)
        """Raise ``ValueError`` if ``params`` (of param group ``group``) cannot carry the metric."""

    def state_dict(self) -> dict:
        """Tensors and numbers that change in training (none for most metrics)."""
        return {}

    def load_state_dict(self, state: dict) -> None:  # noqa: B027 (stateless by default)
        """Restore what :meth:`state_dict` returned."""


class KroneckerMetric(Metric):
    """``M = G ⊗ I``: one SPD ``G: (K, K)`` mixing the K control points of every tensor ``(K, *S)``.

    Attributes:
        size: ``K``.
    """

    size: int

    @abstractmethod
    def matrix(self, params: Sequence[Tensor]) -> Tensor:
        """``G: (K, K)`` in the dtype and device of ``params[0]``."""

    def inverse(self, params: Sequence[Tensor]) -> Tensor:
        """``G⁻¹: (K, K)``; a constant diagonal ``G`` gives just the diagonal ``(K,)`` (see :func:`mix`)."""
        return spd_inverse(self.matrix(params), f"the metric G of {self!r}")

    def solve(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> list[Tensor | None]:
        """``(G⁻¹ ⊗ I) g`` per tensor (:func:`mix`)."""
        inverse = self.inverse(params)
        return [None if g is None else mix(inverse, g) for g in grads]

    def solve_(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> None:
        """In place: ``g ← (G⁻¹ ⊗ I) g`` (:func:`mix_`)."""
        inverse = self.inverse(params)
        for g in grads:
            if g is not None:
                mix_(inverse, g)

    def check(self, params: Sequence[Tensor], group: int) -> None:
        check_control_points(params, self.size, group)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class _ConstantMetric(KroneckerMetric):
    """A ``G`` that does not depend on the parameters; ``G`` and ``G⁻¹`` cached per device and
    dtype, ``G⁻¹`` as its diagonal when it is diagonal (Fourier bases and their products)."""

    def __init__(self, matrix: Tensor, inverse: Tensor):
        self.size = matrix.shape[0]
        self._pair = (matrix.detach(), compact(inverse))
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, ...]] = {}

    def _cast(self, params: Sequence[Tensor]) -> tuple[Tensor, ...]:
        key = (params[0].device, params[0].dtype)
        if key not in self._cache:
            self._cache[key] = tuple(m.to(*key) for m in self._pair)
        return self._cache[key]

    def matrix(self, params: Sequence[Tensor]) -> Tensor:
        return self._cast(params)[0]

    def inverse(self, params: Sequence[Tensor]) -> Tensor:
        return self._cast(params)[1]


class ChartMetric(_ConstantMetric):
    """The closed-form Gram matrix ``G = ∫ φ φᵀ dμ`` of the basis over its chart (the default).

    ``μ`` is the uniform probability measure of the chart, so ``G ⊗ I`` is the metric of
    ``∫ ||ΔW(s)||² dμ(s)`` (Benjamin et al. 2025; e.g. ``G⁻¹ = [[4, −2], [−2, 4]]`` for the line).
    """

    def __init__(self, basis: Basis):
        super().__init__(basis.gram(), basis.gram_inverse())
        self.basis = basis

    def __repr__(self) -> str:
        return f"ChartMetric({self.basis!r})"


class FixedMetric(_ConstantMetric):
    """A user-given constant SPD matrix ``G: (K, K)``.

    Raises:
        ValueError: ``matrix`` is not a finite symmetric positive definite square matrix.
    """

    def __init__(self, matrix: Tensor):
        if not isinstance(matrix, Tensor) or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            shape = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
            raise ValueError(f"metric must be a square (K, K) tensor, got {shape}")
        matrix = matrix.detach().to(torch.float64)
        scale = matrix.abs().max()
        if not torch.isfinite(matrix).all() or (matrix - matrix.T).abs().max() > 1e-10 * scale:
            raise ValueError("metric must be a finite symmetric (K, K) tensor")
        super().__init__(matrix, spd_inverse(matrix, "metric"))


class EmpiricalMetric(KroneckerMetric):
    """``G = mean_i φ(s_i) φ(s_i)ᵀ + ridge · I`` over the contexts ``s_i`` seen in training.

    The consistent metric when the training contexts are far from uniform (the volume constraint
    under the contexts' empirical distribution). Feed it each batch's contexts with :meth:`observe` (or the
    optimizer's ``observe(s)``) before the step.

    Args:
        basis: the basis ``φ``.
        ridge: added to the diagonal (``>= 0``) so that ``G`` stays invertible.
        decay: ``None`` for the exact mean over every context seen; a float in ``[0, 1)`` for an
            exponential moving average of the batch means (weight ``1 − decay`` on the newest).
    """

    def __init__(self, basis: Basis, ridge: float = 1e-3, decay: float | None = None):
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        if decay is not None and not 0 <= decay < 1:
            raise ValueError(f"decay must be None or in [0, 1), got {decay}")
        self.basis, self.ridge, self.decay = basis, ridge, decay
        self.size = basis.size
        self.count = 0
        self.moment: Tensor | None = None

    def observe(self, s) -> None:
        """Add contexts ``s: (..., m)`` (validated against the chart) to the running mean."""
        s = self.basis.chart.validate(s, "s").reshape(-1, self.basis.dim)
        batch = self.basis.empirical_gram(s, ridge=0.0).to(torch.float64)
        n = s.shape[0]
        if self.moment is None:
            self.moment = batch
        else:
            weight = n / (self.count + n) if self.decay is None else 1 - self.decay
            self.moment = self.moment + weight * (batch - self.moment.to(batch.device))
        self.count += n

    def matrix(self, params: Sequence[Tensor]) -> Tensor:
        if self.moment is None:
            raise RuntimeError(
                "the empirical metric has seen no contexts; call observe(s) with the batch's "
                "contexts before step()"
            )
        eye = torch.eye(self.size, dtype=torch.float64, device=self.moment.device)
        return (self.moment + self.ridge * eye).to(params[0])

    def state_dict(self) -> dict:
        return {"count": self.count, "moment": self.moment}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.moment = state["count"], state["moment"]

    def __repr__(self) -> str:
        return f"EmpiricalMetric({self.basis!r}, ridge={self.ridge}, decay={self.decay})"
