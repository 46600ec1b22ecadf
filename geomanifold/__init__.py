"""geomanifold: a geometry-first Riemannian toolkit for the weight space of neural networks."""

from .baselines import SCN, FiLM, InputConcat, Specialists, Unconditioned
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
    "SCN",
    "BSpline",
    "Basis",
    "Bernstein",
    "Chart",
    "Circle",
    "ControlPointManifold",
    "Ellipse",
    "EmbeddedManifold",
    "FiLM",
    "FlatTorus",
    "Fourier",
    "FunctionBasis",
    "Graph",
    "Helix",
    "InputConcat",
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
    "Specialists",
    "Sphere",
    "Sum",
    "TensorProduct",
    "Torus",
    "Unconditioned",
    "WeightManifold",
    "calibrate_batchnorm",
    "to_manifold_parameters",
]
