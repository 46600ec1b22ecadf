"""Gaussian noise of a context-dependent level: the line context."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["add_noise", "per_example"]


def check_floating(x: Tensor) -> None:
    """Stop with a one-line ``TypeError`` naming ``x`` unless it is a floating tensor (the
    transforms interpolate and add noise, which integer images cannot hold)."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"x must be a floating tensor (e.g. x.float()), got {kind}")


def per_example(s: Tensor | float, batch: int, like: Tensor) -> Tensor:
    """Context ``s`` as ``(B,)`` in ``like``'s dtype and device.

    Accepts a number or ``()`` (shared by the batch), ``(B,)`` or ``(B, 1)``; a tensor ``s``
    must already be on ``like``'s device (it is not moved silently).

    Raises:
        ValueError: any other shape, or a tensor ``s`` on another device than ``like``.
    """
    if isinstance(s, Tensor) and s.device != like.device:
        raise ValueError(f"s is on {s.device} but x is on {like.device}; move s to x's device")
    s = torch.as_tensor(s, dtype=like.dtype, device=like.device)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim == 0:
        s = s.expand(batch)
    if s.shape != (batch,):
        raise ValueError(f"s must have shape (), ({batch},) or ({batch}, 1), got {tuple(s.shape)}")
    return s


def add_noise(
    x: Tensor, s: Tensor | float, sigma_max: float, generator: torch.Generator | None = None
) -> Tensor:
    """``x + σ ε`` with ``ε ~ N(0, I)`` and ``σ = σ_max · s`` per example; no clipping.

    Args:
        x: ``(B, *F)`` inputs (any feature shape).
        s: noise level in ``[0, 1]``: a number, ``(B,)`` or ``(B, 1)``.
        sigma_max: standard deviation at ``s = 1``, ``>= 0``.
        generator: random generator for ``ε`` (on ``x``'s device); the global one if ``None``.

    Returns:
        ``(B, *F)`` noisy inputs, same dtype and device as ``x``.

    Raises:
        TypeError: ``x`` not a floating tensor.
        ValueError: ``s`` of a wrong shape, on another device or outside ``[0, 1]``, or
            ``sigma_max < 0``.
    """
    check_floating(x)
    if not sigma_max >= 0:
        raise ValueError(f"sigma_max must be >= 0, got {sigma_max!r}")
    s = per_example(s, x.shape[0], x)
    if s.numel() and (s.min() < 0 or s.max() > 1):
        raise ValueError(f"s must lie in [0, 1], got values in [{s.min().item()}, {s.max().item()}]")
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    sigma = (sigma_max * s).reshape(-1, *([1] * (x.ndim - 1)))
    return x + sigma * eps
