"""A network as a function of one flat weight vector ``w ∈ R^D``.

Paths, metrics and geodesics in weight space (docs/concepts.md, "Paths of networks that keep their
function") act on flat vectors. The layout is the order of ``model.named_parameters()``, each tensor
flattened; buffers (BatchNorm running statistics) are not part of ``w``. :func:`call_with_vector`
runs the model with its parameters replaced by views of ``w`` (``torch.func.functional_call``), so
outputs are differentiable in ``w`` and the call works under ``torch.func.jvp`` /
``torch.func.vjp``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "NonFiniteWeightsError",
    "call_with_vector",
    "check_vector",
    "load_vector_",
    "parameter_count",
    "parameter_vector",
    "vector_to_parameters",
]


class NonFiniteWeightsError(ValueError):
    """A weight vector with NaN or infinite entries."""


def parameter_count(model: nn.Module) -> int:
    """``D``, the number of entries of all parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def parameter_vector(model: nn.Module) -> Tensor:
    """The parameters of ``model`` as one detached copy ``w: (D,)`` (order of ``named_parameters``)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def check_vector(model: nn.Module, w: Tensor, name: str = "w") -> Tensor:
    """Check that ``w`` is a finite floating vector ``(D,)`` for ``model``; returns ``w``.

    Raises:
        TypeError: ``w`` is not a floating-point tensor.
        ValueError: wrong shape (the message names ``name`` and the expected ``(D,)``).
        NonFiniteWeightsError: NaN or infinite entries (the message counts them).
    """
    if not isinstance(w, Tensor) or not w.is_floating_point():
        kind = f"a {w.dtype} tensor" if isinstance(w, Tensor) else type(w).__name__
        raise TypeError(f"{name} must be a floating-point tensor of shape (D,), got {kind}")
    size = parameter_count(model)
    if w.shape != (size,):
        raise ValueError(f"{name} must have shape (D={size},) for this model, got {tuple(w.shape)}")
    bad = int((~torch.isfinite(w)).sum())
    if bad:
        raise NonFiniteWeightsError(f"{name} has {bad} NaN or infinite entries out of {size}")
    return w


def vector_to_parameters(model: nn.Module, w: Tensor) -> dict[str, Tensor]:
    """Views of ``w: (D,)`` shaped like each parameter: ``{name: (*param.shape)}`` (no copy, so
    gradients and tangents flow back to ``w``)."""
    named = list(model.named_parameters())
    sizes = [p.numel() for _, p in named]
    if sum(sizes) != w.shape[-1]:
        raise ValueError(f"w must have shape (D={sum(sizes)},) for this model, got {tuple(w.shape)}")
    # one split, so that the backward pass assembles the gradient of w once (not one zero-filled
    # (D,) tensor per parameter, as slicing does)
    return {name: piece.view_as(p) for (name, p), piece in zip(named, w.split(sizes, -1), strict=True)}


@torch.no_grad()
def load_vector_(model: nn.Module, w: Tensor) -> nn.Module:
    """Copy ``w: (D,)`` into the parameters of ``model`` in place; returns ``model``."""
    check_vector(model, w)
    for p, view in zip(model.parameters(), vector_to_parameters(model, w).values(), strict=True):
        p.copy_(view)
    return model


def call_with_vector(
    model: nn.Module, w: Tensor | Mapping[str, Tensor], x: Tensor, buffers: Mapping[str, Tensor] | None = None
) -> Tensor:
    """``f(x; w)``: ``model(x)`` with its parameters replaced by views of ``w: (D,)``.

    Args:
        model: any module; its train/eval mode applies (BatchNorm in eval mode uses ``buffers``).
        w: ``(D,)`` weights in the layout of :func:`parameter_vector`; differentiable. Or the same
            weights already split, ``{name: tensor shaped like the parameter}`` (e.g. separate
            leaves, to take the gradient per parameter without assembling a ``(D,)`` one).
        x: ``(N, *F)`` inputs.
        buffers: ``{name: tensor}`` to use instead of the model's own buffers (e.g. BatchNorm
            statistics recomputed for ``w``); the model's buffers when ``None``.

    Returns:
        the model's outputs, e.g. logits ``(N, C)``.
    """
    tensors = dict(w) if isinstance(w, Mapping) else vector_to_parameters(model, w)
    tensors.update(dict(model.named_buffers()) if buffers is None else buffers)
    return functional_call(model, tensors, (x,))
