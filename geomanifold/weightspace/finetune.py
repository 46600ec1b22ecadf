"""Cross-entropy on labelled sets at a weight vector: evaluation, and the gradient-step baselines
for functionally invariant paths: Adam on the cross-entropy of a labelled set, optionally with some
weights held at zero (prune + fine-tune) and with a replay set mixed into every minibatch (replay +
cross-entropy), recording along the way like
:meth:`~geomanifold.weightspace.fip.FunctionallyInvariantPath.walk`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .fip import Evaluator
from .functional import call_with_vector, check_vector

__all__ = ["check_labelled", "evaluate_weights", "finetune"]


def check_labelled(x: Tensor, y: Tensor, name: str) -> None:
    """A ``ValueError`` naming ``name`` unless ``x: (N, *F)`` and ``y: (N,)`` with ``N ≥ 1``."""
    if len(x) == 0 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(
            f"{name} must be non-empty inputs (N, *F) with labels (N,), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )


@torch.no_grad()
def evaluate_weights(
    model: nn.Module, w: Tensor, x: Tensor, y: Tensor, batch_size: int = 1024
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``f(·; w)`` (``w: (D,)``) on ``x: (N, *F)``, ``y: (N,)``.

    Returns:
        ``{"loss": ..., "accuracy": ...}``.
    """
    check_labelled(x, y, "x, y")
    total, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = call_with_vector(model, w, x[start : start + batch_size])
        labels = y[start : start + batch_size]
        total += float(F.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(-1) == labels).sum())
    return {"loss": total / len(x), "accuracy": correct / len(x)}


def finetune(
    model: nn.Module,
    w: Tensor,
    x: Tensor,
    y: Tensor,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    frozen_zero: Tensor | None = None,
    replay: tuple[Tensor, Tensor] | None = None,
    record_every: int = 10,
    evaluate: Evaluator | None = None,
    progress: bool = True,
) -> tuple[Tensor, list[dict]]:
    """``steps`` Adam steps from ``w`` on ``mean CE(f(x_b; w), y_b)`` over random minibatches.

    Args:
        model: the network (eval mode; its parameters are not changed).
        w: ``(D,)`` starting weights.
        x, y: ``(N, *F)`` inputs and ``(N,)`` labels.
        steps: number of optimizer steps.
        lr, batch_size, seed: Adam's learning rate, examples per minibatch, minibatch seed.
        frozen_zero: ``(D,)`` bool, weights held at exactly zero (the network is evaluated at
            ``w ⊙ (1 − mask)``, so those entries get no gradient).
        replay: ``(x_r, y_r)``, a replay set; each step adds the cross-entropy of a minibatch of
            ``batch_size`` replay examples to the loss (labels may be an old network's predictions).
        record_every, evaluate, progress: records ``{"step", "loss", **evaluate(w)}`` (``loss``: the
            step's minibatch loss, ``None`` at step 0) at step 0, every ``record_every`` steps and at
            the end; a tqdm bar.

    Returns:
        the final weights ``(D,)`` (with ``frozen_zero`` entries exactly zero) and the records.
    """
    check_vector(model, w)
    check_labelled(x, y, "x, y")
    if replay is not None:
        check_labelled(*replay, "replay")
    model.eval()
    keep = None if frozen_zero is None else (~frozen_zero).to(w.dtype)
    weights = (w if keep is None else w * keep).detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([weights], lr=lr)
    generator = torch.Generator().manual_seed(int(seed))

    def minibatch(n: int) -> Tensor:
        return torch.randperm(n, generator=generator)[: min(batch_size, n)].to(x.device)

    def loss_at(v: Tensor) -> Tensor:
        v = v if keep is None else v * keep
        index = minibatch(len(x))
        loss = F.cross_entropy(call_with_vector(model, v, x[index]), y[index])
        if replay is not None:
            index = minibatch(len(replay[0]))
            loss = loss + F.cross_entropy(call_with_vector(model, v, replay[0][index]), replay[1][index])
        return loss

    def record(step: int, loss: float | None) -> dict:
        current = weights.detach() if keep is None else weights.detach() * keep
        return {"step": step, "loss": loss, **(evaluate(current) if evaluate is not None else {})}

    records = [record(0, None)]
    for k in tqdm(range(1, steps + 1), desc="fine-tune", unit="step", disable=not progress, leave=False):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_at(weights)
        loss.backward()
        optimizer.step()
        if k % record_every == 0 or k == steps:
            records.append(record(k, float(loss.detach())))
    final = weights.detach() if keep is None else weights.detach() * keep
    return final, records
