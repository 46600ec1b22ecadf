"""scikit-learn digits: 1,797 real 8×8 handwritten digits shipped in scikit-learn."""

from __future__ import annotations

import torch

from .split import DataSplit, split_train_test

__all__ = ["load_digits8x8"]


def load_digits8x8(seed: int = 0, test_fraction: float = 0.2) -> DataSplit:
    """The digits of ``sklearn.datasets.load_digits()`` (local, no download).

    Returns:
        :class:`DataSplit` with ``x: (N, 1, 8, 8)`` float32 in ``[0, 1]`` (grey levels 0..16
        divided by 16) and ``y: (N,)`` int64 in ``0..9``; a stratified split seeded by ``seed``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return split_train_test(x, y, seed, test_fraction, name="digits8x8", num_classes=10)
