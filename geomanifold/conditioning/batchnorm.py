"""BatchNorm running statistics at a chosen context.

During training a weight-manifold model has one set of BatchNorm running statistics shared by
all contexts: each training batch mixes contexts, is normalised with its own statistics, and
updates the running mean and variance (see :class:`~.decomposed.AffineNormLayer`). The
activations entering a BatchNorm depend on ``W(s)`` of the layers before it, so in evaluation
mode those shared statistics are only an average over the training contexts. For evaluation at a
given (possibly unseen) ``s``, :func:`calibrate_batchnorm` recomputes them from data at ``s``
(docs/conditioning.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .manifold import WeightManifold

__all__ = ["calibrate_batchnorm"]


def calibrate_batchnorm(
    model: nn.Module, batches: Iterable, s: Tensor | Sequence[float] | None = None
) -> nn.Module:
    """Reset every BatchNorm's running statistics and recompute them at one context.

    Args:
        model: a :class:`WeightManifold` (then ``s: (m,)`` is required) or a plain module such
            as one from :meth:`WeightManifold.export` (then ``s`` must be None).
        batches: inputs, or tuples/lists whose first element is the input (a ``DataLoader``),
            on the model's device.
        s: the context.

    The running mean and variance become the average over ``batches`` of each batch's
    statistics (``momentum=None``), with all other layers in evaluation mode (dropout off).
    Training flags and momenta are restored afterwards. Returns ``model``.
    """
    if isinstance(model, WeightManifold) and s is None:
        raise ValueError("s is required for a WeightManifold: the context of shape (m,) to calibrate at")
    if not isinstance(model, WeightManifold) and s is not None:
        raise ValueError(f"s is only valid with a WeightManifold, got a {type(model).__name__} and s")
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        raise ValueError("model has no BatchNorm layer tracking running statistics; nothing to calibrate")
    if s is not None and (shape := model.basis.chart.validate(s, "s").shape) != (model.basis.dim,):
        raise ValueError(f"s must have shape ({model.basis.dim},): one context, got {tuple(shape)}")
    training = {m: m.training for m in model.modules()}
    momenta = [norm.momentum for norm in norms]
    try:
        model.eval()
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
            norm.train()
        seen = 0
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, tuple | list) else batch
                model(x) if s is None else model(x, s)
                seen += 1
        if not seen:
            raise ValueError("batches is empty; valid: at least one batch of inputs")
    finally:
        for module, mode in training.items():
            module.training = mode
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
    return model
