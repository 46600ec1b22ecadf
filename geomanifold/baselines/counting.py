"""Parameter counts, and the width that matches a baseline's size to a target (e.g. a manifold's)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["count_parameters", "parameter_matched_width"]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (shared tensors counted once; a weight manifold counts all
    ``K`` control points)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_matched_width(
    build: Callable[[int], nn.Module], target: int | nn.Module, max_width: int = 1 << 16
) -> int:
    """The width ``w >= 1`` whose model ``build(w)`` has the parameter count closest to ``target``.

    Assumes the count does not decrease with ``w`` (true for widths of an MLP): doubling then
    bisection, ``O(log w)`` builds. E.g. the width of a concat MLP matched to a weight manifold::

        w = parameter_matched_width(lambda w: ConditionedMLP(784, [w, w], 10, [False]), wm)

    Args:
        build: a model of width ``w``.
        target: a parameter count, or a module whose :func:`count_parameters` is the target.
        max_width: the largest width tried.

    Raises:
        ValueError: ``target`` not positive, or not reached at ``max_width``.
    """
    if isinstance(target, nn.Module):
        target = count_parameters(target)
    if not isinstance(target, int) or target < 1:
        raise ValueError(f"target must be an int >= 1 or an nn.Module, got {target!r}")

    def count(width: int) -> int:
        return count_parameters(build(width))

    high = 1
    while count(high) < target:
        if high >= max_width:
            raise ValueError(
                f"build({max_width}) has fewer than target = {target} parameters; raise max_width"
            )
        high = min(2 * high, max_width)
    low = high // 2  # count(low) < target <= count(high), or high == 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    if low >= 1 and target - count(low) < count(high) - target:
        return low
    return high
