"""One-line checks of plain arguments, shared by every layer."""

from __future__ import annotations

__all__ = ["check_int"]


def check_int(name: str, value, minimum: int) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``; else a one-line ``ValueError``
    naming ``name`` and what is valid."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value
