"""The path toolbox: the scaled geodesic solver, AutoNEB, ensembles along a path and the
instability analysis, on tiny float64 networks."""

import csv
import itertools

import pytest
import torch
import torch.nn.functional as F

from geomanifold.cli import main
from geomanifold.data import DataSplit
from geomanifold.experiments.instability import InstabilityOptions, format_table, instability, summarise
from geomanifold.experiments.networks import build_network
from geomanifold.weightspace import call_with_vector, parameter_vector
from geomanifold.weightspace.autoneb import autoneb
from geomanifold.weightspace.divergence import output_divergence
from geomanifold.weightspace.ensemble import path_ensemble
from geomanifold.weightspace.geodesic import (
    _BatchEnergy,
    path_energy,
    path_outputs,
    solve_geodesic,
    uniform_times,
)
from geomanifold.weightspace.paths import bezier, polyline, straight_line


def trained_pair(width=6, steps=150):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 3, 3, generator=g, dtype=torch.float64)
    y = (x.flatten(1)[:, :3].argmax(1)).long()
    split = DataSplit(x[:64], y[:64], x[64:], y[64:], "tiny", 3)
    models = []
    for seed in (0, 1):
        model = build_network("mlp", split, width, seed).double()
        opt = torch.optim.Adam(model.parameters(), 0.05)
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(split.x_train), split.y_train).backward()
            opt.step()
        models.append(model.eval())
    return split, models[0], parameter_vector(models[0]), parameter_vector(models[1])


@pytest.mark.parametrize("width", [4, 32])
def test_scaled_geodesic_never_rises_and_moves_in_chord_units(width):
    split, model, a, b = trained_pair(width)
    x = split.x_train
    path = polyline(a, b, 5)
    straight = path_energy(model, path, x).item()
    result = solve_geodesic(model, path, x, steps=40, batch_size=len(x), progress=False, redraw=0, holdout=0)
    energies = [result.initial_energy] + [h["energy"] for h in result.history]
    assert result.initial_energy == pytest.approx(straight)
    assert all(later < earlier for earlier, later in itertools.pairwise(energies))
    assert path_energy(model, result.path, x).item() < 0.8 * straight
    first = polyline(a, b, 5)
    solve_geodesic(model, first, x, steps=1, batch_size=len(x), lr=1e-3, progress=False, redraw=0, holdout=0)
    moved = (first.interior.detach() - polyline(a, b, 5).interior.detach()).pow(2).sum(1).mean().sqrt()
    assert float(moved) == pytest.approx(1e-3 * float((b - a).norm()) / 6, rel=1e-9)


def test_batch_energy_runs_the_network_once_per_interior_point():
    split, model, a, b = trained_pair()
    calls = []
    model.register_forward_pre_hook(lambda m, i: calls.append(1))
    energy = _BatchEnergy(model, polyline(a, b, 4), split.x_train, "kl", uniform_times(5))
    calls.clear()
    value = energy()
    assert len(calls) == 4
    torch.testing.assert_close(value, path_energy(model, polyline(a, b, 4), split.x_train))


def test_batch_energy_at_uneven_times_divides_each_divergence_by_its_width():
    split, model, a, b = trained_pair()
    bent = a + torch.randn(3, len(a), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    path = polyline(a, b, 3, bent)
    times = torch.tensor([0.05, 0.3, 0.31, 0.8], dtype=torch.float64)
    value = _BatchEnergy(model, path, split.x_train, "kl", times)()
    grid = torch.tensor([0.0, 0.05, 0.3, 0.31, 0.8, 1.0], dtype=torch.float64)
    outputs = path_outputs(model, path(grid), split.x_train)
    expected = sum(
        output_divergence(outputs[j], outputs[j + 1], "kl") / (grid[j + 1] - grid[j]) for j in range(5)
    )
    torch.testing.assert_close(value, expected)


@pytest.mark.parametrize("batch_size, lr", [(8, 0.1), (2, 1.0)])
def test_redrawn_batches_never_raise_the_held_out_energy(batch_size, lr):
    split, model, a, b = trained_pair(8)
    x = torch.cat([split.x_train, split.x_test])
    path = polyline(a, b, 4)
    held_out = x[:24]
    midpoints = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64)  # n = 5 segments

    def energy(curve):  # Σ_j D_j / Δs_j over 0, the midpoints, 1
        grid = torch.cat([torch.zeros(1, dtype=torch.float64), midpoints, torch.ones(1, dtype=torch.float64)])
        outputs = path_outputs(model, curve(grid).detach(), held_out)
        return float((output_divergence(outputs[:-1], outputs[1:], "kl") / grid.diff()).sum())

    before = energy(path)
    result = solve_geodesic(
        model, path, x, steps=60, batch_size=batch_size, lr=lr, progress=False,
        generator=torch.Generator().manual_seed(0), redraw=5, holdout=24, patience=20,
    )
    checks = result.held_out
    assert checks[0] == {"step": 0, "energy": pytest.approx(before, rel=1e-12), "kept": True}
    kept = [c["energy"] for c in checks if c["kept"]]
    assert all(later < earlier for earlier, later in itertools.pairwise(kept))
    assert all(c["energy"] >= min(kept) for c in checks)
    after = energy(result.path)
    assert after == pytest.approx(kept[-1], rel=1e-10) and after <= before
    assert torch.equal(result.path.start, a) and torch.equal(result.path.end, b)
    if batch_size == 8:
        assert after < 0.8 * before


@pytest.mark.parametrize(
    "option, value",
    [("redraw", -1), ("holdout", -3), ("patience", 0), ("redraw", 2.5), ("holdout", True)],
)
def test_solver_options_out_of_range_name_the_argument(option, value):
    split, model, a, b = trained_pair(steps=0)
    with pytest.raises(ValueError, match=rf"^{option} must be an int >= "):
        solve_geodesic(model, polyline(a, b, 2), split.x_train, steps=1, progress=False, **{option: value})


def test_autoneb_lowers_the_highest_loss_and_keeps_its_ends():
    split, model, a, b = trained_pair()
    x, y = split.train
    path, history = autoneb(
        model, a, b, x, y, pivots=2, max_pivots=4, cycles=3, steps=40, lr=0.05, threshold=1e-3,
        batch_size=32, generator=torch.Generator().manual_seed(0), progress=False,
    )

    def highest(curve):
        t = torch.linspace(0, 1, 41, dtype=torch.float64)
        return max(F.cross_entropy(call_with_vector(model, w, x), y).item() for w in curve(t).detach())

    assert highest(path) < highest(straight_line(a, b))
    assert torch.equal(path.start, a) and torch.equal(path.end, b)
    assert [h["cycle"] for h in history] == [1, 2, 3] and 2 <= history[-1]["pivots"] <= 4
    with pytest.raises(ValueError, match=r"^max_pivots must be an int >= 2, got 1"):
        autoneb(model, a, b, x, y, pivots=2, max_pivots=1)
    with pytest.raises(ValueError, match=r"^y must have shape \(N=64,\)"):
        autoneb(model, a, b, x, y[:3])


def test_path_ensembles_average_probabilities_of_evenly_spaced_networks():
    split, model, a, b = trained_pair()
    x, y = split.test
    rows = path_ensemble(model, straight_line(a, b), x, y, (2, 3))
    mids = (call_with_vector(model, w, x).softmax(-1) for w in (a, (a + b) / 2, b))
    pa, pm, pb = (p.detach() for p in mids)
    for row, mean in zip(rows, ((pa + pb) / 2, (pa + pm + pb) / 3), strict=True):
        assert row["accuracy"] == pytest.approx(float((mean.argmax(-1) == y).double().mean()))
        assert row["nll"] == pytest.approx(float(-mean.gather(1, y[:, None]).log().mean()))
    with pytest.raises(ValueError, match=r"^sizes must be ints >= 2"):
        path_ensemble(model, straight_line(a, b), x, y, (1,))
    bn = build_network("mlp-bn", split, 4).double()
    w = parameter_vector(bn)
    with pytest.raises(ValueError, match=r"^bn_x is required"):
        path_ensemble(bn, straight_line(w, w + 1), x, y)


def test_instability_rows_summary_and_bad_options():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 1, 3, 3, generator=g)
    y = x.flatten(1)[:, :3].argmax(1)
    split = DataSplit(x[:60], y[:60], x[60:], y[60:], "tiny", 3)
    options = InstabilityOptions(ks=(0, 3), steps=6, arch="mlp", width=4, lr=0.05, points=3)
    rows = instability(split, options, seed=0)
    assert [row["k"] for row in rows] == [0, 3]
    assert all(row["error_barrier"] >= 0 and 0 <= row["endpoint_error"] <= 1 for row in rows)
    assert rows == instability(split, options, seed=0)  # deterministic given the seed
    summary = summarise(rows)
    assert summary[0]["error_barrier_sd"] is None and "(1 seed)" in format_table(summary)
    with pytest.raises(ValueError, match=r"^--k must list steps in \[0, --steps = 6\), got \[0, 6\]"):
        InstabilityOptions(ks=(0, 6), steps=6)
    with pytest.raises(ValueError, match=r"^--points must be an integer >= 3"):
        InstabilityOptions(points=2)


def test_instability_command_writes_its_table(tmp_path, capsys):
    args = ["instability", "--data", "digits", "--arch", "mlp", "--width", "4", "--k", "0,2", "--steps", "4",
            "--points", "3", "--seeds", "2", "--threads", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0, capsys.readouterr().err
    with open(tmp_path / "instability_summary.csv") as handle:
        summary = list(csv.DictReader(handle))
    assert [row["k"] for row in summary] == ["0", "2"] and summary[0]["seeds"] == "2"
    assert "error barrier" in capsys.readouterr().out
    assert main(["instability", "--k", "0,x", "--out", str(tmp_path)]) == 2
    assert "expected distinct steps >= 0" in capsys.readouterr().err


def test_curve_points_equal_the_dense_basis_product_and_reuse_control_points():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(7, generator=g, dtype=torch.float64), torch.randn(7, generator=g, dtype=torch.float64)
    t = torch.tensor([0.0, 0.13, 0.25, 0.5, 0.77, 1.0], dtype=torch.float64)
    for curve in (polyline(a, b, 3, torch.randn(3, 7, generator=g, dtype=torch.float64)), bezier(a, b, 3)):
        coefficients = curve.basis.partial(t[:, None], (0,))
        expected = coefficients @ curve.control_points().detach()
        torch.testing.assert_close(torch.stack(curve.points(t)).detach(), expected, rtol=1e-14, atol=1e-14)
    line = polyline(a, b, 3, torch.randn(3, 7, generator=g, dtype=torch.float64))
    knots = line.points(torch.tensor([0.25, 0.5], dtype=torch.float64))
    assert all(torch.equal(p, q) for p, q in zip(knots, line.interior[:2], strict=True))
    (knots[0] * 2 + knots[1]).sum().backward()
    torch.testing.assert_close(line.interior.grad[:, 0], torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64))
