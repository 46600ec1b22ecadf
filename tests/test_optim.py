"""The volume-constrained natural-gradient step (Benjamin et al. 2025): optimizers, metrics, CG."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from geomanifold.bases import Fourier, Line, Monomial, TensorProduct
from geomanifold.chart import Chart
from geomanifold.conditioning import WeightManifold
from geomanifold.optim import (
    ChartMetric,
    EmpiricalMetric,
    JacobianMetric,
    NaturalGradientAdam,
    NaturalGradientPreconditioner,
    NaturalGradientSGD,
    VolumeMetric,
    mix,
    mix_,
)

DTYPE = torch.float64


def control_points(size: int, *shape: int, seed: int = 0) -> nn.Parameter:
    generator = torch.Generator().manual_seed(seed)
    return nn.Parameter(torch.randn(size, *shape, generator=generator, dtype=DTYPE))


def weights_at(basis, s: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``W(s) = Σ_k φ_k(s) P_k``: ``s: (N, m)``, ``P: (K, *S)`` -> ``(N, *S)``."""
    return torch.einsum("nk,k...->n...", basis(s), p)


def regression_loss(basis, params, s, targets) -> torch.Tensor:
    """``mean_i (Σ_t ⟨tanh W_t(s_i), x_t⟩ − y_i)²`` with fixed ``x_t``: not quadratic in ``P``."""
    out = 0
    for p in params:
        w = torch.tanh(weights_at(basis, s, p)).reshape(s.shape[0], -1)
        out = out + w @ torch.linspace(-1, 1, w.shape[1], dtype=DTYPE)
    return ((out - targets) ** 2).mean()


def contexts(n: int, dim: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, dim, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def set_random_grads(params, seed: int = 2) -> list[torch.Tensor]:
    """Random ``.grad`` for each parameter; returns copies (the optimizers rewrite ``.grad``)."""
    generator = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator, dtype=DTYPE)
    return [p.grad.clone() for p in params]


# --- the natural step ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basis", "inverse"),
    [
        (Line(), [[4.0, -2.0], [-2.0, 4.0]]),
        (Fourier(1), [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]),
    ],
)
def test_step_is_minus_lr_inverse_gram_kron_identity_times_grad(basis, inverse):
    params = [control_points(basis.size, 3, 4), control_points(basis.size, 5, seed=1)]
    before = [p.detach().clone() for p in params]
    grads = set_random_grads(params)
    NaturalGradientSGD([{"params": params, "basis": basis}], lr=0.1).step()
    kron = torch.kron(torch.tensor(inverse, dtype=DTYPE), torch.eye(12, dtype=DTYPE))
    flat = grads[0].reshape(-1)
    expected = before[0].reshape(-1) - 0.1 * kron @ flat
    torch.testing.assert_close(params[0].detach().reshape(-1), expected, rtol=0, atol=1e-14)
    g = grads[1]
    expected = before[1] - 0.1 * torch.tensor(inverse, dtype=DTYPE) @ g
    torch.testing.assert_close(params[1].detach(), expected, rtol=0, atol=1e-14)


def test_single_point_is_torch_sgd_with_momentum_and_weight_decay():
    basis = Monomial(0)  # φ = 1, K = 1, G = 1
    ours = [control_points(1, 4, 3), control_points(1, 4, seed=1)]
    plain = nn.Parameter(torch.randn(2, 3, dtype=DTYPE))
    theirs = [p.detach().clone().requires_grad_() for p in [*ours, plain]]
    kwargs = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}
    ng = NaturalGradientSGD([{"params": ours, "basis": basis}, {"params": [plain]}], **kwargs)
    sgd = torch.optim.SGD(theirs, **kwargs)
    s, y = contexts(16), torch.randn(16, dtype=DTYPE)
    for _ in range(5):
        for opt, params in ((ng, [*ours, plain]), (sgd, theirs)):
            opt.zero_grad()
            loss = regression_loss(basis, params[:2], s, y) + (params[2] ** 2).sum() * y.mean()
            loss.backward()
            opt.step()
    for a, b in zip([*ours, plain], theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_dampened_momentum_is_torch_sgd():
    p = control_points(1, 6)
    q = p.detach().clone().requires_grad_()
    ng = NaturalGradientSGD([{"params": [p], "basis": Monomial(0)}], lr=0.1, momentum=0.5, dampening=0.3)
    sgd = torch.optim.SGD([q], lr=0.1, momentum=0.5, dampening=0.3)
    for step in range(3):
        for opt, x in ((ng, p), (sgd, q)):
            x.grad = torch.full_like(x, float(step + 1)) * x.detach()
            opt.step()
    torch.testing.assert_close(p, q, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("optimizer", [NaturalGradientSGD, NaturalGradientAdam])
def test_endpoint_and_offset_slope_lines_move_identically(optimizer):
    endpoints = control_points(2, 3, 4)
    with torch.no_grad():
        offset_slope = nn.Parameter(torch.stack([endpoints[0], endpoints[1] - endpoints[0]]))
    s, y = contexts(32), torch.randn(32, dtype=DTYPE)
    kwargs = {"lr": 0.05, "momentum": 0.5} if optimizer is NaturalGradientSGD else {"lr": 0.01}
    runs = [(Line(), endpoints), (Monomial(1), offset_slope)]
    for basis, p in runs:
        opt = optimizer([{"params": [p], "basis": basis}], **kwargs)
        for _ in range(4):
            opt.zero_grad()
            regression_loss(basis, [p], s, y).backward()
            opt.step()
    grid = torch.linspace(0, 1, 11, dtype=DTYPE)[:, None]
    moved = [weights_at(basis, grid, p.detach()) for basis, p in runs]
    torch.testing.assert_close(moved[0], moved[1], rtol=1e-12, atol=1e-12)
    assert (moved[0] - weights_at(Line(), grid, control_points(2, 3, 4))).abs().max() > 1e-3


def pivot_step(optimizer, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Line control points after one step on ``L = ⟨c, W(0)⟩``: the gradient comes from s = 0."""
    p = control_points(2, 5)
    before = p.detach().clone()
    c = torch.randn(5, generator=torch.Generator().manual_seed(3), dtype=DTYPE)
    loss = (weights_at(Line(), torch.zeros(1, 1, dtype=DTYPE), p)[0] * c).sum()
    loss.backward()
    optimizer([{"params": [p], "basis": Line()}], **kwargs).step()
    return p.detach() - before, c


def test_gradient_at_s0_pivots_the_line_about_two_thirds():
    delta, c = pivot_step(NaturalGradientSGD, lr=0.1)
    torch.testing.assert_close(delta[0], -4 * 0.1 * c, rtol=0, atol=1e-15)
    torch.testing.assert_close(delta[1], 2 * 0.1 * c, rtol=0, atol=1e-15)
    pivot = weights_at(Line(), torch.tensor([[2 / 3]], dtype=DTYPE), delta)
    torch.testing.assert_close(pivot, torch.zeros_like(pivot), rtol=0, atol=1e-15)


def test_natural_adam_keeps_the_pivot_and_preconditioned_torch_adam_loses_it():
    delta, c = pivot_step(NaturalGradientAdam, lr=0.01, eps=0.0)
    torch.testing.assert_close(delta, 0.01 * torch.stack([-2 * c.sign(), c.sign()]), rtol=1e-14, atol=0)
    at = torch.tensor([[2 / 3], [1 / 2]], dtype=DTYPE)
    assert weights_at(Line(), at[:1], delta).abs().max() < 1e-15

    p = control_points(2, 5)
    before = p.detach().clone()
    (weights_at(Line(), torch.zeros(1, 1, dtype=DTYPE), p)[0] * c).sum().backward()
    NaturalGradientPreconditioner([{"params": [p], "basis": Line()}]).precondition_()
    torch.optim.Adam([p], lr=0.01, eps=0.0).step()
    moved = p.detach() - before
    torch.testing.assert_close(moved, 0.01 * torch.stack([-c.sign(), c.sign()]), rtol=0, atol=1e-15)
    assert weights_at(Line(), at[1:], moved).abs().max() < 1e-15


def test_k1_natural_adam_is_torch_adam():
    ours = [control_points(1, 4, 3)]
    plain = nn.Parameter(torch.randn(3, dtype=DTYPE))
    theirs = [p.detach().clone().requires_grad_() for p in [*ours, plain]]
    kwargs = {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}
    ng = NaturalGradientAdam([{"params": ours, "basis": Monomial(0)}, {"params": [plain]}], **kwargs)
    adam = torch.optim.Adam(theirs, **kwargs)
    s, y = contexts(8), torch.randn(8, dtype=DTYPE)
    for _ in range(5):
        for opt, params in ((ng, [*ours, plain]), (adam, theirs)):
            opt.zero_grad()
            (regression_loss(Monomial(0), params[:1], s, y) + params[1].sin().sum()).backward()
            opt.step()
    for a, b in zip([*ours, plain], theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_preconditioner_with_torch_sgd_is_natural_sgd():
    basis = Fourier(1)
    ours, theirs = [control_points(3, 4, 2)], [control_points(3, 4, 2)]
    ng = NaturalGradientSGD([{"params": ours, "basis": basis}], lr=0.1, momentum=0.9)
    pre = NaturalGradientPreconditioner([{"params": theirs, "basis": basis}])
    sgd = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    s, y = contexts(8), torch.randn(8, dtype=DTYPE)
    for _ in range(3):
        for params, steps in ((ours, [ng.step]), (theirs, [pre.precondition_, sgd.step])):
            for p in params:
                p.grad = None
            regression_loss(basis, params, s, y).backward()
            for step in steps:
                step()
    torch.testing.assert_close(ours[0], theirs[0], rtol=1e-14, atol=1e-14)


def test_metric_none_is_the_plain_gradient():
    p = control_points(2, 3)
    before = p.detach().clone()
    (g,) = set_random_grads([p])
    NaturalGradientSGD([{"params": [p], "basis": Line(), "metric": "none"}], lr=0.1).step()
    torch.testing.assert_close(p.detach(), before - 0.1 * g, rtol=0, atol=1e-15)


def test_user_metric_tensor():
    matrix = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=DTYPE)
    p = control_points(2, 3)
    before = p.detach().clone()
    (g,) = set_random_grads([p])
    NaturalGradientSGD([{"params": [p], "metric": matrix}], lr=0.1).step()
    expected = before - 0.1 * torch.linalg.solve(matrix, g)
    torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-14)


def test_mix_never_forms_the_kronecker_product():
    matrix = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DTYPE)
    x = torch.randn(2, 3, 5, dtype=DTYPE)
    expected = (torch.kron(matrix, torch.eye(15, dtype=DTYPE)) @ x.reshape(-1)).reshape(2, 3, 5)
    torch.testing.assert_close(mix(matrix, x), expected, rtol=0, atol=1e-14)
    assert mix(matrix, x.float()).dtype == torch.float32
    torch.testing.assert_close(mix(torch.diag(matrix), x), mix(torch.diag(torch.diag(matrix)), x))


@pytest.mark.parametrize("shape", [(3, 70000), (3, 4, 5)])
def test_in_place_mix_equals_mix(shape):
    matrix = torch.tensor([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]], dtype=DTYPE)
    x = torch.randn(*shape, dtype=DTYPE)
    for m in (matrix, torch.diag(matrix)):
        expected = mix(m, x)
        for y in (x.clone(), x.clone().transpose(1, -1).contiguous().transpose(1, -1)):
            assert mix_(m, y) is y
            torch.testing.assert_close(y, expected, rtol=0, atol=1e-13)


# --- empirical metric ----------------------------------------------------------------------------


def test_empirical_metric_on_a_uniform_grid_is_the_chart_gram():
    n = 4000
    midpoints = ((torch.arange(n, dtype=DTYPE) + 0.5) / n)[:, None]
    line = EmpiricalMetric(Line(), ridge=0.0)
    for batch in midpoints.split(1000):
        line.observe(batch)
    p = [control_points(2, 3)]
    torch.testing.assert_close(line.matrix(p), Line().gram(), rtol=0, atol=1e-8)
    circle = EmpiricalMetric(Fourier(2), ridge=0.0)
    circle.observe((torch.arange(64, dtype=DTYPE) / 64)[:, None])
    torch.testing.assert_close(circle.matrix(p), Fourier(2).gram(), rtol=0, atol=1e-14)


def test_empirical_metric_running_mean_and_decay():
    s = contexts(30, seed=4)
    exact = EmpiricalMetric(Line(), ridge=0.1)
    for batch in (s[:5], s[5:]):
        exact.observe(batch)
    expected = Line().empirical_gram(s, ridge=0.1)
    torch.testing.assert_close(exact.matrix([s]), expected, rtol=0, atol=1e-14)
    ema = EmpiricalMetric(Line(), ridge=0.0, decay=0.75)
    ema.observe(s[:5])
    ema.observe(s[5:])
    expected = 0.75 * Line().empirical_gram(s[:5], 0.0) + 0.25 * Line().empirical_gram(s[5:], 0.0)
    torch.testing.assert_close(ema.matrix([s]), expected, rtol=0, atol=1e-14)


def test_optimizer_observe_feeds_the_empirical_metric():
    basis = Line()
    p = control_points(2, 3)
    before = p.detach().clone()
    opt = NaturalGradientSGD([{"params": [p], "basis": basis, "metric": "empirical"}], lr=0.1)
    (g,) = set_random_grads([p])
    with pytest.raises(RuntimeError, match="observe"):
        opt.step()
    s = contexts(10) * 0.5  # contexts only in [0, 1/2]: far from uniform
    opt.observe(s)
    opt.step()
    gram = basis.empirical_gram(s, ridge=1e-3)
    torch.testing.assert_close(p.detach(), before - 0.1 * torch.linalg.solve(gram, g))


# --- volume metric -------------------------------------------------------------------------------


def orthonormal(n: int, dim: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(5)
    return torch.linalg.qr(torch.randn(dim, n, generator=generator, dtype=DTYPE))[0].T


def ellipse_control_points(a: float, b: float) -> list[nn.Parameter]:
    """Fourier(1) control points of ``P₀ + a cos(2πs) e₁ + b sin(2πs) e₂`` in two tensors."""
    e = orthonormal(3, 6)
    p = torch.stack([e[2] * 3.0, a * e[0], b * e[1]])
    return [nn.Parameter(p[:, :4].reshape(3, 2, 2)), nn.Parameter(p[:, 4:])]


def reference_volume_gram(basis, params, n: int = 256) -> torch.Tensor:
    """``∫ φφᵀ |W'(s)| ds / ∫ |W'(s)| ds`` with ``W'`` by autodiff of ``W(s)`` (no Gram trick)."""
    s = (torch.arange(n, dtype=DTYPE) / n)[:, None]

    def w(t):
        return torch.cat([weights_at(basis, t, p.detach()).reshape(t.shape[0], -1) for p in params], -1)

    speed = torch.func.jvp(w, (s,), (torch.ones_like(s),))[1].norm(dim=-1)
    phi = basis(s)
    return phi.T @ (speed[:, None] * phi) / speed.sum()


def test_volume_metric_of_a_constant_speed_circle_is_the_chart_gram():
    params = ellipse_control_points(2.0, 2.0)
    torch.testing.assert_close(VolumeMetric(Fourier(1)).matrix(params), Fourier(1).gram(), atol=1e-14, rtol=0)


def test_volume_metric_of_an_ellipse_weights_the_fast_arcs():
    params = ellipse_control_points(2.0, 0.5)
    gram = VolumeMetric(Fourier(1), points=256).matrix(params)
    torch.testing.assert_close(gram, reference_volume_gram(Fourier(1), params), rtol=0, atol=1e-12)
    # speed² = (2π)²(4 sin² + 0.25 cos²): the measure favours s near 1/4, 3/4 where sin² is large
    assert gram[2, 2] > 0.5 + 0.1 and gram[1, 1] < 0.5 - 0.1
    assert gram[0, 0] == pytest.approx(1.0, abs=1e-14)


def test_volume_metric_of_a_flat_torus_is_the_chart_gram():
    basis = TensorProduct(Fourier(1), Fourier(1))  # index 3i + j for (1, c, s)_i ⊗ (1, c, s)_j
    e = orthonormal(4, 5)
    p = torch.zeros(9, 5, dtype=DTYPE)
    p[3], p[6], p[1], p[2] = e
    gram = VolumeMetric(basis, points=12).matrix([p])
    torch.testing.assert_close(gram, basis.gram(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_volume_metric_of_a_collapsed_manifold_falls_back_to_the_chart_measure(dtype):
    p = control_points(1, 300, 20).detach().expand(2, 300, 20).to(dtype)
    gram = VolumeMetric(Line()).matrix([p])
    assert gram.dtype == dtype
    torch.testing.assert_close(gram, Line().gram(dtype), rtol=0, atol=10 * torch.finfo(dtype).eps)


def test_volume_metric_step_through_the_optimizer():
    params = ellipse_control_points(1.0, 3.0)
    before = [p.detach().clone() for p in params]
    grads = set_random_grads(params)
    opt = NaturalGradientSGD([{"params": params, "basis": Fourier(1), "metric": "volume"}], lr=0.1)
    opt.step()
    inverse = torch.linalg.inv(reference_volume_gram(Fourier(1), before))
    for p, b, g in zip(params, before, grads, strict=True):
        torch.testing.assert_close(p.detach(), b - 0.1 * mix(inverse, g), rtol=1e-11, atol=1e-11)


# --- nonlinear parameterisation: matrix-free metric and CG ---------------------------------------


def nonlinear_weights(s: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``W(s) = tanh(a s + b²) ⊙ c``: ``(N, 1) -> (N, 3)``, not linear in the parameters."""
    a, b, c = params
    return torch.tanh(s * a + b**2) * c


def dense_metric(fn, params, chart, points, damping) -> torch.Tensor:
    nodes, weights = chart.quadrature(points)
    weights = weights / weights.sum()
    sizes = [p.numel() for p in params]

    def flat_w(flat):
        parts = [x.reshape(p.shape) for x, p in zip(flat.split(sizes), params, strict=True)]
        return fn(nodes, tuple(parts)).reshape(nodes.shape[0], -1)

    jac = torch.autograd.functional.jacobian(flat_w, torch.cat([p.detach().reshape(-1) for p in params]))
    metric = torch.einsum("n,nda,ndb->ab", weights, jac, jac)
    return metric + damping * torch.eye(metric.shape[0], dtype=DTYPE)


def test_cg_solve_of_the_jacobian_metric_equals_a_dense_solve():
    chart = Chart.unit([False])
    params = [control_points(3, seed=i) for i in range(3)]
    metric = JacobianMetric(nonlinear_weights, chart, points=12, damping=1e-3)
    before = [p.detach().clone() for p in params]
    grads = set_random_grads(params)
    NaturalGradientSGD([{"params": params, "metric": metric}], lr=0.1).step()
    dense = dense_metric(nonlinear_weights, before, chart, 12, 1e-3)
    g = torch.cat([g.reshape(-1) for g in grads])
    expected = torch.cat([b.reshape(-1) for b in before]) - 0.1 * torch.linalg.solve(dense, g)
    got = torch.cat([p.detach().reshape(-1) for p in params])
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_jacobian_metric_of_a_linear_parameterisation_is_the_chart_gram():
    basis = Line()

    def linear(s, params):
        return weights_at(basis, s, params[0])

    p = [control_points(2, 3, 2), control_points(4)]
    set_random_grads(p)
    metric = JacobianMetric(linear, basis.chart, points=4)
    natural = metric.solve(p, [p[0].grad, None])
    assert natural[1] is None
    expected = ChartMetric(basis).solve(p[:1], [p[0].grad])[0]
    torch.testing.assert_close(natural[0], expected, rtol=1e-10, atol=1e-10)


# --- state dict and bad input --------------------------------------------------------------------


def round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize(
    ("optimizer", "kwargs"),
    [
        (NaturalGradientSGD, {"lr": 0.1, "momentum": 0.9}),
        (NaturalGradientAdam, {"lr": 0.01, "amsgrad": True}),
    ],
)
def test_state_dict_round_trip(optimizer, kwargs):
    basis = Line()
    s, y = contexts(8), torch.randn(8, dtype=DTYPE)

    def build(params):
        groups = [
            {"params": params[:1], "basis": basis, "metric": "empirical"},
            {"params": params[1:2], "basis": basis},
            {"params": params[2:]},
        ]
        return optimizer(groups, **kwargs)

    def train(opt, params, steps):
        for _ in range(steps):
            opt.zero_grad()
            opt.observe(s)
            (regression_loss(basis, params[:2], s, y) + params[2].square().sum()).backward()
            opt.step()

    params = [control_points(2, 3, seed=0), control_points(2, 3, seed=1), control_points(3, seed=2)]
    opt = build(params)
    train(opt, params, 2)
    copies = [nn.Parameter(p.detach().clone()) for p in params]
    restored = build(copies)
    restored.load_state_dict(round_trip(opt.state_dict()))
    assert restored.param_groups[0]["metric"].count == 16
    assert restored.param_groups[1]["basis"] is basis
    train(opt, params, 2)
    train(restored, copies, 2)
    for a, b in zip(params, copies, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_preconditioner_state_dict_round_trip():
    p = control_points(2, 3)
    pre = NaturalGradientPreconditioner([{"params": [p], "basis": Line(), "metric": "empirical"}])
    pre.observe(contexts(5))
    other = NaturalGradientPreconditioner([{"params": [p], "basis": Line(), "metric": "empirical"}])
    other.load_state_dict(round_trip(pre.state_dict()))
    torch.testing.assert_close(
        other.param_groups[0]["metric"].matrix([p]), pre.param_groups[0]["metric"].matrix([p])
    )


def raises_one_line(error, match, fn, *args, **kwargs):
    with pytest.raises(error, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_input_gives_one_line_errors_naming_the_argument():
    p = control_points(2, 3)
    raises_one_line(
        ValueError,
        "^metric must be one of",
        NaturalGradientSGD,
        [{"params": [p], "basis": Line(), "metric": "fisher"}],
        lr=0.1,
    )
    raises_one_line(
        ValueError,
        "^metric is not positive definite",
        NaturalGradientSGD,
        [p],
        lr=0.1,
        metric=torch.tensor([[1.0, 2.0], [2.0, 1.0]]),
    )
    raises_one_line(
        ValueError,
        "^metric must be a finite symmetric",
        NaturalGradientSGD,
        [p],
        lr=0.1,
        metric=torch.tensor([[1.0, 0.5], [0.0, 1.0]]),
    )
    raises_one_line(
        ValueError,
        "^metric must be a square",
        NaturalGradientSGD,
        [p],
        lr=0.1,
        metric=torch.ones(2, 3),
    )
    raises_one_line(TypeError, "^metric must be a name", NaturalGradientSGD, [p], lr=0.1, metric=3)
    raises_one_line(
        ValueError,
        r"^params\[1\] of param group 0 has shape \(3, 3\)",
        NaturalGradientSGD,
        [{"params": [p, control_points(3, 3)], "basis": Line()}],
        lr=0.1,
    )
    raises_one_line(
        ValueError,
        r"^params\[0\] of param group 0 has shape \(\)",
        NaturalGradientSGD,
        [{"params": [nn.Parameter(torch.tensor(1.0))], "basis": Line(), "metric": "none"}],
        lr=0.1,
    )
    raises_one_line(
        TypeError,
        "^basis of param group 0 must be a geomanifold Basis",
        NaturalGradientAdam,
        [{"params": [p], "basis": "line"}],
    )
    raises_one_line(ValueError, "^lr must be >= 0", NaturalGradientSGD, [p], lr=-0.1)
    raises_one_line(ValueError, "^lr must be >= 0", NaturalGradientAdam, [p], lr=-0.1)
    raises_one_line(ValueError, "^momentum must be >= 0", NaturalGradientSGD, [p], lr=0.1, momentum=-1)
    raises_one_line(ValueError, "^betas must lie", NaturalGradientAdam, [p], betas=(0.9, 1.0))
    raises_one_line(ValueError, "^ridge must be >= 0", EmpiricalMetric, Line(), ridge=-1.0)
    jacobian = JacobianMetric(nonlinear_weights, Chart.unit([False]), points=4)
    raises_one_line(
        TypeError,
        "^metric of NaturalGradientAdam groups",
        NaturalGradientAdam,
        [{"params": [p], "metric": jacobian}],
    )
    raises_one_line(
        ValueError,
        r"^s\[..., 0\] = 2 is outside the chart",
        NaturalGradientSGD([{"params": [p], "basis": Line(), "metric": "empirical"}], lr=0.1).observe,
        torch.tensor([[2.0]]),
    )


def test_groups_without_a_basis_are_plain_whatever_the_default_metric_name():
    p = nn.Parameter(torch.randn(3, dtype=DTYPE))
    assert NaturalGradientSGD([p], lr=0.1, metric="volume").param_groups[0]["metric"] is None


def test_weight_manifold_param_groups_take_the_natural_step():
    model = WeightManifold(
        nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double(), Fourier(1), noise=0.1
    )
    groups = model.param_groups()
    before = [p.detach().clone() for p in groups[0]["params"]]
    s, x = contexts(8), torch.randn(8, 3, dtype=DTYPE)
    model(x, s).square().mean().backward()
    grads = [p.grad.clone() for p in groups[0]["params"]]
    NaturalGradientSGD(groups, lr=0.1, metric="volume").step()
    inverse = torch.linalg.inv(VolumeMetric(Fourier(1)).matrix(before))
    for p, b, g in zip(groups[0]["params"], before, grads, strict=True):
        torch.testing.assert_close(p.detach(), b - 0.1 * mix(inverse, g), rtol=1e-12, atol=1e-12)
