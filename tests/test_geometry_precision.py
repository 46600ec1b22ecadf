"""Honest precision near chart singularities: curvature is exact or an error, never silently off."""

import math
import warnings

import pytest
import torch

import geomanifold as gm
from geomanifold import SingularMetricError

F64 = torch.float64


@pytest.mark.parametrize("theta", [1e-5, 1e-6, 1e-7, 1e-8, 1e-9])
def test_curvature_near_the_pole_of_polar_coordinates_is_an_error(theta):
    # at θ = 1e-6 the Gauss-equation difference loses about 4 digits (K was 0.99989 with no error)
    sphere = gm.Sphere(1.0)
    s = torch.tensor([[theta, 0.3], [1.0, 0.3]], dtype=F64)
    for quantity in ("gaussian_curvature", "scalar_curvature", "riemann", "ricci"):
        with pytest.raises(SingularMetricError, match=r"s = \[1e-0\d, 0.3\]"):
            getattr(sphere, quantity)(s)


@pytest.mark.parametrize("theta", [1e-5, 1e-6])
def test_curvature_check_warn_returns_the_values_with_the_estimate(theta):
    sphere = gm.Sphere(1.0)
    sphere.curvature_check = "warn"
    s = torch.tensor([[theta, 0.3]], dtype=F64)
    with pytest.warns(RuntimeWarning, match=r"only accurate to about \d\.\de-0\d"):
        curvature = sphere.gaussian_curvature(s)
    estimate = sphere.local_geometry(s).curvature_error
    # the estimate bounds the error actually made (the closed form is K = 1)
    assert (curvature - 1).abs().item() <= estimate.item()
    assert estimate.item() > 1e-8


def test_the_estimate_bounds_the_error_and_is_tight_within_a_few_digits():
    sphere = gm.Sphere(1.0)
    sphere.curvature_check = "warn"
    theta = torch.logspace(-1, -5, 9, dtype=F64)
    s = torch.stack([theta, torch.full_like(theta, 0.3)], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        local = sphere.local_geometry(s)
        error = (local.scalar_curvature / 2 - 1).abs()
    estimate = local.curvature_error
    assert (error <= estimate).all()
    # not absurdly pessimistic: within 100x of the worst error over azimuths at θ = 1e-5
    s = torch.stack([torch.full((32,), 1e-5, dtype=F64), torch.linspace(0, 6, 32, dtype=F64)], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        worst = (sphere.gaussian_curvature(s) - 1).abs().max()
    assert worst * 100 > sphere.local_geometry(s).curvature_error.max()
    # it grows like eps / det g = eps / sin²θ
    torch.testing.assert_close(
        estimate * theta.sin() ** 2, estimate[0] * theta[0].sin() ** 2 + 0 * theta, rtol=0.05, atol=0
    )


def test_ordinary_points_pass_the_check():
    cases = [
        (gm.Sphere(1.0), torch.tensor([[1e-3, 0.2], [math.pi - 1e-3, 1.0], [1.0, 2.0]], dtype=F64)),
        (gm.Sphere(2.0, chart="stereographic"), torch.tensor([[30.0, -20.0], [0.0, 0.0]], dtype=F64)),
        (gm.Torus(2.0, 1.0), torch.tensor([[0.0, 0.0], [1.0, math.pi]], dtype=F64)),
        (gm.FlatTorus(), torch.tensor([[0.3, 0.4]], dtype=F64)),
    ]
    for manifold, s in cases:
        assert (manifold.local_geometry(s).curvature_error < 1e-8).all()
        manifold.scalar_curvature(s)  # no error


def test_curvature_check_must_be_raise_or_warn():
    sphere = gm.Sphere(1.0)
    sphere.curvature_check = "ignore"
    with pytest.raises(ValueError, match="curvature_check must be 'raise' or 'warn', got 'ignore'"):
        sphere.gaussian_curvature([1.0, 0.0])
