"""FiLM (Perez et al., 2018, "FiLM: Visual Reasoning with a General Conditioning Layer").

The output ``h`` of each modulated layer (``nn.Linear``: last dim; ``nn.Conv1d/2d/3d``: dim 1)
is modulated per example, ``h ← γ(s) ⊙ h + β(s)``, before the activation that follows it, with
``[γ_l; β_l]_l = A g(s) + c``: ``g(s) = f(s)`` the context features ``(B, F)`` (one linear map,
the default), or ``g(s) = ReLU(L f(s) + d)`` a hidden layer of ``hidden`` units (an MLP
generator, as in Perez et al.'s FiLM generator). At init ``A = 0``, ``γ = 1``, ``β = 0``: the
model equals its backbone at every ``s``.

As in :class:`~geomanifold.conditioning.WeightManifold`, each modulated module is swapped for a
:class:`FiLMLayer` (``state_dict`` names gain a ``.layer`` segment) that reads the modulation of
the forward pass in progress from a shared :class:`~geomanifold.conditioning.layer.Context`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..conditioning.layer import Context
from .context import ContextModule

__all__ = ["FiLM", "FiLMLayer"]

_MODULATED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class FiLMLayer(nn.Module):
    """``layer`` followed by ``γ ⊙ h + β`` with ``[γ; β] = modulation[:, offset : offset + 2C]``."""

    def __init__(self, layer: nn.Module, offset: int, context: Context, name: str):
        super().__init__()
        self.layer = layer
        self.offset = offset
        self.channels = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
        self.name = name
        self._context = context

    def forward(self, x: Tensor) -> Tensor:
        h = self.layer(x)
        modulation = self._context.coefficients(self.name)
        batch, c = modulation.shape[0], self.channels
        if h.ndim < 2 or h.shape[0] != batch:
            raise ValueError(
                f"layer {self.name!r} gave an output of shape {tuple(h.shape)} but s has {batch} "
                f"contexts; valid: a batched input with {batch} examples along dim 0"
            )
        gamma, beta = modulation[:, self.offset : self.offset + 2 * c].chunk(2, dim=1)
        ones = [1] * (h.ndim - 2)
        shape = (batch, *ones, c) if isinstance(self.layer, nn.Linear) else (batch, c, *ones)
        return gamma.reshape(shape) * h + beta.reshape(shape)


class FiLM(ContextModule):
    """A backbone with FiLM-modulated layers.

    Args:
        backbone: any ``nn.Module`` (deep-copied).
        periodic: one flag per context coordinate.
        modulate: qualified names of the ``nn.Linear`` / ``nn.Conv1d/2d/3d`` modules to modulate;
            default all of them except the last one in model order (the output layer).
        hidden: units of the generator's hidden layer; ``None``: one linear map.

    Raises:
        ValueError: an unknown or unsupported name, nothing to modulate, or ``hidden < 1``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        periodic: Sequence[bool],
        modulate: Sequence[str] | None = None,
        hidden: int | None = None,
    ):
        super().__init__(periodic)
        if hidden is not None and (not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1):
            raise ValueError(f"hidden must be None or an int >= 1, got {hidden!r}")
        backbone = copy.deepcopy(backbone)
        eligible = [name for name, m in backbone.named_modules() if isinstance(m, _MODULATED)]
        names = eligible[:-1] if modulate is None else list(modulate)
        bad = [name for name in names if name not in eligible]
        if bad or not names or len(set(names)) < len(names):
            raise ValueError(
                f"modulate must name nn.Linear/Conv modules of the backbone, got {bad or names}; "
                f"valid: distinct names, a non-empty subset of {eligible}"
            )
        self._context = Context()
        bias = []
        for name in names:
            offset = sum(block.numel() for block in bias)
            layer = FiLMLayer(backbone.get_submodule(name), offset, self._context, name)
            bias.append(torch.cat([torch.ones(layer.channels), torch.zeros(layer.channels)]))
            parent, _, leaf = name.rpartition(".")
            setattr(backbone.get_submodule(parent), leaf, layer)
        self.backbone = backbone
        bias = torch.cat(bias)
        inputs = self.num_features if hidden is None else hidden
        output = nn.Linear(inputs, bias.numel())
        with torch.no_grad():
            output.weight.zero_()
            output.bias.copy_(bias)
        if hidden is None:
            self.modulation = output
        else:
            self.modulation = nn.Sequential(nn.Linear(self.num_features, hidden), nn.ReLU(), output)

    def forward(self, x: Tensor, s) -> Tensor:
        with self._context.use(self.modulation(self.features(s, x))):
            return self.backbone(x)
