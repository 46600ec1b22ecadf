"""Cyclic translation by a fraction ``s`` of the length: the circle context of MNIST-1D and the
second coordinate of the torus context."""

from __future__ import annotations

import torch
from torch import Tensor

from .noise import check_floating, per_example

__all__ = ["cyclic_shift"]


def cyclic_shift(x: Tensor, s: Tensor | float, dim: int = -1) -> Tensor:
    """Shift each example cyclically along ``dim`` by ``s · L`` positions (``L = x.shape[dim]``),
    linearly interpolating between the two nearest whole shifts:
    ``y[i] = (1 − f) x[i − k] + f x[i − k − 1]`` (indices mod ``L``), ``k + f = s L``.

    ``s = 0`` and ``s = 1`` are the identity exactly; ``s = j / L`` is ``torch.roll`` by ``j``.

    Args:
        x: ``(B, ...)`` with the shifted axis ``dim`` (not the batch dimension).
        s: shift in turns: a number, ``(B,)`` or ``(B, 1)``; any real value (periodic).
        dim: the axis to shift along.

    Returns:
        tensor of ``x``'s shape, dtype and device.

    Raises:
        TypeError: ``x`` not a floating tensor.
        ValueError: ``s`` of a wrong shape or on another device, or ``dim`` naming the batch
            dimension.
    """
    check_floating(x)
    dim = dim % x.ndim
    if dim == 0:
        raise ValueError("dim must not be the batch dimension 0; valid: 1 .. x.ndim - 1 or negative")
    s = per_example(s, x.shape[0], x)
    length = x.shape[dim]
    amount = torch.remainder(s, 1.0) * length
    whole = torch.floor(amount)
    fraction = (amount - whole).reshape(-1, *([1] * (x.ndim - 1)))
    shape = [1] * x.ndim
    shape[dim] = length
    positions = torch.arange(length, device=x.device).reshape(shape)
    start = whole.long().reshape(-1, *([1] * (x.ndim - 1)))
    index = torch.remainder(positions - start, length).expand_as(x)
    before = torch.gather(x, dim, index)
    after = torch.gather(x, dim, torch.remainder(index - 1, length))
    return (1 - fraction) * before + fraction * after
