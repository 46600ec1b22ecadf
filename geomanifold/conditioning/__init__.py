"""Conditioning any existing model by a weight manifold ``W(s) = Σ_k φ_k(s) P_k``
(Benjamin et al. 2025, arXiv 2505.22994; docs/concepts.md, conditioning).

:class:`WeightManifold` converts a model; forward with one context per example through the
basis-point decomposition (Linear, Conv, norm affines) or the grouped fallback (other layers),
or with one shared context (fast path). :func:`calibrate_batchnorm` recomputes BatchNorm
statistics at a context; :meth:`WeightManifold.export` gives a plain model at a context;
:func:`infer_context` estimates the context of an unlabeled batch (least prediction entropy).
"""

from .batchnorm import calibrate_batchnorm
from .decomposed import AffineNormLayer, StackedKernelLayer
from .grouped import BatchDims, GroupedLayer
from .inference import ContextEstimate, infer_context, mean_prediction_entropy
from .init import constant_coefficients
from .layer import ManifoldLayer, UnsupportedLayerError
from .layout import LayoutError
from .lowrank import LowRankFactors, LowRankWeightManifold
from .manifold import WeightManifold
from .selection import Selector

__all__ = [
    "AffineNormLayer",
    "BatchDims",
    "ContextEstimate",
    "GroupedLayer",
    "LayoutError",
    "LowRankFactors",
    "LowRankWeightManifold",
    "ManifoldLayer",
    "Selector",
    "StackedKernelLayer",
    "UnsupportedLayerError",
    "WeightManifold",
    "calibrate_batchnorm",
    "constant_coefficients",
    "infer_context",
    "mean_prediction_entropy",
]
