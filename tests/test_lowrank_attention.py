"""Low-rank updates of ``nn.MultiheadAttention``'s projection weights: every example against the
module called alone at its explicit weights ``W0 + Σ_k φ_k(s_i) U_k V_kᵀ`` (float64), outputs,
attention weights and gradients of the factors, across the module's options."""

from __future__ import annotations

import pytest
import torch
from lowrank_helpers import explicit_weights, randomize
from torch import nn
from torch.func import functional_call

from geomanifold.bases import Fourier, Line
from geomanifold.conditioning import LowRankWeightManifold
from geomanifold.models import Seq2SeqTransformer, VisionTransformer

F64 = torch.float64
E, HEADS, B, L, S = 8, 2, 3, 4, 5


def _low_rank(model: nn.Module, basis=None) -> LowRankWeightManifold:
    generator = torch.Generator().manual_seed(0)
    return randomize(LowRankWeightManifold(model, basis or Line(), rank=2, generator=generator))


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _check(lr, model, args, kwargs, s, batch_dim, per_example_kwargs):
    """Outputs (and attention weights) of ``lr`` equal example-by-example calls of ``model`` at
    explicit weights, and so do the gradients of a loss in the factors."""
    got = lr(args[0], s, *args[1:], **kwargs)
    pieces = []
    for i in range(B):
        example = [a.narrow(batch_dim, i, 1) for a in args]
        # keep the identities of the inputs (self-attention, shared key and value)
        example = [example[next(j for j, b in enumerate(args) if b is a)] for a in args]
        weights = explicit_weights(lr, s[i])
        pieces.append(functional_call(model, weights, tuple(example), per_example_kwargs(i)))
    expected = torch.cat([_first(p) for p in pieces], batch_dim)
    torch.testing.assert_close(_first(got), expected, rtol=0, atol=1e-12)
    if isinstance(got, tuple) and got[1] is not None:
        torch.testing.assert_close(got[1], torch.cat([p[1] for p in pieces]), rtol=0, atol=1e-12)
    probe = torch.randn(expected.shape, dtype=F64, generator=torch.Generator().manual_seed(1))
    factors = lr.factor_parameters()
    grads = torch.autograd.grad((_first(got) * probe).sum(), factors)
    expected_grads = torch.autograd.grad((expected * probe).sum(), factors)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-11)


def _sequences(batch_first: bool, length: int, width: int, seed: int) -> torch.Tensor:
    shape = (B, length, width) if batch_first else (length, B, width)
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


CASES = {
    # (module options, how the query/key/value are shared, call options)
    "self, packed, padding mask, per-head weights": (
        {}, "self", {"key_padding_mask": True, "average_attn_weights": False}
    ),
    "cross, separate kdim/vdim, float 3-D mask": ({"kdim": 6, "vdim": 7}, "cross", {"attn_mask": "3d"}),
    "encoder-decoder, bias_kv, zero attention, boolean mask, no weights": (
        {"add_bias_kv": True, "add_zero_attn": True}, "memory", {"attn_mask": "2d", "need_weights": False}
    ),
    "self, causal, no bias": ({"bias": False}, "self", {"is_causal": True, "need_weights": False}),
}


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_attention_per_example_equals_explicit_weights(case, batch_first):
    options, sharing, call = CASES[case]
    model = nn.MultiheadAttention(E, HEADS, batch_first=batch_first, **options).double()
    lr = _low_rank(model)
    assert {f.parameter for _, f in lr.named_factors()} == (
        {"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}
        if "kdim" in options
        else {"in_proj_weight", "out_proj.weight"}
    )
    query = _sequences(batch_first, L, E, 0)
    key = _sequences(batch_first, S, options.get("kdim", E), 1)
    value = _sequences(batch_first, S, options.get("vdim", E), 2)
    args = {"self": (query, query, query), "memory": (query, key, key), "cross": (query, key, value)}[sharing]
    sources = args[1].shape[1 if batch_first else 0]
    generator = torch.Generator().manual_seed(4)
    kwargs = {k: v for k, v in call.items() if k not in ("key_padding_mask", "attn_mask")}
    if call.get("key_padding_mask"):
        kwargs["key_padding_mask"] = torch.rand(B, sources, generator=generator) < 0.3
    if call.get("attn_mask") == "3d":
        kwargs["attn_mask"] = torch.randn(B * HEADS, L, sources, dtype=F64, generator=generator)
    elif call.get("attn_mask") == "2d":
        kwargs["attn_mask"] = torch.rand(L, sources, generator=generator) < 0.3
    elif call.get("is_causal"):
        kwargs["attn_mask"] = nn.Transformer.generate_square_subsequent_mask(L, dtype=F64)

    def per_example(i: int) -> dict:
        out = dict(kwargs)
        if "key_padding_mask" in out:
            out["key_padding_mask"] = out["key_padding_mask"][i : i + 1]
        if call.get("attn_mask") == "3d":
            out["attn_mask"] = out["attn_mask"][i * HEADS : (i + 1) * HEADS]
        return out

    s = torch.rand(B, 1, dtype=F64, generator=generator)
    _check(lr, model, args, kwargs, s, 0 if batch_first else 1, per_example)


def test_unbatched_attention_and_shared_context_equal_the_exported_module():
    model = nn.MultiheadAttention(E, HEADS).double()
    lr = _low_rank(model, Fourier(1))
    x = torch.randn(L, E, dtype=F64)
    s = torch.rand(1, 1, dtype=F64)
    out, weights = lr(x, s, x, x)
    expected = functional_call(model, explicit_weights(lr, s[0]), (x, x, x))
    torch.testing.assert_close(out, expected[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(weights, expected[1], rtol=0, atol=1e-12)
    shared = lr(x, s[0], x, x)[0]
    torch.testing.assert_close(shared, lr.export(s[0])(x, x, x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer_per_example_in_training_and_inference(batch_first):
    """``(T, B, E)`` with ``T == B`` for sequence-first: the layout comes from ``batch_first``."""
    model = nn.TransformerEncoderLayer(E, HEADS, 16, dropout=0.0, batch_first=batch_first).double()
    lr = _low_rank(model)
    assert len(lr.factors) == 4  # in_proj, out_proj, linear1, linear2
    x = torch.randn(B, B, E, dtype=F64)
    s = torch.rand(B, 1, dtype=F64)
    _check(lr, model, (x,), {}, s, 0 if batch_first else 1, lambda i: {})
    lr.eval()
    model.eval()
    dim = 0 if batch_first else 1
    with torch.no_grad():  # the fused inference paths must not skip the updates
        pieces = [
            functional_call(model, explicit_weights(lr, s[i]), (x.narrow(dim, i, 1),)) for i in range(B)
        ]
        expected = torch.cat(pieces, dim=dim)
        torch.testing.assert_close(lr(x, s), expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(lr(x, s[0]), lr.export(s[0])(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("need_weights", [True, False])
def test_attention_dropout_draws_as_the_module_does(need_weights):
    """In training mode the update and the module's own dropout act together: with the same seed,
    per-example contexts that are all equal give the exported module's output exactly."""
    model = nn.MultiheadAttention(E, HEADS, dropout=0.5, batch_first=True).double()
    lr = _low_rank(model).train()
    x = torch.randn(B, L, E, dtype=F64)
    s = torch.rand(1, dtype=F64)
    torch.manual_seed(5)
    got = lr(x, s.expand(B, 1), x, x, need_weights=need_weights)[0]
    torch.manual_seed(5)
    expected = lr.export(s).train()(x, x, x, need_weights=need_weights)[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert (got == lr.export(s).eval()(x, x, x)[0]).float().mean() < 0.5  # dropout did act


def test_vit_with_attention_per_example_with_gradients():
    model = VisionTransformer(8, 4, layers=2, heads=2, hidden=8, mlp=16, num_classes=3, in_channels=1)
    model = model.double()
    lr = _low_rank(model, Fourier(1))
    assert sum("self_attention" in name for name, _ in lr.named_factors()) == 4
    x = torch.randn(B, 1, 8, 8, dtype=F64)
    s = torch.rand(B, 1, dtype=F64)
    _check(lr, model, (x,), {}, s, 0, lambda i: {})


def test_sequence_first_encoder_decoder_with_cross_attention():
    model = Seq2SeqTransformer(11, hidden=8, heads=2, layers=1, feedforward=16, context=8).double()
    lr = _low_rank(model)
    assert sum(name.endswith("in_proj_weight") for name, _ in lr.named_factors()) == 3
    source, target = torch.randint(0, 11, (5, B)), torch.randint(0, 11, (4, B))
    _check(lr, model, (source, target), {}, torch.rand(B, 1, dtype=F64), 1, lambda i: {})
