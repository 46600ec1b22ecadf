"""One-line checks of plain arguments, shared by every layer."""

from __future__ import annotations

__all__ = ["check_int", "check_sparsity"]


def check_int(name: str, value, minimum: int) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``; else a one-line ``ValueError``
    naming ``name`` and what is valid."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_sparsity(value: float, name: str = "sparsity") -> float:
    """``value`` if it is a number in ``(0, 1)``; a ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a fraction in (0, 1), e.g. 0.9 for 90 % zeros; got {value!r}")
    return float(value)
