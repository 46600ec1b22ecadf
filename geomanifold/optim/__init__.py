"""Optimization on weight manifolds: the volume-constrained natural-gradient step
(Benjamin et al. 2025, arXiv 2505.22994; docs/concepts.md, conditioning).

Control-point param groups ``{"params": [P, ...], "basis": basis, "metric": ...}`` (``P: (K, *S)``)
are stepped along ``−η (G⁻¹ ⊗ I) ∇_P L``; other groups take the plain step.

- metrics: :class:`ChartMetric`, :class:`EmpiricalMetric`, :class:`VolumeMetric`,
  :class:`FixedMetric` (``K × K``) and :class:`JacobianMetric` (nonlinear ``W(s; P)``, CG);
- optimizers: :class:`NaturalGradientSGD`, :class:`NaturalGradientAdam`;
- :class:`NaturalGradientPreconditioner` for any ``torch.optim`` optimizer;
- geoopt: :class:`ControlPointManifold`, :func:`to_manifold_parameters`.
"""

from .adam import NaturalGradientAdam
from .cg import conjugate_gradient
from .geoopt_bridge import ControlPointManifold, to_manifold_parameters
from .groups import METRIC_NAMES
from .jacobian import JacobianMetric
from .lowrank import FactorMetric
from .metric import ChartMetric, EmpiricalMetric, FixedMetric, KroneckerMetric, Metric, mix, mix_
from .preconditioner import NaturalGradientPreconditioner
from .sgd import NaturalGradientSGD
from .volume import VolumeMetric

__all__ = [
    "METRIC_NAMES",
    "ChartMetric",
    "ControlPointManifold",
    "EmpiricalMetric",
    "FactorMetric",
    "FixedMetric",
    "JacobianMetric",
    "KroneckerMetric",
    "Metric",
    "NaturalGradientAdam",
    "NaturalGradientPreconditioner",
    "NaturalGradientSGD",
    "VolumeMetric",
    "conjugate_gradient",
    "mix",
    "mix_",
    "to_manifold_parameters",
]
