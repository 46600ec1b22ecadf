"""Exponential map, certified logarithm, distances and parallel transport against closed forms."""

import math

import pytest
import torch

import geomanifold as gm
from geomanifold.bases import Fourier, TensorProduct
from geomanifold.chart import Chart, Interval, Periodic
from geomanifold.geometry import geodesics
from geomanifold.geometry.geodesics import GeodesicError
from geomanifold.geometry.local import solve_metric

F64 = torch.float64
TWO_PI = 2 * math.pi


def great_circle(sphere, s0, s1):
    x0, x1 = sphere.point(s0) / sphere.radius, sphere.point(s1) / sphere.radius
    return sphere.radius * torch.arccos((x0 * x1).sum(-1).clamp(-1, 1))


def wrapped_euclidean(s0, s1):
    d = torch.remainder(s1 - s0 + math.pi, TWO_PI) - math.pi
    return d.norm(dim=-1)


def uniform(n, low, high, seed):
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, generator=g, dtype=F64)


# --------------------------------------------------------------------------- silent wrong answers
def test_sphere_distance_is_great_circle_distance_and_log_inverts_exp():
    sphere = gm.Sphere(2.0)
    s0 = torch.stack([uniform(4, 1.0, 2.1, 0), uniform(4, 0, TWO_PI, 1)], -1)
    s1 = s0 + torch.stack([uniform(4, -0.5, 0.5, 2), uniform(4, -2, 2, 3)], -1)
    result = sphere.shortest_geodesics(s0, s1)
    assert result.converged.all() and (result.residual <= 1e-10).all()
    torch.testing.assert_close(result.length, great_circle(sphere, s0, s1), rtol=1e-10, atol=0)
    v = 0.5 * (torch.rand(4, 2, generator=torch.Generator().manual_seed(4), dtype=F64) - 0.5)
    torch.testing.assert_close(sphere.log(s0, sphere.exp(s0, v)), v, rtol=1e-9, atol=1e-11)


def test_a_pair_that_did_not_converge_is_flagged_not_returned_short():
    # two Newton iterations cannot reach the residual tolerance on this long arc: the answer must
    # be "not converged", never a distance (the old solver returned one shorter than the minimum)
    sphere = gm.Sphere(2.0)
    s0 = torch.tensor([[1.2, 0.3], [1.5, 0.0]], dtype=F64)
    s1 = torch.tensor([[2.0, 2.9], [1.5, 0.0]], dtype=F64)
    result = sphere.shortest_geodesics(s0, s1, max_iter=2)
    assert result.converged.tolist() == [False, True]
    assert torch.isnan(result.length[0]) and torch.isnan(result.velocity[0]).all()
    assert result.length[1] == 0 and "did not reach the endpoint residual" in result.reasons[0]
    with pytest.raises(GeodesicError, match=r"distance: no shortest geodesic certified from s0 = \[1.2, 0.3"):
        result.raise_if_failed("distance")


def test_stereographic_chart_never_returns_the_long_arc():
    # (±1.5, 0) lie on a great circle through both poles; the short arc crosses the north pole,
    # which this chart misses, and the straight chart line is the long arc (a geodesic past its
    # conjugate point). The second pair is ordinary and must come back certified in the same batch.
    sphere = gm.Sphere(1.0, chart="stereographic")
    s0 = torch.tensor([[1.5, 0.0], [0.3, 0.2]], dtype=F64)
    s1 = torch.tensor([[-1.5, 0.0], [-0.4, 0.1]], dtype=F64)
    result = sphere.shortest_geodesics(s0, s1, tol=1e-6)  # the long arc is refused at any tol
    assert result.converged.tolist() == [False, True]
    assert "use another chart" in result.reasons[0]
    torch.testing.assert_close(result.length[1], great_circle(sphere, s0[1], s1[1]), rtol=1e-6, atol=0)
    with pytest.raises(
        GeodesicError, match=r"log: .*s0 = \[1.5, 0.0\] to s1 = \[-1.5, 0.0\] \(pair \(0,\)\)"
    ):
        result.raise_if_failed("log")


def test_polar_pair_whose_shortest_arc_crosses_the_pole_is_an_error():
    # both arcs of the great circle through these points cross a pole, where the chart ends: the
    # pair must come back uncertified with a reason, never with the length of some other curve
    sphere = gm.Sphere(1.0)
    result = sphere.shortest_geodesics([0.3, 0.0], [0.3, math.pi], tol=1e-8, max_iter=2)
    assert not result.converged and torch.isnan(result.length)
    assert "use another chart" in result.reasons[0]
    with pytest.raises(GeodesicError, match=r"distance: .*s1 = \[0.3, 3.14159.*use another chart"):
        result.raise_if_failed("distance")


# --------------------------------------------------------------------------- closed forms
def test_flat_torus_distances_are_wrapped_euclidean_and_pairwise_is_symmetric():
    flat = gm.FlatTorus()
    s0 = torch.stack([uniform(40, 0, TWO_PI, 5), uniform(40, 0, TWO_PI, 6)], -1)
    s1 = torch.stack([uniform(40, 0, TWO_PI, 7), uniform(40, 0, TWO_PI, 8)], -1)
    torch.testing.assert_close(flat.distance(s0, s1), wrapped_euclidean(s0, s1), rtol=1e-12, atol=0)
    points = s0[:6]
    matrix = flat.pairwise_distance(points)
    expected = wrapped_euclidean(points[:, None], points[None])
    torch.testing.assert_close(matrix, expected, rtol=1e-12, atol=1e-15)
    assert (matrix == matrix.T).all() and (matrix.diagonal() == 0).all()


def test_torus_log_takes_the_short_way_across_the_wrap():
    torus = gm.Torus(2.0, 1.0)
    # along the outer equator v = 0 (a geodesic): from u = 0.1 to u = 2π − 0.1 is 0.2 the other way
    v = torch.tensor([[0.1, 0.0]], dtype=F64), torch.tensor([[TWO_PI - 0.1, 0.0]], dtype=F64)
    torch.testing.assert_close(torus.log(*v), torch.tensor([[-0.2, 0.0]], dtype=F64), rtol=0, atol=1e-10)
    torch.testing.assert_close(torus.distance(*v), torch.tensor([0.2 * 3.0], dtype=F64), rtol=1e-10, atol=0)


def test_exp_along_a_meridian_of_the_torus():
    # meridians u = const are geodesics: s(t) = (u, v + t w)
    torus = gm.Torus(2.0, 1.0)
    s = torch.tensor([[0.4, 0.2]], dtype=F64)
    end = torus.exp(s, torch.tensor([[0.0, 7.0]], dtype=F64))
    torch.testing.assert_close(end, torch.tensor([[0.4, 7.2 - TWO_PI]], dtype=F64), rtol=0, atol=1e-11)


def test_sphere_exp_is_a_rotation_along_the_great_circle():
    # from the equator along the direction (a, b): the closed form great circle in R³
    sphere = gm.Sphere(1.0)
    s, v = torch.tensor([math.pi / 2, 0.0], dtype=F64), torch.tensor([0.6, 0.8], dtype=F64)
    angle = 1.0  # |v|_g on the equator (g = I there)
    x0, direction = sphere.point(s), torch.tensor([0.0, 0.8, -0.6], dtype=F64)
    expected = math.cos(angle) * x0 + math.sin(angle) * direction
    torch.testing.assert_close(sphere.point(sphere.exp(s, v)), expected, rtol=0, atol=1e-12)


def test_linear_basis_acceleration_matches_the_generic_jets():
    basis = TensorProduct(Fourier(1), Fourier(1))
    control = torch.randn(basis.size, 7, generator=torch.Generator().manual_seed(0), dtype=F64)
    fast = gm.LinearBasisManifold(basis, control)

    class PhiOnly(gm.EmbeddedManifold):
        dim = 2

        def phi(self, s):
            return fast.phi(s)

    s, v = torch.rand(5, 2, dtype=F64), torch.randn(5, 2, dtype=F64)
    torch.testing.assert_close(
        fast.geodesic_acceleration(s, v), PhiOnly().geodesic_acceleration(s, v), rtol=1e-10, atol=1e-12
    )
    christoffel = fast.christoffel(s)
    torch.testing.assert_close(
        fast.geodesic_acceleration(s, v),
        -torch.einsum("nkij,ni,nj->nk", christoffel, v, v),
        rtol=1e-10,
        atol=1e-12,
    )
    # the chords of the discrete path energy (the shooting's initial guess), from the cached Gram
    path = torch.rand(6, 3, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    chords = PhiOnly().squared_chords(path)
    assert chords.shape == (5, 3)
    torch.testing.assert_close(fast.squared_chords(path), chords, rtol=1e-12, atol=1e-14)


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
    torch.testing.assert_close(inner(g1, t1, t2), inner(g0, w1, w2), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(inner(g1, t1, t1), inner(g0, w1, w1), rtol=1e-10, atol=1e-12)


def test_transport_along_the_equator_of_the_sphere_is_constant():
    sphere = gm.Sphere(1.0)
    s = torch.tensor([[math.pi / 2, 0.0]], dtype=F64)
    w = torch.tensor([[0.3, -0.7]], dtype=F64)
    moved = sphere.parallel_transport(s, torch.tensor([[0.0, 2.0]], dtype=F64), w)
    torch.testing.assert_close(moved, w, rtol=0, atol=1e-12)


def test_geodesic_trajectory_has_constant_speed_and_ends_at_exp():
    torus = gm.Torus(2.0, 1.0)
    s, v = torch.tensor([0.2, 0.3], dtype=F64), torch.tensor([1.0, 2.0], dtype=F64)
    path = torus.geodesic(s, v, times=33)
    assert path.shape == (33, 2)
    chord, middle = path.diff(dim=0), (path[1:] + path[:-1]) / 2
    speed = torch.einsum("ti,tij,tj->t", chord, torus.metric(middle), chord).sqrt()  # second order in 1/32
    assert (speed.max() / speed.min() - 1) < 1e-3
    torch.testing.assert_close(torus.chart.wrap(path[-1]), torus.exp(s, v), rtol=0, atol=1e-12)


def test_result_shapes_follow_the_batch():
    flat = gm.FlatTorus()
    s0, s1 = torch.zeros(2, 3, 2, dtype=F64), torch.full((2, 3, 2), 0.5, dtype=F64)
    result = flat.shortest_geodesics(s0, s1)
    assert result.velocity.shape == (2, 3, 2) and result.length.shape == (2, 3)
    assert result.converged.shape == (2, 3) and result.residual.shape == (2, 3) and result.candidates == 4


# --------------------------------------------------------------------------- bad input
def test_exp_that_leaves_an_interval_chart_is_an_error():
    sphere = gm.Sphere(1.0)
    with pytest.raises(GeodesicError, match="leaves the chart"):
        sphere.exp([[0.3, 0.0]], [[-1.0, 0.0]])  # straight over the north pole
    with pytest.raises(ValueError, match=r"v must have shape \(\.\.\., 2\)"):
        sphere.exp([[1.0, 0.0]], [[1.0]])


@pytest.mark.parametrize("tol", [0, -1e-3, 1.5, float("nan"), "1e-8"])
def test_tolerance_must_be_in_the_unit_interval(tol):
    flat = gm.FlatTorus()
    with pytest.raises(ValueError, match="tol must be a number in"):
        flat.distance([0.0, 0.0], [1.0, 1.0], tol=tol)
    with pytest.raises(ValueError, match="tol must be a number in"):
        flat.exp([0.0, 0.0], [1.0, 1.0], tol=tol)


def test_pairs_of_different_shapes_or_dtypes():
    flat = gm.FlatTorus()
    with pytest.raises(ValueError, match=r"s0 has shape \(3, 2\) and s1 has shape \(2, 2\)"):
        flat.log(torch.zeros(3, 2, dtype=F64), torch.ones(2, 2, dtype=F64))
    with pytest.raises(TypeError, match=r"s1 has dtype torch\.float32 but s0 has torch\.float64"):
        flat.distance(torch.zeros(2, dtype=F64), torch.ones(2, dtype=torch.float32))


def test_points_outside_the_chart_and_nan():
    sphere = gm.Sphere(1.0)
    with pytest.raises(
        ValueError, match=r"s1\[\.\.\., 0\] = 3.5 is outside the chart; valid: in \[0, 3.14159\]"
    ):
        sphere.log([1.0, 0.0], [3.5, 0.0])
    with pytest.raises(ValueError, match="s0 contains NaN or Inf"):
        sphere.distance([float("nan"), 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"s must have shape \(N, 2\)"):
        sphere.pairwise_distance(torch.ones(2, 2, 2, dtype=F64))


def test_max_iter_and_times_must_be_positive_integers():
    flat = gm.FlatTorus()
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        flat.shortest_geodesics([0.0, 0.0], [1.0, 1.0], max_iter=0)
    with pytest.raises(ValueError, match="times must be an integer >= 2"):
        flat.geodesic([0.0, 0.0], [1.0, 1.0], times=1)


def test_candidates_are_starting_guesses_compared_modulo_the_period():
    # shooting towards the other wrap of s1 from the short geodesic's velocity: the end is s1 itself,
    # a solution (φ and φ + 2π are one point), so the row converges at once to the short geodesic
    sphere = gm.Sphere(1.0)
    s0, s1 = torch.tensor([[0.9, 0.2]], dtype=F64), torch.tensor([[1.7, 1.1]], dtype=F64)
    v = sphere.log(s0, s1)
    g0, g1 = geodesics._metric(sphere, s0), geodesics._metric(sphere, s1)
    bound = geodesics.chart_line_length(sphere, s0, s1 - s0)
    shots = geodesics._shoot(
        sphere, s0, s1 + torch.tensor([0.0, TWO_PI], dtype=F64), v.clone(), g0, g1, bound, 1, 1e-10, 30
    )
    assert shots.converged.all() and (shots.residual <= 1e-10).all()
    torch.testing.assert_close(shots.velocity, v, rtol=1e-9, atol=1e-12)


def test_random_polar_pairs_are_great_circles():
    # the benchmark's batch in small: θ in [0.3, π − 0.3], some arcs pass near a pole, some
    # pairs are nearly antipodal; all are certified, with the great circle's length
    sphere = gm.Sphere(1.0)
    s0 = torch.stack([uniform(40, 0.3, math.pi - 0.3, 10), uniform(40, 0, TWO_PI, 11)], -1)
    s1 = torch.stack([uniform(40, 0.3, math.pi - 0.3, 12), uniform(40, 0, TWO_PI, 13)], -1)
    result = sphere.shortest_geodesics(s0, s1)
    assert result.converged.all() and not result.reasons and (result.residual <= 1e-10).all()
    torch.testing.assert_close(result.length, great_circle(sphere, s0, s1), rtol=1e-10, atol=0)


class FlatTorus3(gm.EmbeddedManifold):
    """The flat 3-torus ``(cos a, sin a, cos b, sin b, cos c, sin c)`` in R⁶ (m = 3)."""

    dim = 3

    def __init__(self):
        super().__init__(Chart([Periodic(TWO_PI)] * 3))

    def phi(self, s):
        return torch.cat([torch.cos(s), torch.sin(s)], dim=-1)


class ThreeSphere(gm.EmbeddedManifold):
    """The unit sphere S³ in R⁴ in hyperspherical coordinates ``(ψ, θ, φ)`` (m = 3)."""

    dim = 3

    def __init__(self):
        super().__init__(Chart([Interval(0, math.pi), Interval(0, math.pi), Periodic(TWO_PI)]))

    def phi(self, s):
        psi, theta, phi = s[..., 0], s[..., 1], s[..., 2]
        return torch.stack(
            [
                torch.cos(psi),
                torch.sin(psi) * torch.cos(theta),
                torch.sin(psi) * torch.sin(theta) * torch.cos(phi),
                torch.sin(psi) * torch.sin(theta) * torch.sin(phi),
            ],
            -1,
        )


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_metric_solve_matches_a_dense_solve_and_is_nan_where_singular(m):
    # m <= 3 solves by cofactors, m = 4 by LAPACK: both against torch.linalg.solve
    a = torch.randn(20, m, m, generator=torch.Generator().manual_seed(m), dtype=F64)
    g = a @ a.mT + 0.1 * torch.eye(m, dtype=F64)
    g[0] = torch.outer(a[0, 0], a[0, 0])  # rank one: singular for m > 1
    g[0, 0, 0] = 0 if m == 1 else g[0, 0, 0]
    b = torch.randn(20, m, generator=torch.Generator().manual_seed(10 + m), dtype=F64)
    solved = solve_metric(g, b)
    assert torch.isnan(solved[0]).all()
    torch.testing.assert_close(solved[1:], torch.linalg.solve(g[1:], b[1:]), rtol=1e-12, atol=1e-12)


def test_three_dimensional_charts_flat_and_curved():
    flat = FlatTorus3()
    s0 = torch.stack([uniform(6, 0, TWO_PI, 20 + i) for i in range(3)], -1)
    s1 = torch.stack([uniform(6, 0, TWO_PI, 30 + i) for i in range(3)], -1)
    torch.testing.assert_close(flat.distance(s0, s1), wrapped_euclidean(s0, s1), rtol=1e-12, atol=0)
    sphere = ThreeSphere()
    s0 = torch.stack([uniform(6, 0.6, 2.5, 40), uniform(6, 0.6, 2.5, 41), uniform(6, 0, TWO_PI, 42)], -1)
    s1 = s0 + torch.stack([uniform(6, -0.4, 0.4, 43 + i) for i in range(3)], -1)
    x0, x1 = sphere.point(s0), sphere.point(s1)
    great = torch.arccos((x0 * x1).sum(-1).clamp(-1, 1))
    torch.testing.assert_close(sphere.distance(s0, s1), great, rtol=1e-10, atol=0)
