"""Output divergences between two networks on the same inputs (docs/concepts.md, "Paths of networks that
keep their function").

Both approximate the task metric to second order: with ``a = f(x; w)``, ``b = f(x; w + dw)``,
``D(a, b) = dwᵀ G(w) dw + O(|dw|³)`` where ``G = mean_x J_xᵀ H_x J_x`` and

* ``"squared"``: ``mean_x ||a_x − b_x||²``, ``H = I`` (Euclidean outputs, Gauss–Newton);
* ``"kl"``: ``2 · mean_x KL(softmax(a_x) || softmax(b_x))``, ``H = diag(p) − p pᵀ`` (Fisher).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..settings import DIVERGENCES

__all__ = ["DIVERGENCES", "check_divergence", "output_divergence"]


def check_divergence(kind: str, name: str = "kind") -> str:
    """``kind`` if it is one of :data:`DIVERGENCES`; a ``ValueError`` naming ``name`` otherwise."""
    if kind not in DIVERGENCES:
        raise ValueError(f"{name} must be one of {', '.join(DIVERGENCES)}; got {kind!r}")
    return kind


def output_divergence(a: Tensor, b: Tensor, kind: str = "kl") -> Tensor:
    """Mean divergence between outputs ``a: (..., N, C)`` and ``b: (..., N, C)`` of the same inputs.

    ``kind="squared"``: ``mean_x Σ_c (a − b)²``; ``kind="kl"``: ``2 · mean_x KL(softmax(a) ||
    softmax(b))`` (from log-softmax, stable for large logits). Leading dimensions are batched
    (e.g. consecutive points of a path: ``a = outputs[:-1]``, ``b = outputs[1:]``).

    Returns:
        ``(...)``, a scalar for ``(N, C)`` inputs; differentiable in both arguments.
    """
    check_divergence(kind)
    if a.shape != b.shape or a.ndim < 2 or a.shape[-2] == 0:
        raise ValueError(
            f"a and b must be outputs of the same shape (..., N, C) with N >= 1, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if kind == "squared":
        return (a - b).pow(2).sum(-1).mean(-1)
    log_p, log_q = F.log_softmax(a, -1), F.log_softmax(b, -1)
    return 2 * (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1)
