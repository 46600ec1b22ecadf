"""Permutation alignment of hidden units (weight matching).

Permuting the hidden units of a layer (rows of its weight and bias, its BatchNorm parameters and
statistics, and the matching input columns of the next layer) leaves the network's function
unchanged. Weight matching (Ainsworth et al. 2023, arXiv 2209.04836) picks, for a second network
``B``, the permutations that maximise ``Σ_l <W_l^A, P_l W_l^B P_{l-1}ᵀ>`` (biases and BatchNorm
parameters included) by coordinate ascent: one linear assignment problem
(``scipy.optimize.linear_sum_assignment``) per layer, sweeping until no permutation changes.

Supported: ``nn.Sequential`` chains whose weight layers (``Linear``, ``Conv1d``, ``Conv2d``) feed
each other's channels directly (element-wise layers, pooling, BatchNorm and a final ``Flatten``
after global pooling in between), such as the networks of
:func:`~geomanifold.experiments.networks.build_network`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

__all__ = ["align_hidden_units", "permute_hidden_units", "weight_matching"]

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _chain(model: nn.Module) -> list[tuple[nn.Module, nn.Module | None]]:
    """``[(weight layer, its BatchNorm or None)]`` in order; checks that channels chain."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential chain of layers, got {type(model).__name__}")
    chain: list[list] = []
    for layer in model:
        if isinstance(layer, _WEIGHT_LAYERS):
            chain.append([layer, None])
        elif isinstance(layer, _NORMS) and chain and chain[-1][1] is None:
            chain[-1][1] = layer
    if len(chain) < 2:
        raise ValueError("model must have at least two weight layers (one hidden layer) to align")
    for i in range(len(chain) - 1):
        out_units, in_units = chain[i][0].weight.shape[0], chain[i + 1][0].weight.shape[1]
        if in_units % out_units:
            raise ValueError(
                f"weight layer {i + 1} takes {in_units} inputs but layer {i} has {out_units} units; "
                "only chains whose layers feed each other's channels directly (or through a Flatten "
                "of channel-major features) can be aligned"
            )
    return [tuple(pair) for pair in chain]


def _permute_inputs(weight: Tensor, perm: Tensor) -> Tensor:
    """``weight: (out, in, ...)`` with its input units reordered by ``perm: (units,)``; ``in`` is
    ``units`` or, after a Flatten of ``(units, *spatial)`` features, ``units · |spatial|``
    (channel-major blocks)."""
    blocks = weight.reshape(weight.shape[0], len(perm), -1)
    return blocks[:, perm].reshape(weight.shape)


def _unit_rows(layer: nn.Module, norm: nn.Module | None, inputs: Tensor | None) -> Tensor:
    """Everything attached to each output unit of ``layer``: ``(units, features)``, the input
    units permuted by ``inputs`` first."""
    weight = layer.weight.detach()
    if inputs is not None:
        weight = _permute_inputs(weight, inputs)
    parts = [weight.reshape(len(weight), -1)]
    if layer.bias is not None:
        parts.append(layer.bias.detach()[:, None])
    if norm is not None and norm.affine:
        parts += [norm.weight.detach()[:, None], norm.bias.detach()[:, None]]
    return torch.cat(parts, dim=1)


def _next_columns(layer: nn.Module, units: int, outputs: Tensor | None) -> Tensor:
    """The next layer's weights on each of the ``units`` inputs (a block of columns per unit after
    a Flatten), one row per unit: ``(units, features)``."""
    weight = layer.weight.detach()
    if outputs is not None:
        weight = weight[outputs]
    return weight.reshape(weight.shape[0], units, -1).transpose(0, 1).reshape(units, -1)


def weight_matching(
    reference: nn.Module, other: nn.Module, max_sweeps: int = 100, seed: int = 0
) -> list[Tensor]:
    """Permutations of the hidden units of ``other`` that best match ``reference`` (see module
    docstring).

    Returns:
        one ``(units_l,)`` index tensor per hidden layer: unit ``j`` of the aligned network is unit
        ``perm[j]`` of ``other``.
    """
    chain_a, chain_b = _chain(reference), _chain(other)
    shapes_a = [layer.weight.shape for layer, _ in chain_a]
    shapes_b = [layer.weight.shape for layer, _ in chain_b]
    if shapes_a != shapes_b:
        raise ValueError(
            f"reference and other must have the same architecture, got layers {shapes_a} and {shapes_b}"
        )
    hidden = len(chain_a) - 1
    perms = [torch.arange(shapes_a[i][0]) for i in range(hidden)]
    rng = np.random.default_rng(seed)
    for _ in range(max_sweeps):
        changed = False
        for i in rng.permutation(hidden):
            inputs = perms[i - 1] if i > 0 else None
            outputs = perms[i + 1] if i + 1 < hidden else None
            score = _unit_rows(*chain_a[i], None) @ _unit_rows(*chain_b[i], inputs).T
            units = shapes_a[i][0]
            score += (
                _next_columns(chain_a[i + 1][0], units, None)
                @ _next_columns(chain_b[i + 1][0], units, outputs).T
            )
            _, columns = linear_sum_assignment(score.double().cpu().numpy(), maximize=True)
            new = torch.as_tensor(columns, dtype=torch.long)
            if not torch.equal(new, perms[i]):
                perms[i], changed = new, True
        if not changed:
            break
    return perms


@torch.no_grad()
def permute_hidden_units(model: nn.Module, perms: list[Tensor]) -> nn.Module:
    """A copy of ``model`` with hidden layer ``l``'s units reordered by ``perms[l]: (units_l,)``
    (same function)."""
    aligned = copy.deepcopy(model)
    chain = _chain(aligned)
    if len(perms) != len(chain) - 1:
        raise ValueError(
            f"perms must hold one permutation per hidden layer ({len(chain) - 1}), got {len(perms)}"
        )
    for (layer, norm), (following, _), perm in zip(chain[:-1], chain[1:], perms, strict=True):
        perm = perm.to(layer.weight.device)
        layer.weight.copy_(layer.weight[perm])
        if layer.bias is not None:
            layer.bias.copy_(layer.bias[perm])
        if norm is not None:
            for tensor in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
                if tensor is not None:
                    tensor.copy_(tensor[perm])
        following.weight.copy_(_permute_inputs(following.weight, perm))
    return aligned


def align_hidden_units(
    reference: nn.Module, other: nn.Module, max_sweeps: int = 100, seed: int = 0
) -> nn.Module:
    """``other`` with its hidden units permuted to match ``reference`` by weight matching; computes
    the same function as ``other``."""
    return permute_hidden_units(other, weight_matching(reference, other, max_sweeps, seed))
