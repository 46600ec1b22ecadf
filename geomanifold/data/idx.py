"""MNIST-style data sets from a local directory in torchvision's raw on-disk (IDX) format.

torchvision stores ``MNIST``, ``FashionMNIST`` and ``KMNIST`` as ``<root>/<name>/raw/`` with
the four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally gzipped, ``.gz``).
Nothing is downloaded: users who have the files point :func:`load_idx_directory` at them.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .split import DataSplit

__all__ = ["IDX_FILES", "load_idx_directory", "read_idx", "write_idx"]

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# IDX type byte -> big-endian numpy dtype
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into an array of its stored shape and type.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not valid IDX (bad magic number, type byte or size).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path} is truncated or padded: {len(raw)} bytes, header says {expected}")
    return np.frombuffer(raw[header:], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``); returns ``path``.

    Raises:
        ValueError: a dtype IDX cannot store (valid: uint8, int8, int16, int32, float32, float64).
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"array dtype {array.dtype} cannot be stored as IDX; valid: {sorted(map(str, _CODES))}"
        )
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(_DTYPES[code]).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def _find(directories: list[Path], stem: str) -> Path:
    for directory in directories:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    searched = ", ".join(str(d) for d in directories)
    raise FileNotFoundError(f"missing IDX file {stem}[.gz]; searched {searched}")


def load_idx_directory(root: str | Path, name: str = "MNIST") -> DataSplit:
    """MNIST / Fashion-MNIST / KMNIST from ``root`` in torchvision's raw layout.

    The four files are looked up in ``root/name/raw``, then ``root/name``, then ``root``
    itself. The split is the data set's own train / test split.

    Returns:
        :class:`DataSplit` with ``x: (N, 1, H, W)`` float32 in ``[0, 1]`` (uint8 / 255) and
        ``y: (N,)`` int64.

    Raises:
        FileNotFoundError: ``root`` is not a directory, or one of the four files is missing.
        ValueError: a file is not IDX, or images and labels disagree in number.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data directory not found: {root} (expected {name}/raw/ with IDX files)")
    directories = [d for d in (root / name / "raw", root / name, root) if d.is_dir()]

    def part(images_key: str, labels_key: str) -> tuple[Tensor, Tensor]:
        images_path = _find(directories, IDX_FILES[images_key])
        labels_path = _find(directories, IDX_FILES[labels_key])
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{images_path} {images.shape} and {labels_path} {labels.shape} do not match; "
                "valid: images (N, H, W) and labels (N,)"
            )
        x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
        if images.dtype == np.uint8:
            x = x / 255.0
        return x, torch.from_numpy(labels.astype(np.int64))

    x_train, y_train = part("train_images", "train_labels")
    x_test, y_test = part("test_images", "test_labels")
    num_classes = int(max(y_train.max(), y_test.max())) + 1 if len(y_train) else 0
    return DataSplit(x_train, y_train, x_test, y_test, name, num_classes)
