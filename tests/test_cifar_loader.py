"""CIFAR-10 from a local cifar-10-batches-py folder (tiny files written here), read safely."""

import os
import pickle
import socket

import numpy as np
import pytest
import torch

from geomanifold.data import ArrayUnpickler, load_cifar10_directory, read_cifar_batch
from geomanifold.data.cifar import CIFAR10_FILES, CIFAR10_FOLDER


@pytest.fixture
def no_network(monkeypatch):
    """Opening any socket fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def write_batch(path, images: np.ndarray, labels: list[int]) -> None:
    """A batch in the format of the real files (a protocol-2 pickle of a dict with bytes keys)."""
    payload = {b"batch_label": b"test", b"labels": labels, b"data": images.reshape(len(images), -1)}
    path.write_bytes(pickle.dumps(payload, protocol=2))


@pytest.fixture
def cifar_root(tmp_path):
    """``tmp_path/cifar-10-batches-py`` with 5 train batches of 3 images and a test batch of 4."""
    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in CIFAR10_FILES["train"] + CIFAR10_FILES["test"]:
        n = 4 if name == "test_batch" else 3
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        write_batch(folder / name, images, labels)
        batches[name] = (images, labels)
    return tmp_path, batches


def test_loads_shapes_ranges_and_values(cifar_root, no_network):
    root, batches = cifar_root
    split = load_cifar10_directory(root)
    assert split.x_train.shape == (15, 3, 32, 32) and split.x_test.shape == (4, 3, 32, 32)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert 0 <= split.x_train.min() and split.x_train.max() <= 1
    assert split.num_classes == 10 and split.name == "cifar10"
    first = batches["data_batch_1"]
    assert torch.equal((split.x_train[:3] * 255).round().to(torch.uint8), torch.from_numpy(first[0]))
    assert split.y_train[:3].tolist() == first[1]
    test = batches["test_batch"]
    assert torch.equal((split.x_test * 255).round().to(torch.uint8), torch.from_numpy(test[0]))


def test_accepts_the_batches_folder_itself_and_is_deterministic(cifar_root):
    root, _ = cifar_root
    a, b = load_cifar10_directory(root), load_cifar10_directory(root / CIFAR10_FOLDER)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


def test_missing_files_name_the_folders(tmp_path, cifar_root):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        load_cifar10_directory(tmp_path / "nowhere")
    root, _ = cifar_root
    (root / CIFAR10_FOLDER / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar10_directory(root)


class Payload:
    """Unpickling this would call ``os.system``."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_refuses_pickles_with_other_globals(tmp_path, monkeypatch):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Payload(), b"labels": [0]}, protocol=2))
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))
    with pytest.raises(ValueError, match="refusing to load global"):
        read_cifar_batch(path)
    assert calls == []
    with pytest.raises(pickle.UnpicklingError):
        with path.open("rb") as handle:
            ArrayUnpickler(handle).load()


def test_rejects_batches_of_the_wrong_shape(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(ValueError, match="valid: uint8 data"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="b'data' and b'labels'"):
        read_cifar_batch(path)
