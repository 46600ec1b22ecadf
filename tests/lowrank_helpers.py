"""Shared by the low-rank tests: random factors, and the adapted weights built densely."""

from __future__ import annotations

import torch

from geomanifold.conditioning import LowRankWeightManifold


def randomize(lr: LowRankWeightManifold, seed: int = 3) -> LowRankWeightManifold:
    """Nonzero ``U`` (they start at zero), so that every context gives a different model."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for f in lr.factors.values():
            f.U.copy_(torch.randn(f.U.shape, generator=generator, dtype=f.U.dtype))
    return lr


def explicit_weights(lr: LowRankWeightManifold, s: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every adapted weight at ``s: (m,)`` built densely: ``W0 + Σ_k φ_k(s) U_k V_kᵀ``."""
    phi = lr.basis(s)
    out = {}
    for _, f in lr.named_factors():
        w0 = lr.model.get_parameter(f.parameter)
        dense = sum(phi[k] * f.U[k] @ f.V[k].T for k in range(phi.shape[0]))
        out[f.parameter] = w0 + (dense.T if f.transposed else dense.reshape(w0.shape))
    return out
