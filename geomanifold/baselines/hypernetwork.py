"""A full hypernetwork (Ha, Dai & Le, 2017, "HyperNetworks"): every weight generated from ``s``.

A generator MLP maps the context features to a code ``g(s) = L₂ ReLU(L₁ f(s) + b₁) + b₂ ∈ ℝ^d``,
and a linear output layer maps the code to all parameters of the model,

    W(s) = W₀ + Σ_{j=1..d} g_j(s) (W_j − W₀),

i.e. ``W(s) = b + A g(s)`` with bias ``b = W₀`` and columns ``A_j = W_j − W₀``. The ``d + 1``
tensors ``W_j`` per parameter are held by a :class:`~geomanifold.conditioning.WeightManifold`
(every layer reads the coefficients ``(1 − Σ_j g_j, g_1, …, g_d)``; its stand-in basis
``Bernstein(d)`` only initialises them). With ``init="copy"`` every ``W_j`` starts as the
backbone's weights, so the model equals the backbone at every ``s`` at the start.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..arguments import check_int
from ..bases import Bernstein
from ..conditioning import WeightManifold
from .context import ContextModule, _encode

__all__ = ["HyperNetwork"]


class HyperNetwork(ContextModule):
    """``model`` with weights ``W₀ + Σ_j g_j(s) (W_j − W₀)`` from a generator MLP ``g``.

    Args:
        model: any model the conditioning engine supports (deep-copied).
        codes: ``d``, the dimension of the generator's code (``d + 1`` weight tensors per parameter).
        periodic: one flag per context coordinate.
        hidden: width of the generator's hidden layer.
        init: ``"copy"`` (every ``W_j`` the backbone's) or ``"independent"``, as in ``WeightManifold``.

    Raises:
        ValueError: ``codes`` or ``hidden`` not an int ``>= 1``.
    """

    def __init__(
        self, model: nn.Module, codes: int, periodic: Sequence[bool], hidden: int = 64, init: str = "copy"
    ):
        super().__init__(periodic)
        for name, value in (("codes", codes), ("hidden", hidden)):
            check_int(name, value, 1)
        self.codes = codes
        self.generator = nn.Sequential(
            nn.Linear(self.num_features, hidden), nn.ReLU(), nn.Linear(hidden, codes)
        )
        self.manifold = WeightManifold(model, Bernstein(codes), init=init)

    def code(self, s, x: Tensor | None = None) -> Tensor:
        """``g(s)``: ``(m,) -> (d,)`` or ``(B, m) -> (B, d)``."""
        return self.generator(_encode(self.contexts(s, x), self.chart.periodic))

    def forward(self, x: Tensor, s, *args, **kwargs):
        """The model at ``W(s)``; a shared ``s: (m,)`` builds ``W(s)`` once."""
        g = self.code(s, x)
        coefficients = torch.cat([1 - g.sum(-1, keepdim=True), g], dim=-1)
        return self.manifold.forward_with_coefficients(x, coefficients, *args, **kwargs)
