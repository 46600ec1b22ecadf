"""The plain MLP backbone shared by the baselines and their parameter-matched variants."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from torch import nn

__all__ = ["layer_sizes", "mlp"]


def layer_sizes(in_features: int, hidden: Sequence[int], out_features: int) -> list[int]:
    """``[in_features, *hidden, out_features]`` after checking each is an int >= 1."""
    sizes = [in_features, *hidden, out_features]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ValueError(
            f"layer sizes must be ints >= 1, got in_features={in_features!r}, hidden={list(hidden)!r}, "
            f"out_features={out_features!r}"
        )
    return sizes


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    activation: Callable[[], nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """``Flatten → [Linear → activation] per hidden width → Linear``: ``(B, *) -> (B, out_features)``."""
    sizes = layer_sizes(in_features, hidden, out_features)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(hidden):
            layers.append(activation())
    return nn.Sequential(*layers)
