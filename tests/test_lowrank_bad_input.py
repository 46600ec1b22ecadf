"""Bad input to low-rank weight manifolds and their factor metric: one line naming the argument."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from geomanifold.bases import Line
from geomanifold.bases.basis import SingularGramError
from geomanifold.conditioning import LayoutError, LowRankWeightManifold, UnsupportedLayerError
from geomanifold.optim import FactorMetric, NaturalGradientPreconditioner, NaturalGradientSGD


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 3))


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("rank", [0, -1, 2.5, True, "2"])
def test_rank_must_be_a_positive_int(rank):
    with pytest.raises(ValueError, match=r"rank must be an int >= 1") as error:
        LowRankWeightManifold(_mlp(), Line(), rank=rank)
    _one_line(error)


def test_rank_above_min_out_fan_in_names_the_layer():
    with pytest.raises(ValueError, match=r"rank must be <= min\(out, fan_in\) = 3 for layer '2'") as error:
        LowRankWeightManifold(_mlp(), Line(), rank=4)
    _one_line(error)


def test_conv_rank_is_bounded_by_the_reshaped_kernel():
    conv = nn.Sequential(nn.Conv2d(2, 8, 1))  # kernel (8, 2, 1, 1) -> matrix (8, 2)
    with pytest.raises(ValueError, match=r"min\(out, fan_in\) = 2 for layer '0'"):
        LowRankWeightManifold(conv, Line(), rank=3)
    assert LowRankWeightManifold(conv, Line(), rank=2).factors["0"].V.shape == (2, 2, 2)


@pytest.mark.parametrize(
    ("include", "why"),
    [
        ("1.weight", r"is a weight of LayerNorm \(1-D\)"),
        ("0.bias", r"is the bias of Linear \(1-D\)"),
    ],
)
def test_parameters_that_are_not_linear_or_conv_weights_are_refused(include, why):
    with pytest.raises(UnsupportedLayerError, match=why) as error:
        LowRankWeightManifold(_mlp(), Line(), rank=1, include=include)
    assert "valid: the 2-D weight of an nn.Linear" in _one_line(error)


def test_attention_bias_is_refused_and_rank_is_bounded_by_the_embedding():
    model = nn.Module()
    model.attention = nn.MultiheadAttention(4, 2, batch_first=True)
    with pytest.raises(UnsupportedLayerError, match=r"'attention.in_proj_bias' is the in_proj_bias") as error:
        LowRankWeightManifold(model, Line(), rank=1, include="attention.in_proj_bias")
    assert "a projection weight of an nn.MultiheadAttention" in _one_line(error)
    with pytest.raises(ValueError, match=r"= 4 for layer 'attention.in_proj_weight' \(weight \(12, 4\)\)"):
        LowRankWeightManifold(model, Line(), rank=5, include="attention.in_proj_weight")


def test_attention_sequences_that_do_not_match_the_contexts_say_so():
    attention = nn.MultiheadAttention(4, 2, batch_first=True)
    lr = LowRankWeightManifold(attention, Line(), rank=1)
    x = torch.randn(3, 5, 4)
    expected = r"'in_proj_weight' \(MultiheadAttention\) got 3 sequences"
    with pytest.raises(LayoutError, match=expected) as error:
        lr(x, torch.rand(2, 1), x, x)
    assert "valid: one context per sequence" in _one_line(error)


def test_nothing_selected():
    with pytest.raises(ValueError, match="no layer selected") as error:
        LowRankWeightManifold(_mlp(), Line(), rank=1, exclude=nn.Linear)
    _one_line(error)


@pytest.mark.parametrize("batch_dim", [1.0, -1, False, {"0": "1"}])
def test_batch_dim_must_be_an_int(batch_dim):
    with pytest.raises(ValueError, match="batch_dim must be an int >= 0"):
        LowRankWeightManifold(_mlp(), Line(), rank=1, batch_dim=batch_dim)


def test_contexts_that_do_not_match_the_batch_say_so():
    lr = LowRankWeightManifold(_mlp(), Line(), rank=1)
    with pytest.raises(LayoutError, match=r"has no dim with the 3 examples of s") as error:
        lr(torch.randn(2, 4), torch.rand(3, 1))
    assert "valid: s with one row per example" in _one_line(error)
    declared = LowRankWeightManifold(_mlp(), Line(), rank=1, batch_dim=0)
    with pytest.raises(LayoutError, match=r"its batch is on dim 0 and s has 3 contexts"):
        declared(torch.randn(2, 4), torch.rand(3, 1))
    with pytest.raises(LayoutError, match=r"unbatched input of shape \(1, 3, 3\)"):
        LowRankWeightManifold(nn.Conv2d(1, 2, 2), Line(), rank=1)(torch.randn(1, 3, 3), torch.rand(1, 1))
    with pytest.raises(ValueError, match=r"s must have shape \(1,\) shared by the batch or \(B, 1\)"):
        lr(torch.randn(2, 4), torch.rand(2, 1, 1))


def test_bfloat16_context_is_cast_to_the_model_dtype():
    lr = LowRankWeightManifold(_mlp(), Line(), rank=1)
    with torch.no_grad():
        lr.factors["0"].U.normal_()
    x = torch.randn(3, 4)
    s = torch.rand(3, 1).bfloat16()
    torch.testing.assert_close(lr(x, s), lr(x, s.float()), rtol=0, atol=0)


def test_factor_metric_arguments():
    with pytest.raises(ValueError, match=r"gram must be a \(K, K\) tensor, got \(2, 3\)"):
        FactorMetric(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="damping must be >= 0"):
        FactorMetric(torch.eye(2), damping=-1.0)
    metric = FactorMetric(torch.eye(2))
    u = torch.zeros(2, 3, 1)
    with pytest.raises(ValueError, match=r"valid: pairs \[U, V, U, V, ...\]"):
        metric.check([u], 0)
    with pytest.raises(ValueError, match=r"valid: U \(K=2, out, r\) and V \(K=2, fan_in, r\)"):
        metric.check([u, torch.zeros(3, 4, 1)], 0)


def test_undamped_metric_of_a_rank_deficient_factor_raises():
    v = torch.zeros(1, 3, 2, dtype=torch.float64)
    v[0, :, 0] = v[0, :, 1] = 1.0  # two equal columns: V_kᵀ V_k is singular
    metric = FactorMetric(torch.eye(1, dtype=torch.float64), damping=0.0)
    grad = torch.randn(1, 2, 2, dtype=torch.float64)
    with pytest.raises(SingularGramError, match="valid: damping > 0"):
        metric.solve([torch.zeros_like(grad), v], [grad, None])


def test_nested_tensor_inference_path_is_refused_for_per_example_contexts():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=True).eval()
    lr = LowRankWeightManifold(encoder, Line(), rank=1).eval()
    x, mask = torch.randn(2, 3, 4), torch.tensor([[False, False, True], [False, False, False]])
    expected = r"\(MultiheadAttention\) got a nested tensor.*enable_nested_tensor=False\)"
    with torch.no_grad(), pytest.raises(ValueError, match=expected) as error:
        lr(x, torch.rand(2, 1), src_key_padding_mask=mask)
    _one_line(error)


def test_tied_weights_are_refused():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    model[1].weight = model[0].weight
    expected = r"parameter '0.weight' is tied to \['1.weight'\]"
    with pytest.raises(UnsupportedLayerError, match=expected) as error:
        LowRankWeightManifold(model, Line(), rank=1)
    _one_line(error)


@pytest.mark.parametrize("optimizer", [NaturalGradientSGD, NaturalGradientPreconditioner])
def test_natural_optimizers_given_plain_parameters_name_param_groups(optimizer):
    lr = LowRankWeightManifold(_mlp(), Line(), rank=1)
    with pytest.raises(ValueError, match=r"pass LowRankWeightManifold.param_groups\(\) instead") as error:
        optimizer(lr.parameters(), lr=0.1) if optimizer is NaturalGradientSGD else optimizer(lr.parameters())
    _one_line(error)
    optimizer(lr.param_groups(), lr=0.1) if optimizer is NaturalGradientSGD else optimizer(lr.param_groups())
