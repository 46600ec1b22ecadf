"""Multi-dimensional contexts from 1-D (or lower-dimensional) bases: tensor products and sums.

Each component basis acts on its own consecutive block of context coordinates, and the chart is
the product of the component charts (docs/bases.md). Under the
uniform probability measure the coordinates of different components are independent, which
gives the closed-form Gram matrices below.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import reduce
from operator import mul

import torch
from torch import Tensor

from .basis import Basis

__all__ = ["Sum", "TensorProduct"]


class _Combination(Basis):
    """Shared bookkeeping: component bases, their coordinate blocks, the product chart."""

    def __init__(self, *bases: Basis):
        if not bases:
            raise ValueError(f"{type(self).__name__} needs at least one basis")
        for basis in bases:
            if not isinstance(basis, Basis):
                raise TypeError(f"bases must be Basis instances, got {type(basis).__name__}")
        dim = sum(basis.dim for basis in bases)
        if dim > 3:
            raise ValueError(f"bases have {dim} context coordinates in total; at most 3 are valid")
        self.bases = bases
        self.dim = dim
        self.chart = reduce(mul, (basis.chart for basis in bases))

    def _blocks(
        self, s: Tensor, order: tuple[int, ...]
    ) -> Iterator[tuple[Basis, Tensor, tuple[int, ...]]]:
        """Each component with its coordinates ``s[..., block]`` and derivative counts."""
        start = 0
        for basis in self.bases:
            stop = start + basis.dim
            yield basis, s[..., start:stop], order[start:stop]
            start = stop

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.bases))})"


class TensorProduct(_Combination):
    """``φ(s) = φ¹(s¹) ⊗ φ²(s²) ⊗ ⋯`` with the first basis' index major (as :func:`torch.kron`).

    ``K = Π K_a``, ``m = Σ m_a <= 3``; ``G = G¹ ⊗ G² ⊗ ⋯``, mean ``= mean¹ ⊗ mean² ⊗ ⋯`` and
    ``G⁻¹ = (G¹)⁻¹ ⊗ (G²)⁻¹ ⊗ ⋯``. ``TensorProduct(Fourier(1), Fourier(1))`` is the 9-function
    torus of docs/bases.md.
    """

    def __init__(self, *bases: Basis):
        super().__init__(*bases)
        self.size = math.prod(basis.size for basis in bases)

    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """``∂^order φ(s)``: the outer product of each component's partial, ``(..., K)``."""
        parts = [basis.partial(sa, oa) for basis, sa, oa in self._blocks(s, order)]
        return reduce(lambda a, b: (a[..., :, None] * b[..., None, :]).flatten(-2), parts)

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return reduce(torch.kron, (basis.gram(dtype, device) for basis in self.bases))

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return reduce(torch.kron, (basis.mean(dtype, device) for basis in self.bases))

    def gram_inverse(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return reduce(torch.kron, (basis.gram_inverse(dtype, device) for basis in self.bases))


class Sum(_Combination):
    """``φ(s) = [φ¹(s¹), φ²(s²), …]``: concatenated component bases, ``K = Σ K_a``.

    A partial derivative involving coordinates of another component is 0 for that component's
    block. Gram: diagonal blocks ``G_a``, off-diagonal blocks ``mean_a mean_bᵀ``.
    ``Sum(Fourier(1), Fourier(1, include_constant=False))`` is the 5-function additive torus of
    docs/bases.md. ``G⁻¹`` is numeric (the blocks are coupled through the means).
    """

    def __init__(self, *bases: Basis):
        super().__init__(*bases)
        self.size = sum(basis.size for basis in bases)

    def partial(self, s: Tensor, order: tuple[int, ...]) -> Tensor:
        """``∂^order φ(s)``: each block's own partial, or zeros if ``order`` leaves its block."""
        total = sum(order)
        parts = [
            basis.partial(sa, oa) if sum(oa) == total else s.new_zeros((*s.shape[:-1], basis.size))
            for basis, sa, oa in self._blocks(s, order)
        ]
        return torch.cat(parts, dim=-1)

    def gram(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        grams = [basis.gram(dtype, device) for basis in self.bases]
        means = [basis.mean(dtype, device) for basis in self.bases]
        rows = [
            torch.cat([ga if a == b else torch.outer(ma, mb) for b, mb in enumerate(means)], dim=1)
            for a, (ga, ma) in enumerate(zip(grams, means, strict=True))
        ]
        return torch.cat(rows, dim=0)

    def mean(self, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.cat([basis.mean(dtype, device) for basis in self.bases])
