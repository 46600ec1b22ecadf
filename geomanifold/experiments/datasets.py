"""The data sets of the conditioning experiments, prepared for small, fast backbones.

Every loader is offline. Images are average-pooled to keep the networks small:
MNIST-5k, MNIST and Fashion-MNIST to ``1 × 14 × 14``, CIFAR-10 to ``3 × 16 × 16``; digits stay
``1 × 8 × 8`` and MNIST-1D ``1 × 40``. The split is fixed: the loader's own, or seed 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch.nn.functional as F

from ..data import (
    DataSplit,
    load_cifar10_directory,
    load_digits8x8,
    load_idx_directory,
    load_mnist1d,
    load_mnist5k,
)

__all__ = ["DATA_SETS", "DataSet", "load_data"]


@dataclass(frozen=True)
class DataSet:
    """A named data set: ``load(data_dir) -> DataSplit`` (``data_dir`` only where
    ``needs_directory``) and the average-pooling factor applied to its images."""

    name: str
    load: Callable[[Path | None], DataSplit]
    pool: int = 1
    needs_directory: bool = False


DATA_SETS: dict[str, DataSet] = {
    "mnist5k": DataSet("mnist5k", lambda _: load_mnist5k(seed=0), pool=2),
    "digits": DataSet("digits", lambda _: load_digits8x8(seed=0)),
    "mnist1d": DataSet("mnist1d", lambda _: load_mnist1d(seed=0)),
    "mnist": DataSet("mnist", lambda root: load_idx_directory(root, "MNIST"), 2, True),
    "fashion": DataSet("fashion", lambda root: load_idx_directory(root, "FashionMNIST"), 2, True),
    "cifar10": DataSet("cifar10", load_cifar10_directory, 2, True),
}


def load_data(name: str, data_dir: str | Path | None = None) -> DataSplit:
    """The prepared split of data set ``name`` (see :data:`DATA_SETS`).

    Raises:
        ValueError: unknown ``name``, or ``data_dir`` missing for a data set that needs it.
        FileNotFoundError: ``data_dir`` does not hold the data set's files.
    """
    if name not in DATA_SETS:
        raise ValueError(f"--data: unknown data set {name!r}; valid: {', '.join(DATA_SETS)}")
    spec = DATA_SETS[name]
    if spec.needs_directory and data_dir is None:
        raise ValueError(
            f"--data {name} needs --data-dir DIR, a local folder with its files (nothing downloads)"
        )
    split = spec.load(Path(data_dir) if data_dir is not None else None)
    if spec.pool > 1:
        split = replace(
            split,
            x_train=F.avg_pool2d(split.x_train, spec.pool),
            x_test=F.avg_pool2d(split.x_test, spec.pool),
        )
    return replace(split, name=name)
