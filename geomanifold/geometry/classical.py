"""Classical curves and surfaces with closed-form geometry, for tests, tutorials and the demo.

Each class is nothing but a ``phi`` and a chart; all geometry is derived like any user manifold.
Closed forms (do Carmo, *Differential Geometry of Curves and Surfaces*, ch. 1 and 3): circle
length ``2πr``; sphere ``K = 1/r²``, area ``4πr²``; torus ``g = diag((R + r cos v)², r²)``,
``K = cos v / (r (R + r cos v))``, area ``4π²Rr``; helix ``κ = r / (r² + c²)``,
``τ = c / (r² + c²)``; flat torus in R⁴ ``K = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..chart import Chart, Interval, Periodic, RealLine
from .manifold import EmbeddedManifold

__all__ = ["Circle", "Ellipse", "FlatTorus", "Graph", "Helix", "Sphere", "Torus"]

TWO_PI = 2 * math.pi


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class Ellipse(EmbeddedManifold):
    """Ellipse ``(a cos t, b sin t)`` in R², ``t`` periodic with period 2π."""

    dim = 1

    def __init__(self, a: float = 2.0, b: float = 1.0):
        super().__init__(Chart([Periodic(TWO_PI)]))
        self.a, self.b = _positive("a", a), _positive("b", b)

    def phi(self, s: Tensor) -> Tensor:
        t = s[..., 0]
        return torch.stack([self.a * torch.cos(t), self.b * torch.sin(t)], dim=-1)


class Circle(Ellipse):
    """Circle of radius ``radius`` in R², ``t`` periodic with period 2π (length ``2πr``)."""

    def __init__(self, radius: float = 1.0):
        super().__init__(radius, radius)
        self.radius = self.a


class Helix(EmbeddedManifold):
    """Helix ``(r cos t, r sin t, c t)`` for ``t ∈ [0, 2π · turns]``."""

    dim = 1

    def __init__(self, radius: float = 1.0, pitch: float = 0.5, turns: float = 2.0):
        super().__init__(Chart([Interval(0.0, TWO_PI * _positive("turns", turns))]))
        self.radius, self.pitch = _positive("radius", radius), float(pitch)

    def phi(self, s: Tensor) -> Tensor:
        t = s[..., 0]
        return torch.stack([self.radius * torch.cos(t), self.radius * torch.sin(t), self.pitch * t], dim=-1)


class Sphere(EmbeddedManifold):
    """Sphere of radius ``radius`` in R³, in one of two charts.

    * ``"polar"`` (default): ``s = (θ, φ)``, polar angle ``θ ∈ [0, π]``, azimuth ``φ`` periodic 2π;
      ``phi = r (sin θ cos φ, sin θ sin φ, cos θ)``; singular at the poles.
    * ``"stereographic"``: ``s = (x, y) ∈ R²`` from the north pole,
      ``phi = r (2x, 2y, x² + y² − 1) / (x² + y² + 1)``; misses the north pole only.
    """

    dim = 2

    def __init__(self, radius: float = 1.0, chart: str = "polar"):
        charts = {
            "polar": Chart([Interval(0.0, math.pi), Periodic(TWO_PI)]),
            "stereographic": Chart([RealLine(), RealLine()]),
        }
        if chart not in charts:
            raise ValueError(f"chart must be one of {sorted(charts)}, got {chart!r}")
        super().__init__(charts[chart])
        self.radius = _positive("radius", radius)
        self.chart_name = chart

    def phi(self, s: Tensor) -> Tensor:
        a, b = s[..., 0], s[..., 1]
        if self.chart_name == "polar":
            x = torch.stack([torch.sin(a) * torch.cos(b), torch.sin(a) * torch.sin(b), torch.cos(a)], -1)
        else:
            q = a**2 + b**2
            x = torch.stack([2 * a, 2 * b, q - 1], dim=-1) / (q + 1)[..., None]
        return self.radius * x


class Torus(EmbeddedManifold):
    """Torus of revolution in R³ with radii ``R > r``; chart ``(u, v)``, both periodic 2π.

    ``phi(u, v) = ((R + r cos v) cos u, (R + r cos v) sin u, r sin v)``: ``u`` goes around the
    central axis, ``v`` around the tube.
    """

    dim = 2

    def __init__(self, R: float = 2.0, r: float = 1.0):
        super().__init__(Chart([Periodic(TWO_PI), Periodic(TWO_PI)]))
        self.R, self.r = _positive("R", R), _positive("r", r)
        if not self.R > self.r:
            raise ValueError(f"Torus needs R > r for an embedded torus, got R={R}, r={r}")

    def phi(self, s: Tensor) -> Tensor:
        u, v = s[..., 0], s[..., 1]
        ring = self.R + self.r * torch.cos(v)
        return torch.stack([ring * torch.cos(u), ring * torch.sin(u), self.r * torch.sin(v)], dim=-1)


class FlatTorus(EmbeddedManifold):
    """Clifford torus ``(cos a, sin a, cos b, sin b)`` in R⁴: curved in R⁴ yet ``K = 0``."""

    dim = 2

    def __init__(self):
        super().__init__(Chart([Periodic(TWO_PI), Periodic(TWO_PI)]))

    def phi(self, s: Tensor) -> Tensor:
        a, b = s[..., 0], s[..., 1]
        return torch.stack([torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)], dim=-1)


class Graph(EmbeddedManifold):
    """Graph ``(x, y, f(x, y))`` of a function; Monge patch ``K = (f_xx f_yy − f_xy²)/(1 + |∇f|²)²``.

    Args:
        f: batched function ``(..., 2) -> (...)`` written with torch operations.
        chart: the domain of ``(x, y)``; default all of R².
    """

    dim = 2

    def __init__(self, f: Callable[[Tensor], Tensor], chart: Chart | None = None):
        super().__init__(chart)
        if not callable(f):
            raise TypeError(f"f must be a callable (..., 2) -> (...), got {type(f).__name__}")
        self.f = f

    def phi(self, s: Tensor) -> Tensor:
        return torch.cat([s, self.f(s)[..., None]], dim=-1)
