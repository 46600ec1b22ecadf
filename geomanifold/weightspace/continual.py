"""Continual learning along a functionally invariant path (Raghavan & Thomson, NMI 2024): learn a
new task B from a network trained on task A while keeping its outputs on a replay buffer of
task-A inputs (no labels) nearly fixed.

The walk's secondary objective is the cross-entropy of task B on a fresh minibatch each step; the
invariance term is the output divergence to the task-A network on a minibatch of the buffer
(:class:`~geomanifold.weightspace.fip.FunctionallyInvariantPath`). The baselines
(:func:`~geomanifold.weightspace.finetune.finetune`) are plain fine-tuning on B and replay +
cross-entropy with the buffer labelled by the task-A network's predictions
(:func:`pseudo_labels`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typing_extensions import Unpack

from .finetune import check_labelled
from .fip import SecondaryObjective, WalkOptions, walk
from .functional import call_with_vector

__all__ = ["RECORD_BATCH", "learn_along_path", "pseudo_labels", "replay_buffer", "task_objective"]

RECORD_BATCH = 1024
"""Task-B examples of the fixed batch on which the recorded loss is measured."""


def replay_buffer(x: Tensor, size: int, seed: int = 0) -> Tensor:
    """``size`` inputs drawn without replacement from ``x: (N, *F)`` (seeded): ``(size, *F)``."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= len(x):
        raise ValueError(
            f"buffer_size must be an int in [1, {len(x)}] (the task-A inputs available), got {size!r}"
        )
    index = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))[:size]
    return x[index.to(x.device)]


@torch.no_grad()
def pseudo_labels(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """The classes ``model`` predicts for ``x: (N, *F)``: ``(N,)`` int64."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)])


def task_objective(
    model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 128, seed: int = 0
) -> SecondaryObjective:
    """``L₂(w) = mean CE(f(x_b; w), y_b)`` on a fresh seeded minibatch of ``(x: (N, *F), y: (N,))``
    at every call."""
    check_labelled(x, y, "x, y (the new task)")
    generator = torch.Generator().manual_seed(int(seed))

    def objective(w: Tensor) -> Tensor:
        index = torch.randperm(len(x), generator=generator)[: min(batch_size, len(x))].to(x.device)
        return F.cross_entropy(call_with_vector(model, w, x[index]), y[index])

    return objective


def learn_along_path(
    model: nn.Module,
    buffer: Tensor,
    x: Tensor,
    y: Tensor,
    steps: int,
    step_length: float,
    **options: Unpack[WalkOptions],
) -> tuple[Tensor, list[dict]]:
    """Learn task B ``(x: (N, *F), y: (N,))`` from the model's weights along a functionally
    invariant path that keeps its outputs on ``buffer: (M, *F)`` (task-A inputs, no labels).

    Args:
        steps, step_length: the walk: ``steps`` steps of Euclidean length ``step_length``.
        options: :class:`~geomanifold.weightspace.fip.WalkOptions`; ``batch_size`` (default 128) is
            both the task-B and the buffer minibatch, ``seed`` (default 0) seeds the task-B stream
            and ``seed + 1`` the buffer's. The recorded ``"secondary"`` is the task-B loss on a
            fixed batch of up to :data:`RECORD_BATCH` examples.

    Returns:
        the final weights ``(D,)`` and the records along the path.
    """
    check_labelled(x, y, "x, y (the new task)")
    if not isinstance(buffer, Tensor) or len(buffer) == 0:
        raise ValueError("buffer must hold at least one task-A input; got an empty buffer")
    if buffer.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"buffer inputs must have the new task's input shape {tuple(x.shape[1:])}, "
            f"got {tuple(buffer.shape[1:])}"
        )
    batch_size, seed = options.pop("batch_size", 128), options.pop("seed", 0)
    fixed = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))[:RECORD_BATCH]
    fixed_x, fixed_y = x[fixed.to(x.device)], y[fixed.to(y.device)]
    return walk(
        model,
        buffer,
        task_objective(model, x, y, batch_size, seed),
        steps,
        step_length,
        recorded_secondary=lambda w: F.cross_entropy(call_with_vector(model, w, fixed_x), fixed_y),
        batch_size=batch_size,
        seed=seed + 1,
        **options,
    )
