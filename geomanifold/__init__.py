"""geomanifold: a geometry-first Riemannian toolkit for the weight space of neural networks."""

from .bases import Basis, Bernstein, BSpline, Fourier, FunctionBasis, Line, Monomial, Sum, TensorProduct
from .chart import Chart, Interval, Periodic, RealLine
from .conditioning import WeightManifold, calibrate_batchnorm
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
from .optim import (
    ControlPointManifold,
    NaturalGradientAdam,
    NaturalGradientPreconditioner,
    NaturalGradientSGD,
    to_manifold_parameters,
)

__version__ = "0.1.0"

__all__ = [
    "BSpline",
    "Basis",
    "Bernstein",
    "Chart",
    "Circle",
    "ControlPointManifold",
    "Ellipse",
    "EmbeddedManifold",
    "FlatTorus",
    "Fourier",
    "FunctionBasis",
    "Graph",
    "Helix",
    "Interval",
    "Line",
    "LinearBasisManifold",
    "LocalGeometry",
    "Monomial",
    "NaturalGradientAdam",
    "NaturalGradientPreconditioner",
    "NaturalGradientSGD",
    "Periodic",
    "PullbackManifold",
    "RealLine",
    "SingularMetricError",
    "Sphere",
    "Sum",
    "TensorProduct",
    "Torus",
    "WeightManifold",
    "calibrate_batchnorm",
    "to_manifold_parameters",
]
