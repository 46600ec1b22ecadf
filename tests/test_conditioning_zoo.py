"""The models people use, conditioned per example: each output checked against the original
model run on that example alone at explicitly built weights ``W(s_i)`` (float64, tiny widths)."""

from __future__ import annotations

import pytest
import torch
from test_conditioning_layouts import contexts, convert, reference
from torch import nn

from geomanifold.bases import Fourier
from geomanifold.conditioning import GroupedLayer, LayoutError, StackedKernelLayer
from geomanifold.models import GPT, LSTMLanguageModel, Seq2SeqTransformer, VisionTransformer, resnet18

F64 = torch.float64
BASIS = Fourier(1)


def check(wm, model, s, inputs, dims, out_dim, gradients=False):
    y = wm(*inputs, s) if len(inputs) == 1 else wm(inputs[0], s, *inputs[1:])
    expected = reference(wm, model, s, inputs, dims, out_dim)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-10)
    if gradients:
        points = wm.control_points()
        for g, e in zip(
            torch.autograd.grad(y.square().sum(), points),
            torch.autograd.grad(expected.square().sum(), points),
            strict=True,
        ):
            torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-10)  # gradients reach ~1e4


def test_resnet18_torchvision_layout():
    model = resnet18(num_classes=3, in_channels=2, width=4, small_input=True).double().eval()
    wm = convert(model, BASIS).eval()
    assert isinstance(wm.model.layer2[0].downsample[0], StackedKernelLayer)
    x = torch.randn(3, 2, 8, 8, dtype=F64)
    check(wm, model, contexts(3), (x,), (0,), 0)


@pytest.mark.parametrize("batch_dim", [None, 0])
def test_vision_transformer(batch_dim):
    """Undeclared, the class token (1, 1, E) could broadcast along dim 0 or 1: the whole model
    falls back to grouping by context. With batch_dim=0 the token and the position embedding
    broadcast over the batch and every Linear, LayerNorm and the patch convolution decompose."""
    model = VisionTransformer(8, 4, layers=2, heads=2, hidden=8, mlp=16, num_classes=3, in_channels=2)
    model = model.double()
    wm = convert(model, BASIS, batch_dim=batch_dim)
    strategies = {row["layer"]: row["strategy"] for row in wm.plan()}
    if batch_dim is None:
        assert isinstance(wm.model, GroupedLayer)
    else:
        assert strategies["class_token"] == strategies["encoder.pos_embedding"] == "broadcast"
        assert strategies["conv_proj"] == "auto"
    x = torch.randn(3, 2, 8, 8, dtype=F64)
    check(wm, model, contexts(3), (x,), (0,), 0, gradients=batch_dim == 0)
    s = contexts(1)[0]
    exported = wm.export(s)
    assert type(exported) is VisionTransformer and exported.class_token.shape == (1, 1, 8)
    torch.testing.assert_close(exported(x), wm(x, s), rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_dim", [None, 1])
def test_sequence_first_transformer_encoder_decoder(batch_dim):
    model = Seq2SeqTransformer(11, hidden=8, heads=2, layers=1, feedforward=16, context=8).double()
    wm = convert(model, BASIS, batch_dim=batch_dim)
    source, target = torch.randint(0, 11, (5, 3)), torch.randint(0, 11, (4, 3))
    check(wm, model, contexts(3), (source, target), (1, 1), 1, gradients=batch_dim == 1)
    if batch_dim is None:  # S == T == B: no shape says where the batch is
        square = torch.randint(0, 11, (3, 3))
        with pytest.raises(LayoutError, match=r"layer '<model>' \(Seq2SeqTransformer\): 3 contexts match"):
            wm(square, contexts(3), square)
    else:
        square = torch.randint(0, 11, (3, 3))
        check(wm, model, contexts(3), (square, square), (1, 1), 1)


def test_two_layer_lstm_language_model():
    model = LSTMLanguageModel(11, 6, 6, layers=2).double()
    wm = convert(model, BASIS)
    assert isinstance(wm.model.decoder, StackedKernelLayer)
    tokens = torch.randint(0, 11, (5, 3))
    check(wm, model, contexts(3), (tokens,), (1,), 1)


def test_gpt_block_with_transposed_weights_and_broadcast_position_ids():
    model = GPT(11, context=8, layers=1, hidden=8, heads=2).double()
    wm = convert(model, BASIS)
    assert isinstance(wm.model.h[0].attn.c_attn, GroupedLayer)  # Conv1D: x @ W + b
    ids = torch.randint(0, 11, (3, 5))
    check(wm, model, contexts(3), (ids,), (0,), 0)


def test_depthwise_grouped_and_transposed_convolutions():
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, groups=4),
        nn.Conv2d(4, 6, 3, padding=1, groups=2),
        nn.ConvTranspose2d(6, 3, 3, stride=2),
    ).double()
    wm = convert(model, BASIS)
    x = torch.randn(3, 4, 7, 7, dtype=F64)
    check(wm, model, contexts(3), (x,), (0,), 0, gradients=True)


@pytest.mark.parametrize("name", ["vit", "seq2seq", "lstm", "gpt"])
def test_vectorised_fallback_equals_the_explicit_model(name):
    """strategy="vmap": the layers that are not linear in their weights (attention, Conv1D,
    Embedding; not the LSTM, which vmap cannot batch) run once for the whole batch at per-example
    weights."""
    ids = torch.randint(0, 11, (6, 5))
    cases = {
        "vit": (
            lambda: VisionTransformer(
                8, 4, layers=1, heads=2, hidden=8, mlp=16, num_classes=3, in_channels=2
            ),
            {"batch_dim": 0},
            (torch.randn(5, 2, 8, 8, dtype=F64),),
            (0,),
            0,
        ),
        "seq2seq": (
            lambda: Seq2SeqTransformer(11, hidden=8, heads=2, layers=1, feedforward=16, context=8),
            {"batch_dim": 1},
            (ids, ids[:4]),
            (1, 1),
            1,
        ),
        "lstm": (lambda: LSTMLanguageModel(11, 6, 6, layers=2), {}, (ids,), (1,), 1),
        "gpt": (lambda: GPT(11, context=8, layers=1, hidden=8, heads=2), {}, (ids.T,), (0,), 0),
    }
    make, options, inputs, dims, out_dim = cases[name]
    model = make().double()
    wm = convert(model, BASIS, strategy="vmap", **options)
    s = contexts(5)
    grouped = {row["layer"] for row in wm.plan(*inputs[:1], s, *inputs[1:]) if row["strategy"] == "vmap"}
    assert grouped and all(row["strategy"] != "grouped" for row in wm.plan())
    check(wm, model, s, inputs, dims, out_dim, gradients=True)
