"""Embedded geometry against closed forms and independent computations (float64)."""

import math

import pytest
import torch

import geomanifold as gm
from geomanifold import EmbeddedManifold, LinearBasisManifold, SingularMetricError
from geomanifold.bases import BSpline, Fourier, Line, TensorProduct
from geomanifold.chart import Chart, Interval

TWO_PI = 2 * math.pi
RTOL = 1e-8
F64 = torch.float64


def rand(*shape, low=0.0, high=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)


def close(actual, expected, rtol=RTOL, atol=1e-12):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- contract
class Paraboloid(EmbeddedManifold):
    dim = 2

    def phi(self, s):
        return torch.cat([s, (s**2).sum(-1, keepdim=True)], dim=-1)


def test_user_subclass_needs_only_dim_and_phi():
    m = Paraboloid()
    assert m.chart == Chart.euclidean(2)
    s = torch.tensor([[0.0, 0.0], [0.3, -0.2]], dtype=torch.float64)
    # z = x² + y²: K = 4 / (1 + 4(x² + y²))²
    close(m.gaussian_curvature(s), 4 / (1 + 4 * (s**2).sum(-1)) ** 2)
    assert m.riemann(s).shape == (2, 2, 2, 2, 2)
    assert m.christoffel(s).shape == (2, 2, 2, 2)


# --------------------------------------------------------------------------- closed forms
def test_circle_and_ellipse():
    circle = gm.Circle(3.0)
    close(circle.volume(), TWO_PI * 3.0)
    t = rand(20, 1, high=TWO_PI)
    close(circle.curvature(t), torch.full((20,), 1 / 3.0, dtype=F64))
    close(circle.torsion(t), torch.zeros(20, dtype=F64), atol=1e-6)
    ellipse = gm.Ellipse(2.0, 1.0)
    a, b, x = 2.0, 1.0, t[..., 0]
    close(ellipse.curvature(t), a * b / (a**2 * torch.sin(x) ** 2 + b**2 * torch.cos(x) ** 2) ** 1.5)
    # ellipse perimeter = 4 a E(e²), complete elliptic integral of the second kind
    from scipy.special import ellipe

    close(ellipse.volume(), 4 * a * ellipe(1 - (b / a) ** 2))


def test_helix_curvature_and_torsion():
    r, c = 1.5, 0.7
    helix = gm.Helix(r, c, turns=2)
    t = rand(30, 1, high=4 * math.pi)
    close(helix.curvature(t), torch.full((30,), r / (r**2 + c**2), dtype=F64))
    close(helix.torsion(t), torch.full((30,), c / (r**2 + c**2), dtype=F64))
    close(helix.volume(), 4 * math.pi * math.sqrt(r**2 + c**2))


@pytest.mark.parametrize("radius", [0.5, 2.0])
def test_sphere_polar(radius):
    sphere = gm.Sphere(radius)
    s = torch.stack([rand(50, low=0.1, high=math.pi - 0.1), rand(50, high=TWO_PI, seed=1)], -1)
    g = sphere.metric(s)
    close(g[..., 0, 0], torch.full((50,), radius**2, dtype=F64))
    close(g[..., 1, 1], radius**2 * torch.sin(s[..., 0]) ** 2)
    close(g[..., 0, 1], torch.zeros(50, dtype=F64))
    close(sphere.volume_element(s), radius**2 * torch.sin(s[..., 0]))
    close(sphere.gaussian_curvature(s), torch.full((50,), radius**-2, dtype=F64))
    close(sphere.scalar_curvature(s), torch.full((50,), 2 * radius**-2, dtype=F64))
    close(sphere.volume(), 4 * math.pi * radius**2)
    # Christoffel symbols of the round metric: Γ^θ_φφ = −sinθ cosθ, Γ^φ_θφ = cot θ
    gamma = sphere.christoffel(s)
    th = s[..., 0]
    close(gamma[..., 0, 1, 1], -torch.sin(th) * torch.cos(th))
    close(gamma[..., 1, 0, 1], torch.cos(th) / torch.sin(th))
    close(gamma[..., 0, 0, 0], torch.zeros(50, dtype=F64))
    # mean curvature vector points to the centre with length 1/r
    x = sphere.point(s)
    close(sphere.mean_curvature_vector(s), -x / radius**2)


def test_sphere_stereographic_chart():
    radius = 2.0
    sphere = gm.Sphere(radius, chart="stereographic")
    s = rand(40, 2, low=-3, high=3)
    q = (s**2).sum(-1)
    g = sphere.metric(s)
    close(g, (4 * radius**2 / (1 + q) ** 2)[..., None, None] * torch.eye(2, dtype=torch.float64))
    close(sphere.gaussian_curvature(s), torch.full((40,), radius**-2, dtype=F64))


def test_torus_closed_forms():
    R, r = 2.0, 0.75
    torus = gm.Torus(R, r)
    s = rand(100, 2, high=TWO_PI)
    v = s[..., 1]
    g = torus.metric(s)
    close(g[..., 0, 0], (R + r * torch.cos(v)) ** 2)
    close(g[..., 1, 1], torch.full((100,), r**2, dtype=F64))
    close(g[..., 0, 1], torch.zeros(100, dtype=F64))
    close(torus.gaussian_curvature(s), torch.cos(v) / (r * (R + r * torch.cos(v))))
    close(torus.volume(), 4 * math.pi**2 * R * r)
    close(torus.riemann(s)[..., 0, 1, 0, 1], torus.gaussian_curvature(s) * torch.linalg.det(g))


def test_flat_torus_is_flat_but_extrinsically_curved():
    flat = gm.FlatTorus()
    s = rand(30, 2, high=TWO_PI)
    close(flat.gaussian_curvature(s), torch.zeros(30, dtype=F64), atol=1e-12)
    close(flat.metric(s), torch.eye(2, dtype=torch.float64).expand(30, 2, 2))
    close(flat.volume(), 4 * math.pi**2)
    ii = flat.second_fundamental_form(s)
    close(ii.norm(dim=-1)[..., 0, 0], torch.ones(30, dtype=F64))  # extrinsic curvature 1 in R⁴


def test_graph_monge_patch():
    def f(s):
        x, y = s[..., 0], s[..., 1]
        return torch.sin(x) * torch.cos(y) + 0.3 * x**2

    graph = gm.Graph(f)
    s = rand(50, 2, low=-2, high=2)
    x, y = s[..., 0], s[..., 1]
    fx, fy = torch.cos(x) * torch.cos(y) + 0.6 * x, -torch.sin(x) * torch.sin(y)
    fxx, fyy, fxy = (
        -torch.sin(x) * torch.cos(y) + 0.6,
        -torch.sin(x) * torch.cos(y),
        -torch.cos(x) * torch.sin(y),
    )
    close(graph.gaussian_curvature(s), (fxx * fyy - fxy**2) / (1 + fx**2 + fy**2) ** 2)
    close(graph.volume_element(s), torch.sqrt(1 + fx**2 + fy**2))


def test_second_fundamental_form_is_normal():
    torus = gm.Torus(2.0, 1.0)
    s = rand(10, 2, high=TWO_PI)
    ii = torus.second_fundamental_form(s)
    tangent = torus.tangent_basis(s)
    close(torch.einsum("nijd,ndk->nijk", ii, tangent), torch.zeros(10, 2, 2, 2, dtype=F64), atol=1e-12)


def test_sectional_curvature_of_a_surface_is_gaussian():
    torus = gm.Torus(2.0, 1.0)
    s = rand(10, 2, high=TWO_PI)
    u, w = rand(10, 2, low=-1, high=1, seed=2), rand(10, 2, low=-1, high=1, seed=3)
    close(torus.sectional_curvature(s, u, w), torus.gaussian_curvature(s))


# --------------------------------------------------------------------------- independent computations
def test_christoffel_against_finite_differences_of_the_metric():
    torus = gm.Torus(2.0, 0.8)
    graph = gm.Graph(lambda s: torch.exp(-(s**2).sum(-1)) * torch.sin(2 * s[..., 0]))
    for manifold in (torus, graph, gm.Sphere(1.3)):
        s = rand(8, 2, low=0.4, high=2.5)
        h = 1e-5
        eye = torch.eye(2, dtype=torch.float64)
        dg = torch.stack(
            [(manifold.metric(s + h * eye[i]) - manifold.metric(s - h * eye[i])) / (2 * h) for i in range(2)],
            dim=1,
        )  # [n, i, a, b] = ∂_i g_ab
        first = 0.5 * (dg.permute(0, 3, 1, 2) + dg.permute(0, 3, 2, 1) - dg)  # [n, l, i, j]
        expected = torch.einsum("nkl,nlij->nkij", manifold.metric_inverse(s), first)
        close(manifold.christoffel(s), expected, rtol=1e-7, atol=1e-8)


def _generic(manifold, s, order):
    """Geometry of a linear-basis manifold through the generic forward-mode path."""
    s = manifold.points(s)
    return gm.LocalGeometry(s, EmbeddedManifold.jet_gram(manifold, s, order), order)


@pytest.mark.parametrize(
    "basis",
    [
        TensorProduct(Fourier(1), Fourier(1)),
        TensorProduct(Fourier(1), BSpline.open(5, 3)),
        TensorProduct(Fourier(1), Line(), Fourier(2)),
    ],
    ids=["torus", "cylinder-spline", "3d"],
)
def test_linear_basis_fast_path_equals_generic_path(basis):
    manifold = LinearBasisManifold(basis, rand(basis.size, 40, low=-1, high=1))
    s = rand(16, basis.dim, low=0.05, high=0.95, seed=4)
    fast, generic = manifold.local_geometry(s, 2), _generic(manifold, s, 2)
    for name in ("metric", "christoffel", "riemann", "ricci", "scalar_curvature"):
        close(getattr(fast, name), getattr(generic, name), rtol=1e-10, atol=1e-10)
    close(manifold.volume_element(s), torch.linalg.det(generic.metric).sqrt(), rtol=1e-10)


def test_linear_basis_curve_fast_path_and_several_tensors():
    basis = BSpline.open(7, 3)
    tensors = [rand(7, 3, 4, low=-1, high=1), rand(7, 5, low=-1, high=1, seed=1)]
    manifold = LinearBasisManifold(basis, tensors)
    s = rand(12, 1, low=0.01, high=0.99)
    assert manifold.point(s).shape == (12, 17)
    generic = _generic(manifold, s, 3)
    close(manifold.curvature(s), generic.curvature, rtol=1e-10)
    close(manifold.torsion(s), generic.torsion, rtol=1e-9)
    q = sum(p.reshape(7, -1) @ p.reshape(7, -1).T for p in tensors)
    close(manifold.control_gram(), q, rtol=1e-14)


def test_control_gram_cache_follows_in_place_updates():
    p = torch.nn.Parameter(rand(3, 10))
    manifold = LinearBasisManifold(Fourier(1), p)
    with torch.no_grad():
        q0 = manifold.control_gram()
        p.mul_(2.0)
        close(manifold.control_gram(), 4 * q0, rtol=1e-14)


def test_linear_basis_circle_matches_classical_circle():
    # control points (0, (r, 0), (0, r)) trace a circle of radius r in the chart s ∈ [0, 1)
    r = 2.5
    manifold = LinearBasisManifold(
        Fourier(1), torch.tensor([[0.0, 0.0], [r, 0.0], [0.0, r]], dtype=torch.float64)
    )
    close(manifold.volume(), TWO_PI * r)
    close(manifold.curvature(rand(5, 1)), torch.full((5,), 1 / r, dtype=F64))


def test_pullback_is_geometry_of_the_composition():
    # a linear isometry of R³ leaves the geometry unchanged; a scaling by c scales K by 1/c²
    torus = gm.Torus(2.0, 1.0)
    q, _ = torch.linalg.qr(rand(3, 3, seed=5))
    s = rand(10, 2, high=TWO_PI)
    rotated = gm.PullbackManifold(torus, lambda x: x @ q.T)
    close(rotated.gaussian_curvature(s), torus.gaussian_curvature(s))
    scaled = gm.PullbackManifold(torus, lambda x: 3.0 * x)
    close(scaled.gaussian_curvature(s), torus.gaussian_curvature(s) / 9.0)
    close(scaled.volume(), 9.0 * torus.volume())


def test_float32_follows_inputs():
    torus = gm.Torus()
    s = rand(5, 2, high=TWO_PI).float()
    k = torus.gaussian_curvature(s)
    assert k.dtype == torch.float32
    close(k.double(), torus.gaussian_curvature(s.double()), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- bad input
def test_bad_points_get_one_line_errors():
    sphere = gm.Sphere(1.0)
    with pytest.raises(ValueError, match=r"s must have shape \(\.\.\., 2\)"):
        sphere.metric(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"outside the chart; valid: in \[0, 3.14159\]"):
        sphere.metric([[4.0, 0.0]])
    with pytest.raises(ValueError, match="NaN or Inf"):
        sphere.metric([[float("nan"), 0.0]])
    with pytest.raises(TypeError, match="s must be a tensor or array of numbers"):
        sphere.metric("north")


def test_periodic_coordinates_wrap():
    torus = gm.Torus()
    s = torch.tensor([[0.3, 1.0]], dtype=torch.float64)
    close(torus.point(s + TWO_PI * torch.tensor([3.0, -2.0], dtype=torch.float64)), torus.point(s))


def test_singular_metric_is_an_error_not_a_number():
    sphere = gm.Sphere(1.0)
    with pytest.raises(SingularMetricError, match=r"singular at s = \[0.0, 0.5\]"):
        sphere.gaussian_curvature([[0.0, 0.5]])
    close(sphere.volume_element([[0.0, 0.5]]), torch.zeros(1, dtype=F64))  # the volume element is fine


def test_control_points_and_points_must_agree_in_dtype_and_device():
    manifold = LinearBasisManifold(Fourier(1), torch.zeros(3, 4, dtype=torch.float32))
    with pytest.raises(TypeError, match=r"s has dtype torch.float64; expected torch.float32"):
        manifold.metric(torch.zeros(1, 1, dtype=torch.float64))
    on_meta = LinearBasisManifold(Fourier(1), torch.zeros(3, 4, dtype=torch.float64, device="meta"))
    with pytest.raises(ValueError, match="s is on cpu but the manifold's tensors are on meta"):
        on_meta.metric(torch.zeros(1, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"control_points\[0\] must have shape \(K=3, \.\.\.\)"):
        LinearBasisManifold(Fourier(1), torch.zeros(2, 4, dtype=F64))
    with pytest.raises(ValueError, match=r"control_points\[1\] is torch.float32"):
        LinearBasisManifold(
            Fourier(1), [torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float32)]
        )


def test_wrong_dimension_methods_and_arguments():
    with pytest.raises(ValueError, match="Gaussian curvature is defined for m = 2"):
        gm.Circle().gaussian_curvature([[0.1]])
    with pytest.raises(ValueError, match=r"curvature is defined for curves \(m = 1\)"):
        gm.Torus().curvature([[0.1, 0.2]])
    with pytest.raises(ValueError, match="Torus needs R > r"):
        gm.Torus(1.0, 2.0)
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        gm.Sphere(-1.0)
    with pytest.raises(ValueError, match="chart must be one of"):
        gm.Sphere(1.0, chart="mercator")
    with pytest.raises(ValueError, match="u and v must span a plane"):
        gm.Torus().sectional_curvature([[0.1, 0.2]], [[1.0, 0.0]], [[2.0, 0.0]])
    with pytest.raises(ValueError, match="needs a bounded chart"):
        gm.Sphere(1.0, chart="stereographic").volume()
    with pytest.raises(ValueError, match="Interval needs finite low < high"):
        Interval(1.0, 0.0)
