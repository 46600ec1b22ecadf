"""Conjugate gradients for ``M x = b``, ``M`` symmetric positive definite, given ``v ↦ M v``.

Vectors are lists of tensors (one per parameter), so the operator never has to flatten or
concatenate parameters and no matrix is formed (the metric of a nonlinear
parameterisation is never inverted densely).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["conjugate_gradient"]


def _dot(u: list[Tensor], v: list[Tensor]) -> Tensor:
    return sum((a * b).sum() for a, b in zip(u, v, strict=True))


def conjugate_gradient(
    apply: Callable[[list[Tensor]], list[Tensor]],
    rhs: list[Tensor],
    rtol: float = 1e-10,
    max_iter: int = 100,
) -> list[Tensor]:
    """Solve ``M x = b`` by conjugate gradients from ``x = 0``.

    Args:
        apply: ``v ↦ M v`` on lists of tensors shaped like ``rhs``.
        rhs: ``b``.
        rtol: stop when the residual norm is at most ``rtol · ||b||``.
        max_iter: at most this many operator applications.

    Returns:
        ``x``, shaped like ``rhs`` (the last iterate if ``max_iter`` is reached first).
    """
    x = [torch.zeros_like(b) for b in rhs]
    r = [b.clone() for b in rhs]
    p = [b.clone() for b in rhs]
    rr = _dot(r, r)
    stop = rtol**2 * rr
    for _ in range(max_iter):
        if rr <= stop:
            break
        mp = apply(p)
        alpha = rr / _dot(p, mp)
        x = [xi + alpha * pi for xi, pi in zip(x, p, strict=True)]
        r = [ri - alpha * mpi for ri, mpi in zip(r, mp, strict=True)]
        rr, previous = _dot(r, r), rr
        p = [ri + (rr / previous) * pi for ri, pi in zip(r, p, strict=True)]
    return x
