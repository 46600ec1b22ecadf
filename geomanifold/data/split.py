"""Fixed, seeded train/test splits of a labelled data set."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DataSplit", "split_train_test"]


@dataclass(frozen=True)
class DataSplit:
    """A labelled data set split into train and test parts.

    Attributes:
        x_train: ``(N_train, C, *spatial)`` float32 inputs.
        y_train: ``(N_train,)`` int64 class labels.
        x_test: ``(N_test, C, *spatial)`` float32 inputs.
        y_test: ``(N_test,)`` int64 class labels.
        name: the data set's name.
        num_classes: number of classes.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    name: str
    num_classes: int

    @property
    def train(self) -> tuple[Tensor, Tensor]:
        """``(x_train, y_train)``."""
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[Tensor, Tensor]:
        """``(x_test, y_test)``."""
        return self.x_test, self.y_test

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 28, 28)``."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"DataSplit({self.name!r}, train={tuple(self.x_train.shape)}, "
            f"test={tuple(self.x_test.shape)}, num_classes={self.num_classes})"
        )


def split_train_test(
    x: Tensor, y: Tensor, seed: int = 0, test_fraction: float = 0.2, name: str = "", num_classes: int = 0
) -> DataSplit:
    """Split ``(x: (N, ...), y: (N,))`` by a seeded, stratified permutation.

    Each class contributes ``round(test_fraction · n_class)`` examples to the test part, so the
    class balance is kept; the same ``seed`` always gives the same split (``torch.Generator``,
    independent of the global random state).

    Raises:
        ValueError: ``test_fraction`` outside ``(0, 1)``, ``x`` and ``y`` of different lengths, or
            empty.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("x and y are empty: a data set needs at least one example")
    generator = torch.Generator().manual_seed(int(seed))
    test_parts, train_parts = [], []
    for label in torch.unique(y):
        members = torch.nonzero(y == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(test_fraction * len(members))
        test_parts.append(members[:n_test])
        train_parts.append(members[n_test:])
    train = torch.cat(train_parts)
    test = torch.cat(test_parts)
    train = train[torch.randperm(len(train), generator=generator)]
    test = test[torch.randperm(len(test), generator=generator)]
    num_classes = num_classes or int(y.max()) + 1
    return DataSplit(x[train], y[train], x[test], y[test], name, num_classes)
