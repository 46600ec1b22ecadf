"""Per-example outputs on sequence-first, recurrent and mixed layouts, broadcast inputs, kernel
choice and the plan (geomanifold.conditioning.layout).

The reference is the explicit per-example model: example ``i`` alone (sliced along its own batch
dim) through the original module at ``W(s_i) = Σ_k φ_k(s_i) P_k`` built by hand.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.func import functional_call

from geomanifold.bases import Fourier, Line
from geomanifold.conditioning import LayoutError, WeightManifold

F64 = torch.float64


def explicit_parameters(wm: WeightManifold, s: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every parameter by its original name at ``s: (m,)``: ``Σ_k φ_k(s) P_k`` for control points."""
    phi = wm.basis(s)
    manifold = {id(p) for p in wm.control_points()}
    return {
        re.sub(r"(^|\.)layer\.", r"\1", name.removeprefix("model."), count=1): (
            torch.einsum("k,k...->...", phi, p) if id(p) in manifold else p
        )
        for name, p in wm.named_parameters()
    }


def reference(wm, model, s, inputs, dims, out_dim):
    """Example ``i``: ``inputs[j]`` narrowed to ``i`` along ``dims[j]``, at ``W(s_i)``."""
    outputs = []
    for i in range(s.shape[0]):
        args = tuple(x.narrow(d, i, 1) for x, d in zip(inputs, dims, strict=True))
        outputs.append(functional_call(model, explicit_parameters(wm, s[i]), args))
    return torch.cat(outputs, dim=out_dim)


def convert(model, basis=None, **kwargs):
    basis = basis or Line()
    kwargs = {"init": "independent", "noise": 0.5, "generator": torch.Generator().manual_seed(1)} | kwargs
    return WeightManifold(model.double(), basis, **kwargs)


def contexts(batch, seed=0, dim=1):
    return torch.rand(batch, dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


def sequence_first_encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=False)
    return nn.Sequential(layer, nn.Linear(8, 3)).double()


@pytest.mark.parametrize("tokens", [4, 5])
def test_sequence_first_encoder_then_linear_is_exact_per_example(tokens):
    """The silent wrong answer: with T == B the Linear after a sequence-first encoder layer took
    dim 0 as the batch. Its input is the encoder layer's output, whose batch is dim 1."""
    batch = 4
    model = sequence_first_encoder()
    wm = convert(model)
    x = torch.randn(tokens, batch, 8, dtype=F64)
    s = contexts(batch)
    expected = reference(wm, model, s, (x,), (1,), out_dim=1)
    torch.testing.assert_close(wm(x, s), expected, rtol=0, atol=1e-10)


def test_sequence_first_through_a_dropout_and_an_activation_is_tracked():
    model = nn.Sequential(
        nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=False),
        nn.Dropout(0.0),
        nn.GELU(),
        nn.Linear(8, 3),
    ).double()
    wm = convert(model)
    x = torch.randn(4, 4, 8, dtype=F64)
    s = contexts(4)
    torch.testing.assert_close(wm(x, s), reference(wm, model, s, (x,), (1,), 1), rtol=0, atol=1e-10)


class Mixed(nn.Module):
    """A sequence-first recurrent encoder, a transpose to batch-first, a batch-first attention and
    a head: the layout changes inside the model."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(7, 6)
        self.rnn = nn.GRU(6, 6)
        self.attention = nn.MultiheadAttention(6, 2, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, tokens):  # (T, B)
        h, _ = self.rnn(self.embed(tokens))
        h = h.transpose(0, 1)
        h, _ = self.attention(h, h, h)
        return self.head(h)


def test_mixed_layouts_with_an_ambiguous_shape_need_one_declaration():
    model = Mixed().double()
    tokens = torch.randint(0, 7, (4, 4))
    s = contexts(4)
    with pytest.raises(
        LayoutError,
        match=r"layer 'embed' \(Embedding\): 4 contexts match dims \[0, 1\]; set WeightManifold\(batch_dim=",
    ):
        convert(model)(tokens, s)
    # the GRU and the attention say their layouts (batch_first), the head reads the attention's output
    wm = convert(model, batch_dim={"embed": 1})
    torch.testing.assert_close(wm(tokens, s), reference(wm, model, s, (tokens,), (1,), 0), rtol=0, atol=1e-10)
    # with T != B every layout is inferred from the shapes or tracked
    tokens = torch.randint(0, 7, (5, 4))
    wm = convert(model)
    torch.testing.assert_close(wm(tokens, s), reference(wm, model, s, (tokens,), (1,), 0), rtol=0, atol=1e-10)


def test_a_declared_batch_dim_reaches_decomposed_and_grouped_layers():
    """A hand-written sequence-first block (no batch_first attribute): batch_dim=1 for the model."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(6)
            self.gru = nn.GRU(6, 6)
            self.proj = nn.Linear(6, 6)
            self.scale = nn.Parameter(torch.ones(1, 1, 6))  # broadcast over T and B

        def forward(self, x):  # (T, B, 6)
            h, _ = self.gru(self.norm(x))
            return self.proj(h) * self.scale

    model = Block().double()
    x = torch.randn(3, 3, 6, dtype=F64)
    s = contexts(3)
    wm = convert(model, batch_dim=1)
    assert wm.plan()[0] == {"layer": "scale", "type": "Parameter", "strategy": "broadcast"}
    torch.testing.assert_close(wm(x, s), reference(wm, model, s, (x,), (1,), 1), rtol=0, atol=1e-10)
    with pytest.raises(LayoutError, match=r"of layer '0' \(LayerNorm\): 3 contexts match dims \[0, 1\]"):
        convert(nn.Sequential(nn.LayerNorm(6)))(x, s)  # undeclared


def test_inputs_broadcast_over_the_batch():
    """Position ids of shape (1, T) in a batch-first model: every example reads the same ids."""

    class Positions(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Embedding(9, 4)
            self.positions = nn.Embedding(6, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, ids):
            position_ids = torch.arange(ids.shape[1])[None]
            return self.head(self.tokens(ids) + self.positions(position_ids))

    model = Positions().double()
    ids = torch.randint(0, 9, (4, 5))
    s = contexts(4)
    wm = convert(model)
    torch.testing.assert_close(wm(ids, s), reference(wm, model, s, (ids,), (0,), 0), rtol=0, atol=1e-10)
    with pytest.raises(
        LayoutError, match=r"input \(4, 4\) of layer 'tokens' \(Embedding\): 4 contexts match dims \[0, 1\]"
    ):
        wm(torch.randint(0, 9, (4, 4)), s)  # T == B
    wm = convert(model, batch_dim=0)
    ids = torch.randint(0, 9, (4, 4))
    torch.testing.assert_close(wm(ids, s), reference(wm, model, s, (ids,), (0,), 0), rtol=0, atol=1e-10)


@pytest.mark.parametrize("strategy", ["stacked", "weights"])
def test_forced_kernels_are_exact_and_shown_in_the_plan(strategy):
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(4, 4, 3, stride=2, groups=4),  # depthwise
        nn.Conv2d(4, 6, 1, groups=2, bias=False),
        nn.Flatten(1),
        nn.Linear(6 * 16, 3),
    ).double()
    basis = Fourier(1)
    wm = convert(model, basis, strategy=strategy)
    x = torch.randn(5, 2, 9, 9, dtype=F64)
    s = contexts(5)
    y = wm(x, s)
    torch.testing.assert_close(y, reference(wm, model, s, (x,), (0,), 0), rtol=0, atol=1e-10)
    grads = torch.autograd.grad(y.square().sum(), wm.control_points())
    expected = torch.autograd.grad(reference(wm, model, s, (x,), (0,), 0).square().sum(), wm.control_points())
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)
    assert {row["strategy"] for row in wm.plan(x, s)} == {strategy}
    assert [row["layer"] for row in wm.plan()] == ["0", "1", "2", "4"]


def test_automatic_kernel_choice_follows_the_shapes():
    """Per-example weights where the output has many positions (K + P + 256 < K·P), stacked
    kernels for small feature maps and one vector per example."""
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Conv2d(2, 2, 3, stride=4, padding=1),
        nn.Flatten(1),
        nn.Linear(32, 4),
    ).double()
    wm = convert(model, Fourier(1))
    plan = wm.plan(torch.randn(3, 1, 16, 16, dtype=F64), contexts(3))
    assert [(row["layer"], row["strategy"], row["input"]) for row in plan] == [
        ("0", "weights", (3, 1, 16, 16)),  # 256 output pixels per example
        ("1", "stacked", (3, 2, 16, 16)),  # 16 output pixels
        ("3", "stacked", (3, 32)),  # one vector per example
    ]


def test_bad_layout_and_strategy_arguments():
    model = sequence_first_encoder()
    with pytest.raises(ValueError, match=r"batch_dim names 'nope', not a module of the model"):
        WeightManifold(model, Line(), batch_dim={"nope": 1})
    with pytest.raises(
        ValueError, match=r"batch_dim must be an int >= 0 or \{module name: int >= 0\}, got -1"
    ):
        WeightManifold(model, Line(), batch_dim=-1)
    valid = r"\('auto', 'stacked', 'weights', 'grouped', 'vmap'\)"
    with pytest.raises(ValueError, match=rf"strategy must be one of {valid}, got 'fast'"):
        WeightManifold(model, Line(), strategy="fast")
    with pytest.raises(ValueError, match=r"strategy names '0', not a Linear, Conv or grouped layer"):
        WeightManifold(model, Line(), strategy={"0": "stacked"})
    with pytest.raises(
        ValueError,
        match=r"strategy of '0.self_attn' \(MultiheadAttention\) must be one of \('auto', 'grouped'",
    ):
        WeightManifold(model, Line(), strategy={"0.self_attn": "weights"})
    with pytest.raises(
        ValueError, match=r"strategy of '<model>' \(GRU\) must be one of \('auto', 'grouped'\), got 'vmap'"
    ):
        WeightManifold(nn.GRU(3, 3), Line(), strategy={"<model>": "vmap"})
    wm = WeightManifold(model, Line(), batch_dim={"1": 0})  # contradicts the tracked layout
    x = torch.randn(3, 4, 8, dtype=F64)
    with pytest.raises(
        LayoutError,
        match=r"input of layer '1' \(Linear\) has shape \(3, 4, 8\) but its batch is on dim 0 and s has 4",
    ):
        wm(x, contexts(4))


def test_independent_init_without_reset_parameters_draws_at_the_parameters_scale():
    class Scaled(nn.Module):  # no reset_parameters
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(400, dtype=F64) * 3 + 1)
            self.bias = nn.Parameter(torch.zeros(4, dtype=F64))

        def forward(self, x):
            return x * self.weight[:4] + self.bias

    torch.manual_seed(0)
    wm = WeightManifold(Scaled(), Fourier(1), init="independent")
    weight, bias = (p for _, p in wm.named_control_points())
    assert weight.shape == (3, 400) and not torch.equal(weight[0], weight[1])
    torch.testing.assert_close(weight.mean(1), torch.ones(3, dtype=F64), rtol=0, atol=0.5)
    torch.testing.assert_close(weight.std(1), torch.full((3,), 3.0, dtype=F64), rtol=0.15, atol=0)
    assert torch.equal(bias, torch.zeros(3, 4, dtype=F64))  # a constant stays constant
