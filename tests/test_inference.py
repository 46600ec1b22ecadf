"""Conditioning inference: the context of an unlabeled batch by least mean prediction entropy."""

import math

import pytest
import torch
from torch import nn

from geomanifold.bases import Fourier, Line, TensorProduct
from geomanifold.chart import Chart, RealLine
from geomanifold.conditioning import WeightManifold, infer_context, mean_prediction_entropy

BETA = 6.0


def angle_manifold() -> WeightManifold:
    """A circle manifold over ``Linear(2, 3)`` whose logits at ``x = (cos 2πa, sin 2πa)`` are
    ``(β cos 2π(s − a), 0, 0)``: confident (low entropy) only at ``s = a``."""
    wm = WeightManifold(nn.Linear(2, 3), Fourier(1)).double()
    with torch.no_grad():
        for _, points in wm.named_control_points():
            points.zero_()
        weight = dict(wm.named_control_points())["model.layer.weight"]  # (3, 3, 2): const, cos, sin
        weight[1, 0, 0] = BETA
        weight[2, 0, 1] = BETA
    return wm


def batches_at(angles: torch.Tensor, size: int = 5) -> torch.Tensor:
    x = torch.stack([torch.cos(2 * math.pi * angles), torch.sin(2 * math.pi * angles)], -1)
    return x[:, None].expand(len(angles), size, 2).contiguous()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(logits, -1)
    return -(p * p.log()).sum(-1)


def test_mean_prediction_entropy_matches_a_direct_computation():
    wm = angle_manifold()
    x = batches_at(torch.tensor([0.1, 0.6], dtype=torch.float64), 3)
    s = torch.tensor([[[0.0], [0.3]], [[0.5], [0.9]]], dtype=torch.float64)
    got = mean_prediction_entropy(wm, x, s)
    for n in range(2):
        for j in range(2):
            expected = entropy(wm(x[n], s[n, j])).mean()
            assert got[n, j].item() == pytest.approx(expected.item(), abs=1e-12)
    # a model that ignores everything: uniform predictions, entropy log C
    assert mean_prediction_entropy(lambda x, s: torch.zeros(len(x), 4), x, s).allclose(
        torch.full((2, 2), math.log(4))
    )


def test_recovers_the_angle_of_each_batch_including_across_the_seam():
    wm = angle_manifold()
    truth = torch.tensor([0.013, 0.31, 0.5, 0.77, 0.999], dtype=torch.float64)
    estimate = infer_context(wm, batches_at(truth))
    assert estimate.s.shape == (5, 1) and estimate.objective.shape == (5,)
    error = Chart.unit([True]).wrapped_difference(truth[:, None], estimate.s).abs()
    assert error.max() < 1e-3
    assert ((estimate.s >= 0) & (estimate.s < 1)).all()  # wrapped into the chart
    for n in range(5):  # the objective is the entropy at the returned s
        direct = entropy(wm(batches_at(truth)[n], estimate.s[n])).mean()
        assert estimate.objective[n].item() == pytest.approx(direct.item(), abs=1e-12)


def test_refinement_beats_the_grid_and_grid_only_returns_a_grid_point():
    wm = angle_manifold()
    truth = torch.tensor([0.0217], dtype=torch.float64)
    coarse = infer_context(wm, batches_at(truth), grid=8, refine=0)
    assert (coarse.s * 8 - (coarse.s * 8).round()).abs().max() < 1e-12
    fine = infer_context(wm, batches_at(truth), grid=8, refine=30)
    assert fine.objective.item() <= coarse.objective.item()
    assert abs(fine.s.item() - truth.item()) < 1e-4 < abs(coarse.s.item() - truth.item())


class AngleAndLevel(nn.Module):
    """Logit ``β cos 2π(s₀ − a) − 20 (s₁ − b)²`` for ``x = (cos 2πa, sin 2πa, b)``: minimum at ``(a, b)``."""

    def forward(self, x, s):
        z = BETA * (x[:, 0] * torch.cos(2 * math.pi * s[:, 0]) + x[:, 1] * torch.sin(2 * math.pi * s[:, 0]))
        z = z - 20 * (s[:, 1] - x[:, 2]) ** 2
        return torch.stack([z, torch.zeros_like(z), torch.zeros_like(z)], -1)


def test_two_coordinates_periodic_and_interval():
    truth = torch.tensor([[0.1, 0.3], [0.97, 0.0], [0.6, 1.0]], dtype=torch.float64)
    angle = 2 * math.pi * truth[:, 0]
    x = torch.stack([torch.cos(angle), torch.sin(angle), truth[:, 1]], -1)
    estimate = infer_context(AngleAndLevel(), x[:, None].expand(3, 4, 3), Chart.unit([True, False]), grid=12)
    error = Chart.unit([True, False]).wrapped_difference(truth, estimate.s).abs()
    assert error.max() < 1e-3
    assert (estimate.s[:, 1] >= 0).all() and (estimate.s[:, 1] <= 1).all()  # the interval is respected


def test_works_on_a_tensor_product_manifold_with_its_own_chart():
    wm = WeightManifold(nn.Linear(2, 3), TensorProduct(Line(), Fourier(1))).double()
    estimate = infer_context(wm, torch.randn(2, 4, 2, dtype=torch.float64), grid=4, refine=2)
    assert estimate.s.shape == (2, 2)
    assert ((estimate.s >= 0) & (estimate.s <= 1)).all()


def test_a_float32_model_gets_a_float32_estimate_it_accepts():
    wm = angle_manifold().float()
    truth = torch.tensor([0.31, 0.77])
    x = batches_at(truth).float()
    estimate = infer_context(wm, x)
    assert estimate.s.dtype == torch.float32
    assert wm(x[0], estimate.s[0]).dtype == torch.float32  # no dtype mismatch
    error = Chart.unit([True]).wrapped_difference(truth[:, None], estimate.s).abs()
    assert error.max() < 1e-3
    # a model without parameters: x's dtype
    no_parameters = infer_context(AngleAndLevel(), torch.rand(1, 2, 3), Chart.unit([True, False]), grid=4)
    assert no_parameters.s.dtype == torch.float32


def test_errors():
    wm = angle_manifold()
    x = batches_at(torch.tensor([0.1], dtype=torch.float64))
    with pytest.raises(ValueError, match="grid must be an int >= 2"):
        infer_context(wm, x, grid=1)
    with pytest.raises(ValueError, match="refine must be an int >= 0"):
        infer_context(wm, x, refine=-1)
    with pytest.raises(TypeError, match="pass chart="):
        infer_context(lambda x, s: x, x)
    with pytest.raises(ValueError, match="bounded coordinates"):
        infer_context(wm, x, chart=Chart([RealLine()]))
