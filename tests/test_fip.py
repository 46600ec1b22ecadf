"""Functionally invariant steps (Raghavan & Thomson 2021): the exact trust-region step against a dense solve,
and walks that keep the function while the secondary objective decreases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from geomanifold.weightspace.divergence import output_divergence
from geomanifold.weightspace.fip import (
    FunctionallyInvariantPath,
    distance_to,
    normalised,
    trust_region_direction,
)
from geomanifold.weightspace.functional import call_with_vector, parameter_vector

DTYPE = torch.float64


def tiny_network(seed: int = 0, hidden: int = 6) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 4)).to(DTYPE).eval()


def inputs(n: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def dense_metric(model: nn.Module, w: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """``mean_x J_xᵀ H_x J_x`` from the explicit Jacobian (independent of the matrix-free code)."""
    jacobian = torch.autograd.functional.jacobian(lambda v: call_with_vector(model, v, x), w)  # (N, C, D)
    if kind == "gauss-newton":
        h = torch.eye(jacobian.shape[1], dtype=DTYPE).expand(len(x), -1, -1)
    else:
        p = call_with_vector(model, w, x).softmax(-1)
        h = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return torch.einsum("nci,ncd,ndj->ij", jacobian, h, jacobian) / len(x)


@pytest.mark.parametrize("kind", ["fisher", "gauss-newton"])
def test_trust_region_direction_solves_the_damped_system(kind):
    model = tiny_network()
    w, x = parameter_vector(model), inputs()
    gradient = torch.randn(w.numel(), generator=torch.Generator().manual_seed(2), dtype=DTYPE)
    damping = 1e-2
    theta = trust_region_direction(model, w, x, gradient, kind, damping, cg_iterations=500, rtol=1e-13)
    g = dense_metric(model, w, x, kind)
    expected = torch.linalg.solve(g + damping * torch.eye(len(w), dtype=DTYPE), -gradient)
    torch.testing.assert_close(theta, expected, rtol=1e-7, atol=1e-9)
    # the step lies mostly in the near-null directions of G: its metric cost per unit length is far
    # below that of the plain gradient step
    cost = lambda v: float(v @ g @ v / (v @ v))  # noqa: E731
    assert cost(theta) < 0.05 * cost(-gradient)


def test_trust_region_walk_step_has_length_epsilon_along_the_solution():
    model, x = tiny_network(), inputs(8)
    target = torch.zeros(parameter_vector(model).numel(), dtype=DTYPE)
    secondary = lambda w: 0.5 * (w - target).pow(2).sum()  # noqa: E731
    path = FunctionallyInvariantPath(
        model,
        x,
        secondary,
        rule="trust-region",
        step_length=0.03,
        batch_size=8,
        damping=1e-3,
        cg_iterations=400,
    )
    w0 = path.weights.clone()
    step = path.step() - w0
    g = dense_metric(model, w0, x, "fisher")
    solution = torch.linalg.solve(g + 1e-3 * torch.eye(len(w0), dtype=DTYPE), -(w0 - target))
    assert float(step.norm()) == pytest.approx(0.03, rel=1e-12)
    torch.testing.assert_close(step, normalised(solution, 0.03), rtol=1e-6, atol=1e-9)


def walk(rule: str, steps: int = 40, **options) -> list[dict]:
    model = tiny_network(hidden=12)
    mask = torch.zeros(parameter_vector(model).numel(), dtype=torch.bool)
    mask[:18] = True  # half of the first layer's weights
    secondary = lambda w: w[mask].norm()  # noqa: E731
    path = FunctionallyInvariantPath(
        model, inputs(40), secondary, rule=rule, step_length=0.02, batch_size=40, **options
    )
    return path.walk(steps, record_every=1, progress=False)


@pytest.mark.parametrize(
    "rule, options", [("penalty", {"penalty": 30.0}), ("trust-region", {"damping": 1e-3})]
)
def test_fip_keeps_the_function_better_than_the_euclidean_step(rule, options):
    euclidean = walk("euclidean")
    fip = walk(rule, **options)
    assert [r["step"] for r in fip] == list(range(41))
    assert fip[0]["divergence"] == 0 and fip[0]["distance"] == 0
    assert fip[-1]["distance"] <= 40 * 0.02 + 1e-12
    # the secondary objective decreases along the walk ...
    assert fip[-1]["secondary"] < fip[0]["secondary"] - 0.1
    # ... while the output divergence stays below a bound far under the Euclidean walk's
    bound = 0.2 * euclidean[-1]["divergence"]
    assert max(r["divergence"] for r in fip) < bound
    assert euclidean[-1]["secondary"] < fip[-1]["secondary"]  # the price: slower progress


def test_divergence_from_start_matches_output_divergence():
    model, x = tiny_network(), inputs(10)
    path = FunctionallyInvariantPath(model, x, lambda w: w.pow(2).sum(), rule="euclidean", step_length=0.1)
    path.walk(3, progress=False)
    with torch.no_grad():
        expected = output_divergence(call_with_vector(model, path.weights, x), model(x), "kl")
    assert path.divergence_from_start() == pytest.approx(float(expected), rel=1e-12)


def test_keep_weights_and_evaluate():
    model, x = tiny_network(), inputs(10)
    path = FunctionallyInvariantPath(model, x, lambda w: w.sum(), rule="euclidean", step_length=0.1)
    records = path.walk(
        5, record_every=2, evaluate=lambda w: {"first": float(w[0])}, keep_weights=True, progress=False
    )
    assert [r["step"] for r in records] == [0, 2, 4, 5]
    for r in records:
        assert r["first"] == float(r["weights"][0])
    # -∇(Σw) is -1 everywhere: every step moves each weight by -0.1/sqrt(D)
    d = records[0]["weights"].numel()
    torch.testing.assert_close(
        records[-1]["weights"] - records[0]["weights"], torch.full((d,), -0.5 / d**0.5, dtype=DTYPE)
    )


@pytest.mark.parametrize(
    "options, match",
    [
        ({"rule": "newton"}, "rule"),
        ({"step_length": 0.0}, "step_length"),
        ({"penalty": -1.0}, "penalty"),
        ({"divergence": "l1"}, "divergence"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_walk_options(options, match):
    with pytest.raises(ValueError, match=match):
        FunctionallyInvariantPath(tiny_network(), inputs(), lambda w: w.sum(), **options)


def test_bad_reference_and_damping():
    model = tiny_network()
    with pytest.raises(ValueError, match="reference"):
        FunctionallyInvariantPath(model, inputs()[:0], lambda w: w.sum())
    with pytest.raises(ValueError, match="start"):
        FunctionallyInvariantPath(model, inputs(), lambda w: w.sum(), start=torch.zeros(3, dtype=DTYPE))
    w = parameter_vector(model)
    with pytest.raises(ValueError, match="damping"):
        trust_region_direction(model, w, inputs(), w, damping=0.0)


def test_walk_toward_another_network_keeps_the_function_better_than_the_chord():
    model, other, x = tiny_network(seed=0, hidden=12), tiny_network(seed=1, hidden=12), inputs(40)
    target = parameter_vector(other)
    path = FunctionallyInvariantPath(
        model, x, distance_to(target), step_length=0.02, penalty=30.0, batch_size=40
    )
    records = path.walk(40, record_every=40, progress=False)
    start, end = records[0], records[-1]
    assert start["secondary"] == pytest.approx(float((path.start - target).norm()))
    progress = start["secondary"] - end["secondary"]
    assert progress > 0.1
    # the point of the chord equally far from the target changes the function much more
    chord = path.start + progress * (target - path.start) / start["secondary"]
    assert end["divergence"] < 0.2 * path.divergence_from_start(chord)
