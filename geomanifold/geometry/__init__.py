"""Embedded-manifold geometry (docs/concepts.md, "A manifold is a map")."""

from .classical import Circle, Ellipse, FlatTorus, Graph, Helix, Sphere, Torus
from .geodesics import GeodesicError, ShortestGeodesics
from .linear_basis import LinearBasisManifold
from .local import LocalGeometry, SingularMetricError
from .manifold import EmbeddedManifold
from .pullback import PullbackManifold

__all__ = [
    "Circle",
    "Ellipse",
    "EmbeddedManifold",
    "FlatTorus",
    "GeodesicError",
    "Graph",
    "Helix",
    "LinearBasisManifold",
    "LocalGeometry",
    "PullbackManifold",
    "ShortestGeodesics",
    "SingularMetricError",
    "Sphere",
    "Torus",
]
