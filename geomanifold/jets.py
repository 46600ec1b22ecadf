"""Jets: all partial derivatives of a map up to a given order, by forward-mode autodiff.

A *multi-index* is a sorted tuple of coordinate indices, e.g. ``(0, 1)`` for ``∂_0 ∂_1``.
:func:`multi_indices` fixes the order used everywhere in the package:
``()`` first, then the first derivatives ``(0,), …, (m-1,)``, then ``(i, j)`` with ``i <= j``, …

Derivatives are nested ``torch.func.jvp`` calls (docs/concepts.md, "Computing it without D × D
matrices"): the cost is a few forward passes. Nested reverse mode would give the same numbers but
needs a backward pass per ambient coordinate, so no Jacobian of size ``D × m`` is formed.

Under forward-mode autodiff, ``x * 2.0`` is the tensor-tensor product with a wrapped number whose
tangent is undefined; the derivative rule then materialises a zero tangent whose shape torch
computes with Python meta kernels (about 0.2 ms per operation, several times per nesting level).
:class:`ScalarArithmetic` routes arithmetic with a Python number to the ``aten`` overloads that
take the number as a scalar, whose derivative rules use one tangent only: same values, no zero
tangents, for any ``phi``. Every derivative in this module runs under it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import combinations_with_replacement

import torch
from torch import Tensor
from torch.func import jvp
from torch.overrides import TorchFunctionMode

__all__ = [
    "ScalarArithmetic",
    "counts",
    "directional_derivative",
    "jet",
    "multi_index_position",
    "multi_indices",
]

_aten = torch.ops.aten
# (tensor op number) -> the scalar overload; reflected operators keep the tensor first
_SCALAR_OVERLOADS = {
    torch.Tensor.__mul__: _aten.mul.Scalar,
    torch.Tensor.__rmul__: _aten.mul.Scalar,
    torch.Tensor.mul: _aten.mul.Scalar,
    torch.mul: _aten.mul.Scalar,
    torch.Tensor.__add__: _aten.add.Scalar,
    torch.Tensor.__radd__: _aten.add.Scalar,
    torch.Tensor.add: _aten.add.Scalar,
    torch.add: _aten.add.Scalar,
    torch.Tensor.__sub__: _aten.sub.Scalar,
    torch.Tensor.sub: _aten.sub.Scalar,
    torch.sub: _aten.sub.Scalar,
    torch.Tensor.__rsub__: _aten.rsub.Scalar,
    torch.Tensor.__truediv__: _aten.div.Scalar,
    torch.Tensor.div: _aten.div.Scalar,
    torch.div: _aten.div.Scalar,
}


class ScalarArithmetic(TorchFunctionMode):
    """Within this mode, ``tensor ∘ number`` (``∘`` one of ``* + −`` and ``/`` by a number) of a
    floating-point tensor and a Python ``int`` or ``float`` runs the ``aten`` scalar overload.

    Values are unchanged (the same kernels compute them); only the forward-mode derivative rule
    differs, which no longer builds a zero tangent for the number (see the module docstring).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        overload = _SCALAR_OVERLOADS.get(func)
        if overload is not None and not kwargs and len(args) == 2:
            tensor, number = args
            if isinstance(tensor, Tensor) and tensor.is_floating_point() and type(number) in (int, float):
                return overload(tensor, number)
        return func(*args, **(kwargs or {}))


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
        with ScalarArithmetic():
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
    with ScalarArithmetic():
        highest, lower = f(points)
    levels = [*lower, highest]  # levels[k][r] = ∂^{top[r][:k]} fn
    first_with_prefix = {}
    for r, alpha in enumerate(top):
        for k in range(order + 1):
            first_with_prefix.setdefault(alpha[:k], (k, r))
    blocks = [levels[k][r] for k, r in (first_with_prefix[alpha] for alpha in multi_indices(dim, order))]
    return torch.stack(blocks, dim=-2)
