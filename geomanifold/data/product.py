"""Two-dimensional contexts from the one-dimensional transforms, ``s: (B, 2)``:

- :func:`rotate_and_shift`: the torus, rotation by ``2π s₀`` then cyclic horizontal translation
  by ``s₁`` of the width (both periodic);
- :func:`noise_and_rotate`: the cylinder, rotation by ``2π s₁`` then Gaussian noise of level
  ``s₀ ∈ [0, 1]`` (an interval times a circle).

Both need a floating ``x`` (``TypeError`` otherwise, from :func:`rotate`) and ``s`` on ``x``'s
device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .noise import add_noise
from .rotation import rotate
from .shift import cyclic_shift

__all__ = ["noise_and_rotate", "rotate_and_shift"]


def _pair(s: Tensor, batch: int) -> Tensor:
    s = torch.as_tensor(s)
    if s.shape != (batch, 2):
        raise ValueError(f"s must have shape ({batch}, 2), one 2-D context per example, got {tuple(s.shape)}")
    return s


def rotate_and_shift(x: Tensor, s: Tensor) -> Tensor:
    """Images ``x: (B, C, H, W)`` rotated by ``2π s[:, 0]`` (:func:`rotate`), then shifted
    cyclically along the width by ``s[:, 1] · W`` (:func:`cyclic_shift`)."""
    s = _pair(s, x.shape[0])
    return cyclic_shift(rotate(x, s[:, 0]), s[:, 1], dim=-1)


def noise_and_rotate(
    x: Tensor, s: Tensor, sigma_max: float, generator: torch.Generator | None = None
) -> Tensor:
    """Images ``x: (B, C, H, W)`` rotated by ``2π s[:, 1]``, then noised with
    ``σ = sigma_max · s[:, 0]`` (:func:`add_noise`; ``s[:, 0] ∈ [0, 1]``)."""
    s = _pair(s, x.shape[0])
    return add_noise(rotate(x, s[:, 1]), s[:, 0], sigma_max, generator)
