"""The opt-in compiled geodesic right-hand side agrees with the eager one in float64."""

import math

import pytest
import torch

import geomanifold as gm

F64 = torch.float64


def sphere_points(n, seed):
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(n, 2, generator=g, dtype=F64)
    s[:, 0] = 0.3 + (math.pi - 0.6) * s[:, 0]
    s[:, 1] = 2 * math.pi * s[:, 1]
    return s, torch.randn(n, 2, generator=g, dtype=F64)


def test_compiled_acceleration_and_exp_agree_with_eager():
    eager, compiled = gm.Sphere(1.5), gm.Sphere(1.5).compile_geodesics(backend="aot_eager")
    for n in (5, 3):  # a shrinking batch reuses the dynamic-shape graph
        s, v = sphere_points(n, n)
        expected = eager.geodesic_acceleration(s, v)
        torch.testing.assert_close(compiled.geodesic_acceleration(s, v), expected, rtol=1e-13, atol=1e-15)
    s, v = sphere_points(3, 7)
    # exp integrates with geodesic_acceleration: the compiled one is what it calls
    torch.testing.assert_close(compiled.exp(s, 0.5 * v), eager.exp(s, 0.5 * v), rtol=1e-12, atol=1e-14)


def test_compile_geodesics_rejects_unknown_backend():
    with pytest.raises(ValueError, match=r"backend must be a torch\.compile backend"):
        gm.Sphere(1.0).compile_geodesics(backend="no-such-backend")
