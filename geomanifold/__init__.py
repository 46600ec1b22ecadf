"""geomanifold: a geometry-first Riemannian toolkit for the weight space of neural networks."""

from .chart import Chart, Interval, Periodic, RealLine
from .geometry import (
    Circle,
    Ellipse,
    EmbeddedManifold,
    FlatTorus,
    Graph,
    Helix,
    LinearBasisManifold,
    LocalGeometry,
    PullbackManifold,
    SingularMetricError,
    Sphere,
    Torus,
)

__version__ = "0.1.0"

__all__ = [
    "Chart",
    "Circle",
    "Ellipse",
    "EmbeddedManifold",
    "FlatTorus",
    "Graph",
    "Helix",
    "Interval",
    "LinearBasisManifold",
    "LocalGeometry",
    "Periodic",
    "PullbackManifold",
    "RealLine",
    "SingularMetricError",
    "Sphere",
    "Torus",
]
