"""BatchNorm at arbitrary weights: batch statistics while moving along a path, and running statistics
recomputed for one weight vector before evaluating it (docs/concepts.md, "Paths of networks that keep their
function")."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from .functional import call_with_vector

__all__ = ["has_batchnorm", "recomputed_buffers", "weight_function"]

_NORMS = (nn.modules.batchnorm._BatchNorm,)


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer that tracks running statistics."""
    return any(isinstance(m, _NORMS) and m.track_running_stats for m in model.modules())


def weight_function(model: nn.Module) -> Callable[[Tensor | Mapping[str, Tensor], Tensor], Tensor]:
    """``(w: (D,), x: (N, *F)) -> outputs`` for optimising paths (``w`` also as ``{name: tensor}``, see
    :func:`~geomanifold.weightspace.functional.call_with_vector`): networks with BatchNorm run in
    training mode on the batch's own statistics (running buffers are copied and thrown away, so
    ``model`` is unchanged); others run in evaluation mode."""
    if not has_batchnorm(model):
        model.eval()
        return lambda w, x: call_with_vector(model, w, x)

    def call(w: Tensor | Mapping[str, Tensor], x: Tensor) -> Tensor:
        model.train()
        scratch = {name: b.clone() for name, b in model.named_buffers()}
        return call_with_vector(model, w, x, scratch)

    return call


@torch.no_grad()
def recomputed_buffers(model: nn.Module, w: Tensor, x: Tensor, batch_size: int = 500) -> dict[str, Tensor]:
    """Buffers of ``model`` with every BatchNorm's running mean and variance recomputed for
    weights ``w: (D,)`` as the equal-weight average over the batches of ``x: (N, *F)`` (as
    ``torch.optim.swa_utils.update_bn``); other buffers are the model's. Use with
    :func:`~geomanifold.weightspace.functional.call_with_vector` in evaluation mode. ``model`` is
    left in evaluation mode and unchanged otherwise.

    Returns:
        ``{name: tensor}`` for every buffer of ``model``.
    """
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    norms = {name: m for name, m in model.named_modules() if isinstance(m, _NORMS) and m.track_running_stats}
    if not norms:
        return buffers
    momenta = {name: m.momentum for name, m in norms.items()}
    for name in norms:
        prefix = f"{name}." if name else ""
        buffers[prefix + "running_mean"].zero_()
        buffers[prefix + "running_var"].fill_(1)
        buffers[prefix + "num_batches_tracked"].zero_()
    try:
        model.train()
        for m in norms.values():
            m.momentum = None  # cumulative average over batches
        for start in range(0, len(x), batch_size):
            call_with_vector(model, w, x[start : start + batch_size], buffers)
    finally:
        for name, m in norms.items():
            m.momentum = momenta[name]
        model.eval()
    return buffers
