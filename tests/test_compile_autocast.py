"""torch.compile and bfloat16 autocast on conditioned models (CPU, small): same outputs and
gradients as eager float32, to the precision of the compiled graph or of bfloat16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from geomanifold.bases import Fourier, Line
from geomanifold.conditioning import LowRankWeightManifold, WeightManifold
from geomanifold.models import VisionTransformer


def _vit() -> nn.Module:
    torch.manual_seed(0)
    return VisionTransformer(8, 4, layers=1, heads=2, hidden=16, mlp=32, num_classes=3, in_channels=1)


def _conditioned(kind: str, model: nn.Module) -> nn.Module:
    if kind == "weight_manifold":
        return WeightManifold(model, Line(), noise=0.1, generator=torch.Generator().manual_seed(0))
    lr = LowRankWeightManifold(model, Fourier(1), rank=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for f in lr.factors.values():
            f.U.normal_(std=0.1)
    return lr


def _output_and_grads(model, x, s):
    model.zero_grad()
    y = model(x, s)
    y.float().square().mean().backward()
    return y.float(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


@pytest.mark.parametrize("kind", ["weight_manifold", "low_rank"])
def test_compiled_model_matches_eager(kind):
    """``aot_eager`` traces the model with Dynamo and AOTAutograd (the compiled graph and its
    backward) without generating code, which keeps the test fast; benchmarks run inductor."""
    model = _conditioned(kind, _cnn())
    compiled = torch.compile(model, backend="aot_eager")
    x, s = torch.randn(4, 1, 8, 8), torch.rand(4, 1)
    # the shared context of WeightManifold is a second graph (plain layers), traced in benchmarks
    for context in (s, s[0]) if kind == "low_rank" else (s,):
        y, grads = _output_and_grads(model, x, context)
        y_c, grads_c = _output_and_grads(compiled, x, context)
        torch.testing.assert_close(y_c, y, rtol=1e-5, atol=1e-6)
        for g_c, g in zip(grads_c, grads, strict=True):
            torch.testing.assert_close(g_c, g, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["weight_manifold", "low_rank"])
def test_bfloat16_autocast_is_close_to_float32(kind):
    model = _conditioned(kind, _vit())
    x, s = torch.randn(4, 1, 8, 8), torch.rand(4, 1)
    for context in (s, s[0]):
        y, grads = _output_and_grads(model, x, context)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y_bf = model(x, context)
        assert y_bf.dtype == torch.bfloat16
        assert (y_bf.float() - y).abs().max() <= 0.05 * y.abs().max()
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(x, context).float().square().mean()
        loss.backward()
        for p, g in zip([p for p in model.parameters() if p.grad is not None], grads, strict=True):
            assert p.grad.dtype == torch.float32
            assert (p.grad - g).norm() <= 0.1 * g.norm() + 1e-6


def test_weight_manifold_refuses_a_bfloat16_context_for_a_float32_model():
    wm = _conditioned("weight_manifold", _cnn())
    with pytest.raises(TypeError, match=r"s has dtype torch.bfloat16; expected torch.float32") as error:
        wm(torch.randn(2, 1, 8, 8), torch.rand(2, 1).bfloat16())
    assert "\n" not in str(error.value)


def test_switching_the_attention_fast_path_off_does_not_break_the_graph():
    """The only graph breaks left in a conditioned transformer are the checks of ``s`` (finite, in
    the chart); the fast-path switch around the call is traced, and restored after it."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    wm = WeightManifold(layer, Line(), noise=0.1, generator=torch.Generator().manual_seed(0)).eval()
    x, s = torch.randn(2, 3, 8), torch.rand(1)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(wm)(x, s)
    places = {b.user_stack[-1].filename.rsplit("/", 1)[-1] for b in explanation.break_reasons}
    assert places == {"chart.py"}
    assert torch.backends.mha.get_fastpath_enabled()
    compiled = torch.compile(wm, backend="eager")  # Dynamo's graphs run as traced
    with torch.no_grad():  # inference: the fused paths that read the weights directly stay off
        torch.testing.assert_close(compiled(x, s), wm(x, s), rtol=1e-5, atol=1e-6)
    assert torch.backends.mha.get_fastpath_enabled()
