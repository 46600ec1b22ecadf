"""SCN: Subspace-Configurable Networks (Wang, Saukh et al., 2023), a hypernetwork baseline.

A small network maps the context features to softmax coefficients over ``D`` copies of every
parameter tensor, ``α(s) = softmax(g(f(s))) ∈ Δ^{D-1}``, ``W(s) = Σ_d α_d(s) W_d``. This is a
weight manifold whose basis is learned, so it runs on the conditioning engine: a
:class:`~geomanifold.conditioning.WeightManifold` holds the ``D`` copies (control points) and
its layers read ``α(s)`` in place of ``φ(s)`` (basis-point decomposition, no per-example
weights). Its stand-in basis ``Bernstein(D − 1)`` (a partition of unity, so ``init="copy"``
gives ``W_d = W``) only initialises the copies and is never evaluated.

All parameters, copies included, are trained with plain gradients (:meth:`param_groups`): there
is no fixed basis whose Gram matrix could precondition them. With ``init="independent"``
(fresh copies, as in the paper) the mixed weights at uniform ``α`` have a smaller scale than one
init (``≈ 1/√D``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..arguments import check_int
from ..bases import Bernstein
from ..conditioning import Selector, WeightManifold
from .context import ContextModule, _encode

__all__ = ["SCN"]


class SCN(ContextModule):
    """``model`` with weights ``Σ_d α_d(s) W_d``.

    Args:
        model: any model the conditioning engine supports (deep-copied).
        dimensions: ``D``, the number of weight copies (``D = 1``: the plain model).
        periodic: one flag per context coordinate.
        hidden: width of the coefficient network ``f(s) → Linear → ReLU → Linear → D``.
        init: ``"independent"`` or ``"copy"``, as in ``WeightManifold``.
        include: which parameters get ``D`` copies, as in ``WeightManifold``.
        exclude: which parameters stay shared, as in ``WeightManifold``.
    """

    def __init__(
        self,
        model: nn.Module,
        dimensions: int,
        periodic: Sequence[bool],
        hidden: int = 64,
        init: str = "independent",
        include: Selector | None = None,
        exclude: Selector | None = None,
    ):
        super().__init__(periodic)
        for name, value in (("dimensions", dimensions), ("hidden", hidden)):
            check_int(name, value, 1)
        self.dimensions = dimensions
        self.coefficient_net = nn.Sequential(
            nn.Linear(self.num_features, hidden), nn.ReLU(), nn.Linear(hidden, dimensions)
        )
        self.manifold = WeightManifold(model, Bernstein(dimensions - 1), include, exclude, init=init)

    def coefficients(self, s, x: Tensor | None = None) -> Tensor:
        """``α(s)``: ``(m,) -> (D,)`` or ``(B, m) -> (B, D)``, each row on the simplex."""
        return torch.softmax(self.coefficient_net(_encode(self.contexts(s, x), self.chart.periodic)), dim=-1)

    def forward(self, x: Tensor, s, *args, **kwargs):
        """The model at ``W(s)``; a shared ``s: (m,)`` builds ``W(s)`` once (fast path)."""
        return self.manifold.forward_with_coefficients(x, self.coefficients(s, x), *args, **kwargs)
