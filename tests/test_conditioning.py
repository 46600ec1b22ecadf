"""Tests for geomanifold.conditioning: converting a model to W(s) = Σ_k φ_k(s) P_k.

The reference throughout is the explicit per-example model: for each example build
``W(s_i) = Σ_k φ_k(s_i) P_k`` from the control points and call the original module on that single
example with :func:`torch.func.functional_call`.
"""

from __future__ import annotations

import copy
import io
import re

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader, TensorDataset

from geomanifold.bases import BSpline, Fourier, Line, TensorProduct
from geomanifold.conditioning import (
    AffineNormLayer,
    BatchDims,
    GroupedLayer,
    ManifoldLayer,
    StackedKernelLayer,
    UnsupportedLayerError,
    WeightManifold,
    calibrate_batchnorm,
)

F64 = torch.float64
BATCH = 5

BASES = {
    "line": Line,
    "fourier1": lambda: Fourier(1),
    "fourier2": lambda: Fourier(2),
    "torus": lambda: TensorProduct(Fourier(1), Fourier(1)),
    "bspline": lambda: BSpline.open(4, 2),
}

# (layer factory, input shape without the batch dimension, expected swapped class)
LAYERS = {
    "linear": (lambda: nn.Linear(5, 4), (5,), StackedKernelLayer),
    "linear_3d_input": (lambda: nn.Linear(5, 4), (3, 5), StackedKernelLayer),
    "conv1d_groups": (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (4, 9), StackedKernelLayer),
    "conv2d": (
        lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
        (4, 7, 6),
        StackedKernelLayer,
    ),
    "conv2d_reflect": (
        lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        (3, 5, 5),
        StackedKernelLayer,
    ),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2, stride=(1, 2, 1), padding=1), (2, 3, 4, 3), StackedKernelLayer),
    "batchnorm1d": (lambda: nn.BatchNorm1d(4), (4, 3), AffineNormLayer),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (3, 4, 2), AffineNormLayer),
    "batchnorm3d": (lambda: nn.BatchNorm3d(2), (2, 3, 2, 2), AffineNormLayer),
    "layernorm": (lambda: nn.LayerNorm((3, 4)), (2, 3, 4), AffineNormLayer),
    "groupnorm": (lambda: nn.GroupNorm(2, 4), (4, 5), AffineNormLayer),
    "instancenorm": (lambda: nn.InstanceNorm2d(3, affine=True), (3, 4, 4), AffineNormLayer),
    "rmsnorm": (lambda: nn.RMSNorm(4), (3, 4), AffineNormLayer),
}


def _contexts(basis, batch: int = BATCH, seed: int = 0) -> torch.Tensor:
    """Mixed contexts in the chart, one repeated (rows 0 and 1 are equal)."""
    s = torch.rand(batch, basis.dim, generator=torch.Generator().manual_seed(seed), dtype=F64)
    s[1] = s[0]
    return s


def _convert(model: nn.Module, basis, **kwargs) -> WeightManifold:
    """A float64 manifold model with distinct control points (independent init plus noise)."""
    kwargs = {"init": "independent", "noise": 0.5, "generator": torch.Generator().manual_seed(1)} | kwargs
    return WeightManifold(model.double(), basis, **kwargs)


def _original_name(name: str) -> str:
    """``model.a.layer.weight`` -> ``a.weight``: the parameter's name in the original model."""
    return re.sub(r"(^|\.)layer\.", r"\1", name.removeprefix("model."), count=1)


def _explicit_parameters(wm: WeightManifold, s: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every parameter at ``s: (m,)``, built by hand: W(s) = Σ_k φ_k(s) P_k."""
    phi = wm.basis(s)
    manifold = {id(p) for p in wm.control_points()}
    return {
        _original_name(name): torch.einsum("k,k...->...", phi, p) if id(p) in manifold else p
        for name, p in wm.named_parameters()
    }


def _explicit(wm, model, x, s, *args, buffers=None):
    """Per-example reference: example ``i`` alone through ``model`` at ``W(s_i)``."""
    outputs = []
    for i in range(x.shape[0]):
        params = _explicit_parameters(wm, s[i]) | (buffers or {})
        extra = tuple(a[i : i + 1] for a in args)
        outputs.append(functional_call(model, params, (x[i : i + 1], *extra)))
    return torch.cat(outputs)


@pytest.mark.parametrize("basis_name", list(BASES))
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_decomposition_equals_explicit_per_example_weights(layer_name, basis_name):
    make, shape, swapped = LAYERS[layer_name]
    basis = BASES[basis_name]()
    layer = make().double().eval()
    wm = _convert(layer, basis).eval()
    assert type(wm.model) is swapped
    x = torch.randn(BATCH, *shape, dtype=F64)
    s = _contexts(basis)
    torch.testing.assert_close(wm(x, s), _explicit(wm, layer, x, s), rtol=0, atol=1e-10)


@pytest.mark.parametrize("layer_name", ["batchnorm1d", "batchnorm2d", "batchnorm3d"])
def test_batchnorm_train_mode_normalises_the_mixed_batch_with_shared_statistics(layer_name):
    """Reference: the batch statistics of the whole (mixed-context) batch normalise every
    example, then example i gets its own affine γ(s_i), β(s_i)."""
    make, shape, _ = LAYERS[layer_name]
    basis = Fourier(1)
    layer = make().double()
    wm = _convert(layer, basis).train()
    x = torch.randn(BATCH, *shape, dtype=F64)
    s = _contexts(basis)
    dims = [0, *range(2, x.ndim)]
    stats = {"running_mean": x.mean(dims), "running_var": x.var(dims, unbiased=False)}
    expected = _explicit(wm, copy.deepcopy(layer).eval(), x, s, buffers=stats)
    torch.testing.assert_close(wm(x, s), expected, rtol=0, atol=1e-10)
    plain = copy.deepcopy(layer).train()
    plain(x)  # one set of running statistics, updated by the mixed batch
    bn = wm.model.layer
    torch.testing.assert_close(bn.running_mean, plain.running_mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(bn.running_var, plain.running_var, rtol=0, atol=1e-12)
    assert bn.num_batches_tracked.item() == 1


@pytest.mark.parametrize("selection", [{"exclude": "bias"}, {"include": "bias"}, {"include": "weight"}])
@pytest.mark.parametrize("layer_name", ["linear", "conv1d_groups", "batchnorm2d", "layernorm"])
def test_partial_selection_keeps_the_rest_shared(layer_name, selection):
    make, shape, _ = LAYERS[layer_name]
    basis = Line()
    layer = make().double().eval()
    wm = _convert(layer, basis, **selection).eval()
    assert wm.model.names == (("weight",) if selection != {"include": "bias"} else ("bias",))
    x = torch.randn(BATCH, *shape, dtype=F64)
    s = _contexts(basis)
    torch.testing.assert_close(wm(x, s), _explicit(wm, layer, x, s), rtol=0, atol=1e-10)
    torch.testing.assert_close(wm(x, s[2]), wm(x, s[2].expand(BATCH, 1)), rtol=0, atol=1e-10)


class Gated(nn.Module):
    """A layer whose parameters enter non-linearly: ``x ⊙ sin(a) + tanh(x @ w)``."""

    def __init__(self, features: int):
        super().__init__()
        self.a = nn.Parameter(torch.empty(features))
        self.w = nn.Parameter(torch.empty(features, features))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.a)
        nn.init.normal_(self.w, std=self.w.shape[0] ** -0.5)

    def forward(self, x):
        return x * torch.sin(self.a) + torch.tanh(x @ self.w)


class Network(nn.Module):
    """Conv, BatchNorm, a custom non-linear layer and linear layers in one model."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten()
        )
        self.gate = Gated(3 * 4 * 4)
        self.head = nn.Sequential(nn.Linear(48, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.gate(self.features(x)))


@pytest.mark.parametrize("basis_name", ["line", "torus"])
def test_whole_network_with_decomposition_and_fallback(basis_name):
    basis = BASES[basis_name]()
    net = Network().double().eval()
    wm = _convert(net, basis, init="copy").eval()
    assert isinstance(wm.model.gate, GroupedLayer)
    assert isinstance(wm.model.features[0], StackedKernelLayer)
    x = torch.randn(BATCH, 1, 4, 4, dtype=F64)
    s = _contexts(basis)
    y = wm(x, s)
    torch.testing.assert_close(y, _explicit(wm, net, x, s), rtol=0, atol=1e-10)
    # gradients of the control points agree with the explicit path
    grads = torch.autograd.grad(y.square().sum(), wm.control_points())
    reference = torch.autograd.grad(_explicit(wm, net, x, s).square().sum(), wm.control_points())
    for g, r in zip(grads, reference, strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-10)


def test_shared_context_fast_path_equals_per_example_path():
    basis = TensorProduct(Fourier(1), Fourier(1))
    net = Network().double()
    wm = _convert(net, basis, init="copy")
    x = torch.randn(BATCH, 1, 4, 4, dtype=F64)
    s = torch.tensor([0.3, 0.8], dtype=F64)
    for mode in (wm.eval, wm.train):
        mode()
        torch.testing.assert_close(wm(x, s), wm(x, s.expand(BATCH, 2)), rtol=0, atol=1e-10)
    for make, shape, _ in LAYERS.values():
        wm = _convert(make(), basis).eval()
        x = torch.randn(BATCH, *shape, dtype=F64)
        torch.testing.assert_close(wm(x, s), wm(x, s.expand(BATCH, 2)), rtol=0, atol=1e-10)


@pytest.mark.parametrize("batch_first", [True, False])
def test_fallback_gru_equals_explicit_per_example_weights(batch_first):
    basis = Fourier(1)
    gru = nn.GRU(3, 4, num_layers=2, batch_first=batch_first).double()
    wm = _convert(gru, basis)
    assert isinstance(wm.model, GroupedLayer)
    x = torch.randn(BATCH, 6, 3, dtype=F64)
    h0 = torch.randn(2, BATCH, 4, dtype=F64)
    s = _contexts(basis)
    seq = x if batch_first else x.transpose(0, 1)
    out, h = wm(seq, s, h0)
    outs, hs = [], []
    for i in range(BATCH):
        xi = x[i : i + 1] if batch_first else x[i : i + 1].transpose(0, 1)
        o, hi = functional_call(gru, _explicit_parameters(wm, s[i]), (xi, h0[:, i : i + 1]))
        outs.append(o if batch_first else o.transpose(0, 1))
        hs.append(hi)
    torch.testing.assert_close(
        out if batch_first else out.transpose(0, 1), torch.cat(outs), rtol=0, atol=1e-10
    )
    torch.testing.assert_close(h, torch.cat(hs, dim=1), rtol=0, atol=1e-10)


def test_fallback_multihead_attention_equals_explicit_per_example_weights():
    basis = Line()
    attention = nn.MultiheadAttention(4, 2, batch_first=True).double()
    wm = _convert(attention, basis)
    x = torch.randn(BATCH, 3, 4, dtype=F64)
    mask = torch.zeros(BATCH, 3, dtype=torch.bool)
    mask[:, -1] = torch.arange(BATCH) % 2 == 0
    s = _contexts(basis)
    out, weights = wm(x, s, x, x, key_padding_mask=mask)
    for i in range(BATCH):
        xi = x[i : i + 1]
        o, w = functional_call(
            attention, _explicit_parameters(wm, s[i]), (xi, xi, xi), {"key_padding_mask": mask[i : i + 1]}
        )
        torch.testing.assert_close(out[i : i + 1], o, rtol=0, atol=1e-10)
        torch.testing.assert_close(weights[i : i + 1], w, rtol=0, atol=1e-10)


def test_transformer_encoder_per_example_in_train_and_eval_mode():
    """Linear and LayerNorm children are decomposed, attention falls back; the fused inference
    fast path (which reads the weights directly) is off inside the forward."""
    basis = Line()
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).double()
    wm = _convert(encoder, basis)
    assert isinstance(wm.model.layers[0].self_attn, GroupedLayer)
    assert wm.model.layers[0].linear1.out_features == 16  # hyper-parameters read through
    with pytest.raises(AttributeError, match=r"'weight' of layer 'layers\.0\.linear1' is on the weight"):
        wm.model.layers[0].linear1.weight  # noqa: B018
    x = torch.randn(BATCH, 3, 8, dtype=F64)
    s = _contexts(basis)
    for train in (True, False):
        wm.train(train)
        encoder.train(train)
        with torch.set_grad_enabled(train):
            torch.testing.assert_close(wm(x, s), _explicit(wm, encoder, x, s), rtol=0, atol=1e-10)
    assert torch.backends.mha.get_fastpath_enabled()


def test_fallback_custom_batch_dims():
    """A layer with its batch on dim 1 declares it through batch_dims."""

    class Transposed(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = Gated(3)

        def forward(self, x):  # x: (L, B, 3)
            return self.gate(x)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Transposed()

        def forward(self, x):
            return self.inner(x.transpose(0, 1)).transpose(0, 1)

    basis = Line()
    net = Outer().double()
    x = torch.randn(BATCH, 2, 3, dtype=F64)
    s = _contexts(basis)
    wm = _convert(net, basis, init="copy", batch_dims={"inner.gate": BatchDims(args=1, outputs=1)})
    torch.testing.assert_close(wm(x, s), _explicit(wm, net, x, s), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match=r"argument 0 of layer 'inner.gate' \(Gated\) has shape \(2, 5, 3\)"):
        _convert(net, basis, init="copy", batch_dims={"inner.gate": BatchDims(args=0, outputs=0)})(x, s)
    # without batch_dims the batch dim is inferred: dim 1 is the only one with 5 examples
    wm = _convert(net, basis, init="copy")
    torch.testing.assert_close(wm(x, s), _explicit(wm, net, x, s), rtol=0, atol=1e-10)


@pytest.mark.parametrize("basis_name", list(BASES))
def test_copy_init_gives_the_original_outputs_at_every_context(basis_name):
    basis = BASES[basis_name]()
    net = Network().double().eval()
    wm = WeightManifold(net, basis).eval()
    x = torch.randn(BATCH, 1, 4, 4, dtype=F64)
    expected = net(x)
    torch.testing.assert_close(wm(x, _contexts(basis)), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(wm(x, _contexts(basis, seed=3)[0]), expected, rtol=0, atol=1e-12)


def test_copy_init_float32_and_independent_init_differs():
    net = Network().eval()
    wm = WeightManifold(net, Fourier(2)).eval()
    x = torch.randn(BATCH, 1, 4, 4)
    torch.testing.assert_close(wm(x, torch.rand(BATCH, 1)), net(x))
    fresh = WeightManifold(net, Line(), init="independent")
    p = fresh.model.head[0].layer.weight
    assert p.shape == (2, 8, 48) and not torch.equal(p[0], p[1])


def test_export_reproduces_outputs_and_is_a_plain_copy():
    basis = TensorProduct(Fourier(1), Fourier(1))
    net = Network().double().eval()
    wm = _convert(net, basis).eval()
    s = torch.tensor([0.2, 0.7], dtype=F64)
    plain = wm.export(s)
    assert type(plain) is Network and not any(isinstance(m, ManifoldLayer) for m in plain.modules())
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in net.named_parameters()]
    x = torch.randn(BATCH, 1, 4, 4, dtype=F64)
    torch.testing.assert_close(plain(x), wm(x, s), rtol=0, atol=1e-12)
    torch.testing.assert_close(functional_call(net, wm.parameters_at(s), (x,)), wm(x, s), rtol=0, atol=1e-12)
    with torch.no_grad():
        plain.head[0].weight.zero_()
    assert wm.model.head[0].layer.weight.abs().sum() > 0


def test_state_dict_round_trip_and_dtype_conversion():
    basis = Line()
    net = Network()
    wm = _convert(net, basis).eval()
    buffer = io.BytesIO()
    torch.save(wm.state_dict(), buffer)
    other = WeightManifold(Network(), basis, init="independent").double().eval()
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer))
    x = torch.randn(BATCH, 1, 4, 4, dtype=F64)
    s = _contexts(basis)
    torch.testing.assert_close(other(x, s), wm(x, s), rtol=0, atol=0)
    wm32 = wm.to(torch.float32)
    assert all(p.dtype == torch.float32 for p in wm32.parameters())
    torch.testing.assert_close(wm32(x.float(), s.float()), other(x, s).float(), rtol=1e-4, atol=1e-5)


def test_param_groups_and_control_points():
    basis = TensorProduct(Fourier(1), Fourier(1))
    wm = WeightManifold(Network(), basis, exclude=(nn.LayerNorm, nn.BatchNorm2d))
    manifold, shared = wm.param_groups()
    assert manifold["basis"] is basis and set(shared) == {"params"}
    assert all(p.shape[0] == basis.size for p in manifold["params"])
    assert len(shared["params"]) == 4  # BatchNorm2d and LayerNorm affine parameters
    ids = [id(p) for g in (manifold, shared) for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in wm.parameters())
    names = dict(wm.named_control_points())
    assert "model.gate.layer.a" in names and names["model.head.0.layer.weight"].shape == (9, 8, 48)
    assert len(wm.control_points()) == len(names) == 8
    optimizer = torch.optim.SGD(wm.param_groups(), lr=0.1)  # extra keys are carried along
    assert optimizer.param_groups[0]["basis"] is basis


def _bn_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2)
    ).double()


def test_calibrate_batchnorm_recomputes_statistics_at_an_unseen_context():
    basis = Line()
    wm = _convert(_bn_model(), basis)
    x = torch.randn(64, 3, dtype=F64)
    wm.train()
    for _ in range(3):  # shared statistics from mixed-context batches
        wm(x, torch.rand(64, 1, dtype=F64))
    s0 = torch.tensor([0.37], dtype=F64)
    calibrate_batchnorm(wm, [x], s0)
    assert wm.training and wm.model[1].layer.momentum == 0.1
    params = {name: p.detach() for name, p in _explicit_parameters(wm, s0).items()}
    h = x @ params["0.weight"].T + params["0.bias"]
    bn = wm.model[1].layer
    torch.testing.assert_close(bn.running_mean, h.mean(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(bn.running_var, h.var(0), rtol=0, atol=1e-12)
    # eval at s0 now normalises with the statistics at s0; the exported model agrees
    wm.eval()
    expected = functional_call(
        _bn_model().eval(), params | {"1.running_mean": h.mean(0), "1.running_var": h.var(0)}, (x,)
    )
    torch.testing.assert_close(wm(x, s0), expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(wm.export(s0)(x), expected, rtol=0, atol=1e-10)


def test_calibrate_batchnorm_from_a_loader_matches_a_calibrated_export():
    basis = Fourier(1)
    wm = _convert(_bn_model(), basis).eval()
    loader = DataLoader(TensorDataset(torch.randn(40, 3, dtype=F64), torch.zeros(40)), batch_size=10)
    s0 = torch.tensor([0.9], dtype=F64)
    plain = calibrate_batchnorm(wm.export(s0), loader)
    calibrate_batchnorm(wm, loader, s0)
    assert not wm.training
    torch.testing.assert_close(wm.model[1].layer.running_mean, plain[1].running_mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(wm.model[1].layer.running_var, plain[1].running_var, rtol=0, atol=1e-12)
    assert wm.model[1].layer.num_batches_tracked.item() == 4


# --- bad input: one-line errors naming the argument and what is valid ---


def test_bad_contexts():
    wm = WeightManifold(nn.Linear(3, 2).double(), Line())
    x = torch.zeros(4, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"s must have shape \(\.\.\., 1\)"):
        wm(x, torch.zeros(4, 2, dtype=F64))
    with pytest.raises(ValueError, match=r"s must have shape \(1,\) shared by the batch or \(B, 1\)"):
        wm(x, torch.zeros(2, 4, 1, dtype=F64))
    with pytest.raises(ValueError, match=r"s\[\.\.\., 0\] = 1\.5 is outside the chart; valid: in \[0, 1\]"):
        wm(x, torch.full((4, 1), 1.5, dtype=F64))
    with pytest.raises(ValueError, match=r"\(4, 3\) of layer '<model>' \(Linear\) has no dim with the 3"):
        wm(x, torch.zeros(3, 1, dtype=F64))
    with pytest.raises(TypeError, match=r"s has dtype torch.float32; expected torch.float64"):
        wm(x, torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"s is on meta but the parameters are on cpu"):
        wm(x, torch.zeros(4, 1, dtype=F64, device="meta"))
    with pytest.raises(ValueError, match=r"s must have shape \(1,\), got \(4, 1\)"):
        wm.export(torch.zeros(4, 1, dtype=F64))
    with pytest.raises(RuntimeError, match="called without a context; call the WeightManifold as wm"):
        wm.model(x)
    assert wm(x, [0.5]).shape == (4, 2)  # plain numbers take the parameters' dtype


def test_bad_conversions():
    with pytest.raises(ValueError, match=r"no parameters selected: include='nothing\*'"):
        WeightManifold(nn.Linear(3, 2), Line(), include="nothing*")
    with pytest.raises(ValueError, match="model has no parameters"):
        WeightManifold(nn.ReLU(), Line())
    with pytest.raises(TypeError, match=r"basis must be a geomanifold\.bases\.Basis"):
        WeightManifold(nn.Linear(3, 2), "line")
    with pytest.raises(ValueError, match=r"init must be one of \('copy', 'independent'\)"):
        WeightManifold(nn.Linear(3, 2), Line(), init="zeros")
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        WeightManifold(nn.Linear(3, 2), Line(), noise=-1.0)
    with pytest.raises(TypeError, match="include must be a name pattern, a module class, a callable"):
        WeightManifold(nn.Linear(3, 2), Line(), include=3)
    with pytest.raises(ValueError, match=r"batch_dims names \['nope'\], not grouped-fallback layers"):
        WeightManifold(nn.Linear(3, 2), Line(), batch_dims={"nope": BatchDims()})
    with pytest.raises(ValueError, match="init='copy' needs a basis that can represent constant functions"):
        WeightManifold(nn.Linear(3, 2), Fourier(1, include_constant=False))


def test_unsupported_layers():
    shared = nn.Linear(3, 3)
    with pytest.raises(UnsupportedLayerError, match=r"parameter '0.weight' is tied to \['1.weight'\]"):
        WeightManifold(nn.Sequential(shared, shared), Line())
    with pytest.raises(UnsupportedLayerError, match=r"parameter '0\.weight' is lazy"):
        WeightManifold(nn.Sequential(nn.LazyLinear(3)), Line())

    class Block(nn.Module):  # owns a parameter and a BatchNorm: the whole block falls back
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))
            self.norm = nn.BatchNorm1d(3)

        def forward(self, x):
            return self.norm(x) * self.scale

    wm = WeightManifold(Block(), Line(), noise=0.1)
    x = torch.randn(4, 3)
    with pytest.raises(UnsupportedLayerError, match="couples examples through BatchNorm1d in training mode"):
        wm(x, torch.rand(4, 1))
    assert wm(x, torch.rand(1)).shape == (4, 3)  # a shared context is fine
    assert wm.eval()(x, torch.rand(4, 1)).shape == (4, 3)  # so is eval mode


def test_calibrate_batchnorm_errors():
    wm = WeightManifold(_bn_model(), Line())
    with pytest.raises(ValueError, match=r"s is required for a WeightManifold"):
        calibrate_batchnorm(wm, [torch.zeros(2, 3, dtype=F64)])
    with pytest.raises(ValueError, match=r"s must have shape \(1,\): one context"):
        calibrate_batchnorm(wm, [torch.zeros(2, 3, dtype=F64)], torch.zeros(2, 1, dtype=F64))
    with pytest.raises(ValueError, match="s is only valid with a WeightManifold"):
        calibrate_batchnorm(_bn_model(), [], [0.5])
    with pytest.raises(ValueError, match="has no BatchNorm layer tracking running statistics"):
        calibrate_batchnorm(nn.Linear(2, 2), [])
    with pytest.raises(ValueError, match="batches is empty"):
        calibrate_batchnorm(wm, [], [0.5])
