"""Property tests (hypothesis) of the bases and the conditioning layers over random layer shapes,
random bases (line, Fourier, open/periodic B-splines, Bernstein, tensor products, sums) and random
contexts (docs/conditioning.md).

The references are independent computations in float64: explicit per-example weights
``W(s_i) = Σ_k φ_k(s_i) P_k`` run through ``torch.func.functional_call``, the plain network, and
``torch.optim.SGD``.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from geomanifold import NaturalGradientSGD, WeightManifold
from geomanifold.bases import Bernstein, BSpline, Fourier, Line, Sum, TensorProduct
from geomanifold.chart import Periodic
from geomanifold.conditioning import StackedKernelLayer

F64 = torch.float64
PROPERTIES = settings(max_examples=12, deadline=None)


# ----------------------------------------------------------------------------- strategies
def _one_dimensional(draw, constant: bool = True):
    """A 1-D basis; without ``constant``, one whose span has no constant (for sums)."""
    if not constant:
        return Fourier(draw(st.integers(1, 2)), include_constant=False)
    kind = draw(st.sampled_from(["line", "fourier", "bspline-open", "bspline-periodic", "bernstein"]))
    if kind == "line":
        return Line()
    if kind == "fourier":
        return Fourier(draw(st.integers(1, 2)))
    if kind == "bernstein":
        return Bernstein(draw(st.integers(1, 3)))
    degree = draw(st.integers(0, 3))
    n_basis = draw(st.integers(degree + 1, degree + 3))
    return (BSpline.open if kind == "bspline-open" else BSpline.periodic)(n_basis, degree)


@st.composite
def bases(draw):
    """A basis of dimension 1 to 3 that can represent constants (so ``init="copy"`` applies)."""
    kind = draw(st.sampled_from(["single", "tensor", "sum"]))
    if kind == "single":
        return _one_dimensional(draw)
    factors = draw(st.integers(2, 3))
    first = _one_dimensional(draw)
    if kind == "tensor":
        rest = [_one_dimensional(draw) for _ in range(factors - 1)]
        if first.size * math.prod(b.size for b in rest) > 30:  # keep the examples small
            rest = [Line() for _ in rest]
        return TensorProduct(first, *rest)
    return Sum(first, *[_one_dimensional(draw, constant=False) for _ in range(factors - 1)])


def contexts(draw, basis, batch: int) -> torch.Tensor:
    """``(batch, m)`` points of the chart (periodic coordinates anywhere in one period)."""
    columns = []
    for c in basis.chart.coordinates:
        high = c.low + c.period if isinstance(c, Periodic) else c.high
        values = draw(st.lists(st.floats(c.low, high, exclude_max=isinstance(c, Periodic)),
                               min_size=batch, max_size=batch))
        columns.append(values)
    return torch.tensor(columns, dtype=F64).T.reshape(batch, basis.dim)


@st.composite
def layers(draw):
    """A random Linear, Conv1d or Conv2d (groups, stride, padding, bias) and an input shape."""
    kind = draw(st.sampled_from(["linear", "conv1d", "conv2d"]))
    bias = draw(st.booleans())
    if kind == "linear":
        features, out = draw(st.integers(1, 6)), draw(st.integers(1, 5))
        leading = tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
        return nn.Linear(features, out, bias=bias), (*leading, features)
    groups = draw(st.integers(1, 2))
    channels, out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kernel, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    size = draw(st.integers(kernel, kernel + 4))
    conv = nn.Conv1d if kind == "conv1d" else nn.Conv2d
    layer = conv(channels, out, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    spatial = (size,) if kind == "conv1d" else (size, draw(st.integers(kernel, kernel + 3)))
    return layer, (channels, *spatial)


# ----------------------------------------------------------------------------- references
def explicit_outputs(wm: WeightManifold, layer: nn.Module, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Example ``i`` alone through ``layer`` with ``W(s_i) = Σ_k φ_k(s_i) P_k`` built by hand."""
    outputs = []
    for i in range(len(x)):
        phi = wm.basis(s[i])
        weights = {
            name.removeprefix("model.layer."): torch.einsum("k,k...->...", phi, points)
            for name, points in wm.named_control_points()
        }
        outputs.append(functional_call(layer, weights, (x[i : i + 1],)))
    return torch.cat(outputs)


# ----------------------------------------------------------------------------- properties
@PROPERTIES
@given(st.data(), layers(), bases(), st.integers(1, 4), st.integers(0, 2**16))
def test_decomposed_forward_equals_explicit_per_example_weights(data, layer_shape, basis, batch, seed):
    layer, shape = layer_shape
    generator = torch.Generator().manual_seed(seed)
    layer = layer.double()
    strategy = data.draw(st.sampled_from(StackedKernelLayer.STRATEGIES))
    wm = WeightManifold(
        layer, basis, init="independent", noise=0.5, generator=generator, batch_dim=0, strategy=strategy
    )
    x = torch.randn(batch, *shape, generator=generator, dtype=F64)
    s = contexts(data.draw, basis, batch)
    torch.testing.assert_close(wm(x, s), explicit_outputs(wm, layer, x, s), rtol=0, atol=1e-10)
    # one context shared by the batch (the fast path) equals that context repeated per example
    torch.testing.assert_close(wm(x, s[0]), wm(x, s[:1].expand(batch, -1)), rtol=0, atol=1e-10)


@PROPERTIES
@given(st.data(), layers(), bases(), st.integers(0, 2**16))
def test_copy_init_is_the_plain_network_at_every_context(data, layer_shape, basis, seed):
    layer, shape = layer_shape
    generator = torch.Generator().manual_seed(seed)
    layer = layer.double()
    wm = WeightManifold(layer, basis, batch_dim=0)  # init="copy"
    x = torch.randn(3, *shape, generator=generator, dtype=F64)
    torch.testing.assert_close(wm(x, contexts(data.draw, basis, 3)), layer(x), rtol=0, atol=1e-10)


@PROPERTIES
@given(st.data(), bases(), st.integers(-2, 2), st.integers(0, 2**16))
def test_periodic_coordinates_repeat_one_period_apart(data, basis, periods, seed):
    periodic = [i for i, c in enumerate(basis.chart.coordinates) if isinstance(c, Periodic)]
    s = contexts(data.draw, basis, 4)
    shifted = s.clone()
    for i in periodic:
        shifted[:, i] += periods * basis.chart.coordinates[i].period
    torch.testing.assert_close(basis(shifted), basis(s), rtol=0, atol=1e-9)
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(3, 2).double()
    wm = WeightManifold(layer, basis, init="independent", noise=0.5, generator=generator)
    x = torch.randn(4, 3, generator=generator, dtype=F64)
    torch.testing.assert_close(wm(x, shifted), wm(x, s), rtol=0, atol=1e-9)


@PROPERTIES
@given(bases(), st.data())
def test_partition_of_unity_and_constant_coefficients(basis, data):
    """``Σ_k c_k φ_k(s) = 1`` for the copy coefficients; B-splines and Bernstein: ``c = 1``."""
    from geomanifold.conditioning.init import constant_coefficients

    s = contexts(data.draw, basis, 5)
    c = constant_coefficients(basis)
    torch.testing.assert_close(basis(s) @ c, torch.ones(5, dtype=F64), rtol=0, atol=1e-10)
    if isinstance(basis, BSpline):  # Line and Bernstein are B-splines too
        torch.testing.assert_close(basis(s).sum(-1), torch.ones(5, dtype=F64), rtol=0, atol=1e-12)


@PROPERTIES
@given(
    st.sampled_from(["bernstein0", "fourier0", "bspline0", "product"]),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.95),
    st.floats(0.0, 0.1),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_natural_step_with_one_control_point_is_sgd(kind, lr, momentum, weight_decay, nesterov, seed):
    basis = {
        "bernstein0": Bernstein(0),
        "fourier0": Fourier(0),
        "bspline0": BSpline.open(1, 0),
        "product": TensorProduct(Bernstein(0), Fourier(0)),
    }[kind]
    nesterov = nesterov and momentum > 0
    generator = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    wm = WeightManifold(net, basis)
    plain = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    plain.load_state_dict(net.state_dict())
    options = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov}
    natural = NaturalGradientSGD(wm.param_groups(), **options)
    sgd = torch.optim.SGD(plain.parameters(), **options)
    for _ in range(3):
        x = torch.randn(6, 4, generator=generator, dtype=F64)
        y = torch.randint(0, 3, (6,), generator=generator)
        s = torch.rand(6, basis.dim, generator=generator, dtype=F64)
        for optimizer, logits in ((natural, lambda x=x, s=s: wm(x, s)), (sgd, lambda x=x: plain(x))):
            optimizer.zero_grad()
            nn.functional.cross_entropy(logits(), y).backward()
            optimizer.step()
    for (name, points), (_, w) in zip(wm.named_control_points(), plain.named_parameters(), strict=True):
        torch.testing.assert_close(points[0], w, rtol=0, atol=1e-12, msg=name)


def test_tensor_product_with_a_cholesky_inverted_factor_converts():
    """Regression (found by the properties above): ``G⁻¹`` of a B-spline factor came back in
    column-major strides, which ``torch.kron`` could not view."""
    basis = TensorProduct(BSpline.open(2, 0), Line())
    layer = nn.Linear(3, 2).double()
    wm = WeightManifold(layer, basis)
    x = torch.randn(4, 3, dtype=F64)
    torch.testing.assert_close(wm(x, torch.rand(4, 2, dtype=F64)), layer(x), rtol=0, atol=1e-12)
