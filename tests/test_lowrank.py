"""Low-rank weight manifolds ``W(s) = W0 + Σ_k φ_k(s) U_k V_kᵀ``: forward, export, geometry and the
factored natural gradient, each against an independent dense computation in float64."""

from __future__ import annotations

import copy

import pytest
import torch
from lowrank_helpers import explicit_weights as _explicit_weights
from lowrank_helpers import randomize as _randomize
from torch import nn
from torch.func import functional_call

from geomanifold.bases import Fourier, Line, TensorProduct
from geomanifold.conditioning import LayoutError, LowRankWeightManifold
from geomanifold.geometry import EmbeddedManifold, LinearBasisManifold, LowRankManifold
from geomanifold.models import GPT, VisionTransformer
from geomanifold.optim import FactorMetric, NaturalGradientSGD

F64 = torch.float64
BATCH = 4


def _explicit(lr, model, x, s, batch_dim: int = 0):
    """Example ``i`` alone through the original ``model`` at ``W(s_i)``."""
    outputs = [
        functional_call(model, _explicit_weights(lr, s[i]), (x.narrow(batch_dim, i, 1),))
        for i in range(x.shape[batch_dim])
    ]
    return torch.cat(outputs, dim=batch_dim)


MODELS = {
    "mlp_3d_input": (
        lambda: nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)),
        (3, 5),
    ),
    "conv1d_groups_stride": (
        lambda: nn.Sequential(nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), nn.Conv1d(6, 2, 1)),
        (4, 9),
    ),
    "conv2d_reflect_dilation": (
        lambda: nn.Conv2d(3, 4, (3, 2), padding=2, dilation=(2, 1), padding_mode="reflect"),
        (3, 6, 5),
    ),
    "conv3d_depthwise": (lambda: nn.Conv3d(2, 4, 3, groups=2, padding="same"), (2, 3, 4, 3)),
    "transformer_encoder_layer": (
        lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
        (3, 8),
    ),
    "vit": (
        lambda: VisionTransformer(8, 4, layers=2, heads=2, hidden=8, mlp=16, num_classes=3, in_channels=1),
        (1, 8, 8),
    ),
    "gpt_transposed_conv1d": (lambda: GPT(vocab=7, context=6, layers=1, hidden=8, heads=2), (5,)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_per_example_forward_equals_explicit_dense_weights(name):
    make, shape = MODELS[name]
    # a line (K = 2) or a cylinder (m = 2, K = 6), alternately
    basis = Line() if list(MODELS).index(name) % 2 else TensorProduct(Fourier(1), Line())
    model = make().double().eval()
    lr = _randomize(LowRankWeightManifold(model, basis, rank=2, generator=torch.Generator().manual_seed(0)))
    if name.startswith("gpt"):  # token ids; the attention and MLP projections are Conv1D
        x = torch.randint(0, 7, (BATCH, *shape))
        assert sum(f.transposed for _, f in lr.named_factors()) == 4
    else:
        x = torch.randn(BATCH, *shape, dtype=F64)
    s = torch.rand(BATCH, basis.dim, dtype=F64)
    torch.testing.assert_close(lr(x, s), _explicit(lr, model, x, s), rtol=0, atol=1e-10)
    with torch.no_grad():  # inference mode: the fused transformer path must not skip the update
        torch.testing.assert_close(lr(x, s), _explicit(lr, model, x, s), rtol=0, atol=1e-10)
    shared = lr(x, s[0])
    dense = functional_call(model, _explicit_weights(lr, s[0]), (x,))
    torch.testing.assert_close(shared, dense, rtol=0, atol=1e-10)
    torch.testing.assert_close(shared, lr.export(s[0])(x), rtol=0, atol=1e-10)


def test_sequence_first_transformer_with_as_many_tokens_as_examples():
    """``batch_first=False`` declares dim 1 for the layers inside; the head infers it."""
    model = nn.Sequential(
        nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=False), nn.Linear(8, 3)
    ).double()
    lr = _randomize(LowRankWeightManifold(model, Line(), rank=2))
    x = torch.randn(BATCH, BATCH, 8, dtype=F64)  # (T, B, E) with T == B
    s = torch.rand(BATCH, 1, dtype=F64)
    with pytest.raises(LayoutError, match=r"layer '1' \(Linear\).*4 contexts match dims \[0, 1\]"):
        lr(x, s)
    lr = _randomize(LowRankWeightManifold(model, Line(), rank=2, batch_dim={"1": 1}))
    torch.testing.assert_close(lr(x, s), _explicit(lr, model, x, s, batch_dim=1), rtol=0, atol=1e-10)


def test_sequence_first_layers_take_batch_dim():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    lr = _randomize(LowRankWeightManifold(model, Line(), rank=2, batch_dim=1))
    x = torch.randn(BATCH, BATCH, 4, dtype=F64)  # (T, B, E) with T == B
    s = torch.rand(BATCH, 1, dtype=F64)
    torch.testing.assert_close(lr(x, s), _explicit(lr, model, x, s, batch_dim=1), rtol=0, atol=1e-10)


def test_default_selection_takes_every_projection_and_counts_extra_parameters():
    vit = VisionTransformer(8, 4, layers=2, heads=2, hidden=8, mlp=16, num_classes=3, in_channels=1)
    lr = LowRankWeightManifold(vit, Fourier(1), rank=2)
    names = [f.parameter for _, f in lr.named_factors()]
    attention = "encoder.layers.encoder_layer_0.self_attention"
    assert {"conv_proj.weight", "heads.head.weight", f"{attention}.in_proj_weight"} <= set(names)
    assert f"{attention}.out_proj.weight" in names
    expected = sum(3 * 2 * (w.shape[0] + w[0].numel()) for w in (vit.get_parameter(n) for n in names))
    assert lr.extra_parameters() == expected
    # the pretrained parameters are frozen; the factors train
    assert not any(p.requires_grad for p in lr.model.parameters())
    assert all(p.requires_grad for p in lr.factor_parameters())


def test_export_is_the_plain_model_and_starts_at_the_pretrained_one():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    lr = LowRankWeightManifold(model, Fourier(1), rank=2)
    x = torch.randn(3, 4, dtype=F64)
    s = torch.tensor([0.3], dtype=F64)
    plain = lr.export(s)
    assert type(plain) is nn.Sequential and not any(m._forward_hooks for m in plain.modules())
    assert plain.state_dict().keys() == model.state_dict().keys()
    assert all(p.requires_grad for p in plain.parameters())
    torch.testing.assert_close(plain(x), model(x), rtol=0, atol=0)  # U = 0 at the start
    _randomize(lr)
    torch.testing.assert_close(lr.export(s)(x), lr(x, s), rtol=0, atol=1e-12)
    assert all(m._forward_hooks for m in (lr.model[0], lr.model[2]))  # the hooks are back


def _layers(basis, shapes, rank: int = 2, seed: int = 0):
    """Random ``(W0, U, V)`` triples of the given ``(out, fan_in)`` shapes, float64."""
    g = torch.Generator().manual_seed(seed)
    k = basis.size
    return [
        (
            torch.randn(o, i, generator=g, dtype=F64),
            torch.randn(k, o, rank, generator=g, dtype=F64),
            torch.randn(k, i, rank, generator=g, dtype=F64),
        )
        for o, i in shapes
    ]


def _dense_manifold(basis, layers, with_base: bool) -> LinearBasisManifold:
    """``LinearBasisManifold`` over the dense ``U_k V_kᵀ`` (``W0`` folded into the constant ``φ_0``)."""
    points = []
    for w0, u, v in layers:
        p = torch.einsum("kor,kir->koi", u, v)
        if with_base:
            p[0] += w0
        points.append(p)
    return LinearBasisManifold(basis, points)


CONSTANT_FIRST = {
    "circle": Fourier(1), "fourier2": Fourier(2), "torus": TensorProduct(Fourier(1), Fourier(1))
}


@pytest.mark.parametrize("basis", list(CONSTANT_FIRST.values()), ids=list(CONSTANT_FIRST))
def test_geometry_equals_the_dense_linear_basis_manifold(basis):
    """Bases whose φ_0 = 1: the same map, so every jet inner product and curvature agrees."""
    layers = _layers(basis, [(3, 4), (2, 3)])
    low, dense = LowRankManifold(basis, layers), _dense_manifold(basis, layers, with_base=True)
    s = torch.rand(5, basis.dim, dtype=F64)
    torch.testing.assert_close(low.point(s), dense.point(s), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(low.jet_gram(s, 2), dense.jet_gram(s, 2), rtol=1e-11, atol=1e-9)
    generic = EmbeddedManifold.jet_gram(low, s, 2)  # inner products of the D-vectors
    torch.testing.assert_close(low.jet_gram(s, 2), generic, rtol=1e-11, atol=1e-9)
    torch.testing.assert_close(low.christoffel(s), dense.christoffel(s), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(low.scalar_curvature(s), dense.scalar_curvature(s), rtol=1e-8, atol=1e-12)
    if basis.dim == 1:
        torch.testing.assert_close(low.curvature(s), dense.curvature(s), rtol=1e-9, atol=0)


def test_geometry_of_a_line_ignores_the_base_weights():
    """Line has no constant function: derivatives are those of Σ φ_k U_k V_kᵀ alone."""
    basis = Line()
    layers = _layers(basis, [(3, 4)], rank=1)
    low, dense = LowRankManifold(basis, layers), _dense_manifold(basis, layers, with_base=False)
    s = torch.rand(4, 1, dtype=F64)
    torch.testing.assert_close(low.metric(s), dense.metric(s), rtol=1e-12, atol=0)
    torch.testing.assert_close(low.point(s), dense.point(s) + layers[0][0].flatten(), rtol=1e-12, atol=1e-12)


def test_model_geometry_gram_is_built_from_factors():
    model = nn.Sequential(nn.Conv2d(1, 3, 2), nn.Flatten(), nn.Linear(12, 2)).double()
    lr = _randomize(LowRankWeightManifold(model, Fourier(1), rank=1))
    geometry = lr.geometry()
    s = torch.rand(3, 1, dtype=F64)
    dense_phi = torch.cat([w.flatten() for w in _explicit_weights(lr, s[1]).values()])
    torch.testing.assert_close(geometry.point(s)[1], dense_phi, rtol=1e-12, atol=1e-12)
    vectors = geometry.jet(s, 1)
    gram = vectors @ vectors.transpose(-1, -2)
    torch.testing.assert_close(geometry.jet_gram(s, 1), gram, rtol=1e-11, atol=1e-9)


# ------------------------------------------------------------------ natural gradient


def _dense_block_solve(basis, u, v, gu, gv, damping):
    """The block-diagonal pullback metric built densely: ``J = ∂ vec(U_k V_kᵀ)_k / ∂(U, V)``,
    ``M = Jᵀ (G ⊗ I) J``, its U and V diagonal blocks damped by ``damping`` times the mean of
    their mean diagonals."""
    gram = basis.gram()

    def points(u_, v_):
        return torch.einsum("kor,kir->koi", u_, v_).reshape(-1)

    ju, jv = torch.autograd.functional.jacobian(points, (u, v))
    ju, jv = ju.reshape(ju.shape[0], -1), jv.reshape(jv.shape[0], -1)
    mix = torch.kron(gram, torch.eye(u.shape[1] * v.shape[1], dtype=F64))
    blocks = [j.T @ mix @ j for j in (ju, jv)]
    damping = damping * sum(b.diagonal().mean() for b in blocks) / 2
    return [
        torch.linalg.solve(b + damping * torch.eye(b.shape[0], dtype=F64), g.reshape(-1)).reshape(g.shape)
        for b, g in zip(blocks, (gu, gv), strict=True)
    ]


@pytest.mark.parametrize("basis", [Line(), Fourier(1)], ids=["line", "circle"])
def test_factor_metric_equals_the_dense_block_solve(basis):
    (_, u, v), = _layers(basis, [(4, 3)], rank=2, seed=5)
    gu, gv = torch.randn_like(u), torch.randn_like(v)
    metric = FactorMetric(basis.gram(), damping=1e-2)
    natural = metric.solve([u, v], [gu, gv])
    expected = _dense_block_solve(basis, u, v, gu, gv, 1e-2)
    for got, want in zip(natural, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_factor_block_is_the_exact_movement_of_the_manifold():
    """For a step of U alone, ``∫ ||ΔW(s)||² dμ`` by quadrature equals ``⟨ΔU, ΔU A_V⟩``."""
    basis = Fourier(1)
    (_, u, v), = _layers(basis, [(4, 3)], rank=2, seed=6)
    du = torch.randn_like(u)
    nodes, weights = basis.chart.quadrature(64, dtype=F64)
    phi = basis.partial(nodes, (0,))
    moved = torch.einsum("nk,kor,kir->noi", phi, du, v)
    integral = (weights / weights.sum()) @ moved.square().sum(dim=(1, 2))
    flat = du.permute(1, 0, 2).reshape(4, -1)
    block = FactorMetric(basis.gram(), 0.0).block(v)
    torch.testing.assert_close((flat * (flat @ block)).sum(), integral, rtol=1e-10, atol=0)


def test_natural_sgd_on_param_groups_takes_the_factor_step():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    lr = _randomize(LowRankWeightManifold(model, Fourier(1), rank=2, train_base=True))
    x, s = torch.randn(6, 4, dtype=F64), torch.rand(6, 1, dtype=F64)
    lr(x, s).square().sum().backward()
    before = [p.detach().clone() for p in lr.parameters()]
    grads = [p.grad.clone() for p in lr.parameters()]
    groups = lr.param_groups(damping=1e-3)
    expected = groups[0]["metric"].solve(groups[0]["params"], [p.grad for p in groups[0]["params"]])
    NaturalGradientSGD(groups, lr=0.1).step()
    factor_ids = {id(p): e for p, e in zip(groups[0]["params"], expected, strict=True)}
    for p, b, g in zip(lr.parameters(), before, grads, strict=True):
        step = factor_ids.get(id(p), g)  # the pretrained weights take the plain step
        torch.testing.assert_close(p.detach(), b - 0.1 * step, rtol=0, atol=1e-12)


def test_zero_factor_has_zero_gradient_and_is_left_as_it_is():
    basis = Line()
    (_, u, v), = _layers(basis, [(3, 3)], rank=1)
    u = torch.zeros_like(u)
    natural = FactorMetric(basis.gram()).solve([u, v], [torch.randn_like(u), torch.zeros_like(v)])
    assert torch.equal(natural[1], torch.zeros_like(v))
    assert torch.isfinite(natural[0]).all()


def test_single_point_u_step_is_the_gradient_projected_on_the_rows_of_v_in_any_gauge():
    """K = 1: ``ΔU Vᵀ = −∇_W L Π_V`` for ``V`` and for ``V R`` (same row space, other gauge)."""
    basis = Fourier(0)  # the constant function: K = 1, G = 1
    g = torch.Generator().manual_seed(7)
    v = torch.randn(1, 5, 2, generator=g, dtype=F64)
    grad_w = torch.randn(4, 5, generator=g, dtype=F64)
    metric = FactorMetric(basis.gram(), damping=0.0)
    projection = v[0] @ torch.linalg.solve(v[0].T @ v[0], v[0].T)
    for right in (v, v @ torch.tensor([[2.0, 1.0], [0.5, -3.0]], dtype=F64)):
        grad_u = (grad_w @ right[0])[None]  # ∇_U L = ∇_W L V
        (step_u, _) = metric.solve([torch.zeros(1, 4, 2, dtype=F64), right], [grad_u, None])
        torch.testing.assert_close(step_u[0] @ right[0].T, grad_w @ projection, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", [False, True])
def test_deep_copy_and_state_dict_round_trip(attention):
    layers = [nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)]
    if attention:  # hooks and the attention's update mode must belong to the copy as well
        layers.insert(0, nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True))
    model = nn.Sequential(*layers).double()
    lr = _randomize(LowRankWeightManifold(model, Fourier(1), rank=2))
    x, s = torch.randn(3, 5, 4, dtype=F64), torch.rand(3, 1, dtype=F64)
    twin = copy.deepcopy(lr)  # its hooks belong to its own factors
    name, first = next(twin.named_factors())
    assert name == ("0.self_attn.in_proj_weight" if attention else "0")
    with torch.no_grad():
        first.U.add_(1.0)
    assert not torch.equal(twin(x, s), lr(x, s))
    torch.testing.assert_close(twin.export(s[0])(x), twin(x, s[0]), rtol=0, atol=1e-12)
    torch.testing.assert_close(lr.export(s[0])(x), lr(x, s[0]), rtol=0, atol=1e-12)
    fresh = LowRankWeightManifold(model, Fourier(1), rank=2)
    fresh.load_state_dict(lr.state_dict())
    torch.testing.assert_close(fresh(x, s), lr(x, s), rtol=0, atol=0)
