"""Paths between networks: pinned curves, geodesics, evaluation along t, alignment, BatchNorm."""

import pytest
import torch

from geomanifold.bases import BSpline
from geomanifold.data import DataSplit
from geomanifold.experiments.networks import build_network
from geomanifold.weightspace import call_with_vector, parameter_vector, vector_to_parameters
from geomanifold.weightspace.batchnorm import recomputed_buffers
from geomanifold.weightspace.connectivity import train_curve_on_loss
from geomanifold.weightspace.divergence import output_divergence
from geomanifold.weightspace.evaluate import evaluate_path, loss_barrier
from geomanifold.weightspace.geodesic import path_energy, path_outputs, solve_geodesic
from geomanifold.weightspace.paths import PinnedCurve, bezier, bspline_path, polyline, straight_line


def tiny_split(n=64, classes=3, size=3) -> DataSplit:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, size, size, generator=g, dtype=torch.float64)
    y = torch.arange(n) % classes
    return DataSplit(x[:48], y[:48], x[48:], y[48:], "tiny", classes)


def endpoints(arch="mlp", width=6, dtype=torch.float64):
    split = tiny_split(size=4 if arch.startswith("cnn") else 3)  # the CNN pools twice by 2
    a = build_network(arch, split, width, seed=0).to(dtype)
    b = build_network(arch, split, width, seed=1).to(dtype)
    return split, a, parameter_vector(a), parameter_vector(b)


@pytest.mark.parametrize(
    "make", [straight_line, lambda a, b: polyline(a, b, 3), lambda a, b: bezier(a, b, 3), bspline_path]
)
def test_pinned_curves_start_on_the_straight_line_with_its_euclidean_energy(make):
    split, model, a, b = endpoints()
    path = make(a, b)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    torch.testing.assert_close(path(t), a + t[:, None] * (b - a))
    torch.testing.assert_close(path.derivative(t, 1), (b - a).expand(7, -1))
    result = evaluate_path(model, path, {"test": split.test}, split.x_test, points=5, progress=False)
    torch.testing.assert_close(result["euclidean_energy"], float((b - a).pow(2).sum()))
    torch.testing.assert_close(result["euclidean_length"], float((b - a).norm()))
    assert max(result["curvature"]) < 1e-6


def test_polyline_euclidean_length_and_curvature_of_a_bent_path():
    a, b = torch.zeros(2, dtype=torch.float64), torch.tensor([2.0, 0.0], dtype=torch.float64)
    path = polyline(a, b, 1, interior=torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    assert path.euclidean_length() == pytest.approx(2 * 2**0.5, rel=1e-12)
    assert path.euclidean_energy() == pytest.approx(8.0, rel=1e-12)  # |γ'| = √2 / ½ on each half
    parabola = bezier(a, b, 2)  # γ(t) = (2t, 2t(1 − t)): γ'(½) = (2, 0), γ''= (0, −4), κ(½) = 4 / 4
    with torch.no_grad():
        parabola.interior.copy_(torch.tensor([[1.0, 1.0]]))
    t = torch.tensor([[0.5]], dtype=torch.float64)
    assert parabola.manifold().curvature(t).item() == pytest.approx(1.0, rel=1e-12)


def test_geodesic_energy_is_at_most_the_straight_lines_with_endpoints_unchanged():
    split, model, a, b = endpoints()
    x = split.x_train.double()
    path = polyline(a, b, 4)
    straight = path_energy(model, path, x).item()
    torch.testing.assert_close(straight, path_energy(model, straight_line(a, b), x, segments=5).item())
    result = solve_geodesic(
        model, path, x, kind="kl", steps=30, batch_size=len(x), lr=1.0, optimizer="lbfgs", progress=False
    )
    for solved in (result.path, result.constant_speed):
        assert torch.equal(solved.start, a) and torch.equal(solved.end, b)
        assert path_energy(model, solved, x).item() < 0.9 * straight
    assert result.history[-1]["energy"] < result.history[0]["energy"]


def test_adam_geodesic_with_squared_divergence_lowers_the_energy():
    split, model, a, b = endpoints()
    x = split.x_train.double()
    path = bezier(a, b, 3)
    before = path_energy(model, path, x, "squared").item()
    solve_geodesic(
        model,
        path,
        x,
        "squared",
        steps=40,
        batch_size=16,
        lr=0.02,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert path_energy(model, path, x, "squared").item() < before


def test_constant_speed_reparameterisation_equalises_function_space_steps():
    split, model, a, b = endpoints()
    x = split.x_train.double()
    result = solve_geodesic(
        model, polyline(a, b, 5), x, steps=10, batch_size=len(x), lr=1.0, optimizer="lbfgs", progress=False
    )
    points = torch.cat([a[None], result.constant_speed.interior.detach(), b[None]])
    outputs = path_outputs(model, points, x)
    steps = output_divergence(outputs[:-1], outputs[1:], "kl").sqrt()
    assert float(steps.max() / steps.min()) < 1.3


def test_barrier_definitions_on_constructed_loss_profiles():
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    bump = torch.tensor([1.0, 2.0, 4.0, 2.0, 1.0])
    assert loss_barrier(bump, t, "max-mean") == pytest.approx(3.0)
    assert loss_barrier(bump, t, "chord") == pytest.approx(3.0)
    ramp = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])  # monotone: above the mean of the ends, on the chord
    assert loss_barrier(ramp, t, "max-mean") == pytest.approx(2.0)
    assert loss_barrier(ramp, t, "chord") == pytest.approx(0.0)
    tilted = torch.tensor([0.0, 2.5, 2.0, 3.0, 4.0])
    assert loss_barrier(tilted, t, "max-mean") == pytest.approx(2.0)
    assert loss_barrier(tilted, t, "chord") == pytest.approx(1.5)
    with pytest.raises(ValueError, match="definition must be one of max-mean, chord"):
        loss_barrier(bump, t, "height")


def test_batchnorm_statistics_are_recomputed_at_every_point():
    split, model, a, b = endpoints("mlp-bn")
    x, y = split.x_train, split.y_train
    w = (a + b) / 2
    buffers = recomputed_buffers(model, w, x, batch_size=16)
    params = vector_to_parameters(model, w)
    first = x.flatten(1) @ params["1.weight"].T + params["1.bias"]  # inputs of the first BatchNorm
    torch.testing.assert_close(buffers["2.running_mean"], first.mean(0))
    batch_variances = torch.stack([chunk.var(0) for chunk in first.split(16)])  # unbiased, equal weights
    torch.testing.assert_close(buffers["2.running_var"], batch_variances.mean(0))
    assert torch.equal(model[2].running_mean, torch.zeros(6, dtype=torch.float64)) and not model.training
    result = evaluate_path(model, straight_line(a, b), {"train": (x, y)}, x, points=3, bn_x=x, progress=False)
    logits = call_with_vector(model, w, x, recomputed_buffers(model, w, x))
    expected = torch.nn.functional.cross_entropy(logits, y).item()
    assert result["train_loss"][1] == pytest.approx(expected, rel=1e-12)
    stale = torch.nn.functional.cross_entropy(call_with_vector(model, w, x), y).item()
    assert abs(stale - expected) > 1e-3  # the model's own (initial) statistics give another loss
    with pytest.raises(ValueError, match="bn_x is required"):
        evaluate_path(model, straight_line(a, b), {"train": (x, y)}, x, progress=False)


def test_mode_connecting_bezier_lowers_the_loss_at_the_middle():
    split, model, a, b = endpoints()
    x, y = split.x_train.double(), split.y_train
    path = bezier(a, b, 2)
    loss = torch.nn.functional.cross_entropy
    middle = lambda: loss(call_with_vector(model.eval(), path(torch.tensor([0.5]))[0].detach(), x), y).item()  # noqa: E731
    before = middle()
    history = train_curve_on_loss(
        model,
        path,
        x,
        y,
        epochs=20,
        lr=0.05,
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert middle() < before and len(history) == 20
    assert torch.equal(path.start, a) and torch.equal(path.end, b)


def test_bad_input_gets_one_line_errors_naming_the_argument():
    split, model, a, b = endpoints()
    other = build_network("mlp", split, 7).double()
    with pytest.raises(ValueError, match="start and end must be weight vectors of the same architecture"):
        straight_line(a, parameter_vector(other))
    bad = b.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match=r"^end has 1 NaN"):
        polyline(a, bad, 2)
    with pytest.raises(ValueError, match="points must hold at least two weight vectors"):
        path_outputs(model, a[None], split.x_train.double())
    with pytest.raises(ValueError, match="points must be an int >= 2"):
        evaluate_path(model, straight_line(a, b), {"test": split.test}, split.x_test, points=1)
    with pytest.raises(ValueError, match="x must be a non-empty batch"):
        path_energy(model, straight_line(a, b), split.x_train[:0])
    with pytest.raises(ValueError, match=r"data\['test'\] inputs has examples of shape \(1, 4, 4\)"):
        evaluate_path(
            model,
            straight_line(a, b),
            {"test": (torch.zeros(3, 1, 4, 4), torch.zeros(3))},
            split.x_test,
            points=3,
        )
    with pytest.raises(ValueError, match="basis must be a clamped BSpline"):
        PinnedCurve(BSpline.periodic(5), a, b)
    with pytest.raises(ValueError, match=r"t must be a non-empty set of times in \[0, 1\]"):
        straight_line(a, b)(torch.tensor([1.5]))
