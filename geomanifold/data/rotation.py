"""Rotation of images by the angle ``2π s``: the circle context."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .noise import check_floating, per_example

__all__ = ["rotate"]


def rotate(x: Tensor, s: Tensor | float, mode: str = "bilinear", padding_mode: str = "zeros") -> Tensor:
    """Rotate each image counter-clockwise (as displayed, row 0 at the top) by ``2π s`` about
    its centre, with ``affine_grid`` / ``grid_sample``.

    ``s = 1/4`` matches ``torch.rot90(x, 1, dims=(-2, -1))`` on square images and ``s = 1`` is
    the identity, both up to interpolation error; corners rotated in from outside the image are
    filled by ``padding_mode`` (zeros by default). Batched: one angle per example.

    Args:
        x: ``(B, C, H, W)`` images.
        s: angle in turns: a number, ``(B,)`` or ``(B, 1)``; any real value (periodic).
        mode: interpolation mode of :func:`torch.nn.functional.grid_sample`.
        padding_mode: padding mode of :func:`torch.nn.functional.grid_sample`.

    Returns:
        ``(B, C, H, W)`` rotated images, same dtype and device as ``x``.

    Raises:
        TypeError: ``x`` not a floating tensor.
        ValueError: ``x`` not 4-D, or ``s`` of a wrong shape or on another device.
    """
    check_floating(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (B, C, H, W) with B >= 1, got {tuple(x.shape)}")
    s = per_example(s, x.shape[0], x)
    angle = 2 * math.pi * s
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(angle)
    # output pixel (u, v) (x right, y down, normalised to [-1, 1]) samples the input at R (u, v)
    theta = torch.stack(
        [torch.stack([cos, -sin, zero], dim=-1), torch.stack([sin, cos, zero], dim=-1)], dim=-2
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
