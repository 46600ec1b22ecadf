"""Jets: all partial derivatives of a map up to a given order, by forward-mode autodiff.

A *multi-index* is a sorted tuple of coordinate indices, e.g. ``(0, 1)`` for ``∂_0 ∂_1``.
:func:`multi_indices` fixes the order used everywhere in the package:
``()`` first, then the first derivatives ``(0,), …, (m-1,)``, then ``(i, j)`` with ``i <= j``, …

Derivatives are nested ``torch.func.jvp`` calls (docs/concepts.md, "Computing it without D × D
matrices"): the cost is a few forward passes. Nested reverse mode would give the same numbers but
needs a backward pass per ambient coordinate, so no Jacobian of size ``D × m`` is formed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import combinations_with_replacement

import torch
from torch import Tensor
from torch.func import jvp

__all__ = ["counts", "directional_derivative", "jet", "multi_index_position", "multi_indices"]


@cache
def multi_indices(dim: int, order: int) -> tuple[tuple[int, ...], ...]:
    """All sorted multi-indices of length ``0..order`` over ``dim`` coordinates, in jet order."""
    out: list[tuple[int, ...]] = []
    for k in range(order + 1):
        out.extend(combinations_with_replacement(range(dim), k))
    return tuple(out)


@cache
def multi_index_position(dim: int, order: int) -> dict[tuple[int, ...], int]:
    """Position of each multi-index (any order of its entries) in :func:`multi_indices`."""
    return {alpha: n for n, alpha in enumerate(multi_indices(dim, order))}


def counts(alpha: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """Derivative counts per coordinate of a multi-index, e.g. ``(0, 0, 1) -> (2, 1)``."""
    return tuple(alpha.count(i) for i in range(dim))


def directional_derivative(fn: Callable[[Tensor], Tensor], direction: Tensor) -> Callable[[Tensor], Tensor]:
    """The function ``s ↦ ∂fn(s) · direction`` (one forward-mode jvp; ``direction`` shaped like ``s``)."""

    def derivative(s: Tensor) -> Tensor:
        return jvp(fn, (s,), (direction,))[1]

    return derivative


def _lift(fn: Callable[[Tensor], tuple[Tensor, list[Tensor]]], direction: Tensor):
    """``x ↦ (∂fn(x)·direction, aux + [fn(x)])``: one more nesting level that keeps the primal."""

    def derivative(x: Tensor) -> tuple[Tensor, list[Tensor]]:
        primal, tangent, aux = jvp(fn, (x,), (direction,), has_aux=True)
        return tangent, [*aux, primal]

    return derivative


def jet(fn: Callable[[Tensor], Tensor], s: Tensor, order: int) -> Tensor:
    """Partial derivatives of a pointwise map ``fn: (..., m) -> (..., D)`` at ``s``.

    One ``order``-fold nested jvp computes everything: the points are replicated once per
    multi-index of the top order, level ``j`` of the nesting carries the one-hot direction
    ``e_{α_j}`` of each replica, and the primals of the inner levels are the lower-order
    derivatives (every sorted multi-index is a prefix of a sorted top-order one). This is valid
    because ``fn`` acts on each point independently.

    Args:
        fn: the map, batched over leading dimensions.
        s: chart points ``(..., m)``.
        order: highest derivative order (0 to 3).

    Returns:
        ``(..., n, D)`` with ``n = len(multi_indices(m, order))``; entry ``[..., p, :]`` is the
        derivative for the ``p``-th multi-index (entry 0 is ``fn(s)`` itself).
    """
    if order == 0:
        return fn(s).unsqueeze(-2)
    dim = s.shape[-1]
    top = [alpha for alpha in multi_indices(dim, order) if len(alpha) == order]
    eye = torch.eye(dim, dtype=s.dtype, device=s.device)
    points = s.expand(len(top), *s.shape).contiguous()
    f = lambda x: (fn(x), [])  # noqa: E731
    for j in range(order):
        direction = eye[[alpha[j] for alpha in top]].view(len(top), *([1] * (s.ndim - 1)), dim)
        f = _lift(f, direction.expand_as(points).contiguous())
    highest, lower = f(points)
    levels = [*lower, highest]  # levels[k][r] = ∂^{top[r][:k]} fn
    first_with_prefix = {}
    for r, alpha in enumerate(top):
        for k in range(order + 1):
            first_with_prefix.setdefault(alpha[:k], (k, r))
    blocks = [levels[k][r] for k, r in (first_with_prefix[alpha] for alpha in multi_indices(dim, order))]
    return torch.stack(blocks, dim=-2)
