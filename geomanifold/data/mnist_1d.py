"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package."""

from __future__ import annotations

import numbers
import random

import numpy as np
import torch

from .split import DataSplit

__all__ = ["load_mnist1d"]


def load_mnist1d(seed: int = 0, num_samples: int = 5000) -> DataSplit:
    """MNIST-1D from ``mnist1d.data.make_dataset`` with the default arguments and ``seed``.

    The data set is generated, never downloaded (``mnist1d.data.get_dataset`` with its defaults
    would fetch a pickle, so it is not used). The generator seeds numpy's and Python's global
    random state; both are restored afterwards.

    Returns:
        :class:`DataSplit` with ``x: (N, 1, 40)`` float32 (standardised by the generator: mean
        0, std 1 over the whole set, not in ``[0, 1]``) and ``y: (N,)`` int64 in ``0..9``;
        the generator's own split (4,000 / 1,000 at ``num_samples=5000``).

    Raises:
        ValueError: ``num_samples`` not an int >= 10 (the generator makes ``num_samples // 10``
            examples of each digit).
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 10:
        raise ValueError(
            f"num_samples must be an int >= 10 (num_samples // 10 examples per digit), got {num_samples!r}"
        )
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = int(seed)
    args.num_samples = int(num_samples)
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (mnist1d seeds the legacy global state)
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)

    def tensors(x, y):
        return (
            torch.as_tensor(np.asarray(x), dtype=torch.float32).unsqueeze(1),
            torch.as_tensor(np.asarray(y), dtype=torch.int64),
        )

    x_train, y_train = tensors(data["x"], data["y"])
    x_test, y_test = tensors(data["x_test"], data["y_test"])
    return DataSplit(x_train, y_train, x_test, y_test, "mnist1d", 10)
