"""Tests for geomanifold.baselines: every method is ``model(x, s)`` with the same ``s`` rules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from geomanifold.baselines import (
    SCN,
    ConditionedMLP,
    FiLM,
    InputConcat,
    Specialists,
    Unconditioned,
    context_features,
    count_parameters,
    feature_count,
    mlp,
    parameter_matched_width,
)
from geomanifold.bases import Line
from geomanifold.conditioning import WeightManifold

PERIODIC = [False, True]  # m = 2 → F = 3
D_IN, D_OUT, BATCH = 6, 2, 8


def net(in_features: int = D_IN) -> nn.Sequential:
    return mlp(in_features, [16, 16], D_OUT)


BUILDERS = {
    "unconditioned": lambda: Unconditioned(net(), PERIODIC),
    "input_concat": lambda: InputConcat(net(D_IN + 3), PERIODIC),
    "concat_every_layer": lambda: ConditionedMLP(D_IN, [16, 16], D_OUT, PERIODIC, every_layer=True),
    "film": lambda: FiLM(net(), PERIODIC),
    "scn": lambda: SCN(net(), 3, PERIODIC, hidden=8),
    "specialists": lambda: Specialists(net, [[0.0, 0.0], [1.0, 0.5]], PERIODIC),
}


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, D_IN, generator=g), torch.rand(BATCH, 2, generator=g)


def test_context_features():
    s = torch.tensor([[0.25, 0.25], [1.0, 0.5]])
    expected = torch.tensor([[0.25, 0.0, 1.0], [1.0, -1.0, 0.0]])
    torch.testing.assert_close(context_features(s, PERIODIC), expected, atol=1e-6, rtol=0)
    assert context_features(torch.tensor([0.5]), [False]).shape == (1,)
    assert feature_count([True, True, False]) == 5


@pytest.mark.parametrize("name", BUILDERS)
def test_shapes_and_shared_context(name):
    torch.manual_seed(0)
    model = BUILDERS[name]()
    x, s = batch()
    y = model(x, s)
    assert y.shape == (BATCH, D_OUT)
    shared = torch.tensor([0.3, 0.9])
    torch.testing.assert_close(model(x, shared), model(x, shared.expand(BATCH, 2)))
    assert {id(p) for g in model.param_groups() for p in g["params"]} == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", BUILDERS)
def test_one_step_reduces_loss(name):
    torch.manual_seed(1)
    model = BUILDERS[name]()
    x, s = batch(1)
    target = torch.randn(BATCH, D_OUT, generator=torch.Generator().manual_seed(2))
    optimizer = torch.optim.SGD(model.param_groups(), lr=0.05)
    before = nn.functional.mse_loss(model(x, s), target)
    before.backward()
    optimizer.step()
    assert nn.functional.mse_loss(model(x, s), target) < before


@pytest.mark.parametrize("name", BUILDERS)
def test_bad_context(name):
    model = BUILDERS[name]()
    x, s = batch()
    bad = [
        (torch.rand(BATCH, 3), r"s must have shape \(\.\.\., 2\)"),
        (torch.rand(BATCH - 1, 2), r"s has 7 contexts but x has shape \(8, 6\)"),
        (torch.rand(1, BATCH, 2), r"s must have shape \(2,\) shared by the batch or \(B, 2\)"),
        (torch.tensor([1.5, 0.0]), r"s\[\.\.\., 0\] = 1\.5 is outside the chart; valid: in \[0, 1\]"),
    ]
    for value, message in bad:
        with pytest.raises(ValueError, match=message) as info:
            model(x, value)
        assert "\n" not in str(info.value)
    model(x, s + torch.tensor([0.0, 3.0]))  # periodic coordinates wrap


@pytest.mark.parametrize("periodic", [[], [False] * 4, "ft", [0, 1], None])
def test_bad_periodic_flags(periodic):
    with pytest.raises(ValueError, match="periodic must be a sequence of 1 to 3 bools") as info:
        Unconditioned(net(), periodic)
    assert "\n" not in str(info.value)


def test_unconditioned_ignores_context():
    model = BUILDERS["unconditioned"]()
    x, s = batch()
    torch.testing.assert_close(model(x, s), model.model(x))
    torch.testing.assert_close(model(x, s), model(x, s.flip(0)))


def test_input_concat_equals_hand_built():
    backbone = net(D_IN + 3)
    model = InputConcat(backbone, PERIODIC)
    x, s = batch()
    features = torch.stack([s[:, 0], torch.cos(2 * math.pi * s[:, 1]), torch.sin(2 * math.pi * s[:, 1])], 1)
    torch.testing.assert_close(model(x, s), backbone(torch.cat([x, features], 1)))


def test_input_concat_adds_constant_channels_to_images():
    conv = nn.Conv2d(1 + 3, 2, 3)
    model = InputConcat(conv, PERIODIC)
    x, s = torch.randn(2, 1, 5, 5), torch.tensor([[0.2, 0.0], [0.7, 0.25]])
    channels = context_features(s, PERIODIC)[:, :, None, None].expand(2, 3, 5, 5)
    torch.testing.assert_close(model(x, s), conv(torch.cat([x, channels], 1)))
    flat = InputConcat(mlp(25 + 3, [4], 2), PERIODIC, flatten=True)
    assert flat(x, s).shape == (2, 2)


def test_conditioned_mlp_every_layer():
    first_only = ConditionedMLP(D_IN, [16, 16], D_OUT, PERIODIC)
    every = ConditionedMLP(D_IN, [16, 16], D_OUT, PERIODIC, every_layer=True)
    assert [layer.in_features for layer in first_only.layers] == [D_IN + 3, 16, 16]
    assert [layer.in_features for layer in every.layers] == [D_IN + 3, 19, 19]
    x, s = batch()
    h = torch.cat([x, context_features(s, PERIODIC)], 1)
    h = first_only.layers[2](torch.relu(first_only.layers[1](torch.relu(first_only.layers[0](h)))))
    torch.testing.assert_close(first_only(x, s), h)


def test_film_at_init_equals_backbone_and_modulates_conv():
    backbone = net()
    model = FiLM(backbone, PERIODIC)
    x, s = batch()
    torch.testing.assert_close(model(x, s), backbone(x))
    assert model.modulation.out_features == 2 * (16 + 16)
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    film = FiLM(conv, [True])
    with torch.no_grad():
        film.modulation.weight.normal_()
    x, s = torch.randn(3, 1, 6, 6), torch.rand(3, 1)
    f = context_features(s, [True])
    gamma, beta = (f @ film.modulation.weight.T + film.modulation.bias).chunk(2, 1)
    expected = conv[2](torch.relu(gamma[:, :, None, None] * conv[0](x) + beta[:, :, None, None]))
    torch.testing.assert_close(film(x, s), expected)
    with pytest.raises(ValueError, match=r"modulate must name nn.Linear/Conv modules.*got \['1'\]"):
        FiLM(conv, [True], modulate=["1"])


def test_scn_single_copy_equals_backbone():
    backbone = net()
    model = SCN(backbone, 1, PERIODIC, init="copy")
    x, s = batch()
    torch.testing.assert_close(model(x, s), backbone(x))


def test_scn_coefficients_are_softmax_and_depend_on_s():
    torch.manual_seed(0)
    model = SCN(net(), 8, PERIODIC)
    x, s = batch()
    alpha = model.coefficients(s)
    assert alpha.shape == (BATCH, 8) and model.coefficients(s[0]).shape == (8,)
    assert (alpha > 0).all()
    torch.testing.assert_close(alpha.sum(1), torch.ones(BATCH))
    assert (alpha[0] - alpha[1]).abs().max() > 1e-4
    # W(s) = Σ_d α_d W_d: the per-example output equals the model built at that example's weights
    copies = model.manifold.control_points()
    for i in range(2):
        plain = model.manifold.export(torch.tensor([0.0]))  # a plain copy of the architecture
        with torch.no_grad():
            for points, p in zip(copies, plain.parameters(), strict=True):
                p.copy_(torch.einsum("d,d...->...", alpha[i], points))
        torch.testing.assert_close(model(x[i : i + 1], s[i : i + 1]), plain(x[i : i + 1]))


def test_specialists_route_to_nearest_context():
    torch.manual_seed(0)
    contexts = [[0.0, 0.0], [0.0, 0.5], [1.0, 0.9]]
    model = Specialists(net, contexts, PERIODIC)
    s = torch.tensor([[0.1, 0.97], [0.2, 0.45], [0.9, 0.85], [0.0, 0.1], [0.6, 0.6]])
    assert model.route(s).tolist() == [0, 1, 2, 0, 2]
    x = torch.randn(5, D_IN)
    expected = torch.cat([model.specialists[n](x[i : i + 1]) for i, n in enumerate([0, 1, 2, 0, 2])])
    torch.testing.assert_close(model(x, s), expected)
    torch.testing.assert_close(model(x, torch.tensor([0.0, 0.5])), model.specialists[1](x))
    with pytest.raises(ValueError, match="contexts must be distinct"):
        Specialists(net, [[0.0, 0.0], [0.0, 1.0]], PERIODIC)
    with pytest.raises(ValueError, match=r"contexts must have shape \(N, 2\)"):
        Specialists(net, [0.0, 0.0], PERIODIC)
    one = net()
    with pytest.raises(ValueError, match="model_factory must build a new network"):
        Specialists(lambda: one, contexts, PERIODIC)


def test_count_parameters():
    assert count_parameters(nn.Linear(3, 2)) == 8
    shared = nn.Linear(3, 2)
    assert count_parameters(nn.Sequential(shared, shared)) == 8
    frozen = nn.Linear(3, 2).requires_grad_(False)
    assert count_parameters(frozen, trainable_only=True) == 0


def test_parameter_matched_width_matches_a_weight_manifold():
    manifold = WeightManifold(mlp(784, [64, 64], 10), Line())
    target = count_parameters(manifold)
    width = parameter_matched_width(lambda w: ConditionedMLP(784, [w, w], 10, [False]), manifold)
    matched = count_parameters(ConditionedMLP(784, [width, width], 10, [False]))
    assert abs(matched - target) <= 0.01 * target
    for w in (width - 1, width + 1):  # the closest width
        assert abs(count_parameters(ConditionedMLP(784, [w, w], 10, [False])) - target) >= abs(
            matched - target
        )
    assert parameter_matched_width(lambda w: nn.Linear(1, w), 1) == 1
    with pytest.raises(ValueError, match="target must be an int >= 1"):
        parameter_matched_width(lambda w: nn.Linear(1, w), 0)
    with pytest.raises(ValueError, match="raise max_width"):
        parameter_matched_width(lambda w: nn.Linear(1, w), 10**6, max_width=8)
