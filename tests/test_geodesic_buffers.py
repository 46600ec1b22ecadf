"""The default geodesic solver's energy in reused buffers against the plain autograd route through
``PinnedCurve.points`` (float64): same energy, same gradient (bitwise for a polyline, where every
control point gets at most two terms), and an error rather than a stale gradient."""

import pytest
import torch

from geomanifold.data import DataSplit
from geomanifold.experiments.networks import build_network
from geomanifold.weightspace import parameter_vector
from geomanifold.weightspace.batchnorm import weight_function
from geomanifold.weightspace.divergence import output_divergence
from geomanifold.weightspace.geodesic import _BatchEnergy, _ScaledConjugateGradient
from geomanifold.weightspace.paths import bezier, polyline

F64 = torch.float64


def setting(arch="mlp", width=5):
    g = torch.Generator().manual_seed(0)
    size = 4 if arch.startswith("cnn") else 3
    x = torch.rand(40, 1, size, size, generator=g, dtype=F64)
    y = torch.arange(40) % 3
    split = DataSplit(x[:32], y[:32], x[32:], y[32:], "tiny", 3)
    a = build_network(arch, split, width, seed=0).to(F64)
    b = build_network(arch, split, width, seed=1).to(F64)
    return a, parameter_vector(a), parameter_vector(b), x[:16]


def reference(model, path, x, times, kind="kl"):
    """The energy and its gradient in the interior points by autograd through ``path.points``."""
    call = weight_function(model)
    with torch.no_grad():
        ends = [call(w, x).reshape(len(x), -1) for w in (path.start, path.end)]
    outputs = torch.stack([ends[0], *(call(w, x).reshape(len(x), -1) for w in path.points(times)), ends[1]])
    widths = torch.diff(torch.cat([times.new_zeros(1), times, times.new_ones(1)])).to(outputs)
    energy = (output_divergence(outputs[:-1], outputs[1:], kind) / widths).sum()
    (gradient,) = torch.autograd.grad(energy, path.interior)
    return energy.detach(), gradient


def bent(path, seed=3):
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        path.interior.add_(0.05 * torch.randn(path.interior.shape, generator=g, dtype=F64))
    return path


@pytest.mark.parametrize(
    "times",
    [
        (torch.arange(6, dtype=F64) + 0.37) / 6,  # the solver's shifted times: two terms per point
        torch.tensor([2 / 7, 0.5, 5 / 7], dtype=F64),  # points on control points, rows without a term
    ],
)
def test_buffered_energy_and_gradient_equal_autograd_through_the_polyline_bitwise(times):
    model, a, b, x = setting()
    path = bent(polyline(a, b, 6))
    energy = _BatchEnergy(model, path, x, "kl", times)
    expected, gradient = reference(model, path, x, times)
    out = torch.full_like(path.interior.detach(), float("nan"))
    value = energy()
    energy.gradient(value, out)
    assert torch.equal(value.detach(), expected) and torch.equal(out, gradient)
    with torch.no_grad():  # one buffer, no leaves: the same value
        assert torch.equal(energy(), expected)


def test_buffered_gradient_of_a_bezier_curve_and_a_batchnorm_network():
    model, a, b, x = setting("resnet18", 2)
    path = bent(bezier(a, b, 4))  # every point mixes all five control points
    times = torch.tensor([0.2, 0.45, 0.8], dtype=F64)
    energy = _BatchEnergy(model, path, x, "squared", times)
    expected, gradient = reference(model, path, x, times, "squared")
    out = torch.empty_like(path.interior.detach())
    value = energy()
    torch.testing.assert_close(value.detach(), expected, rtol=1e-13, atol=0)
    torch.testing.assert_close(energy.gradient(value, out), gradient, rtol=1e-12, atol=1e-15)


def test_a_gradient_of_an_earlier_evaluation_is_an_error_not_a_stale_value():
    model, a, b, x = setting()
    path = bent(polyline(a, b, 4))
    energy = _BatchEnergy(model, path, x, "kl", torch.tensor([0.1, 0.3, 0.6, 0.9], dtype=F64))
    out = torch.empty_like(path.interior.detach())
    first = energy()
    energy()  # the buffers now hold the second evaluation's points
    with pytest.raises(ValueError, match="last value"):
        energy.gradient(first, out)
    value = energy()
    energy.gradient(value, out)
    with pytest.raises(ValueError, match="last value"):  # its graph is spent
        energy.gradient(value, out)


def test_conjugate_gradient_update_in_buffers_equals_the_polak_ribiere_formula():
    model, a, b, x = setting()
    path = bent(polyline(a, b, 5))
    energy = _BatchEnergy(model, path, x, "kl", (torch.arange(5, dtype=F64) + 0.5) / 5)
    solver = _ScaledConjugateGradient(energy, 0.1, 6)
    solver.restart()
    for _ in range(3):
        g, d = solver.gradient.clone(), solver.direction.clone()
        moved = solver.step()
        assert moved
        new = reference(model, path, x, energy.times)[1]
        beta = max(0.0, float((new * (new - g)).sum() / (g * g).sum()))
        assert torch.equal(solver.gradient, new)
        torch.testing.assert_close(solver.direction, beta * d - new, rtol=1e-12, atol=1e-15)
