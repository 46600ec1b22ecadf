"""Chart domains: each coordinate is the real line, an interval, or periodic.

A :class:`Chart` validates chart points ``s`` of shape ``(..., m)``: the last dimension must be
``m``, values must be finite, interval coordinates must lie in their interval, and periodic
coordinates may take any value (they wrap). It also gives quadrature rules over the domain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Chart", "Interval", "Periodic", "RealLine", "as_points"]


@dataclass(frozen=True)
class RealLine:
    """An unbounded coordinate (the chart of a plain user manifold)."""

    def describe(self) -> str:
        return "any real value"


@dataclass(frozen=True)
class Interval:
    """A closed interval coordinate ``[low, high]``."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Interval needs finite low < high, got [{self.low}, {self.high}]")

    def describe(self) -> str:
        return f"in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Periodic:
    """A periodic coordinate with the given period; its canonical range is ``[low, low + period)``."""

    period: float = 1.0
    low: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.period) and self.period > 0):
            raise ValueError(f"Periodic needs a finite period > 0, got {self.period}")

    def describe(self) -> str:
        return f"periodic with period {self.period:g}"


Coordinate = RealLine | Interval | Periodic


def as_points(s, name: str = "s", dtype: torch.dtype | None = None) -> Tensor:
    """Convert ``s`` to a floating tensor; numbers, lists and arrays become float64 by default."""
    if isinstance(s, Tensor):
        if not s.is_floating_point():
            s = s.to(dtype or torch.float64)
        elif dtype is not None and s.dtype != dtype:
            raise TypeError(f"{name} has dtype {s.dtype}; expected {dtype} to match the manifold")
        return s
    try:
        return torch.as_tensor(np.asarray(s, dtype=np.float64), dtype=dtype or torch.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or array of numbers, got {type(s).__name__}") from err


class Chart:
    """The product of ``m`` coordinate domains.

    Args:
        coordinates: one :class:`RealLine`, :class:`Interval` or :class:`Periodic` per coordinate.
    """

    def __init__(self, coordinates: Sequence[Coordinate]):
        coordinates = tuple(coordinates)
        if not 1 <= len(coordinates) <= 3:
            raise ValueError(f"a chart has 1 to 3 coordinates, got {len(coordinates)}")
        for c in coordinates:
            if not isinstance(c, RealLine | Interval | Periodic):
                raise TypeError(f"chart coordinates must be RealLine, Interval or Periodic, got {c!r}")
        self.coordinates = coordinates

    @classmethod
    def euclidean(cls, dim: int) -> Chart:
        """All of ``R^dim``."""
        return cls([RealLine()] * dim)

    @classmethod
    def unit(cls, periodic: Sequence[bool]) -> Chart:
        """``[0, 1]`` per coordinate, periodic with period 1 where ``periodic[i]`` is true."""
        return cls([Periodic(1.0) if p else Interval(0.0, 1.0) for p in periodic])

    @property
    def dim(self) -> int:
        return len(self.coordinates)

    @property
    def periodic(self) -> tuple[bool, ...]:
        return tuple(isinstance(c, Periodic) for c in self.coordinates)

    @property
    def bounded(self) -> bool:
        return not any(isinstance(c, RealLine) for c in self.coordinates)

    def __mul__(self, other: Chart) -> Chart:
        return Chart(self.coordinates + other.coordinates)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chart) and self.coordinates == other.coordinates

    def __hash__(self) -> int:
        return hash(self.coordinates)

    def __repr__(self) -> str:
        return f"Chart({list(self.coordinates)!r})"

    def describe(self) -> str:
        return "; ".join(f"s[..., {i}] {c.describe()}" for i, c in enumerate(self.coordinates))

    def validate(self, s, name: str = "s", dtype: torch.dtype | None = None) -> Tensor:
        """Return ``s`` as a tensor of shape ``(..., m)`` after checking shape, finiteness, domain.

        Raises:
            ValueError: wrong last dimension, NaN/Inf, or a value outside an interval coordinate.
        """
        s = as_points(s, name, dtype)
        if s.ndim == 0 or s.shape[-1] != self.dim:
            raise ValueError(
                f"{name} must have shape (..., {self.dim}) for this {self.dim}-dimensional chart, "
                f"got shape {tuple(s.shape)}"
            )
        if not torch.isfinite(s).all():
            raise ValueError(f"{name} contains NaN or Inf; chart points must be finite")
        for i, c in enumerate(self.coordinates):
            ok = self.contains_coordinate(s, i)
            if not ok.all():
                bad = s[..., i][~ok][0].item()
                raise ValueError(f"{name}[..., {i}] = {bad:g} is outside the chart; valid: {c.describe()}")
        return s

    def contains_coordinate(self, s: Tensor, i: int) -> Tensor:
        """Whether coordinate ``i`` of ``s: (..., m)`` is in its domain (1e-9 relative slack): ``(...)``."""
        c = self.coordinates[i]
        if not isinstance(c, Interval):
            return torch.ones(s.shape[:-1], dtype=torch.bool, device=s.device)
        tol = 1e-9 * (c.high - c.low)
        return (s[..., i] >= c.low - tol) & (s[..., i] <= c.high + tol)

    def contains(self, s: Tensor) -> Tensor:
        """Whether each point of ``s: (..., m)`` lies in the chart: ``(...)`` bool."""
        inside = torch.ones(s.shape[:-1], dtype=torch.bool, device=s.device)
        for i in range(self.dim):
            inside &= self.contains_coordinate(s, i)
        return inside

    def wrap(self, s: Tensor) -> Tensor:
        """Map periodic coordinates into their canonical range ``[low, low + period)``."""
        if not any(self.periodic):
            return s
        parts = []
        for i, c in enumerate(self.coordinates):
            si = s[..., i]
            if isinstance(c, Periodic):
                si = torch.remainder(si - c.low, c.period) + c.low
            parts.append(si)
        return torch.stack(parts, dim=-1)

    def wrapped_difference(self, s0: Tensor, s1: Tensor) -> Tensor:
        """``s1 - s0`` with periodic components brought into ``[-period/2, period/2)``."""
        d = s1 - s0
        parts = []
        for i, c in enumerate(self.coordinates):
            di = d[..., i]
            if isinstance(c, Periodic):
                di = torch.remainder(di + c.period / 2, c.period) - c.period / 2
            parts.append(di)
        return torch.stack(parts, dim=-1)

    def quadrature(
        self, points: int | Sequence[int] = 64, dtype=torch.float64, device=None
    ) -> tuple[Tensor, Tensor]:
        """Tensor-product quadrature over the chart.

        Gauss–Legendre nodes on intervals, the uniform (trapezoid) rule on periodic coordinates,
        which is spectrally accurate for smooth periodic integrands.

        Returns:
            nodes ``(N, m)`` and weights ``(N,)``; ``sum(w * f(nodes))`` approximates
            ``∫ f ds`` over the chart (Lebesgue measure, not normalised).
        """
        if not self.bounded:
            raise ValueError("quadrature needs a bounded chart; this chart has a RealLine coordinate")
        counts = [points] * self.dim if isinstance(points, int) else list(points)
        if len(counts) != self.dim or any(n < 1 for n in counts):
            raise ValueError(f"points must be a positive int or {self.dim} positive ints, got {points}")
        nodes_1d, weights_1d = [], []
        for c, n in zip(self.coordinates, counts, strict=True):
            if isinstance(c, Periodic):
                x = c.low + c.period * np.arange(n) / n
                w = np.full(n, c.period / n)
            else:
                x, w = np.polynomial.legendre.leggauss(n)
                x = c.low + (x + 1) * (c.high - c.low) / 2
                w = w * (c.high - c.low) / 2
            nodes_1d.append(torch.as_tensor(x, dtype=dtype, device=device))
            weights_1d.append(torch.as_tensor(w, dtype=dtype, device=device))
        grids = torch.meshgrid(*nodes_1d, indexing="ij")
        nodes = torch.stack([g.reshape(-1) for g in grids], dim=-1)
        wgrid = torch.meshgrid(*weights_1d, indexing="ij")
        weights = torch.stack([g.reshape(-1) for g in wgrid], dim=-1).prod(dim=-1)
        return nodes, weights

    def measure(self) -> float:
        """Lebesgue measure of a bounded chart (product of interval widths and periods)."""
        if not self.bounded:
            raise ValueError("an unbounded chart has infinite measure")
        return math.prod(c.period if isinstance(c, Periodic) else c.high - c.low for c in self.coordinates)
