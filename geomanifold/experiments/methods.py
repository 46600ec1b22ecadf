"""The conditioning methods compared by ``geomanifold compare``, built on one backbone.

Backbones (``backbone(kind, input_shape, width, classes)``): ``mlp`` is ``Flatten → Linear(D, w)
→ ReLU → Linear(w, C)`` (SCN's FashionMNIST set-up with ``w = 32``); ``cnn`` is
``Conv(c, w, 3) → ReLU → MaxPool(2) → Conv(w, 2w, 3) → ReLU → MaxPool(2) → Flatten → Linear``
(``Conv1d`` for sequences; :func:`~geomanifold.experiments.networks.small_cnn`). Every method
is built under the run's seed; the manifold, ``unconditioned``, ``film``, ``film-mlp``,
``hypernet`` and ``scn`` start as the same backbone network at every ``s``.

| method | model | optimizer |
|---|---|---|
| ``manifold`` | :class:`WeightManifold` with the topology's basis | :class:`NaturalGradientAdam` |
| ``manifold-adam`` | the same | ``torch.optim.Adam`` (no metric) |
| ``unconditioned`` | :class:`Unconditioned` | Adam |
| ``concat`` | :class:`InputConcat` (context features as extra inputs / channels) | Adam |
| ``concat-every`` | :class:`ConditionedMLP`, features at the input of every layer (mlp only) | Adam |
| ``film`` | :class:`FiLM` on every hidden layer, one linear generator | Adam |
| ``film-mlp`` | :class:`FiLM` with an MLP generator, hidden width matched to the manifold's size | Adam |
| ``hypernet`` | :class:`HyperNetwork`, code size ``K − 1`` (the manifold's ``K``), generator 64 | Adam |
| ``scn`` | :class:`SCN` with ``D = 3`` weight copies, each starting as the backbone | Adam |
| ``scn-independent`` | :class:`SCN` with independent initial copies (as in the paper) | Adam |
| ``specialists`` | :class:`Specialists`, one backbone per training context value | Adam |
| ``<name>-matched`` | ``concat``, ``concat-every``, ``film`` or ``unconditioned``, manifold-sized | Adam |

The specialists are trained one after the other, each on all training examples with contexts
drawn from its own cell (:func:`specialist_cell_sampler`), so each sees the whole data set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..baselines import (
    SCN,
    ConditionedMLP,
    FiLM,
    HyperNetwork,
    InputConcat,
    Specialists,
    Unconditioned,
    count_parameters,
    feature_count,
    mlp,
    parameter_matched_width,
)
from ..bases import Basis, BSpline, Fourier, Line, TensorProduct
from ..conditioning import WeightManifold
from ..optim import NaturalGradientAdam
from ..settings import BACKBONES, MANIFOLDS
from ..settings import CONDITIONING_METHODS as METHODS
from .networks import small_cnn

__all__ = [
    "BACKBONES",
    "MANIFOLDS",
    "METHODS",
    "MethodSpec",
    "backbone",
    "build_method",
    "manifold_basis",
    "specialist_cell_sampler",
    "specialist_contexts",
]

SCN_DIMENSIONS = 3
SPLINE_POINTS = 6
GENERATOR_WIDTH = 64


@dataclass(frozen=True)
class MethodSpec:
    """Everything a method needs besides its name: the backbone, the task's context flags, the
    manifold topology, training contexts for the specialists and the learning rate."""

    backbone: str
    input_shape: tuple[int, ...]
    classes: int
    width: int
    periodic: tuple[bool, ...]
    manifold: str
    specialist_contexts: Tensor
    lr: float
    weight_decay: float = 0.0


def backbone(kind: str, input_shape: tuple[int, ...], width: int, classes: int, extra: int = 0) -> nn.Module:
    """A fresh backbone (see the module docstring); ``extra`` more input features (``mlp``) or
    channels (``cnn``) for input concatenation.

    Raises:
        ValueError: unknown ``kind``, or a ``cnn`` on inputs that are neither ``(C, L)`` nor ``(C, H, W)``.
    """
    if kind == "mlp":
        return mlp(math.prod(input_shape) + extra, [width], classes)
    if kind != "cnn":
        raise ValueError(f"--backbone: unknown backbone {kind!r}; valid: {', '.join(BACKBONES)}")
    if len(input_shape) not in (2, 3):
        raise ValueError(f"--backbone cnn needs inputs (C, L) or (C, H, W), got {input_shape}")
    return small_cnn((input_shape[0] + extra, *input_shape[1:]), width, classes)


def manifold_basis(name: str, periodic: tuple[bool, ...]) -> Basis:
    """The basis of topology ``name`` for a task with context flags ``periodic``: ``line``,
    ``circle`` (Fourier order 1), ``fourier2``, ``spline`` (cubic, 6 functions; periodic on a
    periodic task), ``torus`` (Fourier ⊗ Fourier), ``cylinder`` (line ⊗ Fourier).

    Raises:
        ValueError: unknown topology, or one whose dimension differs from the task's.
    """
    one_d = {
        "line": Line,
        "circle": lambda: Fourier(1),
        "fourier2": lambda: Fourier(2),
        "spline": lambda: (BSpline.periodic if periodic[0] else BSpline.open)(SPLINE_POINTS),
    }
    two_d = {
        "torus": lambda: TensorProduct(Fourier(1), Fourier(1)),
        "cylinder": lambda: TensorProduct(Line(), Fourier(1)),
    }
    if name not in MANIFOLDS:
        raise ValueError(f"--manifold: unknown manifold {name!r}; valid: {', '.join(MANIFOLDS)}")
    table = one_d if len(periodic) == 1 else two_d
    if name not in table:
        raise ValueError(
            f"--manifold {name} does not have the task's {len(periodic)} context coordinate(s); "
            f"valid here: {', '.join(table)}"
        )
    return table[name]()


def specialist_contexts(
    periodic: tuple[bool, ...], train_values: Tensor | None, seen: Callable[[Tensor], Tensor]
) -> Tensor:
    """Context values ``(N, m)`` of the specialists: the ``few`` training values of the first
    coordinate, else 8 evenly spaced values (bin centres on an interval) kept where ``seen(s)``
    is true; 4 evenly spaced values of every other coordinate."""

    def axis(p: bool, n: int) -> Tensor:
        return torch.arange(n) / n if p else (torch.arange(n) + 0.5) / n

    first = train_values if train_values is not None else axis(periodic[0], 8)
    axes = [first, *(axis(p, 4) for p in periodic[1:])]
    grid = torch.cartesian_prod(*axes).reshape(-1, len(periodic)).float()
    return grid if train_values is not None else grid[seen(grid)]


def build_method(name: str, spec: MethodSpec, seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """``(model, optimizer)`` of method ``name``; the backbone is initialised under ``seed`` (the
    global random state is restored).

    Raises:
        ValueError: unknown method or manifold.
    """
    if name not in METHODS:
        raise ValueError(f"--methods: unknown method {name!r}; valid: {', '.join(METHODS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build(name, spec)
    if name == "manifold":
        return model, NaturalGradientAdam(model.param_groups(), lr=spec.lr, weight_decay=spec.weight_decay)
    return model, torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)


def _build(name: str, spec: MethodSpec) -> nn.Module:
    def net(width: int = spec.width, extra: int = 0) -> nn.Module:
        return backbone(spec.backbone, spec.input_shape, width, spec.classes, extra)

    def every_layer(width: int) -> nn.Module:
        if spec.backbone != "mlp":
            raise ValueError(f"--methods concat-every needs --backbone mlp, got --backbone {spec.backbone}")
        return ConditionedMLP(
            math.prod(spec.input_shape), [width], spec.classes, spec.periodic, every_layer=True
        )

    builders: dict[str, Callable[[int], nn.Module]] = {
        "unconditioned": lambda w: Unconditioned(net(w), spec.periodic),
        "concat": lambda w: InputConcat(
            net(w, feature_count(spec.periodic)), spec.periodic, flatten=spec.backbone == "mlp"
        ),
        "concat-every": every_layer,
        "film": lambda w: FiLM(net(w), spec.periodic),
    }
    basis = manifold_basis(spec.manifold, spec.periodic)
    if name == "specialists":
        return Specialists(net, spec.specialist_contexts, spec.periodic)
    if name in builders:
        return builders[name](spec.width)
    shared = net()  # the first network drawn under the seed: the backbone every method starts from
    if name in ("manifold", "manifold-adam"):
        return WeightManifold(shared, basis)
    if name in ("scn", "scn-independent"):
        return SCN(shared, SCN_DIMENSIONS, spec.periodic, init="copy" if name == "scn" else "independent")
    if name == "hypernet":
        return HyperNetwork(shared, max(basis.size - 1, 1), spec.periodic, GENERATOR_WIDTH)
    target = count_parameters(WeightManifold(shared, basis))
    if name == "film-mlp":
        width = parameter_matched_width(lambda h: FiLM(shared, spec.periodic, hidden=h), target)
        return FiLM(shared, spec.periodic, hidden=width)
    base = name.removesuffix("-matched")
    return builders[base](parameter_matched_width(builders[base], target))


def specialist_cell_sampler(
    contexts: Tensor,
    index: int,
    periodic: tuple[bool, ...],
    supported: Callable[[Tensor], Tensor],
    fixed: bool,
) -> Callable[[int, torch.Generator], Tensor]:
    """``sample(n, generator) -> (n, m)``: contexts drawn uniformly from the cell of specialist
    ``index`` (the box around ``contexts[index]`` whose side along each coordinate is the
    smallest spacing of the specialists' values there, wrapped on a circle; the first coordinate
    fixed when ``fixed``, i.e. discrete training values), kept where ``supported`` is true
    (rejection), periodic coordinates wrapped.

    With the specialists on a grid these cells are the regions routed to each specialist, so all
    of a specialist's training examples reach it."""
    centre = contexts[index]
    widths = []
    for i in range(len(periodic)):
        values = torch.unique(contexts[:, i].double())
        gaps = values.diff()
        if periodic[i]:
            gaps = torch.cat([gaps, (values[:1] + 1 - values[-1:])])
        widths.append(gaps.min().item() if len(values) > 1 else 1.0)
    widths = torch.tensor(widths)
    if fixed:
        widths[0] = 0.0

    def sample(n: int, generator: torch.Generator) -> Tensor:
        device = generator.device
        kept: list[Tensor] = []
        count = 0
        for _ in range(1000):
            u = torch.rand(2 * n, len(periodic), generator=generator, device=device)
            s = centre.to(device) + (u - 0.5) * widths.to(device)
            for i, p in enumerate(periodic):
                s[:, i] = torch.remainder(s[:, i], 1.0) if p else s[:, i].clamp(0.0, 1.0)
            s = s[supported(s)]
            kept.append(s)
            count += len(s)
            if count >= n:
                return torch.cat(kept)[:n]
        raise ValueError(
            f"the cell of specialist {index} at {centre.tolist()} lies outside the training support"
        )

    return sample
