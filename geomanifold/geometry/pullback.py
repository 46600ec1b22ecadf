"""The ambient-metric hook: a manifold measured through a map ``f`` (docs/concepts.md, "A manifold is a map").

If the ambient metric is the pullback of the Euclidean metric through ``f`` (e.g. the outputs of a
network on a fixed batch as a function of its weights), the geometry of ``phi`` under it is the
plain embedded geometry of ``f ∘ phi``. :class:`PullbackManifold` is exactly that composition, so
every method of :class:`EmbeddedManifold` applies unchanged (jvps run through ``f``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .manifold import EmbeddedManifold

__all__ = ["PullbackManifold"]


class PullbackManifold(EmbeddedManifold):
    """``manifold`` under the ambient metric ``<u, v>_A = <J_f u, J_f v>``: the map ``f ∘ phi``.

    Args:
        manifold: the base manifold ``phi: (..., m) -> (..., D)``.
        f: a pointwise map ``(..., D) -> (..., D')`` written with torch operations (batched over
            leading dimensions; wrap a per-point function with ``torch.func.vmap`` if needed).
    """

    def __init__(self, manifold: EmbeddedManifold, f: Callable[[Tensor], Tensor]):
        if not isinstance(manifold, EmbeddedManifold):
            raise TypeError(f"manifold must be an EmbeddedManifold, got {type(manifold).__name__}")
        if not callable(f):
            raise TypeError(f"f must be a callable (..., D) -> (..., D'), got {type(f).__name__}")
        self.dim = manifold.dim
        super().__init__(manifold.chart)
        self.base = manifold
        self.f = f

    def phi(self, s: Tensor) -> Tensor:
        return self.f(self.base.phi(s))
