"""The natural gradient of a low-rank weight manifold in its factored coordinates.

For ``W(s) = W0 + Σ_k φ_k(s) U_k V_kᵀ`` the volume constraint ``∫ ||ΔW(s)||² dμ(s) <= ε`` pulled
back to the factors (docs/concepts.md, "Low-rank weight manifolds") has, on a step of the ``U``
alone and of the ``V`` alone, the exact metrics

    ⟨ΔU, ΔU⟩ = Σ_kl G_kl tr(ΔU_kᵀ ΔU_l V_lᵀ V_k) = ⟨ΔU, ΔU A_V⟩,   (A_V)_{kl} = G_kl V_kᵀ V_l
    ⟨ΔV, ΔV⟩ = ⟨ΔV, ΔV A_U⟩,                                      (A_U)_{kl} = G_kl U_kᵀ U_l

with ``ΔU = [ΔU_1 … ΔU_K]: (out, K r)`` and ``A: (K r, K r)``. :class:`FactorMetric` is the
block-diagonal metric ``diag(A_V ⊗ I, A_U ⊗ I)`` (the ``U``–``V`` cross terms dropped), so its
natural gradient is two small solves per layer, ``∇_U L (A_V + λ I)⁻¹`` and
``∇_V L (A_U + λ I)⁻¹``: ``O((out + fan_in) K² r² + K³ r³)``. For ``K = 1`` it is the scaled
gradient step of Tong, Ma & Chi (2021), "Accelerating ill-conditioned low-rank matrix estimation
via scaled gradient descent", and the Riemannian preconditioning of Mishra & Sepulchre (2016).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..bases.basis import SingularGramError
from .metric import Metric

__all__ = ["FactorMetric"]


class FactorMetric(Metric):
    """``diag(A_V ⊗ I, A_U ⊗ I) + λ I`` per layer, ``λ = damping · (tr A_U + tr A_V) / (2 K r)``.

    Args:
        gram: the measure of contexts as a ``(K, K)`` SPD matrix ``G = ∫ φ φᵀ dμ`` (e.g.
            ``basis.gram()`` or ``basis.empirical_gram(s)``).
        damping: ``>= 0``, relative to the mean eigenvalue of the two blocks; makes the solve well
            posed where a factor is rank-deficient (the metric of a factor is singular where the
            other factor has dependent columns) and keeps the step of ``V`` bounded at the usual
            start ``U = 0``, where ``A_U = 0``.

    The group's parameters are ``[U_1, V_1, U_2, V_2, ...]`` with ``U_t: (K, out_t, r_t)`` and
    ``V_t: (K, fan_in_t, r_t)``.
    """

    def __init__(self, gram: Tensor, damping: float = 1e-3):
        if not isinstance(gram, Tensor) or gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
            shape = tuple(gram.shape) if isinstance(gram, Tensor) else type(gram).__name__
            raise ValueError(f"gram must be a (K, K) tensor, got {shape}")
        if not damping >= 0:
            raise ValueError(f"damping must be >= 0, got {damping}")
        self.gram, self.damping = gram, damping

    def check(self, params: Sequence[Tensor], group: int) -> None:
        size = self.gram.shape[0]
        if len(params) % 2:
            raise ValueError(
                f"param group {group} has {len(params)} tensors; valid: pairs [U, V, U, V, ...] of a "
                "low-rank manifold's factors"
            )
        for j in range(0, len(params), 2):
            u, v = params[j], params[j + 1]
            fits = u.ndim == v.ndim == 3 and u.shape[0] == v.shape[0] == size and u.shape[2] == v.shape[2]
            if not fits:
                raise ValueError(
                    f"params[{j}], params[{j + 1}] of param group {group} have shapes {tuple(u.shape)}, "
                    f"{tuple(v.shape)}; valid: U (K={size}, out, r) and V (K={size}, fan_in, r)"
                )

    def solve(self, params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> list[Tensor | None]:
        natural: list[Tensor | None] = []
        for j in range(0, len(params), 2):
            a_v, a_u = self.block(params[j + 1]), self.block(params[j])
            size, _, rank = params[j].shape
            damping = self.damping * (a_u.trace() + a_v.trace()) / (2 * size * rank)
            natural.append(None if grads[j] is None else self._solve(grads[j], a_v, damping, j))
            natural.append(None if grads[j + 1] is None else self._solve(grads[j + 1], a_u, damping, j + 1))
        return natural

    def block(self, other: Tensor) -> Tensor:
        """``A = [G_kl F_kᵀ F_l]: (K r, K r)`` for the other factor ``F: (K, n, r)``, float32 or wider."""
        size, _, rank = other.shape
        f = other.detach().to(torch.promote_types(other.dtype, torch.float32))
        products = torch.einsum("kia,lib->kalb", f, f)
        return (self.gram.to(f)[:, None, :, None] * products).reshape(size * rank, size * rank)

    def _solve(self, grad: Tensor, a: Tensor, damping: Tensor, index: int) -> Tensor:
        """``∇ (A + λ I)⁻¹`` for ``∇: (K, n, r)`` arranged as ``(n, K r)``."""
        size, n, rank = grad.shape
        if damping == 0 and a.diagonal().sum() == 0:
            return grad  # both factors zero: so is the gradient
        a = a + damping * torch.eye(size * rank, dtype=a.dtype, device=a.device)
        factor, info = torch.linalg.cholesky_ex(a)
        if info.item() != 0:
            raise SingularGramError(
                f"the factor metric of params[{index}] is singular (its other factor is rank-"
                "deficient); valid: damping > 0"
            )
        g = grad.to(a).permute(1, 0, 2).reshape(n, size * rank)
        solved = torch.cholesky_solve(g.T, factor).T
        return solved.reshape(n, size, rank).permute(1, 0, 2).to(grad)

    def __repr__(self) -> str:
        return f"FactorMetric(K={self.gram.shape[0]}, damping={self.damping})"
