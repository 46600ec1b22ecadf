"""The data sets of the conditioning experiments, prepared for small, fast backbones.

Every loader is offline. Images are average-pooled to keep the networks small:
MNIST-5k, MNIST and Fashion-MNIST to ``1 × 14 × 14``, CIFAR-10 to ``3 × 16 × 16``; digits stay
``1 × 8 × 8`` and MNIST-1D ``1 × 40``; ``mnist5k-28`` keeps MNIST-5k at ``1 × 28 × 28``.

Splits: the loader's own for the local folders; for the embedded sets, ``split = k`` is the
loader's stratified train/test split seeded by ``k`` (``k = 0`` is the default split).
:func:`carve_validation` takes a validation part out of the training part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import (
    DataSplit,
    load_cifar10_directory,
    load_digits8x8,
    load_idx_directory,
    load_mnist1d,
    load_mnist5k,
)

__all__ = ["DATA_SETS", "DataSet", "carve_validation", "load_data"]


@dataclass(frozen=True)
class DataSet:
    """A named data set: ``load(data_dir, split) -> DataSplit`` (``data_dir`` only where
    ``needs_directory``, ``split`` only where ``seeded``) and the average-pooling factor applied
    to its images."""

    name: str
    load: Callable[[Path | None, int], DataSplit]
    pool: int = 1
    needs_directory: bool = False
    seeded: bool = True


DATA_SETS: dict[str, DataSet] = {
    "mnist5k": DataSet("mnist5k", lambda _, k: load_mnist5k(seed=k), pool=2),
    "mnist5k-28": DataSet("mnist5k-28", lambda _, k: load_mnist5k(seed=k)),
    "digits": DataSet("digits", lambda _, k: load_digits8x8(seed=k)),
    "mnist1d": DataSet("mnist1d", lambda _, k: load_mnist1d(seed=k)),
    "mnist": DataSet("mnist", lambda root, _: load_idx_directory(root, "MNIST"), 2, True, False),
    "fashion": DataSet("fashion", lambda root, _: load_idx_directory(root, "FashionMNIST"), 2, True, False),
    "cifar10": DataSet("cifar10", lambda root, _: load_cifar10_directory(root), 2, True, False),
}


def load_data(name: str, data_dir: str | Path | None = None, split: int = 0) -> DataSplit:
    """The prepared train/test split number ``split`` of data set ``name`` (see :data:`DATA_SETS`).

    Raises:
        ValueError: unknown ``name``, ``data_dir`` missing for a data set that needs it, or
            ``split != 0`` for a data set with a fixed split.
        FileNotFoundError: ``data_dir`` does not hold the data set's files.
    """
    if name not in DATA_SETS:
        raise ValueError(f"--data: unknown data set {name!r}; valid: {', '.join(DATA_SETS)}")
    spec = DATA_SETS[name]
    if spec.needs_directory and data_dir is None:
        raise ValueError(
            f"--data {name} needs --data-dir DIR, a local folder with its files (nothing downloads)"
        )
    if split != 0 and not spec.seeded:
        seeded = ", ".join(n for n, d in DATA_SETS.items() if d.seeded)
        raise ValueError(f"--splits: --data {name} has one fixed split; valid for several splits: {seeded}")
    data = spec.load(Path(data_dir) if data_dir is not None else None, split)
    if spec.pool > 1:
        data = replace(
            data, x_train=F.avg_pool2d(data.x_train, spec.pool), x_test=F.avg_pool2d(data.x_test, spec.pool)
        )
    return replace(data, name=name)


def carve_validation(
    x: Tensor, y: Tensor, fraction: float, seed: int = 0
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x_fit, y_fit), (x_val, y_val))``: ``round(fraction · N)`` examples of ``(x: (N, *F),
    y: (N,))``, chosen by a permutation seeded by ``seed``, set aside for validation.

    Raises:
        ValueError: ``fraction`` outside ``(0, 1)`` or leaving either part empty.
    """
    n = len(x)
    count = round(fraction * n) if isinstance(fraction, int | float) and 0 < fraction < 1 else -1
    if not 0 < count < n:
        raise ValueError(
            f"--validation must be a fraction in (0, 1) that leaves both parts non-empty for {n} "
            f"training examples, got {fraction!r}"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(x.device)
    held, kept = order[:count], order[count:]
    return (x[kept], y[kept]), (x[held], y[held])
