"""The basis coefficients ``φ(s)`` a conditioned model is run with, from a user's contexts ``s``."""

from __future__ import annotations

from torch import Tensor

from ..bases import Basis

__all__ = ["context_coefficients"]


def context_coefficients(
    basis: Basis, s, reference: Tensor, single: bool = False, cast: bool = False
) -> Tensor:
    """``φ(s)`` in the dtype and device of ``reference`` (a parameter of the model).

    Args:
        basis: ``φ``.
        s: ``(m,)`` shared by the batch, or ``(B, m)`` one per example (``(m,)`` only if
            ``single``); numbers and arrays are converted.
        reference: gives the dtype and device; ``s`` must be on its device.
        single: accept one context only.
        cast: convert a floating ``s`` of another dtype (e.g. bfloat16) to the reference dtype
            instead of refusing it.

    Returns:
        ``(K,)`` or ``(B, K)``.

    Raises:
        ValueError: ``s`` on another device, of a wrong shape, empty, non-finite or outside the
            chart.
        TypeError: a floating ``s`` of another dtype when ``cast`` is false.
    """
    if isinstance(s, Tensor):
        if s.device != reference.device:
            raise ValueError(
                f"s is on {s.device} but the parameters are on {reference.device}; "
                f"valid: s on {reference.device}"
            )
        if cast and s.is_floating_point():
            s = s.to(reference.dtype)
    s = basis.chart.validate(s, "s", dtype=reference.dtype).to(reference.device)
    m = basis.dim
    if s.ndim > (1 if single else 2):
        valid = f"({m},)" if single else f"({m},) shared by the batch or (B, {m}) one per example"
        raise ValueError(f"s must have shape {valid}, got {tuple(s.shape)}")
    if s.ndim == 2 and s.shape[0] == 0:
        raise ValueError(f"s has 0 contexts (an empty batch); valid: (B, {m}) with B >= 1, or ({m},)")
    return basis.partial(s, (0,) * m)
