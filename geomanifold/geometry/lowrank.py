"""Low-rank weight manifolds ``phi(s) = W0 + Σ_k φ_k(s) U_k V_kᵀ`` and their factored Gram.

Every derivative of order ``>= 1`` is ``Σ_k a_k U_k V_kᵀ`` with ``a`` a row of the basis jet, and
the value adds ``W0``. So every inner product of jet vectors is ``Ā Q Āᵀ`` with ``Ā = [δ, A]`` the
basis jet with a leading column that is 1 on the value row only, and ``Q`` the ``(K+1) × (K+1)``
Gram of ``(W0, U_1V_1ᵀ, …, U_KV_Kᵀ)``, computed from the factors without forming any
``U_k V_kᵀ`` (docs/concepts.md, "Low-rank weight manifolds"):

    <U_k V_kᵀ, U_l V_lᵀ> = tr(V_k U_kᵀ U_l V_lᵀ) = Σ_ab (U_kᵀ U_l)_ab (V_kᵀ V_l)_ab
    <W0, U_k V_kᵀ>       = Σ (W0 V_k) ⊙ U_k

at ``O((out + fan_in) K² r²)`` and ``O(out fan_in r K)`` per layer. The intrinsic geometry then
costs ``O(K²)`` per point, as for :class:`~geomanifold.geometry.LinearBasisManifold`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..bases.basis import Basis
from .manifold import EmbeddedManifold

__all__ = ["LowRankManifold"]


class LowRankManifold(EmbeddedManifold):
    """``phi(s)``: the flattened concatenation of ``W0_t + Σ_k φ_k(s) U_{t,k} V_{t,k}ᵀ`` over layers t.

    Args:
        basis: the basis ``φ`` (gives the chart and ``m``).
        layers: one ``(W0, U, V)`` per layer: ``W0: (out, fan_in)``, ``U: (K, out, r)``,
            ``V: (K, fan_in, r)``, all of one dtype and device. Tensors are registered as
            parameters (the same objects when they already are parameters).
    """

    def __init__(self, basis: Basis, layers: Sequence[tuple[Tensor, Tensor, Tensor]]):
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a geomanifold Basis, got {type(basis).__name__}")
        self.dim = basis.dim
        super().__init__(basis.chart)
        self.basis = basis
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one (W0, U, V) triple")
        size = basis.size
        for t, (w0, u, v) in enumerate(layers):
            if w0.ndim != 2 or u.ndim != 3 or v.ndim != 3 or u.shape[0] != size or v.shape[0] != size \
                    or u.shape[1:] != (w0.shape[0], v.shape[2]) or v.shape[1] != w0.shape[1]:
                raise ValueError(
                    f"layers[{t}] has W0 {tuple(w0.shape)}, U {tuple(u.shape)}, V {tuple(v.shape)}; "
                    f"valid: W0 (out, fan_in), U (K={size}, out, r), V (K={size}, fan_in, r)"
                )
            for x in (w0, u, v):
                if x.dtype != layers[0][0].dtype or x.device != layers[0][0].device:
                    raise ValueError(
                        f"layers[{t}] mixes dtypes or devices; all tensors must match layers[0][0]"
                    )
        self.base = nn.ParameterList([w0 for w0, _, _ in layers])
        self.left = nn.ParameterList([u for _, u, _ in layers])
        self.right = nn.ParameterList([v for _, _, v in layers])

    def control_gram(self) -> Tensor:
        """Gram of ``(W0, U_1V_1ᵀ, …, U_KV_Kᵀ)`` summed over layers: ``(K+1, K+1)``."""
        size = self.basis.size
        gram = self.base[0].new_zeros(size + 1, size + 1)
        for w0, u, v in zip(self.base, self.left, self.right, strict=True):
            uu = torch.einsum("kor,los->klrs", u, u)
            vv = torch.einsum("kir,lis->klrs", v, v)
            cross = (torch.einsum("oi,kir->kor", w0, v) * u).sum(dim=(1, 2))
            gram[1:, 1:] += (uu * vv).sum(dim=(2, 3))
            gram[0, 1:] += cross
            gram[1:, 0] += cross
            gram[0, 0] += w0.square().sum()
        return gram

    def _lifted_jet(self, s: Tensor, order: int) -> Tensor:
        """``Ā = [δ, A(s)]``: ``(..., n, K+1)``; the extra column carries ``W0`` into the value."""
        coeffs = self.basis.jet(s, order)
        value = torch.zeros_like(coeffs[..., :1])
        value[..., 0, :] = 1
        return torch.cat([value, coeffs], dim=-1)

    def _combine(self, coefficients: Tensor) -> Tensor:
        """``c_0 W0 + Σ_k c_k U_k V_kᵀ`` flattened over layers: ``(..., K+1) -> (..., D)``."""
        lead = coefficients.shape[:-1]
        parts = []
        for w0, u, v in zip(self.base, self.left, self.right, strict=True):
            scaled = torch.einsum("...k,kor->...okr", coefficients[..., 1:], u).flatten(-2)
            update = scaled @ v.permute(0, 2, 1).reshape(-1, v.shape[1])  # (..., out, fan_in)
            parts.append((coefficients[..., :1, None] * w0 + update).reshape(*lead, -1))
        return torch.cat(parts, dim=-1)

    def phi(self, s: Tensor) -> Tensor:
        return self._combine(self._lifted_jet(s, 0)[..., 0, :])

    def jet(self, s: Tensor, order: int) -> Tensor:
        """``Ā(s) (W0, U_kV_kᵀ)``: ``(..., n, D)``, ``O(D)`` per point (extrinsic quantities only)."""
        return self._combine(self._lifted_jet(s, order))

    def jet_gram(self, s: Tensor, order: int) -> Tensor:
        """``Ā(s) Q Ā(s)ᵀ``: ``(..., n, n)``, ``O(K²)`` per point after :meth:`control_gram`."""
        lifted = self._lifted_jet(s, order)
        return lifted @ self.control_gram() @ lifted.transpose(-1, -2)
