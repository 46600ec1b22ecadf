"""Exponential map, logarithm, distance and parallel transport against closed forms."""

import math

import pytest
import torch

import geomanifold as gm

F64 = torch.float64
TWO_PI = 2 * math.pi


def great_circle(sphere, s0, s1):
    x0, x1 = sphere.point(s0) / sphere.radius, sphere.point(s1) / sphere.radius
    return sphere.radius * torch.arccos((x0 * x1).sum(-1).clamp(-1, 1))


def test_sphere_distance_is_great_circle_distance_and_log_inverts_exp():
    # pairs whose great circle stays away from the poles, where the polar chart is singular and a
    # fixed-step integrator needs more steps
    sphere = gm.Sphere(2.0)
    g = torch.Generator().manual_seed(0)
    s0 = torch.stack(
        [1.0 + 1.1 * torch.rand(6, generator=g, dtype=F64), TWO_PI * torch.rand(6, generator=g, dtype=F64)],
        -1,
    )
    s1 = s0 + torch.stack(
        [torch.rand(6, generator=g, dtype=F64) - 0.5, 4 * torch.rand(6, generator=g, dtype=F64) - 2], -1
    )
    torch.testing.assert_close(sphere.distance(s0, s1), great_circle(sphere, s0, s1), rtol=1e-8, atol=0)
    v = 0.5 * (torch.rand(6, 2, generator=g, dtype=F64) - 0.5)
    torch.testing.assert_close(sphere.log(s0, sphere.exp(s0, v)), v, rtol=1e-8, atol=1e-10)


def test_torus_log_takes_the_short_way_across_the_wrap():
    torus = gm.Torus(2.0, 1.0)
    # along the outer equator v = 0 (a geodesic): from u = 0.1 to u = 2π − 0.1 is 0.2 the other way
    v = torch.tensor([[0.1, 0.0]], dtype=F64), torch.tensor([[TWO_PI - 0.1, 0.0]], dtype=F64)
    torch.testing.assert_close(torus.log(*v), torch.tensor([[-0.2, 0.0]], dtype=F64), rtol=0, atol=1e-9)
    torch.testing.assert_close(torus.distance(*v), torch.tensor([0.2 * 3.0], dtype=F64), rtol=1e-9, atol=0)


def test_exp_along_a_meridian_of_the_torus():
    # meridians u = const are geodesics: s(t) = (u, v + t w)
    torus = gm.Torus(2.0, 1.0)
    s = torch.tensor([[0.4, 0.2]], dtype=F64)
    end = torus.exp(s, torch.tensor([[0.0, 7.0]], dtype=F64))
    torch.testing.assert_close(end, torch.tensor([[0.4, 7.2 - TWO_PI]], dtype=F64), rtol=0, atol=1e-10)


def test_parallel_transport_preserves_inner_products():
    torus = gm.Torus(2.0, 1.0)
    s = torch.tensor([[0.3, 0.9], [1.0, 2.0]], dtype=F64)
    v = torch.tensor([[0.8, -0.5], [-0.3, 1.2]], dtype=F64)
    w1, w2 = (
        torch.tensor([[1.0, 0.2], [0.0, 1.0]], dtype=F64),
        torch.tensor([[-0.4, 1.0], [2.0, 0.5]], dtype=F64),
    )
    both = torus.parallel_transport(s.repeat(2, 1), v.repeat(2, 1), torch.cat([w1, w2]))
    t1, t2 = both[:2], both[2:]
    end = torus.exp(s, v)
    g0, g1 = torus.metric(s), torus.metric(end)
    inner = lambda g, a, b: torch.einsum("ni,nij,nj->n", a, g, b)  # noqa: E731
    torch.testing.assert_close(inner(g1, t1, t2), inner(g0, w1, w2), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(inner(g1, t1, t1), inner(g0, w1, w1), rtol=1e-9, atol=1e-12)


def test_transport_along_the_equator_of_the_sphere_is_constant():
    sphere = gm.Sphere(1.0)
    s = torch.tensor([[math.pi / 2, 0.0]], dtype=F64)
    w = torch.tensor([[0.3, -0.7]], dtype=F64)
    moved = sphere.parallel_transport(s, torch.tensor([[0.0, 2.0]], dtype=F64), w)
    torch.testing.assert_close(moved, w, rtol=0, atol=1e-12)


def test_geodesic_trajectory_has_constant_speed():
    torus = gm.Torus(2.0, 1.0)
    path = torus.geodesic(torch.tensor([0.2, 0.3], dtype=F64), torch.tensor([1.0, 2.0], dtype=F64), times=33)
    assert path.shape == (33, 2)
    x = torus.point(path)
    seg = (x[1:] - x[:-1]).norm(dim=-1)
    assert (seg.max() / seg.min() - 1) < 1e-3


def test_exp_that_leaves_an_interval_chart_is_an_error():
    sphere = gm.Sphere(1.0)
    with pytest.raises(ValueError, match="leaves the chart"):
        sphere.exp([[0.3, 0.0]], [[-1.0, 0.0]])  # straight over the north pole
    with pytest.raises(ValueError, match=r"v must have shape \(\.\.\., 2\)"):
        sphere.exp([[1.0, 0.0]], [[1.0]])
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        sphere.exp([[1.0, 0.0]], [[0.1, 0.0]], steps=0)
