"""AutoNEB: a low-loss path between two networks by a nudged elastic band that adds pivots where
the loss rises (Draxler et al. 2018, "Essentially No Barriers in Neural Network Energy
Landscape", arXiv 1803.00885; NEB: Jónsson, Mills & Jacobsen 1998).

A chain of pivots ``w_0 = A, w_1, …, w_m, w_{m+1} = B`` is relaxed on the training loss. Each
free pivot moves along the NEB force

    F_i = −(∇L(w_i) − (∇L(w_i) · τ_i) τ_i) + k (|w_{i+1} − w_i| − |w_i − w_{i−1}|) τ_i,

the loss gradient with its component along the unit tangent ``τ_i ∝ w_{i+1} − w_{i−1}`` removed,
plus a spring along the tangent that keeps pivots evenly spaced (``k`` in units of the loss per
squared distance). The forces drive Adam steps (the gradient it sees is ``−F_i``) on minibatches.
After each cycle the loss is measured on a fixed batch at evenly spaced points of every segment;
where a segment's highest interior loss exceeds both of its pivots by more than ``threshold``, a
pivot is inserted at that point. The result is the polyline through the pivots.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..arguments import check_int
from .batchnorm import weight_function
from .metrics import check_batch
from .paths import PinnedCurve, _check_endpoints, polyline

__all__ = ["autoneb"]

SEGMENT_SAMPLES = 5


def _losses(call, points: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of each of ``points: (T, D)`` on ``(x, y)``: ``(T,)``."""
    with torch.no_grad():
        return torch.stack([F.cross_entropy(call(w, x), y) for w in points])


def _forces(call, chain: Tensor, x: Tensor, y: Tensor, spring: float) -> Tensor:
    """``−F_i`` for the free pivots of ``chain: (m + 2, D)``: ``(m, D)``."""
    free = chain[1:-1].detach().requires_grad_(True)
    loss = sum(F.cross_entropy(call(w, x), y) for w in free)
    (gradient,) = torch.autograd.grad(loss, free)
    tangent = chain[2:] - chain[:-2]
    tangent = tangent / tangent.norm(dim=1, keepdim=True).clamp_min(1e-30)
    ahead = (chain[2:] - chain[1:-1]).norm(dim=1)
    behind = (chain[1:-1] - chain[:-2]).norm(dim=1)
    perpendicular = gradient - (gradient * tangent).sum(1, keepdim=True) * tangent
    return perpendicular - (spring * (ahead - behind))[:, None] * tangent


def autoneb(
    model: nn.Module,
    start: Tensor,
    end: Tensor,
    x: Tensor,
    y: Tensor,
    pivots: int = 3,
    max_pivots: int = 15,
    cycles: int = 4,
    steps: int = 100,
    lr: float = 1e-3,
    spring: float = 1.0,
    threshold: float = 0.05,
    batch_size: int = 64,
    eval_size: int = 512,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> tuple[PinnedCurve, list[dict]]:
    """Relax a chain of pivots from ``start: (D,)`` to ``end: (D,)`` on the loss of
    ``(x: (N, *F), y: (N,))`` (module docstring).

    Args:
        model: the architecture (its own weights are not used; BatchNorm on batch statistics).
        pivots: free pivots at the start, evenly spaced on the chord.
        max_pivots: no insertions beyond this many free pivots.
        cycles: relaxation cycles, each followed by insertion; Adam's learning rate halves per cycle.
        steps: Adam steps per cycle (one minibatch of ``batch_size`` per step, from ``generator``).
        lr, spring, threshold: first learning rate, spring constant ``k``, insertion threshold
            (loss above both pivots of a segment).
        eval_size: examples of the fixed batch on which insertion looks at the loss.

    Returns:
        the polyline through the pivots and ``[{"cycle", "pivots", "max_loss"}]`` per cycle
        (``max_loss``: the highest loss on the fixed batch along the chain's segments).
    """
    _check_endpoints(start, end)
    check_batch(x, "x")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape (N={len(x)},) like x, got {tuple(y.shape)}")
    for name, value, low in (
        ("pivots", pivots, 1),
        ("max_pivots", max_pivots, pivots),
        ("cycles", cycles, 1),
        ("steps", steps, 1),
        ("batch_size", batch_size, 1),
        ("eval_size", eval_size, 1),
    ):
        check_int(name, value, low)
    for name, value in (("lr", lr), ("threshold", threshold)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    if not spring >= 0:
        raise ValueError(f"spring must be >= 0, got {spring!r}")
    call = weight_function(model)
    fractions = torch.linspace(0, 1, pivots + 2, dtype=start.dtype, device=start.device)[1:-1, None]
    free = start + fractions * (end - start)
    fixed_x, fixed_y = x[:eval_size], y[:eval_size]
    samples = torch.linspace(0, 1, SEGMENT_SAMPLES + 2, dtype=start.dtype, device=start.device)[1:-1, None]
    history = []
    bar = tqdm(total=cycles * steps, desc="AutoNEB", disable=not progress, leave=False)
    for cycle in range(cycles):
        free = nn.Parameter(free.detach().clone())
        opt = torch.optim.Adam([free], lr=lr / 2**cycle)
        for _ in range(steps):
            index = torch.randperm(len(x), generator=generator)[:batch_size].to(x.device)
            chain = torch.cat([start[None], free, end[None]])
            opt.zero_grad(set_to_none=True)
            free.grad = _forces(call, chain, x[index], y[index], spring)
            opt.step()
            bar.update()
        chain = torch.cat([start[None], free.detach(), end[None]])
        at_pivots = _losses(call, chain, fixed_x, fixed_y)
        inserted, highest = [], float(at_pivots.max())
        for i in range(len(chain) - 1):
            between = chain[i] + samples * (chain[i + 1] - chain[i])
            losses = _losses(call, between, fixed_x, fixed_y)
            highest = max(highest, float(losses.max()))
            if float(losses.max()) > float(torch.maximum(at_pivots[i], at_pivots[i + 1])) + threshold:
                inserted.append((i, between[int(losses.argmax())]))
        room = max_pivots - (len(chain) - 2)
        inserted = sorted(inserted, key=lambda item: item[0])[:room]
        rows = [chain[0]]
        for i in range(len(chain) - 1):
            rows += [point for j, point in inserted if j == i]
            rows.append(chain[i + 1])
        free = torch.stack(rows[1:-1])
        history.append({"cycle": cycle + 1, "pivots": len(free), "max_loss": highest})
    bar.close()
    return polyline(start, end, len(free), free.detach()), history
