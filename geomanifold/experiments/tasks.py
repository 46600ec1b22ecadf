"""Conditioning tasks: a context ``s`` in the unit chart and the transform it applies to inputs.

| task | ``s`` | transform | fitting manifold |
|---|---|---|---|
| ``noise`` | ``[0, 1]`` | Gaussian noise ``σ = σ_max s`` on images | line |
| ``rotation`` | periodic | rotation by ``2π s`` | circle |
| ``torus`` | periodic × periodic | rotation by ``2π s₀``, cyclic shift by ``s₁`` of the width | torus |
| ``cylinder`` | ``[0, 1]`` × periodic | noise ``σ_max s₀``, rotation by ``2π s₁`` | cylinder |
| ``shift`` | periodic | cyclic shift of a sequence by ``s`` of its length (MNIST-1D) | circle |
| ``noise1d`` | ``[0, 1]`` | Gaussian noise on sequences (MNIST-1D) | line |

The *mis-specified* manifold of a task swaps periodic and interval topology (protocol (d)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import add_noise, cyclic_shift, noise_and_rotate, rotate, rotate_and_shift

__all__ = ["SIGMA_MAX", "TASKS", "Task", "get_task"]

SIGMA_MAX = 2.0
"""Noise standard deviation at ``s = 1`` (inputs are in ``[0, 1]``, MNIST-1D has std 1)."""

Transform = Callable[[Tensor, Tensor, torch.Generator | None], Tensor]


@dataclass(frozen=True)
class Task:
    """A context and its transform ``transform(x: (B, *F), s: (B, m), generator) -> (B, *F)``.

    Attributes:
        periodic: one flag per context coordinate (the unit chart, ``Chart.unit(periodic)``).
        inputs: ``"image"`` (``(C, H, W)``) or ``"sequence"`` (``(C, L)``).
        manifold: the fitting topology; ``misspecified``: the swapped one.
        axes: one plot label per context coordinate, saying what it does and in what unit.
    """

    name: str
    description: str
    periodic: tuple[bool, ...]
    inputs: str
    manifold: str
    misspecified: str
    transform: Transform
    axes: tuple[str, ...]

    @property
    def dim(self) -> int:
        """``m``, the number of context coordinates."""
        return len(self.periodic)


def _noise(x: Tensor, s: Tensor, generator: torch.Generator | None) -> Tensor:
    return add_noise(x, s, SIGMA_MAX, generator)


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "noise",
            "Gaussian noise of level s (sigma = 2 s)",
            (False,),
            "image",
            "line",
            "circle",
            _noise,
            ("noise level s (σ = 2s)",),
        ),
        Task(
            "rotation",
            "rotation by 2 pi s",
            (True,),
            "image",
            "circle",
            "line",
            lambda x, s, g: rotate(x, s),
            ("rotation s (turns)",),
        ),
        Task(
            "torus",
            "rotation by 2 pi s0 and cyclic shift by s1 of the width",
            (True, True),
            "image",
            "torus",
            "cylinder",
            lambda x, s, g: rotate_and_shift(x, s),
            ("s0: rotation (turns)", "s1: cyclic shift (image widths)"),
        ),
        Task(
            "cylinder",
            "noise of level s0 and rotation by 2 pi s1",
            (False, True),
            "image",
            "cylinder",
            "torus",
            lambda x, s, g: noise_and_rotate(x, s, SIGMA_MAX, g),
            ("s0: noise level (σ = 2 s0)", "s1: rotation (turns)"),
        ),
        Task(
            "shift",
            "cyclic shift by s of the length",
            (True,),
            "sequence",
            "circle",
            "line",
            lambda x, s, g: cyclic_shift(x, s),
            ("cyclic shift s (sequence lengths)",),
        ),
        Task(
            "noise1d",
            "Gaussian noise of level s (sigma = 2 s)",
            (False,),
            "sequence",
            "line",
            "circle",
            _noise,
            ("noise level s (σ = 2s)",),
        ),
    )
}


def get_task(name: str, input_shape: tuple[int, ...]) -> Task:
    """The task ``name`` after checking it fits inputs of shape ``input_shape`` (one example).

    Raises:
        ValueError: unknown task, or images vs sequences mismatch (naming the tasks that fit).
    """
    if name not in TASKS:
        raise ValueError(f"--task: unknown task {name!r}; valid: {', '.join(TASKS)}")
    kind = "image" if len(input_shape) == 3 else "sequence"
    task = TASKS[name]
    if task.inputs != kind:
        fitting = [t.name for t in TASKS.values() if t.inputs == kind]
        raise ValueError(
            f"--task {name} needs {task.inputs} inputs but the data are {kind}s {input_shape}; "
            f"valid tasks for this data: {', '.join(fitting)}"
        )
    return task
