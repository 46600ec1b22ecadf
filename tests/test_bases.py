"""Tests for geomanifold.bases: values, derivatives, Gram matrices, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.interpolate import BSpline as ScipyBSpline
from scipy.interpolate import PPoly

from geomanifold.bases import (
    Basis,
    Bernstein,
    BSpline,
    Fourier,
    FunctionBasis,
    Line,
    Monomial,
    SingularGramError,
    Sum,
    TensorProduct,
)
from geomanifold.chart import Chart, Interval, Periodic
from geomanifold.jets import counts, jet, multi_indices

F64 = torch.float64


def _exp_sin(s: torch.Tensor) -> torch.Tensor:
    """A 2-D user basis ``(1, x, y, exp(x) sin(y), x y²)``."""
    x, y = s[..., 0], s[..., 1]
    return torch.stack([torch.ones_like(x), x, y, torch.exp(x) * torch.sin(y), x * y**2], dim=-1)


def _all_bases() -> dict[str, Basis]:
    return {
        "line": Line(),
        "bernstein4": Bernstein(4),
        "monomial3": Monomial(3),
        "fourier1": Fourier(1),
        "fourier3_no_constant": Fourier(3, include_constant=False),
        "open_degree0": BSpline.open(4, 0),
        "open_degree3": BSpline.open(7, 3),
        "open_degree5": BSpline.open(9, 5),
        "periodic_degree1": BSpline.periodic(4, 1),
        "periodic_degree3": BSpline.periodic(6, 3),
        "repeated_knots": BSpline([0, 0, 0, 0.3, 0.3, 0.7, 1, 1, 1], 2),
        "shifted_interval": BSpline([-1, -1, 0.5, 2, 2], 1),
        "torus_tensor": TensorProduct(Fourier(1), Fourier(1)),
        "torus_additive": Sum(Fourier(1), Fourier(1, include_constant=False)),
        "spline_x_line": TensorProduct(BSpline.open(5, 2), Line()),
        "line_x_torus": TensorProduct(Line(), Sum(Fourier(1), Fourier(2, include_constant=False))),
        "line_plus_periodic": Sum(Line(), Fourier(1, False), Fourier(2, False)),
        "function": FunctionBasis(_exp_sin, dim=2, size=5),
    }


BASES = _all_bases()
NAMES = sorted(BASES)


def _sample(chart: Chart, n: int, generator: torch.Generator, dtype=F64) -> torch.Tensor:
    """``n`` points of ``chart`` at least 1/600 away from every multiple of 1/60 (all the knots
    used here), periodic coordinates spread over several periods."""
    cells = torch.randint(0, 60, (n, chart.dim), generator=generator)
    offsets = 0.1 + 0.8 * torch.rand(n, chart.dim, generator=generator, dtype=F64)
    unit = (cells + offsets) / 60
    columns = []
    for i, c in enumerate(chart.coordinates):
        if isinstance(c, Periodic):
            shifts = torch.randint(-2, 3, (n,), generator=generator)
            columns.append(c.low + c.period * (unit[:, i] + shifts))
        else:
            columns.append(c.low + (c.high - c.low) * unit[:, i])
    return torch.stack(columns, dim=-1).to(dtype)


def _scale(x: torch.Tensor) -> float:
    return 1.0 + x.abs().max().item()


# ---------------------------------------------------------------- B-splines against scipy


def _scipy_basis(basis: BSpline, x: np.ndarray, derivative: int = 0) -> np.ndarray:
    """Folded basis values (or derivatives) from scipy.interpolate.BSpline, ``(N, K)``."""
    t, p, periodic = basis.knots.numpy(), basis.degree, basis.chart.periodic[0]
    raw = len(t) - p - 1
    repeated_knots = (np.diff(t[p : raw + 1]) == 0).any()
    columns = []
    for k in range(basis.size):
        c = np.zeros(raw)
        c[k] = 1.0
        if periodic and k < p:
            c[k + basis.size] = 1.0
        spline = ScipyBSpline(t, c, p, extrapolate="periodic" if periodic else True)
        if repeated_knots:  # scipy's .derivative() refuses repeated interior knots
            spline = PPoly.from_spline(spline)
        columns.append(spline.derivative(derivative)(x) if derivative else spline(x))
    return np.stack(columns, axis=-1)


SCIPY_CASES = [
    *[("open", d) for d in range(6)],
    *[("periodic", d) for d in range(6)],
    ("repeated", 2),
    ("repeated", 3),
]


def _scipy_case(kind: str, degree: int) -> BSpline:
    if kind == "open":
        return BSpline.open(degree + 4, degree)
    if kind == "periodic":
        return BSpline.periodic(degree + 3, degree)
    interior = [0.2, 0.2, 0.5, 0.5, 0.5, 0.9][: 2 * degree]
    return BSpline([0.0] * (degree + 1) + interior + [1.0] * (degree + 1), degree)


@pytest.mark.parametrize(("kind", "degree"), SCIPY_CASES)
def test_bspline_matches_scipy(kind, degree):
    basis = _scipy_case(kind, degree)
    low = -1.0 if kind == "periodic" else 0.0
    high = 2.0 if kind == "periodic" else 1.0
    x = np.concatenate([np.linspace(low, high, 301), basis.knots.numpy().clip(0, 1), [0.0, 1.0]])
    s = torch.as_tensor(x)[:, None]
    values = basis(s)
    assert values.shape == (len(x), basis.size)
    np.testing.assert_allclose(values.numpy(), _scipy_basis(basis, x), rtol=0, atol=1e-13)
    for r in range(1, 4):
        ours = basis.partial(s, (r,)).numpy()
        if r > degree:
            assert not ours.any()
            continue
        ref = _scipy_basis(basis, x, r)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * (1 + np.abs(ref).max()))


@pytest.mark.parametrize("degree", range(6))
def test_partition_of_unity(degree):
    s = torch.cat([torch.linspace(0, 1, 201, dtype=F64), torch.tensor([1.0], dtype=F64)])[:, None]
    for basis in (
        BSpline.open(degree + 5, degree),
        BSpline.periodic(degree + 2, degree),
        Bernstein(degree),
    ):
        torch.testing.assert_close(
            basis(s).sum(-1), torch.ones(len(s), dtype=F64), rtol=0, atol=1e-14
        )
        for r in range(1, 3):
            derivative = basis.partial(s, (r,))
            assert derivative.sum(-1).abs().max() < 1e-10 * _scale(derivative)
        assert (basis(s) >= -1e-15).all()


def test_right_end_is_included():
    for basis in (BSpline.open(6, 3), BSpline.open(3, 0), Bernstein(3), Line()):
        last = basis(torch.tensor([[1.0]], dtype=F64))[0]
        torch.testing.assert_close(last, torch.eye(basis.size, dtype=F64)[-1], rtol=0, atol=0)


def test_bernstein_closed_form_and_line():
    n = 5
    s = torch.linspace(0, 1, 41, dtype=F64)
    expected = torch.stack([math.comb(n, k) * s**k * (1 - s) ** (n - k) for k in range(n + 1)], -1)
    torch.testing.assert_close(Bernstein(n)(s[:, None]), expected, rtol=0, atol=1e-14)
    torch.testing.assert_close(Line()(s[:, None]), torch.stack([1 - s, s], -1), rtol=0, atol=1e-15)


# ---------------------------------------------------------------- derivatives of every basis


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_finite_differences(name):
    basis = BASES[name]
    s = _sample(basis.chart, 16, torch.Generator().manual_seed(0))
    h = 1e-6
    for alpha in multi_indices(basis.dim, 3)[1:]:
        order = counts(alpha, basis.dim)
        i = alpha[-1]
        lower = counts(alpha[:-1], basis.dim)
        step = h * torch.eye(basis.dim, dtype=F64)[i]
        fd = (basis.partial(s + step, lower) - basis.partial(s - step, lower)) / (2 * h)
        exact = basis.partial(s, order)
        assert exact.shape == (16, basis.size)
        assert (fd - exact).abs().max() < 1e-7 * _scale(exact), alpha


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_forward_mode_autodiff(name):
    basis = BASES[name]
    s = _sample(basis.chart, 8, torch.Generator().manual_seed(1))
    values = basis.jet(s, 3)
    reference = jet(lambda x: basis.partial(x, (0,) * basis.dim), s, 3)
    assert values.shape == (8, len(multi_indices(basis.dim, 3)), basis.size)
    assert (values - reference).abs().max() < 1e-10 * _scale(reference)


def test_control_point_curve_is_forward_differentiable():
    """``basis(s) @ P`` takes jvps with respect to ``s`` (used by the geometry code)."""
    basis = BSpline.open(8, 3)
    control = torch.randn(basis.size, 4, dtype=F64, generator=torch.Generator().manual_seed(2))
    s = torch.tensor([[0.2], [0.55], [1.0]], dtype=F64)
    _, tangent = torch.func.jvp(lambda x: basis(x) @ control, (s,), (torch.ones_like(s),))
    torch.testing.assert_close(tangent, basis.partial(s, (1,)) @ control, rtol=1e-12, atol=1e-12)


def test_sum_cross_derivatives_vanish_and_tensor_order_is_kron():
    s = torch.tensor([[0.3, 0.8]], dtype=F64)
    additive = BASES["torus_additive"]
    assert not additive.partial(s, (1, 1)).any()
    torch.testing.assert_close(
        additive.partial(s, (0, 2)),
        torch.cat([torch.zeros(1, 3, dtype=F64), Fourier(1, False).partial(s[:, 1:], (2,))], -1),
    )
    line, fourier = Line(), Fourier(1)
    product = TensorProduct(line, fourier)
    expected = torch.kron(line(s[:, :1])[0], fourier(s[:, 1:])[0])
    torch.testing.assert_close(product(s)[0], expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_batched_and_float32(name):
    basis = BASES[name]
    s = _sample(basis.chart, 12, torch.Generator().manual_seed(3)).reshape(2, 3, 2, basis.dim)
    values = basis.jet(s, 2)
    assert values.shape == (2, 3, 2, len(multi_indices(basis.dim, 2)), basis.size)
    torch.testing.assert_close(values[1, 2], basis.jet(s[1, 2], 2), rtol=0, atol=0)
    single = basis.jet(s.float(), 2)
    assert single.dtype == torch.float32
    assert (single.double() - values).abs().max() < 1e-4 * _scale(values)


@pytest.mark.parametrize(
    "name",
    [
        "fourier1",
        "periodic_degree1",
        "periodic_degree3",
        "torus_tensor",
        "torus_additive",
        "line_x_torus",
    ],
)
def test_periodic_bases_repeat(name):
    basis = BASES[name]
    s = _sample(basis.chart, 20, torch.Generator().manual_seed(4))
    shift = torch.tensor([float(p) for p in basis.chart.periodic], dtype=F64)
    for k in (1, -3):
        torch.testing.assert_close(
            basis.jet(s + k * shift, 3), basis.jet(s, 3), rtol=1e-11, atol=1e-9
        )


# ---------------------------------------------------------------- Gram matrices

CLOSED_FORMS = {
    "line": Line(),
    "monomial5": Monomial(5),
    **{f"bernstein{d}": Bernstein(d) for d in range(7)},
    **{f"fourier{n}": Fourier(n) for n in range(5)},
    "fourier2_no_constant": Fourier(2, include_constant=False),
    "torus_tensor": BASES["torus_tensor"],
    "torus_additive": BASES["torus_additive"],
    "line_x_bernstein": TensorProduct(Line(), Bernstein(2)),
    "line_plus_monomial": Sum(Line(), Monomial(2)),
    "line_plus_periodic": BASES["line_plus_periodic"],
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_form_gram_matches_quadrature(name):
    basis = CLOSED_FORMS[name]
    torch.testing.assert_close(basis.gram(), Basis.gram(basis), rtol=0, atol=1e-12)
    torch.testing.assert_close(basis.mean(), Basis.mean(basis), rtol=0, atol=1e-12)


def _diag(*entries: float) -> torch.Tensor:
    return torch.diag(torch.tensor(entries, dtype=F64))


def test_design_table_grams():
    third, sixth = 1 / 3, 1 / 6
    exact = {
        "line": (
            Line(),
            torch.tensor([[third, sixth], [sixth, third]], dtype=F64),
            torch.tensor([[4.0, -2.0], [-2.0, 4.0]], dtype=F64),
        ),
        "circle": (Fourier(1), _diag(1, 0.5, 0.5), _diag(1, 2, 2)),
        "fourier3": (Fourier(3), _diag(1, *[0.5] * 6), _diag(1, *[2] * 6)),
        "torus_tensor": (
            BASES["torus_tensor"],
            torch.kron(_diag(1, 0.5, 0.5), _diag(1, 0.5, 0.5)),
            torch.kron(_diag(1, 2, 2), _diag(1, 2, 2)),
        ),
        "torus_additive": (
            BASES["torus_additive"],
            _diag(1, 0.5, 0.5, 0.5, 0.5),
            _diag(1, 2, 2, 2, 2),
        ),
    }
    for name, (basis, gram, inverse) in exact.items():
        assert basis.size == gram.shape[0], name
        torch.testing.assert_close(basis.gram(), gram, rtol=0, atol=0)
        torch.testing.assert_close(basis.gram_inverse(), inverse, rtol=0, atol=1e-14)
    assert BASES["torus_tensor"].size == 9 and BASES["torus_additive"].size == 5
    assert Fourier(7).size == 15 and Fourier(7, include_constant=False).size == 14


def _exact_spline_moments(basis: BSpline) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent exact Gram and mean: scipy's piecewise polynomials integrated per piece."""
    t, p = basis.knots.numpy(), basis.degree
    raw = len(t) - p - 1
    pieces = [PPoly.from_spline(ScipyBSpline(t, np.eye(raw)[k], p)) for k in range(raw)]
    low, high = t[p], t[raw]
    gram, mean = np.zeros((raw, raw)), np.zeros(raw)
    for j in range(len(t) - 1):
        width = t[j + 1] - t[j]
        if width == 0 or t[j] < low or t[j + 1] > high:
            continue
        for a in range(raw):
            mean[a] += np.polyval(np.polyint(pieces[a].c[:, j]), width)
            for b in range(raw):
                product = np.polyint(np.polymul(pieces[a].c[:, j], pieces[b].c[:, j]))
                gram[a, b] += np.polyval(product, width)
    fold = np.eye(basis.size)
    if basis.chart.periodic[0]:
        fold = np.concatenate([fold, fold[:p]])
    gram, mean = fold.T @ gram @ fold / (high - low), mean @ fold / (high - low)
    return torch.as_tensor(gram), torch.as_tensor(mean)


@pytest.mark.parametrize(
    "name",
    [
        "open_degree0",
        "open_degree3",
        "open_degree5",
        "periodic_degree1",
        "periodic_degree3",
        "repeated_knots",
        "shifted_interval",
    ],
)
def test_spline_gram_matches_exact_integration(name):
    basis = BASES[name]
    gram = basis.gram()
    exact_gram, exact_mean = _exact_spline_moments(basis)
    torch.testing.assert_close(gram, exact_gram, rtol=0, atol=1e-14)
    torch.testing.assert_close(basis.mean(), exact_mean, rtol=0, atol=1e-14)
    torch.testing.assert_close(
        gram @ basis.gram_inverse(), torch.eye(basis.size, dtype=F64), rtol=0, atol=1e-10
    )
    bandwidth = basis.degree
    i, j = torch.meshgrid(torch.arange(basis.size), torch.arange(basis.size), indexing="ij")
    distance = (i - j).abs()
    if basis.chart.periodic[0]:
        distance = torch.minimum(distance, basis.size - distance)
    assert not gram[distance > bandwidth].any()


@pytest.mark.parametrize(
    "name",
    [
        "line",
        "fourier3_no_constant",
        "open_degree3",
        "periodic_degree3",
        "torus_tensor",
        "torus_additive",
    ],
)
def test_empirical_gram_converges_to_gram(name):
    basis = BASES[name]
    n = 1200 if basis.dim == 1 else 60
    grid = (torch.arange(n, dtype=F64) + 0.5) / n
    s = torch.cartesian_prod(*[grid] * basis.dim).reshape(-1, basis.dim)
    empirical = basis.empirical_gram(s, ridge=0.0)
    assert (empirical - basis.gram()).abs().max() < 1e-6
    ridge = basis.empirical_gram(s, ridge=0.5) - empirical
    torch.testing.assert_close(ridge, 0.5 * torch.eye(basis.size, dtype=F64))


def test_singular_grams_raise():
    same = torch.full((10, 1), 0.3, dtype=F64)
    with pytest.raises(SingularGramError, match="not positive definite"):
        Line().empirical_gram_inverse(same, ridge=0.0)
    assert torch.isfinite(Line().empirical_gram_inverse(same, ridge=1e-3)).all()
    with pytest.raises(SingularGramError):
        Sum(Line(), Monomial(1)).gram_inverse()  # two copies of the constant function


# ---------------------------------------------------------------- argument errors


BAD_ARGUMENTS = [
    (lambda: Line()(torch.zeros(3, 2)), "shape"),
    (lambda: BASES["torus_tensor"](torch.zeros(3)), "shape"),
    (lambda: Line()(torch.tensor([[1.5]])), "outside the chart"),
    (lambda: BSpline.open(5, 2)(torch.tensor([[-0.2]])), "outside the chart"),
    (lambda: BSpline.open(5, -1), "degree"),
    (lambda: BSpline.periodic(5, -2), "degree"),
    (lambda: BSpline([0, 0, 1, 1], -1), "degree"),
    (lambda: Bernstein(-1), "degree"),
    (lambda: Monomial(-1), "degree"),
    (lambda: BSpline.open(3, 3), "n_basis"),
    (lambda: BSpline.periodic(2, 2), "n_basis"),
    (lambda: BSpline([0, 0, 1, 1], 2), "knots"),
    (lambda: BSpline([0, 1, 0.5, 1], 1), "nondecreasing"),
    (lambda: BSpline([0, 0, 0, 0], 1), "empty domain"),
    (lambda: BSpline([0, 0.1, 0.2, 0.3, 0.5, 1.0], 1, periodic=True), "period"),
    (lambda: Fourier(-1), "order"),
    (lambda: Fourier(0, include_constant=False), "order"),
    (lambda: TensorProduct(), "at least one"),
    (lambda: Sum(Line(), Line(), Line(), Line()), "at most 3"),
    (lambda: FunctionBasis(_exp_sin, dim=2, size=4)(torch.zeros(1, 2)), "fn must map"),
    (lambda: FunctionBasis(_exp_sin, dim=2, size=5, chart=Chart.unit([False])), "chart"),
    (lambda: FunctionBasis(_exp_sin, dim=4, size=5), "dim"),
]


@pytest.mark.parametrize(("make", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_one_line_errors(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_type_errors():
    with pytest.raises(TypeError, match="Basis"):
        TensorProduct(Line(), "fourier")
    with pytest.raises(TypeError, match="callable"):
        FunctionBasis(3, dim=1, size=1)


def test_charts():
    assert BSpline.open(5).chart == Chart([Interval(0.0, 1.0)])
    assert BSpline.periodic(5).chart == Chart([Periodic(1.0)])
    assert BASES["torus_additive"].chart == Chart.unit([True, True])
    assert BASES["line_x_torus"].chart == Chart.unit([False, True, True])
    assert FunctionBasis(_exp_sin, 2, 5).chart == Chart.unit([False, False])


# ---------------------------------------------------------------- property test over all bases


@st.composite
def _points(draw):
    name = draw(st.sampled_from(NAMES))
    basis = BASES[name]
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    n = math.prod(batch)
    columns = []
    for c in basis.chart.coordinates:
        if isinstance(c, Periodic):
            low, high = c.low - 3 * c.period, c.low + 3 * c.period
        else:
            low, high = c.low, c.high
        columns.append(draw(st.lists(st.floats(low, high), min_size=n, max_size=n)))
    s = torch.tensor(columns, dtype=F64).T.reshape(*batch, basis.dim)
    return name, s, draw(st.sampled_from([torch.float32, F64]))


@settings(max_examples=80, deadline=None)
@given(_points())
def test_property_all_bases(case):
    name, s, dtype = case
    basis = BASES[name]
    values = basis(s.to(dtype))
    assert values.shape == (*s.shape[:-1], basis.size)
    assert values.dtype == dtype
    assert torch.isfinite(values).all()
    assert torch.isfinite(basis.jet(s, 2)).all()
    gram = basis.gram()
    torch.testing.assert_close(gram, gram.T, rtol=0, atol=1e-15)
    assert torch.linalg.eigvalsh(gram).min() > 1e-8
