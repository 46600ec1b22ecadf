"""Per-context specialists: one independent network per discrete context value.

With discrete contexts this is the upper bound of conditioning (no sharing, each network trained
on its own context's data only), at ``N`` times the parameters. Each example goes to the
specialist of the nearest context value (periodic coordinates compared around the circle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .context import ContextModule

__all__ = ["Specialists"]


class Specialists(ContextModule):
    """``specialists[n](x)`` for ``n = argmin_n |s − contexts[n]|``.

    Args:
        model_factory: builds one fresh network per context (called ``N`` times).
        contexts: the ``N`` distinct context values, ``(N, m)``.
        periodic: one flag per context coordinate.

    Raises:
        ValueError: ``contexts`` not ``(N, m)`` with ``N >= 1`` in the chart, repeated values, or a
            factory that returns the same network twice.
    """

    def __init__(
        self,
        model_factory: Callable[[], nn.Module],
        contexts: Tensor | Sequence[Sequence[float]],
        periodic: Sequence[bool],
    ):
        super().__init__(periodic)
        contexts = self.chart.validate(contexts, "contexts")
        if contexts.ndim != 2 or contexts.shape[0] == 0:
            raise ValueError(
                f"contexts must have shape (N, {self.chart.dim}) with N >= 1, got {tuple(contexts.shape)}"
            )
        wrapped = self.chart.wrap(contexts)
        if torch.unique(wrapped, dim=0).shape[0] < wrapped.shape[0]:
            raise ValueError("contexts must be distinct values (periodic coordinates taken modulo 1)")
        self.register_buffer("values", contexts)
        self.specialists = nn.ModuleList(model_factory() for _ in range(contexts.shape[0]))
        if len({id(m) for m in self.specialists}) < len(self.specialists):
            raise ValueError("model_factory must build a new network on each call, not return the same one")

    def route(self, s, x: Tensor | None = None) -> Tensor:
        """Index of the nearest context value: ``(m,) -> ()`` or ``(B, m) -> (B,)``, int64."""
        s = self.contexts(s, x)
        difference = self.chart.wrapped_difference(self.values.to(s), s[..., None, :])
        return difference.pow(2).sum(-1).argmin(-1)

    def forward(self, x: Tensor, s) -> Tensor:
        index = self.route(s, x)
        if index.ndim == 0:
            return self.specialists[int(index)](x)
        members = [(index == n).nonzero().squeeze(1) for n in index.unique().tolist()]
        outputs = torch.cat([self.specialists[int(index[m[0]])](x[m]) for m in members])
        return outputs[torch.cat(members).argsort()]
