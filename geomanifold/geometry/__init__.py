"""Embedded-manifold geometry (do Carmo 1976, ch. 2-4; Lee 2018, ch. 2, 4-8; docs/concepts.md)."""

from .classical import Circle, Ellipse, FlatTorus, Graph, Helix, Sphere, Torus
from .geodesics import GeodesicError, ShortestGeodesics
from .linear_basis import LinearBasisManifold
from .local import LocalGeometry, SingularMetricError
from .lowrank import LowRankManifold
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
    "LowRankManifold",
    "PullbackManifold",
    "ShortestGeodesics",
    "SingularMetricError",
    "Sphere",
    "Torus",
]
