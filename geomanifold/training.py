"""A small training loop for context-conditioned models ``model(x, s)`` and plain ones.

A *context function* draws each batch's context and transforms its inputs::

    context_fn(x: (B, *F), generator) -> (x': (B, *F'), s: (B, m))

e.g. ``lambda x, g: (lambda s: (add_noise(x, s, 2.0, g), s))(torch.rand(len(x), 1, generator=g))``.
Models that take the context are called ``model(x', s)``, the others ``model(x')``: by default
:class:`~geomanifold.conditioning.WeightManifold` instances take it, anything else does not
(override with ``uses_context``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ContextFn", "apply_context", "evaluate", "train_epoch"]

ContextFn = Callable[[Tensor, torch.Generator | None], tuple[Tensor, Tensor]]
LossFn = Callable[[Tensor, Tensor], Tensor]


def _takes_context(model: nn.Module, uses_context: bool | None) -> bool:
    if uses_context is not None:
        return uses_context
    from .conditioning import WeightManifold

    inner = getattr(model, "module", model)  # DistributedDataParallel / DataParallel
    return isinstance(inner, WeightManifold)


def _call(model: nn.Module, x: Tensor, s: Tensor | None, uses_context: bool) -> Tensor:
    return model(x, s) if uses_context else model(x)


def apply_context(
    x: Tensor,
    context_fn: ContextFn,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    """``context_fn`` over ``x: (N, *F)`` in batches: a fixed transformed set ``(x', s)``
    (e.g. one noisy test set shared by every model under comparison)."""
    parts = [context_fn(x[i : i + batch_size], generator) for i in range(0, len(x), batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def train_epoch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    context_fn: ContextFn | None = None,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
    loss_fn: LossFn = F.cross_entropy,
    uses_context: bool | None = None,
    drop_last: bool = False,
) -> float:
    """One pass over ``(x: (N, *F), y: (N,))`` in a random order drawn from ``generator``.

    Each batch goes through ``context_fn`` (fresh contexts and transforms every epoch), the
    model, ``loss_fn`` (a batch mean), backward and ``optimizer.step()``. ``x`` and ``y`` should
    already be on the model's device; ``generator`` must live on that device too when
    ``context_fn`` draws with it there.

    Returns:
        the mean training loss over the epoch's examples.
    """
    takes = _takes_context(model, uses_context)
    if takes and context_fn is None:
        raise ValueError("context_fn is required for a model that takes a context s")
    model.train()
    order = torch.randperm(len(x), generator=generator, device=generator.device if generator else "cpu")
    order = order.to(x.device)
    total, count = 0.0, 0
    stop = len(x) - (len(x) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        xb, yb = x[index], y[index]
        s = None
        if context_fn is not None:
            xb, s = context_fn(xb, generator)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(_call(model, xb, s, takes), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
        count += len(index)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    s: Tensor | None = None,
    batch_size: int = 1024,
    loss_fn: LossFn = F.cross_entropy,
    uses_context: bool | None = None,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on fixed inputs ``x: (N, *F)``, labels ``y: (N,)``
    and contexts ``s: (N, m)`` (see :func:`apply_context`; ignored by models without context).

    Returns:
        ``{"loss": ..., "accuracy": ...}``.
    """
    takes = _takes_context(model, uses_context)
    if takes and s is None:
        raise ValueError("s is required to evaluate a model that takes a context s")
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        sb = s[start : start + batch_size] if takes else None
        logits = _call(model, xb, sb, takes)
        total += loss_fn(logits, yb).item() * len(xb)
        correct += (logits.argmax(-1) == yb).sum().item()
    return {"loss": total / len(x), "accuracy": correct / len(x)}
