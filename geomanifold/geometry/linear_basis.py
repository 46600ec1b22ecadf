"""Linear-basis manifolds ``phi(s) = Σ_k φ_k(s) P_k`` and their ``K × K`` fast path
(docs/concepts.md, "Computing it without D × D matrices").

Every derivative of ``phi`` is ``A(s) P`` with ``A`` the basis jet ``(n, K)``, so every inner product
is ``A Q Aᵀ`` with the control-point Gram ``Q = P Pᵀ`` (``K × K``). After one ``O(K² D)`` pass to
form ``Q``, the intrinsic geometry at any point costs ``O(K²)``, independent of ``D``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..bases.basis import Basis
from .manifold import EmbeddedManifold

__all__ = ["LinearBasisManifold"]


class LinearBasisManifold(EmbeddedManifold):
    """``phi(s) = Σ_k φ_k(s) P_k`` over control points.

    Args:
        basis: the basis ``φ`` (gives the chart and ``m``).
        control_points: one tensor ``(K, ...)`` or a sequence of tensors each ``(K, ...)`` (e.g. the
            control points of every weight tensor of a network); ``phi(s)`` is their flattened
            concatenation, ``D = Σ_t numel(P_t) / K``. Tensors are registered as parameters
            (the same objects when they already are parameters).
    """

    def __init__(self, basis: Basis, control_points: Tensor | Sequence[Tensor]):
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a geomanifold Basis, got {type(basis).__name__}")
        self.dim = basis.dim
        super().__init__(basis.chart)
        self.basis = basis
        tensors = [control_points] if isinstance(control_points, Tensor) else list(control_points)
        if not tensors:
            raise ValueError("control_points must hold at least one tensor of shape (K, ...)")
        ref = tensors[0]
        for i, p in enumerate(tensors):
            if not isinstance(p, Tensor) or p.ndim < 1 or p.shape[0] != basis.size:
                shape = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
                raise ValueError(
                    f"control_points[{i}] must have shape (K={basis.size}, ...) for this basis, got {shape}"
                )
            if p.dtype != ref.dtype or p.device != ref.device:
                raise ValueError(
                    f"control_points[{i}] is {p.dtype} on {p.device} but control_points[0] is "
                    f"{ref.dtype} on {ref.device}; all must match"
                )
        self.control_points = nn.ParameterList(tensors)
        self._gram_cache: tuple[tuple, Tensor] | None = None

    def _flat(self) -> list[Tensor]:
        return [p.reshape(self.basis.size, -1) for p in self.control_points]

    def control_gram(self) -> Tensor:
        """``Q = Σ_t P_t P_tᵀ``: ``(K, K)``; cached until a control point changes in place."""
        tracked = torch.is_grad_enabled() and any(p.requires_grad for p in self.control_points)
        key = tuple((p.data_ptr(), p._version) for p in self.control_points)
        if not tracked and self._gram_cache is not None and self._gram_cache[0] == key:
            return self._gram_cache[1]
        gram = sum(p @ p.T for p in self._flat())
        if not tracked:
            self._gram_cache = (key, gram)
        return gram

    def phi(self, s: Tensor) -> Tensor:
        weights = self.basis.partial(s, (0,) * self.dim)
        return torch.cat([weights @ p for p in self._flat()], dim=-1)

    def jet(self, s: Tensor, order: int) -> Tensor:
        """``A(s) P``: ``(..., n, D)`` (costs ``O(D)`` per point; only extrinsic quantities need it)."""
        coeffs = self.basis.jet(s, order)
        return torch.cat([coeffs @ p for p in self._flat()], dim=-1)

    def jet_gram(self, s: Tensor, order: int) -> Tensor:
        """``A(s) Q A(s)ᵀ``: ``(..., n, n)``, ``O(K²)`` per point after forming ``Q``."""
        coeffs = self.basis.jet(s, order)
        return coeffs @ self.control_gram() @ coeffs.transpose(-1, -2)
