"""geomanifold: a geometry-first Riemannian toolkit for the weight space of neural networks.

The names below are imported on first use (PEP 562), so that ``import geomanifold`` and the
``geomanifold --help`` console script start without loading torch; ``from geomanifold import X``
works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # .baselines
    "FiLM": "baselines",
    "InputConcat": "baselines",
    "SCN": "baselines",
    "Specialists": "baselines",
    "Unconditioned": "baselines",
    # .bases
    "Basis": "bases",
    "Bernstein": "bases",
    "BSpline": "bases",
    "Fourier": "bases",
    "FunctionBasis": "bases",
    "Line": "bases",
    "Monomial": "bases",
    "Sum": "bases",
    "TensorProduct": "bases",
    # .chart
    "Chart": "chart",
    "Interval": "chart",
    "Periodic": "chart",
    "RealLine": "chart",
    # .checkpoint
    "CheckpointError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "load_into": "checkpoint",
    "save_checkpoint": "checkpoint",
    # .conditioning
    "calibrate_batchnorm": "conditioning",
    "infer_context": "conditioning",
    "LowRankWeightManifold": "conditioning",
    "WeightManifold": "conditioning",
    # .geometry
    "Circle": "geometry",
    "Ellipse": "geometry",
    "EmbeddedManifold": "geometry",
    "FlatTorus": "geometry",
    "GeodesicError": "geometry",
    "Graph": "geometry",
    "Helix": "geometry",
    "LinearBasisManifold": "geometry",
    "LocalGeometry": "geometry",
    "LowRankManifold": "geometry",
    "PullbackManifold": "geometry",
    "ShortestGeodesics": "geometry",
    "SingularMetricError": "geometry",
    "Sphere": "geometry",
    "Torus": "geometry",
    # .optim
    "ControlPointManifold": "optim",
    "FactorMetric": "optim",
    "NaturalGradientAdam": "optim",
    "NaturalGradientPreconditioner": "optim",
    "NaturalGradientSGD": "optim",
    "to_manifold_parameters": "optim",
    # .training
    "fit": "training",
    "DivergenceError": "training",
    "NonFiniteError": "training",
    "TrainingInterrupted": "training",
    # .weightspace
    "align_hidden_units": "weightspace",
    "bezier": "weightspace",
    "bspline_path": "weightspace",
    "call_with_vector": "weightspace",
    "evaluate_path": "weightspace",
    "FunctionallyInvariantPath": "weightspace",
    "load_vector_": "weightspace",
    "loss_barrier": "weightspace",
    "output_divergence": "weightspace",
    "parameter_vector": "weightspace",
    "PinnedCurve": "weightspace",
    "polyline": "weightspace",
    "solve_geodesic": "weightspace",
    "straight_line": "weightspace",
    "TaskMetric": "weightspace",
}
"""Each public name and the submodule that defines it."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
