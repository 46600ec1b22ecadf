"""Ensembles along a path: predictions averaged over networks sampled on a curve between two
trained networks (Garipov et al. 2018, arXiv 1802.10026, §5), against the ensemble of the two
endpoints alone.

With ``k`` evenly spaced ``t`` in ``[0, 1]`` (ends included, so ``k = 2`` is the endpoints'
ensemble), the ensemble's class probabilities are ``p(x) = (1/k) Σ_j softmax(f(x; γ(t_j)))``; its
accuracy and negative log-likelihood ``−mean log p_y(x)`` are reported (BatchNorm statistics
recomputed for every sampled network).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batchnorm import has_batchnorm, recomputed_buffers
from .functional import call_with_vector
from .metrics import check_batch
from .paths import PinnedCurve

__all__ = ["path_ensemble"]


@torch.no_grad()
def _probabilities(model: nn.Module, w: Tensor, x: Tensor, bn_x: Tensor | None, batch_size: int) -> Tensor:
    buffers = recomputed_buffers(model, w, bn_x) if bn_x is not None else None
    return torch.cat(
        [
            F.softmax(call_with_vector(model, w, x[i : i + batch_size], buffers).double(), -1)
            for i in range(0, len(x), batch_size)
        ]
    )


def path_ensemble(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    y: Tensor,
    sizes: tuple[int, ...] = (2, 3, 5, 9),
    bn_x: Tensor | None = None,
    batch_size: int = 1000,
) -> list[dict]:
    """Accuracy and NLL on ``(x: (N, *F), y: (N,))`` of the ensembles of ``k`` evenly spaced
    networks on ``path`` for each ``k`` in ``sizes`` (module docstring).

    Args:
        bn_x: ``(N', *F)`` inputs to recompute BatchNorm statistics (required with BatchNorm).

    Returns:
        ``[{"members": k, "accuracy", "nll"}]`` in the order of ``sizes``.
    """
    check_batch(x, "x")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape (N={len(x)},) like x, got {tuple(y.shape)}")
    if not sizes or any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in sizes):
        raise ValueError(f"sizes must be ints >= 2 (members, ends included), got {sizes!r}")
    if has_batchnorm(model) and bn_x is None:
        raise ValueError(
            "bn_x is required: the model has BatchNorm, whose statistics are recomputed per member"
        )
    model.eval()
    bn = bn_x if has_batchnorm(model) else None
    cache: dict[float, Tensor] = {}
    rows = []
    for k in sizes:
        total = torch.zeros(len(x), 0, dtype=torch.float64)
        for t in torch.linspace(0, 1, k, dtype=torch.float64).tolist():
            if t not in cache:
                w = path(torch.tensor([t], dtype=torch.float64))[0].detach()
                cache[t] = _probabilities(model, w, x, bn, batch_size)
            total = cache[t] if total.shape[1] == 0 else total + cache[t]
        mean = total / k
        rows.append(
            {
                "members": k,
                "accuracy": float((mean.argmax(-1) == y).double().mean()),
                "nll": float(-mean.gather(1, y[:, None]).clamp_min(1e-300).log().mean()),
            }
        )
    return rows
