"""The unconditioned baseline: one network for every context."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import Tensor, nn

from .context import ContextModule

__all__ = ["Unconditioned"]


class Unconditioned(ContextModule):
    """``model(x)``, ignoring ``s`` (which is still validated, so every method takes the same input).

    Args:
        model: any ``nn.Module`` (deep-copied, as by ``WeightManifold``).
        periodic: one flag per context coordinate.
    """

    def __init__(self, model: nn.Module, periodic: Sequence[bool]):
        super().__init__(periodic)
        self.model = copy.deepcopy(model)

    def forward(self, x: Tensor, s) -> Tensor:
        self.contexts(s, x)
        return self.model(x)
