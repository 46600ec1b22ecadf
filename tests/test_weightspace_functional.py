"""Flat weight vectors, output divergences and the reference networks (geomanifold.weightspace)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from geomanifold.data import DataSplit
from geomanifold.experiments.networks import build_network, train_network
from geomanifold.weightspace import (
    NonFiniteWeightsError,
    call_with_vector,
    load_vector_,
    output_divergence,
    parameter_vector,
)


def tiny_split(shape=(1, 4, 4), n=48, classes=3, seed=0) -> DataSplit:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g)
    y = torch.arange(n) % classes
    return DataSplit(x[:32], y[:32], x[32:], y[32:], "tiny", classes)


def test_vector_round_trip_and_call_match_the_module():
    split = tiny_split()
    model = build_network("mlp-bn", split, width=5, seed=1).eval()
    w = parameter_vector(model)
    assert w.shape == (sum(p.numel() for p in model.parameters()),)
    x = split.x_test
    torch.testing.assert_close(call_with_vector(model, w, x), model(x))
    other = build_network("mlp-bn", split, width=5, seed=2).eval()
    load_vector_(other, w)
    torch.testing.assert_close(other(x), model(x))
    w[0] += 1  # a copy: the model is unchanged
    assert not torch.equal(parameter_vector(model), w)


def test_call_with_vector_is_differentiable_under_jvp_and_vjp():
    split = tiny_split()
    model = build_network("cnn", split, width=2, seed=0).double().eval()
    x = split.x_test.double()
    w = parameter_vector(model)
    v = torch.randn_like(w)
    _, tangent = torch.func.jvp(lambda u: call_with_vector(model, u, x), (w,), (v,))
    eps = 1e-6
    fd = (call_with_vector(model, w + eps * v, x) - call_with_vector(model, w - eps * v, x)) / (2 * eps)
    torch.testing.assert_close(tangent, fd, rtol=1e-6, atol=1e-7)
    out, pull = torch.func.vjp(lambda u: call_with_vector(model, u, x), w)
    (cotangent,) = pull(torch.ones_like(out))
    assert cotangent.shape == w.shape and torch.isfinite(cotangent).all()


def test_load_vector_rejects_nan_and_wrong_shape():
    model = nn.Linear(3, 2)
    w = parameter_vector(model)
    with pytest.raises(ValueError, match=r"w must have shape \(D=8,\)"):
        load_vector_(model, w[:-1])
    w[2] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match="w has 1 NaN"):
        load_vector_(model, w)


def test_output_divergences_match_their_closed_forms_and_second_order():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 4, generator=g, dtype=torch.float64)
    b = torch.randn(7, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(output_divergence(a, b, "squared"), ((a - b) ** 2).sum(1).mean())
    p, q = a.softmax(-1), b.softmax(-1)
    torch.testing.assert_close(output_divergence(a, b, "kl"), 2 * (p * (p / q).log()).sum(1).mean())
    # 2 KL ≈ dzᵀ (diag p − p pᵀ) dz for a small output change dz
    dz = 1e-4 * torch.randn(7, 4, generator=g, dtype=torch.float64)
    fisher = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    quadratic = torch.einsum("ni,nij,nj->n", dz, fisher, dz).mean()
    torch.testing.assert_close(output_divergence(a, a + dz, "kl"), quadratic, rtol=1e-3, atol=0)
    assert output_divergence(a[None].expand(3, 7, 4), b[None].expand(3, 7, 4)).shape == (3,)


@pytest.mark.parametrize(
    ("a", "b", "kind", "match"),
    [
        (torch.zeros(0, 3), torch.zeros(0, 3), "kl", "N >= 1"),
        (torch.zeros(4, 3), torch.zeros(5, 3), "kl", "same shape"),
        (torch.zeros(4, 3), torch.zeros(4, 3), "l1", "kind must be one of squared, kl"),
    ],
)
def test_output_divergence_rejects_bad_input(a, b, kind, match):
    with pytest.raises(ValueError, match=match):
        output_divergence(a, b, kind)


@pytest.mark.parametrize("arch", ["mlp", "mlp-bn", "cnn", "cnn-bn"])
@pytest.mark.parametrize("shape", [(1, 4, 4), (1, 12)])
def test_build_network_shapes_and_seeded_init(arch, shape):
    split = tiny_split(shape)
    state = torch.random.get_rng_state()
    model = build_network(arch, split, width=3, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert model.eval()(split.x_test).shape == (16, 3)
    torch.testing.assert_close(
        parameter_vector(model), parameter_vector(build_network(arch, split, 3, seed=5))
    )


def test_build_network_rejects_unknown_arch():
    with pytest.raises(ValueError, match="arch must be one of mlp, mlp-bn, cnn, cnn-bn"):
        build_network("resnet", tiny_split())


def test_train_network_is_deterministic_and_learns():
    split = tiny_split(classes=2)

    def run():
        model = build_network("mlp", split, width=8, seed=0)
        return train_network(model, split, epochs=3, lr=1e-2, batch_size=8, seed=3, progress=False), model

    (first, m1), (second, m2) = run(), run()
    assert first == second and torch.equal(parameter_vector(m1), parameter_vector(m2))
    assert first["history"][-1]["train_loss"] < first["history"][0]["train_loss"]
    assert first["history"][-1]["step"] == 3 * 4
    assert F.cross_entropy(m1(split.x_train), split.y_train) < 0.69
