"""geoopt bridge: RiemannianSGD / RiemannianAdam on ControlPointManifold = the native steps."""

from __future__ import annotations

import geoopt
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from geomanifold.bases import Fourier, Line
from geomanifold.chart import Chart
from geomanifold.optim import (
    ControlPointManifold,
    JacobianMetric,
    NaturalGradientAdam,
    NaturalGradientSGD,
    to_manifold_parameters,
)

DTYPE = torch.float64


class TinyManifoldNet(nn.Module):
    """``y = W₂(s) tanh(W₁(s) x + b₁(s)) · scale`` with control points ``(K, ...)`` per tensor."""

    def __init__(self, basis, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        k = basis.size
        self.basis = basis
        self.w1 = nn.Parameter(torch.randn(k, 4, 3, generator=generator, dtype=DTYPE))
        self.b1 = nn.Parameter(torch.randn(k, 4, generator=generator, dtype=DTYPE))
        self.w2 = nn.Parameter(torch.randn(k, 2, 4, generator=generator, dtype=DTYPE))
        self.scale = nn.Parameter(torch.ones(2, dtype=DTYPE))

    def control_points(self) -> list[nn.Parameter]:
        return [self.w1, self.b1, self.w2]

    def groups(self) -> list[dict]:
        return [{"params": self.control_points(), "basis": self.basis}, {"params": [self.scale]}]

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        phi = self.basis(s)
        w1, b1, w2 = (torch.einsum("bk,k...->b...", phi, p) for p in self.control_points())
        hidden = torch.tanh(torch.einsum("boi,bi->bo", w1, x) + b1)
        return torch.einsum("boi,bi->bo", w2, hidden) * self.scale


def batch(basis, n: int = 16, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    s = torch.rand(n, basis.dim, generator=generator, dtype=DTYPE)
    x = torch.randn(n, 3, generator=generator, dtype=DTYPE)
    y = torch.randn(n, 2, generator=generator, dtype=DTYPE)
    return x, s, y


def train(net, optimizer, steps: int, before_step=None) -> None:
    x, s, y = batch(net.basis)
    for _ in range(steps):
        optimizer.zero_grad()
        ((net(x, s) - y) ** 2).mean().backward()
        if before_step is not None:
            before_step()
        optimizer.step()


def pair(basis):
    """The same network twice: native parameters, and geoopt groups on ManifoldParameters."""
    native, bridged = TinyManifoldNet(basis), TinyManifoldNet(basis)
    return native, bridged, to_manifold_parameters(bridged, bridged.groups())


def assert_same(a: nn.Module, b: nn.Module, tol: float = 1e-13) -> None:
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=tol, atol=tol)


def test_conversion_replaces_the_control_points_in_the_module():
    net = TinyManifoldNet(Line())
    data = net.w1.data_ptr()
    groups = to_manifold_parameters(net, net.groups())
    assert all(isinstance(p, geoopt.ManifoldParameter) for p in net.control_points())
    assert not isinstance(net.scale, geoopt.ManifoldParameter)
    assert groups[0]["params"] == net.control_points() and net.w1.data_ptr() == data
    assert groups[0]["manifold"] is net.w1.manifold is net.w2.manifold
    torch.testing.assert_close(groups[0]["manifold"].metric, Line().gram())


def test_manifold_inner_metric_and_distance():
    manifold = ControlPointManifold(Line().gram())
    generator = torch.Generator().manual_seed(0)
    x, u, v = (torch.randn(2, 3, 2, generator=generator, dtype=DTYPE) for _ in range(3))
    kron = torch.kron(Line().gram(), torch.eye(6, dtype=DTYPE))
    torch.testing.assert_close(manifold.inner(x, u, v), u.reshape(-1) @ kron @ v.reshape(-1))
    assert manifold.inner(x, u, v, keepdim=True).shape == (1, 1, 1)
    assert manifold.component_inner(x, u).shape == (1, 3, 2)
    rgrad = manifold.egrad2rgrad(x, u)
    torch.testing.assert_close(rgrad.reshape(-1), torch.linalg.solve(kron, u.reshape(-1)))
    # dist² = ∫ ||W(s; y) − W(s; x)||² ds on the line, by 8-point Gauss–Legendre (exact here)
    nodes, weights = Chart.unit([False]).quadrature(8)
    moved = torch.einsum("nk,k...->n...", Line()(nodes), u).reshape(8, -1)
    torch.testing.assert_close(manifold.dist(x, x + u) ** 2, weights @ moved.square().sum(-1))
    torch.testing.assert_close(manifold.retr_transp(x, u, v)[0], x + u)
    with pytest.raises(ValueError, match=r"must have shape \(2, \.\.\.\)"):
        geoopt.ManifoldParameter(torch.zeros(3, 2, dtype=DTYPE), manifold=manifold)


@pytest.mark.parametrize("basis", [Line(), Fourier(1)])
def test_riemannian_sgd_equals_natural_sgd(basis):
    native, bridged, groups = pair(basis)
    train(native, NaturalGradientSGD(native.groups(), lr=0.05, weight_decay=0.01), 5)
    train(bridged, geoopt.optim.RiemannianSGD(groups, lr=0.05, weight_decay=0.01), 5)
    assert_same(native, bridged)


@pytest.mark.parametrize("nesterov", [False, True])
def test_riemannian_sgd_with_momentum_equals_natural_sgd(nesterov):
    native, bridged, groups = pair(Fourier(1))
    kwargs = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": nesterov}
    riemannian = geoopt.optim.RiemannianSGD(groups, **kwargs)
    for p in bridged.parameters():  # geoopt starts the buffer at the raw gradient; torch at 0
        riemannian.state[p]["momentum_buffer"] = torch.zeros_like(p)
    train(native, NaturalGradientSGD(native.groups(), **kwargs), 6)
    train(bridged, riemannian, 6)
    assert_same(native, bridged)


def test_stock_riemannian_sgd_first_momentum_step_adds_momentum_times_raw_gradient():
    native, bridged, groups = pair(Line())
    train(native, NaturalGradientSGD(native.groups(), lr=0.1, momentum=0.9), 1)
    train(bridged, geoopt.optim.RiemannianSGD(groups, lr=0.1, momentum=0.9), 1)
    fresh = TinyManifoldNet(Line())
    x, s, y = batch(Line())
    ((fresh(x, s) - y) ** 2).mean().backward()
    for p, q, f in zip(native.parameters(), bridged.parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(q.detach() - p.detach(), -0.1 * 0.9 * f.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_riemannian_adam_equals_natural_adam(amsgrad):
    native, bridged, groups = pair(Fourier(1))
    kwargs = {"lr": 0.01, "weight_decay": 0.01, "amsgrad": amsgrad}
    train(native, NaturalGradientAdam(native.groups(), **kwargs), 8)
    train(bridged, geoopt.optim.RiemannianAdam(groups, **kwargs), 8)
    assert_same(native, bridged, tol=1e-12)


def test_riemannian_sgd_with_a_refreshed_volume_metric_equals_natural_sgd():
    native, bridged = TinyManifoldNet(Fourier(1)), TinyManifoldNet(Fourier(1))
    groups = to_manifold_parameters(bridged, bridged.groups(), metric="volume")
    group = groups[0]

    def refresh() -> None:
        group["manifold"].set_metric_(group["metric"].matrix(group["params"]))

    train(native, NaturalGradientSGD(native.groups(), lr=0.05, metric="volume"), 4)
    train(bridged, geoopt.optim.RiemannianSGD(groups, lr=0.05), 4, before_step=refresh)
    assert_same(native, bridged)


def test_conversion_errors():
    net = TinyManifoldNet(Line())
    with pytest.raises(ValueError, match=r"^params\[0\] of param group 0 is not a parameter of module$"):
        to_manifold_parameters(net, [{"params": [nn.Parameter(torch.zeros(2, 3))], "basis": Line()}])
    jacobian = JacobianMetric(lambda s, p: s * p[0], Chart.unit([False]), points=4)
    with pytest.raises(TypeError, match=r"^metric of param group 0 must have a K x K matrix"):
        to_manifold_parameters(net, [{"params": [net.scale], "metric": jacobian}])


def test_diagonal_metrics_stay_diagonal_and_the_gradient_is_mixed_in_place():
    manifold = ControlPointManifold(Fourier(1).gram())
    assert manifold.metric.shape == manifold.metric_inverse.shape == (3,)
    torch.testing.assert_close(manifold.metric_inverse, torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    u = torch.randn(3, 4, dtype=torch.float64)
    before = u.clone()
    torch.testing.assert_close(
        manifold.egrad2rgrad(x, u), before * torch.tensor([[1.0], [2.0], [2.0]], dtype=torch.float64)
    )
    assert torch.equal(u, before)  # a tangent vector that is not the gradient is left alone
    x.grad = u
    assert manifold.egrad2rgrad(x, x.grad) is u  # the gradient is overwritten, as the optimizers do
    torch.testing.assert_close(u, before * torch.tensor([[1.0], [2.0], [2.0]], dtype=torch.float64))


def _aten_ops(run) -> set[str]:
    """Names of the aten operators that ``run()`` dispatches."""
    seen: set[str] = set()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    with Record():
        run()
    return seen


@pytest.mark.parametrize(
    "make",
    [
        lambda g: geoopt.optim.RiemannianSGD(g, lr=0.05),
        lambda g: geoopt.optim.RiemannianSGD(g, lr=0.05, momentum=0.9),
        lambda g: geoopt.optim.RiemannianAdam(g, lr=0.01),
    ],
)
def test_geoopt_steps_retract_in_place_and_other_callers_out_of_place(make):
    _, bridged, groups = pair(Fourier(1))
    optimizer = make(groups[:1])  # the control points (geoopt's plain group retracts out of place)
    x, s, y = batch(Fourier(1))
    ((bridged(x, s) - y) ** 2).mean().backward()
    assert "aten.add" not in _aten_ops(optimizer.step)  # only add_, in place
    manifold, point = groups[0]["manifold"], groups[0]["params"][0]
    u, v = torch.randn_like(point), torch.randn_like(point)
    before = point.detach().clone()
    with torch.no_grad():
        moved, transported = manifold.retr_transp(point, u, v)
        torch.testing.assert_close(manifold.retr(point, u), before + u, rtol=0, atol=0)
    torch.testing.assert_close(moved, before + u, rtol=0, atol=0)
    assert torch.equal(point, before) and transported is not v and torch.equal(transported, v)
