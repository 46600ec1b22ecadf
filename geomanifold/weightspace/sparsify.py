"""Sparsification along a functionally invariant path (Raghavan & Thomson, NMI 2024) and the
magnitude-pruning baselines it is compared with.

The *prunable* weights are the entries of every weight matrix or kernel (parameters with at least
two dimensions; biases and normalisation parameters are kept). At sparsity ``σ`` the
magnitude-pruned hyperplane is ``{w : w_i = 0 for i ∈ M}``, ``M`` the ``round(σ · n)`` prunable
entries of smallest ``|w_i|`` at the start (one global ranking over all layers). The walk's
secondary objective is the Euclidean distance to that hyperplane, ``L₂(w) = (Σ_{i∈M} w_i²)^½``
(its gradient has unit length, so the pull toward the hyperplane does not fade as the walk nears
it); once there the penalty steps slide along it, restoring the function. At the end the entries
of ``M`` are set to zero, so the result has exactly the requested sparsity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from typing_extensions import Unpack

from ..arguments import check_sparsity
from .fip import SecondaryObjective, WalkOptions, walk
from .functional import check_vector, parameter_vector

__all__ = [
    "check_sparsity",
    "magnitude_mask",
    "prunable_mask",
    "prune",
    "pruning_objective",
    "sparsify_along_path",
    "sparsity",
]


def prunable_mask(model: nn.Module) -> Tensor:
    """``(D,)`` bool: the entries of ``w`` that belong to weight matrices or kernels (parameters
    with ``ndim ≥ 2``), in the layout of :func:`~geomanifold.weightspace.parameter_vector`."""
    return torch.cat(
        [torch.full((p.numel(),), p.ndim >= 2, dtype=torch.bool, device=p.device) for p in model.parameters()]
    )


def magnitude_mask(model: nn.Module, w: Tensor, sparsity: float) -> Tensor:
    """``(D,)`` bool: the ``round(sparsity · n)`` prunable entries of ``w: (D,)`` of smallest
    magnitude (``n`` prunable entries in all; ties broken by position, so the count is exact)."""
    check_vector(model, w)
    sparsity = check_sparsity(sparsity)
    prunable = prunable_mask(model).to(w.device)
    candidates = torch.nonzero(prunable).flatten()
    count = round(sparsity * len(candidates))
    order = torch.sort(w[candidates].abs(), stable=True).indices
    mask = torch.zeros_like(prunable)
    mask[candidates[order[:count]]] = True
    return mask


def prune(w: Tensor, mask: Tensor) -> Tensor:
    """``w`` with the entries of ``mask`` set to zero: ``(D,)`` → ``(D,)`` (a new tensor)."""
    if mask.shape != w.shape or mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a bool tensor shaped like w {tuple(w.shape)}, got {mask.dtype} {tuple(mask.shape)}"
        )
    return w.masked_fill(mask, 0.0)


def sparsity(model: nn.Module, w: Tensor) -> float:
    """The fraction of prunable entries of ``w: (D,)`` that are exactly zero."""
    prunable = prunable_mask(model).to(w.device)
    return float((w[prunable] == 0).double().mean())


def pruning_objective(mask: Tensor) -> SecondaryObjective:
    """``L₂(w) = (Σ_{i∈mask} w_i²)^½``: the Euclidean distance from ``w: (D,)`` to the hyperplane
    ``{w_i = 0, i ∈ mask}``."""
    return lambda w: w[mask].norm()


def sparsify_along_path(
    model: nn.Module,
    reference: Tensor,
    target_sparsity: float,
    steps: int,
    step_length: float,
    **options: Unpack[WalkOptions],
) -> tuple[Tensor, Tensor, list[dict]]:
    """Walk from the model's weights toward its magnitude-pruned hyperplane at ``target_sparsity``
    along a functionally invariant path, then prune.

    Args:
        model: the trained network (its parameters are not changed).
        reference: ``(N, *F)`` inputs on which the outputs are kept (no labels needed).
        target_sparsity: ``σ ∈ (0, 1)``.
        steps, step_length: the walk: ``steps`` steps of Euclidean length ``step_length``.
        options: :class:`~geomanifold.weightspace.fip.WalkOptions`.

    Returns:
        ``(pruned (D,), mask (D,) bool, records)``; ``pruned`` has exactly
        ``round(σ · n)`` zero prunable entries from the mask (possibly a few more that were zero).
    """
    target_sparsity = check_sparsity(target_sparsity, "target_sparsity")
    start = parameter_vector(model)
    mask = magnitude_mask(model, start, target_sparsity)
    weights, records = walk(model, reference, pruning_objective(mask), steps, step_length, start, **options)
    return prune(weights, mask), mask, records
