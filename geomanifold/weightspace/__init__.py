"""Weight space under a task metric (docs/concepts.md, "Paths of networks that keep their function"):
networks as functions of a flat weight vector, output divergences, task metrics (matrix-free), paths with
pinned ends, geodesics, the mode-connectivity baseline, permutation alignment and evaluation along paths;
functionally invariant paths for sparsification and continual learning."""

from .alignment import MATCHINGS, activation_matching, align_hidden_units, solve_assignment, weight_matching
from .batchnorm import has_batchnorm, recomputed_buffers, weight_function
from .connectivity import train_curve_on_loss
from .continual import learn_along_path, pseudo_labels, replay_buffer, task_objective
from .divergence import DIVERGENCES, output_divergence
from .evaluate import BARRIERS, evaluate_path, loss_barrier
from .finetune import evaluate_weights, finetune
from .fip import STEP_RULES, FunctionallyInvariantPath, distance_to, trust_region_direction
from .functional import (
    NonFiniteWeightsError,
    call_with_vector,
    check_vector,
    load_vector_,
    parameter_count,
    parameter_vector,
    vector_to_parameters,
)
from .geodesic import GeodesicResult, constant_speed, path_energy, path_outputs, solve_geodesic
from .metrics import METRICS, TaskMetric, check_batch
from .paths import PinnedCurve, bezier, bspline_path, polyline, straight_line
from .permutation_spec import FunctionChangedError, PermutationSpec, SpecError, permute_model
from .sparsify import magnitude_mask, prunable_mask, prune, pruning_objective, sparsify_along_path, sparsity
from .spec_tracing import trace_permutation_spec

__all__ = [
    "BARRIERS",
    "DIVERGENCES",
    "MATCHINGS",
    "METRICS",
    "STEP_RULES",
    "FunctionChangedError",
    "FunctionallyInvariantPath",
    "GeodesicResult",
    "NonFiniteWeightsError",
    "PermutationSpec",
    "PinnedCurve",
    "SpecError",
    "TaskMetric",
    "activation_matching",
    "align_hidden_units",
    "bezier",
    "bspline_path",
    "call_with_vector",
    "check_batch",
    "check_vector",
    "constant_speed",
    "distance_to",
    "evaluate_path",
    "evaluate_weights",
    "finetune",
    "has_batchnorm",
    "learn_along_path",
    "load_vector_",
    "loss_barrier",
    "magnitude_mask",
    "output_divergence",
    "parameter_count",
    "parameter_vector",
    "path_energy",
    "path_outputs",
    "permute_model",
    "polyline",
    "prunable_mask",
    "prune",
    "pruning_objective",
    "pseudo_labels",
    "recomputed_buffers",
    "replay_buffer",
    "solve_assignment",
    "solve_geodesic",
    "sparsify_along_path",
    "sparsity",
    "straight_line",
    "task_objective",
    "trace_permutation_spec",
    "train_curve_on_loss",
    "trust_region_direction",
    "vector_to_parameters",
    "weight_function",
    "weight_matching",
]
