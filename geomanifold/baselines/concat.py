"""Input concatenation: the context features ``(B, F)`` appended to the input (and optionally to
every layer's input of an MLP).

- :class:`InputConcat` wraps any backbone whose first layer takes ``C + F`` channels: the
  features become extra input channels along dim 1, constant over any spatial dimensions
  (``(B, C, *spatial) -> (B, C + F, *spatial)``; for flat inputs ``(B, D) -> (B, D + F)``).
  ``flatten=True`` flattens ``x`` to ``(B, D)`` first (an MLP on images).
- :class:`ConditionedMLP` is an MLP that concatenates the features to the input of every layer
  (``every_layer=True``) or of the first only.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .context import ContextModule
from .mlp import layer_sizes

__all__ = ["ConditionedMLP", "InputConcat"]


class InputConcat(ContextModule):
    """``backbone(cat[x, features(s)])`` along dim 1.

    Args:
        backbone: a model taking ``C + F`` input channels (``D + F`` features); deep-copied.
        periodic: one flag per context coordinate; ``F = num_features``.
        flatten: flatten ``x`` from dim 1 before concatenating.
    """

    def __init__(self, backbone: nn.Module, periodic: Sequence[bool], flatten: bool = False):
        super().__init__(periodic)
        self.backbone = copy.deepcopy(backbone)
        self.flatten = flatten

    def forward(self, x: Tensor, s) -> Tensor:
        features = self.features(s, x)
        if self.flatten:
            x = x.flatten(1)
        if x.ndim < 2:
            raise ValueError(f"x must have shape (B, C, ...), got {tuple(x.shape)}")
        spatial = x.shape[2:]
        features = features.reshape(*features.shape, *[1] * len(spatial)).expand(-1, -1, *spatial)
        return self.backbone(torch.cat([x, features], dim=1))


class ConditionedMLP(ContextModule):
    """An MLP ``in_features → hidden → out_features`` on flattened inputs with the context
    features concatenated to the input of the first layer, or of every layer (hidden and output)
    with ``every_layer=True``: ``h_{l+1} = act(W_l [h_l; f(s)] + b_l)``. ``(B, *) -> (B, out)``.

    With ``every_layer=False`` it equals ``InputConcat(mlp(in_features + F, ...), flatten=True)``.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        periodic: Sequence[bool],
        every_layer: bool = False,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__(periodic)
        self.every_layer = every_layer
        sizes = layer_sizes(in_features, hidden, out_features)
        self.layers = nn.ModuleList(
            nn.Linear(n_in + (self.num_features if i == 0 or every_layer else 0), n_out)
            for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        )
        self.activations = nn.ModuleList(activation() for _ in hidden)

    def forward(self, x: Tensor, s) -> Tensor:
        features = self.features(s, x)
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            if i == 0 or self.every_layer:
                h = torch.cat([h, features], dim=1)
            h = layer(h)
            if i < len(self.activations):
                h = self.activations[i](h)
        return h
