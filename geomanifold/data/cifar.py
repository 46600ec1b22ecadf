"""CIFAR-10 from a local directory in torchvision's on-disk format (``cifar-10-batches-py``).

The batch files ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` are Python pickles of
``{b"data": uint8 (10000, 3072), b"labels": [int, ...], ...}``. Unpickling can run arbitrary
code, so they are read with :class:`ArrayUnpickler`, which resolves only numpy's
array-reconstruction globals and refuses any other class or function. Nothing is downloaded.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from .split import DataSplit

__all__ = ["CIFAR10_FILES", "ArrayUnpickler", "load_cifar10_directory", "read_cifar_batch"]

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_IMAGE_SHAPE = (3, 32, 32)

# the globals a pickled numpy array needs (numpy 1.x and 2.x module names); ``_codecs.encode``
# (str -> bytes, no code) is how Python 3 writes bytes into a protocol-2 pickle
_ARRAY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler for plain containers and numpy arrays only: ``find_class`` allows the array
    reconstruction globals and raises :class:`pickle.UnpicklingError` for anything else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}; only numpy arrays and plain containers are allowed"
        )


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a CIFAR batch (unpicklable, unsafe, or wrong keys or shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch file not found: {path}")
    try:
        batch = ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a CIFAR batch file: {error}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path} is not a CIFAR batch file; valid: a dict with b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    size = int(np.prod(_IMAGE_SHAPE))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size or len(data) != len(labels):
        raise ValueError(
            f"{path}: data {data.dtype} {data.shape} and labels {labels.shape} do not match; "
            f"valid: uint8 data (N, {size}) and N labels"
        )
    return data.reshape(-1, *_IMAGE_SHAPE), labels


def load_cifar10_directory(directory: str | Path) -> DataSplit:
    """CIFAR-10 from ``directory`` (the ``cifar-10-batches-py`` folder itself, or a folder that
    contains it, as torchvision's ``root``).

    Returns:
        :class:`DataSplit` with ``x: (N, 3, 32, 32)`` float32 in ``[0, 1]`` and ``y: (N,)`` int64
        in ``0..9``; the data set's own split (50,000 / 10,000 for the full files).

    Raises:
        FileNotFoundError: a batch file is missing (the message names the folders searched).
        ValueError: a file is not a valid CIFAR batch.
    """
    directory = Path(directory)
    folders = [directory, directory / CIFAR10_FOLDER]
    folder = next((f for f in folders if (f / CIFAR10_FILES["test"][0]).is_file()), None)
    if folder is None:
        raise FileNotFoundError(
            f"no CIFAR-10 batches in {' or '.join(str(f) for f in folders)}; valid: a folder with "
            f"{', '.join(CIFAR10_FILES['train'] + CIFAR10_FILES['test'])}"
        )

    def part(names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [read_cifar_batch(folder / name) for name in names]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels)

    x_train, y_train = part(CIFAR10_FILES["train"])
    x_test, y_test = part(CIFAR10_FILES["test"])
    return DataSplit(x_train, y_train, x_test, y_test, "cifar10", 10)
