"""Training and test contexts of the conditioning protocols (all in the unit chart).

- ``uniform`` (a): training contexts uniform over the whole domain.
- ``heldout`` (b, interpolation): a region of the first coordinate is never trained on: the arc
  ``[3/8, 5/8)`` (90° around 180°) of a periodic coordinate, the gap ``[0.4, 0.6]`` of an interval.
- ``extrapolation`` (b): an interval first coordinate trained on ``[0, 0.6]`` only.
- ``few`` (c): the first coordinate takes ``k`` evenly spaced values in training (``j / k`` on a
  circle, ``j / (k − 1)`` on an interval); the others stay uniform.
- ``misspecified`` (d): as ``uniform``; the experiment swaps the manifold's topology.

At test time every protocol evaluates the same grid of contexts (plus the ``few`` training
values), each marked *seen* (in the closure of the training support: the edges of a held-out
region count as seen, since training contexts come arbitrarily close to them) or *unseen*, with
its distance into the unseen region (:meth:`ProtocolPlan.distance_to_support`).

*Skewed sampling* (``skew = p``): with probability ``p`` a training context's first coordinate
is drawn uniformly from :data:`SKEW_REGION` (a quarter of the chart, inside every protocol's
support) instead of the protocol's distribution, so that region is over-sampled.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from ..settings import FEW_VALUES, PROTOCOLS
from .tasks import Task

__all__ = ["PROTOCOLS", "SKEW_REGION", "ProtocolPlan", "make_protocol", "test_axis"]

HELD_OUT_ARC = (0.375, 0.625)
HELD_OUT_GAP = (0.4, 0.6)
EXTRAPOLATION_LIMIT = 0.6
SKEW_REGION = (0.0, 0.25)
_EDGE = 1e-6  # tolerance of the support's edges in the unit chart


@dataclass(frozen=True)
class ProtocolPlan:
    """What a protocol means for one task.

    Attributes:
        name: the protocol.
        periodic: the task's context flags.
        held_out: ``(low, high)`` of the first coordinate never trained on, or ``None``.
        train_values: the ``k`` discrete training values of the first coordinate (``few``).
        test_contexts: ``(T, m)`` float32 grid evaluated at test time.
        seen: ``(T,)`` bool, test contexts in the closure of the training support.
        skew: probability of drawing the first coordinate from :data:`SKEW_REGION`, in ``[0, 1)``.
    """

    name: str
    periodic: tuple[bool, ...]
    held_out: tuple[float, float] | None
    train_values: Tensor | None
    test_contexts: Tensor
    seen: Tensor
    skew: float = 0.0

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` training contexts ``(n, m)`` float32 drawn with ``generator``."""
        device = generator.device if generator is not None else torch.device("cpu")
        s = torch.rand(n, len(self.periodic), generator=generator, device=device)
        if self.train_values is not None:
            pick = torch.randint(len(self.train_values), (n,), generator=generator, device=device)
            s[:, 0] = self.train_values.to(device)[pick]
        elif self.held_out is not None:
            low, high = self.held_out
            if self.periodic[0] or high < 1:  # uniform on [0, 1] minus [low, high)
                u = s[:, 0] * (1 - (high - low))
                s[:, 0] = torch.where(u < low, u, u + (high - low))
            else:  # extrapolation: [0, low]
                s[:, 0] = s[:, 0] * low
        if self.skew > 0:
            low, high = SKEW_REGION
            favoured = torch.rand(n, generator=generator, device=device) < self.skew
            region = low + (high - low) * torch.rand(n, generator=generator, device=device)
            s[:, 0] = torch.where(favoured, region, s[:, 0])
        return s

    def in_training_support(self, s: Tensor) -> Tensor:
        """``(T, m) -> (T,)`` bool: whether each context lies in the closure of the training
        support (the edges of a held-out region included)."""
        return self.distance_to_support(s) < _EDGE

    def distance_to_support(self, s: Tensor) -> Tensor:
        """``(T, m) -> (T,)``: distance of the first coordinate to the training support in the
        unit chart (wrapped on a circle), 0 inside it; e.g. the depth into a held-out arc."""
        first = s[:, 0]
        if self.train_values is not None:
            distance = (first[:, None] - self.train_values.to(first)[None]).abs()
            if self.periodic[0]:
                distance = torch.minimum(distance, 1 - distance)
            return distance.min(-1).values
        if self.held_out is not None:
            low, high = self.held_out
            if not self.periodic[0] and high >= 1:  # extrapolation beyond low
                return (first - low).clamp(min=0)
            inside = (first > low) & (first < high)
            return torch.where(inside, torch.minimum(first - low, high - first), torch.zeros_like(first))
        return torch.zeros_like(first)


def test_axis(periodic: bool, points: int) -> Tensor:
    """Test values of one coordinate: ``j / points`` on a circle, ``points + 1`` evenly spaced
    values including both ends on an interval."""
    if periodic:
        return torch.arange(points, dtype=torch.float64) / points
    return torch.linspace(0.0, 1.0, points + 1, dtype=torch.float64)


def make_protocol(
    name: str, task: Task, few: int = 4, points: int | None = None, skew: float = 0.0
) -> ProtocolPlan:
    """The :class:`ProtocolPlan` of protocol ``name`` for ``task``.

    Args:
        few: ``k`` for the ``few`` protocol, one of :data:`FEW_VALUES`.
        points: test grid points per coordinate (default 24 for ``m = 1``, 8 for ``m = 2``).
        skew: probability of over-sampling :data:`SKEW_REGION`, in ``[0, 1)`` (not with ``few``).

    Raises:
        ValueError: unknown protocol, bad ``few`` or ``skew``, or ``extrapolation`` on a periodic
            coordinate.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"--protocol: unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
    if few not in FEW_VALUES:
        raise ValueError(f"--few must be one of {', '.join(map(str, FEW_VALUES))}, got {few!r}")
    if not (isinstance(skew, int | float) and 0 <= skew < 1):
        raise ValueError(f"--skew must be a probability in [0, 1), got {skew!r}")
    if skew and name == "few":
        raise ValueError(
            "--skew needs a protocol with continuous training contexts; valid: uniform, "
            "heldout, extrapolation, misspecified (not few)"
        )
    periodic = task.periodic
    if name == "extrapolation" and periodic[0]:
        raise ValueError(
            f"--protocol extrapolation needs an interval first context coordinate, but task {task.name}'s is "
            "periodic; valid for it: uniform, heldout, few, misspecified"
        )
    points = points or (24 if task.dim == 1 else 8)
    held_out, train_values = None, None
    if name == "heldout":
        held_out = HELD_OUT_ARC if periodic[0] else HELD_OUT_GAP
    elif name == "extrapolation":
        held_out = (EXTRAPOLATION_LIMIT, 1.0)
    elif name == "few":
        train_values = torch.arange(few, dtype=torch.float64) / (few if periodic[0] else few - 1)
    axes = [test_axis(p, points) for p in periodic]
    if train_values is not None:
        axes[0] = torch.unique(torch.round(torch.cat([axes[0], train_values]), decimals=9))
        train_values = train_values.float()
    grid = torch.tensor(list(itertools.product(*[a.tolist() for a in axes])), dtype=torch.float32)
    plan = ProtocolPlan(name, periodic, held_out, train_values, grid, torch.ones(0, dtype=torch.bool), skew)
    return ProtocolPlan(name, periodic, held_out, train_values, grid, plan.in_training_support(grid), skew)
