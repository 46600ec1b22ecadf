"""Context features and the ``model(x, s)`` calling convention shared by every baseline.

Every baseline is called like :class:`~geomanifold.conditioning.WeightManifold`: ``model(x, s)``
with ``s: (m,)`` shared by the batch or ``(B, m)`` one context per example (batch on dim 0 of
``x``), each coordinate in ``[0, 1]`` or periodic with period 1 (``Chart.unit(periodic)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..chart import Chart

__all__ = ["ContextModule", "context_features", "feature_count", "unit_chart"]


def unit_chart(periodic: Sequence[bool]) -> Chart:
    """``[0, 1]`` per coordinate, periodic where ``periodic[i]``; checks the flags (1 to 3 bools)."""
    if (
        isinstance(periodic, str | bytes)
        or not isinstance(periodic, Sequence)
        or not 1 <= len(periodic) <= 3
        or not all(isinstance(p, bool) for p in periodic)
    ):
        raise ValueError(
            f"periodic must be a sequence of 1 to 3 bools, one per context coordinate, got {periodic!r}"
        )
    return Chart.unit(periodic)


def feature_count(periodic: Sequence[bool]) -> int:
    """``F``: 1 feature per interval coordinate, 2 per periodic one."""
    return sum(2 if p else 1 for p in unit_chart(periodic).periodic)


def context_features(s, periodic: Sequence[bool]) -> Tensor:
    """Features of the context, ``(..., m) -> (..., F)``, coordinate by coordinate:
    ``s_i`` for an interval coordinate, ``(cos 2π s_i, sin 2π s_i)`` for a periodic one.

    Raises:
        ValueError: bad ``periodic`` flags, or ``s`` not of shape ``(..., m)`` in the chart.
    """
    chart = unit_chart(periodic)
    return _encode(chart.validate(s, "s"), chart.periodic)


def _encode(s: Tensor, periodic: tuple[bool, ...]) -> Tensor:
    parts = []
    for i, p in enumerate(periodic):
        if p:
            angle = 2 * math.pi * s[..., i]
            parts += [torch.cos(angle), torch.sin(angle)]
        else:
            parts.append(s[..., i])
    return torch.stack(parts, dim=-1)


class ContextModule(nn.Module):
    """Base of the baselines: the context chart, ``s`` validation and context features.

    Args:
        periodic: one flag per context coordinate (``m`` = 1 to 3).

    Attributes:
        chart: ``Chart.unit(periodic)``.
        num_features: ``F``, see :func:`context_features`.
    """

    def __init__(self, periodic: Sequence[bool]):
        super().__init__()
        self.chart = unit_chart(periodic)
        self.num_features = feature_count(periodic)

    def contexts(self, s, x: Tensor | None = None) -> Tensor:
        """``s`` validated, ``(m,)`` or ``(B, m)``, in the dtype and device of ``x`` (floating
        ``x``; otherwise of the parameters). With ``x``, ``B`` must equal ``x.shape[0]``."""
        parameter = next(self.parameters(), None)
        if x is not None:
            device = x.device
        else:
            device = parameter.device if parameter is not None else torch.device("cpu")
        if x is not None and x.is_floating_point():
            dtype = x.dtype
        else:
            dtype = parameter.dtype if parameter is not None else torch.get_default_dtype()
        if isinstance(s, Tensor) and s.device != device:
            raise ValueError(f"s is on {s.device} but the input is on {device}; valid: s on {device}")
        s = self.chart.validate(s, "s")
        m = self.chart.dim
        if s.ndim > 2:
            raise ValueError(
                f"s must have shape ({m},) shared by the batch or (B, {m}) one per example, "
                f"got {tuple(s.shape)}"
            )
        if x is not None and s.ndim == 2 and (x.ndim == 0 or s.shape[0] != x.shape[0]):
            raise ValueError(
                f"s has {s.shape[0]} contexts but x has shape {tuple(x.shape)}; valid: s of shape "
                f"({m},) shared by the batch or (B, {m}) with B = x.shape[0]"
            )
        return s.to(device=device, dtype=dtype)

    def features(self, s, x: Tensor) -> Tensor:
        """Context features ``(B, F)`` for a batch ``x`` (a shared ``s: (m,)`` is repeated)."""
        s = self.contexts(s, x)
        return _encode(s, self.chart.periodic).expand(x.shape[0], self.num_features)

    def param_groups(self) -> list[dict]:
        """One plain optimizer group with every parameter (mirrors ``WeightManifold.param_groups``)."""
        return [{"params": list(self.parameters())}]
