"""Small reference networks for the weight-space experiments, and their training.

:func:`build_network` makes the networks that ``geomanifold train`` saves and ``connect``,
``sparsify`` and ``continual`` load, by name:

* ``mlp``: ``Flatten → Linear(F, w) → ReLU → Linear(w, w) → ReLU → Linear(w, C)``;
* ``cnn``: ``Conv(c, w, 3) → ReLU → MaxPool(2) → Conv(w, 2w, 3) → ReLU → MaxPool(2) → Flatten →
  Linear(2w · (H/4)(W/4), C)``, with ``Conv1d`` for inputs ``(c, L)`` (MNIST-1D) and ``Conv2d``
  for ``(c, H, W)``;
* ``mlp-bn``, ``cnn-bn``: the same with BatchNorm after every hidden linear map / convolution;
* ``resnet18``: :func:`~geomanifold.models.resnet18` with the small-input stem, ``width`` channels
  in its first stage (images ``(c, H, W)``);
* ``vit``: a two-block :class:`~geomanifold.models.VisionTransformer` of width ``width`` (a multiple
  of 4: four heads), MLP width ``2 · width``, 4 × 4 patches of side ``H / 4`` (square images whose
  side is a multiple of 4).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..data import DataSplit
from ..models import VisionTransformer, resnet18
from ..settings import ARCHITECTURES, OPTIMIZERS
from ..training import evaluate, fit

__all__ = ["ARCHITECTURES", "OPTIMIZERS", "build_network", "small_cnn", "train_network"]



def _mlp(features: int, width: int, classes: int, batchnorm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in in (features, width):
        layers.append(nn.Linear(fan_in, width))
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def small_cnn(
    input_shape: tuple[int, ...], width: int, classes: int, batchnorm: bool = False
) -> nn.Sequential:
    """The ``cnn`` (``cnn-bn`` with ``batchnorm``) of the module docstring for one example of shape
    ``input_shape`` (``(c, L)`` or ``(c, H, W)``), in PyTorch's default initialisation under the
    current random state; also the ``cnn`` backbone of the conditioning methods."""
    spatial = len(input_shape) - 1
    if spatial not in (1, 2):
        raise ValueError(
            f"arch 'cnn' needs inputs (C, L) or (C, H, W), got one example of shape {input_shape}"
        )
    if min(input_shape[1:]) < 4:
        raise ValueError(
            f"arch 'cnn' pools twice by 2 and needs spatial sizes >= 4, got one example of shape "
            f"{input_shape}"
        )
    conv, norm = (nn.Conv1d, nn.BatchNorm1d) if spatial == 1 else (nn.Conv2d, nn.BatchNorm2d)
    pool = nn.MaxPool1d(2) if spatial == 1 else nn.MaxPool2d(2)
    layers: list[nn.Module] = []
    for fan_in, fan_out in ((input_shape[0], width), (width, 2 * width)):
        layers.append(conv(fan_in, fan_out, 3, padding=1))
        if batchnorm:
            layers.append(norm(fan_out))
        layers += [nn.ReLU(), pool]
    features = 2 * width * math.prod(size // 4 for size in input_shape[1:])
    layers += [nn.Flatten(), nn.Linear(features, classes)]
    return nn.Sequential(*layers)


def _image_model(arch: str, input_shape: tuple[int, ...], width: int, classes: int) -> nn.Module:
    """``resnet18`` or ``vit`` (module docstring) for images of shape ``input_shape = (c, H, W)``."""
    if len(input_shape) != 3:
        raise ValueError(f"arch {arch!r} needs images (C, H, W), got one example of shape {input_shape}")
    channels, height, width_px = input_shape
    if arch == "resnet18":
        return resnet18(classes, channels, width, small_input=True)
    if height != width_px or height % 4:
        raise ValueError(f"arch 'vit' needs square images with a side divisible by 4, got {input_shape}")
    if width % 4:
        raise ValueError(f"--width must be a multiple of 4 for arch 'vit' (four heads), got {width}")
    return VisionTransformer(height, height // 4, 2, 4, width, 2 * width, classes, channels)


def build_network(arch: str, split: DataSplit, width: int = 128, seed: int = 0) -> nn.Module:
    """A fresh network for ``split`` (its input shape and number of classes), initialised by PyTorch's
    default initialisation under ``seed`` (the global random state is left untouched).

    Args:
        arch: one of :data:`ARCHITECTURES`.
        split: the data, for ``split.input_shape`` and ``split.num_classes``.
        width: hidden units per layer (``mlp``) or channels of the first convolution (``cnn``).
        seed: initialisation seed.

    Returns:
        a module mapping ``(N, *split.input_shape)`` to logits ``(N, C)`` (an ``nn.Sequential``
        for the ``mlp`` and ``cnn`` kinds).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}; got {arch!r}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    batchnorm = arch.endswith("-bn")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch.startswith("mlp"):
            return _mlp(math.prod(split.input_shape), width, split.num_classes, batchnorm)
        if arch.startswith("cnn"):
            return small_cnn(split.input_shape, width, split.num_classes, batchnorm)
        return _image_model(arch, split.input_shape, width, split.num_classes)


def train_network(
    model: nn.Module,
    split: DataSplit,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
    optimizer: str = "adam",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> dict:
    """Train ``model`` on ``split.train`` with cross-entropy by :func:`geomanifold.training.fit`
    (deterministic given ``seed``: the batch order comes from a seeded generator), then evaluate
    on ``split.test``.

    Args:
        optimizer: ``"adam"`` (``torch.optim.Adam(lr)``) or ``"sgd"`` (momentum 0.9).
        checkpoint, checkpoint_every, resume, metadata: as for :func:`~geomanifold.training.fit`.

    Returns:
        ``{"history": [{"epoch", "step", "train_loss"}, ...], "test_loss": ..., "test_accuracy": ...}``.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    device = next(model.parameters()).device
    x, y = (t.to(device) for t in split.train)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator(device=device).manual_seed(seed)
    history = fit(
        model,
        x,
        y,
        opt,
        epochs=epochs,
        generator=generator,
        batch_size=batch_size,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        metadata=metadata,
        progress=progress,
    )
    test = evaluate(model, *(t.to(device) for t in split.test))
    return {"history": history, "test_loss": test["loss"], "test_accuracy": test["accuracy"]}
