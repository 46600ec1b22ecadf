"""The mode-connectivity baseline: a curve trained on the mean loss along it.

Garipov et al. 2018 (arXiv 1802.10026): minimise ``E_{t ~ U(0, 1)} L(γ(t))`` over the free control
points of a curve with pinned ends, drawing one ``t`` per minibatch. With a quadratic Bézier
curve the one free (middle) control point starts on the chord, ``(A + B) / 2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .batchnorm import weight_function
from .metrics import check_batch
from .paths import PinnedCurve

__all__ = ["train_curve_on_loss"]


def train_curve_on_loss(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    y: Tensor,
    epochs: int = 2,
    lr: float = 1e-3,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train ``path.interior`` in place with Adam on the cross-entropy at one ``t ~ U(0, 1)`` per
    minibatch of ``(x: (N, *F), y: (N,))`` (BatchNorm on batch statistics).

    Returns:
        ``[{"epoch", "train_loss"}]``, the mean minibatch loss of each epoch.
    """
    check_batch(x, "x")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape (N={len(x)},) like x, got {tuple(y.shape)}")
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1 and lr > 0, got {epochs}, {batch_size} and {lr}")
    if path.basis.size <= 2:
        return []
    call = weight_function(model)
    opt = torch.optim.Adam([path.interior], lr=lr)
    history = []
    for epoch in tqdm(range(1, epochs + 1), desc="curve on loss", disable=not progress, leave=False):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            t = torch.rand(1, generator=generator, dtype=torch.float64)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(call(path(t)[0], x[index]), y[index])
            loss.backward()
            opt.step()
            total += loss.item() * len(index)
        history.append({"epoch": epoch, "train_loss": total / len(x)})
    return history
