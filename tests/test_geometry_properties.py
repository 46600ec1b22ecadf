"""Property tests (hypothesis) run over every built-in manifold."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import geomanifold as gm
from geomanifold.bases import BSpline, Fourier, Line, TensorProduct
from geomanifold.chart import Interval, Periodic, RealLine

F64 = torch.float64


def _control_points(size, dim, seed):
    return torch.randn(size, dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


MANIFOLDS = {
    "circle": gm.Circle(1.5),
    "ellipse": gm.Ellipse(2.0, 0.5),
    "helix": gm.Helix(1.0, 0.4),
    "sphere": gm.Sphere(2.0),
    "sphere-stereographic": gm.Sphere(2.0, chart="stereographic"),
    "torus": gm.Torus(2.0, 0.7),
    "flat-torus": gm.FlatTorus(),
    "graph": gm.Graph(lambda s: torch.sin(s[..., 0]) * s[..., 1] + 0.2 * s[..., 1] ** 2),
    "linear-torus": gm.LinearBasisManifold(TensorProduct(Fourier(1), Fourier(1)), _control_points(9, 30, 0)),
    "linear-3d": gm.LinearBasisManifold(
        TensorProduct(Fourier(1), Line(), BSpline.open(4, 2)), _control_points(24, 40, 1)
    ),
}


def _coordinate(c, draw):
    """A coordinate value away from interval ends (the polar sphere is singular at θ = 0, π)."""
    if isinstance(c, Periodic):
        return draw(st.floats(c.low, c.low + c.period, exclude_max=True))
    if isinstance(c, Interval):
        pad = 0.1 * (c.high - c.low)
        return draw(st.floats(c.low + pad, c.high - pad))
    assert isinstance(c, RealLine)
    return draw(st.floats(-2.0, 2.0))


@st.composite
def points(draw, manifold, count=3):
    return torch.tensor(
        [[_coordinate(c, draw) for c in manifold.chart.coordinates] for _ in range(count)], dtype=F64
    )


PROPERTY_SETTINGS = settings(max_examples=15, deadline=None)


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_metric_is_spd_and_volume_element_positive(name):
    manifold = MANIFOLDS[name]

    @PROPERTY_SETTINGS
    @given(points(manifold))
    def check(s):
        g = manifold.metric(s)
        torch.testing.assert_close(g, g.transpose(-1, -2), rtol=0, atol=1e-12)
        assert (torch.linalg.eigvalsh(g) > 0).all()
        assert (manifold.volume_element(s) > 0).all()

    check()


@pytest.mark.parametrize("name", [n for n in sorted(MANIFOLDS) if any(MANIFOLDS[n].chart.periodic)])
def test_periodic_coordinates_give_the_same_point_one_period_apart(name):
    manifold = MANIFOLDS[name]
    shift = torch.tensor(
        [c.period if isinstance(c, Periodic) else 0.0 for c in manifold.chart.coordinates], dtype=F64
    )

    @PROPERTY_SETTINGS
    @given(points(manifold))
    def check(s):
        torch.testing.assert_close(manifold.phi(s + shift), manifold.phi(s), rtol=1e-12, atol=1e-12)

    check()


@pytest.mark.parametrize("name", [n for n in sorted(MANIFOLDS) if MANIFOLDS[n].dim >= 2])
def test_christoffel_and_riemann_symmetries(name):
    manifold = MANIFOLDS[name]

    @PROPERTY_SETTINGS
    @given(points(manifold))
    def check(s):
        local = manifold.local_geometry(s, 2)
        gamma, r = local.christoffel, local.riemann
        scale = 1 + r.abs().max().item()
        torch.testing.assert_close(
            gamma, gamma.transpose(-1, -2), rtol=0, atol=1e-10 * (1 + gamma.abs().max().item())
        )
        tol = dict(rtol=0, atol=1e-10 * scale)
        torch.testing.assert_close(r, -r.transpose(-4, -3), **tol)  # R_ijkl = −R_jikl
        torch.testing.assert_close(r, -r.transpose(-2, -1), **tol)  # R_ijkl = −R_ijlk
        torch.testing.assert_close(r, r.permute(0, 3, 4, 1, 2), **tol)  # R_ijkl = R_klij
        bianchi = r + torch.einsum("niklj->nijkl", r) + torch.einsum("niljk->nijkl", r)
        torch.testing.assert_close(bianchi, torch.zeros_like(r), **tol)  # first Bianchi identity
        torch.testing.assert_close(local.ricci, local.ricci.transpose(-1, -2), **tol)

    check()


def test_curvature_is_unchanged_under_a_change_of_chart():
    polar, stereo = gm.Sphere(1.7), gm.Sphere(1.7, chart="stereographic")

    @PROPERTY_SETTINGS
    @given(points(polar))
    def check(s):
        theta, azimuth = s[..., 0], s[..., 1]
        rho = torch.sin(theta) / (1 - torch.cos(theta))  # stereographic projection from the north pole
        xy = torch.stack([rho * torch.cos(azimuth), rho * torch.sin(azimuth)], -1)
        torch.testing.assert_close(stereo.point(xy), polar.point(s), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(stereo.scalar_curvature(xy), polar.scalar_curvature(s), rtol=1e-9, atol=0)
        torch.testing.assert_close(
            stereo.gaussian_curvature(xy), polar.gaussian_curvature(s), rtol=1e-9, atol=0
        )

    check()


class Reparameterised(gm.EmbeddedManifold):
    """``phi ∘ psi`` with the diffeomorphism ``psi(t) = t + 0.1 sin(2π t)`` of each unit coordinate."""

    def __init__(self, manifold):
        self.dim = manifold.dim
        super().__init__(manifold.chart)
        self.base = manifold

    @staticmethod
    def psi(t):
        return t + 0.1 * torch.sin(2 * math.pi * t)

    def phi(self, t):
        return self.base.phi(self.psi(t))


@pytest.mark.parametrize("name", ["linear-torus", "linear-3d"])
def test_curvature_is_invariant_under_a_nonlinear_reparameterisation(name):
    manifold = MANIFOLDS[name]
    other = Reparameterised(manifold)

    @PROPERTY_SETTINGS
    @given(points(manifold))
    def check(t):
        s = other.psi(t)
        torch.testing.assert_close(
            other.scalar_curvature(t), manifold.scalar_curvature(s), rtol=1e-8, atol=1e-10
        )

    check()


def test_curve_length_is_independent_of_speed():
    # κ of the circle of radius r is 1/r everywhere, whatever the chart speed
    circle = gm.LinearBasisManifold(Fourier(1), torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], dtype=F64))

    @PROPERTY_SETTINGS
    @given(st.floats(0.0, 1.0, exclude_max=True))
    def check(t):
        torch.testing.assert_close(
            circle.curvature([[t]]), torch.tensor([0.5], dtype=F64), rtol=1e-10, atol=0
        )

    check()
    assert math.isclose(circle.volume().item(), 4 * math.pi, rel_tol=1e-12)
