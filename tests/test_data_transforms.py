"""Context transforms for the conditioning experiments: cyclic shift, torus, cylinder."""

import math

import pytest
import torch

from geomanifold.data import add_noise, cyclic_shift, noise_and_rotate, rotate, rotate_and_shift


def sequences(batch=3, length=10, seed=0):
    return torch.randn(batch, 2, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cyclic_shift_whole_steps_match_roll_and_full_turn_is_identity():
    x = sequences()
    assert torch.equal(cyclic_shift(x, 0.0), x)
    assert torch.equal(cyclic_shift(x, 1.0), x)
    assert torch.equal(cyclic_shift(x, -2.0), x)
    for j in range(10):
        assert torch.allclose(cyclic_shift(x, j / 10), torch.roll(x, j, dims=-1), atol=1e-12)


def test_cyclic_shift_fraction_interpolates_linearly_per_example():
    x = sequences()
    s = torch.tensor([0.125, 0.53, 0.97], dtype=torch.float64)  # 1.25, 5.3, 9.7 positions of 10
    shifted = cyclic_shift(x, s)
    for b, amount in enumerate((1.25, 5.3, 9.7)):
        k, f = math.floor(amount), amount - math.floor(amount)
        expected = (1 - f) * torch.roll(x[b], k, -1) + f * torch.roll(x[b], k + 1, -1)
        assert torch.allclose(shifted[b], expected, atol=1e-12)
    assert torch.allclose(shifted.sum(-1), x.sum(-1), atol=1e-12)  # a shift moves mass, never makes it


def test_cyclic_shift_along_the_width_of_images():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float64).reshape(2, 1, 3, 4)
    assert torch.equal(cyclic_shift(x, 0.25, dim=-1), torch.roll(x, 1, dims=-1))
    assert torch.equal(cyclic_shift(x, 1 / 3, dim=2), torch.roll(x, 1, dims=2))


def test_cyclic_shift_errors():
    x = sequences()
    with pytest.raises(ValueError, match="batch dimension"):
        cyclic_shift(x, 0.1, dim=0)
    with pytest.raises(ValueError, match="s must have shape"):
        cyclic_shift(x, torch.zeros(2))


def test_torus_transform_is_rotation_then_shift_and_a_full_turn_is_near_identity():
    x = torch.rand(4, 1, 14, 14, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s = torch.tensor([[0.1, 0.25], [0.5, 0.5], [0.0, 0.0], [0.75, 0.9]], dtype=torch.float64)
    expected = cyclic_shift(rotate(x, s[:, 0]), s[:, 1], dim=-1)
    assert torch.equal(rotate_and_shift(x, s), expected)
    assert torch.allclose(rotate_and_shift(x[2:3], s[2:3]), x[2:3], atol=1e-12)  # (0, 0): identity
    full = rotate_and_shift(x, torch.ones(4, 2, dtype=torch.float64))
    assert (full - x).abs().max() < 1e-6  # one full turn of each: identity up to interpolation error
    with pytest.raises(ValueError, match=r"s must have shape \(4, 2\)"):
        rotate_and_shift(x, s[:, 0])


def test_cylinder_transform_rotates_then_adds_noise_of_level_s0():
    x = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    s = torch.stack([torch.full((400,), 0.3), torch.linspace(0, 1, 400)], -1).double()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    noisy = noise_and_rotate(x, s, 2.0, g1)
    assert torch.equal(noisy, add_noise(rotate(x, s[:, 1]), s[:, 0], 2.0, g2))
    residual = noisy - rotate(x, s[:, 1])
    assert residual.mean().abs() < 0.02
    assert residual.std().item() == pytest.approx(0.6, rel=0.02)  # σ = 2 · 0.3
    clean = noise_and_rotate(x, torch.stack([torch.zeros(400), s[:, 1]], -1), 2.0)
    assert torch.equal(clean, rotate(x, s[:, 1]))
    with pytest.raises(ValueError, match="s must lie in"):
        noise_and_rotate(x, torch.stack([torch.full((400,), 1.5), s[:, 1]], -1), 2.0)
