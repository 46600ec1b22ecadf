"""Sparsification along functionally invariant paths: masks, exact sparsity, the walk against
one-shot pruning, the fine-tuning baseline, bad input, and the ``sparsify`` command end to end."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from geomanifold.cli import main
from geomanifold.commands import sparsify as sparsify_command
from geomanifold.weightspace.divergence import output_divergence
from geomanifold.weightspace.finetune import evaluate_weights, finetune
from geomanifold.weightspace.functional import call_with_vector, parameter_vector
from geomanifold.weightspace.sparsify import (
    magnitude_mask,
    prunable_mask,
    prune,
    pruning_objective,
    sparsify_along_path,
    sparsity,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DTYPE = torch.float64


def network(hidden: int = 24, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 3)).to(DTYPE).eval()


def inputs(n: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def test_prunable_mask_covers_weight_matrices_only():
    model = network(hidden=5)
    mask = prunable_mask(model)
    assert mask.tolist() == [True] * 20 + [False] * 5 + [True] * 15 + [False] * 3


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 0.37])
def test_magnitude_mask_has_the_exact_count_of_smallest_entries(target):
    model = network()
    w = parameter_vector(model)
    prunable = prunable_mask(model)
    mask = magnitude_mask(model, w, target)
    assert int(mask.sum()) == round(target * int(prunable.sum()))
    assert not (mask & ~prunable).any()
    kept = w[prunable & ~mask].abs()
    assert float(w[mask].abs().max()) <= float(kept.min())
    pruned = prune(w, mask)
    assert sparsity(model, pruned) == pytest.approx(round(target * int(prunable.sum())) / int(prunable.sum()))
    assert torch.equal(pruned[~mask], w[~mask])


def test_magnitude_mask_count_is_exact_with_ties():
    model = network(hidden=5)
    w = torch.ones(parameter_vector(model).numel(), dtype=DTYPE)  # every magnitude tied
    assert int(magnitude_mask(model, w, 0.5).sum()) == round(0.5 * 35)


def test_pruning_objective_is_the_distance_to_the_hyperplane():
    w = torch.tensor([3.0, -4.0, 1.0], dtype=DTYPE)
    mask = torch.tensor([True, True, False])
    assert float(pruning_objective(mask)(w)) == pytest.approx(5.0)
    assert float((w - prune(w, mask)).norm()) == pytest.approx(5.0)


def test_walk_reaches_exact_sparsity_and_keeps_the_function_better_than_one_shot():
    model, x = network(), inputs()
    w0 = parameter_vector(model)
    target = 0.5
    mask = magnitude_mask(model, w0, target)
    distance = float(w0[mask].norm())
    pruned, walk_mask, records = sparsify_along_path(
        model,
        x,
        target,
        steps=150,
        step_length=3 * distance / 150,
        penalty=3.0,
        batch_size=64,
        progress=False,
    )
    assert torch.equal(walk_mask, mask)
    assert sparsity(model, pruned) == pytest.approx(target)
    assert records[0]["secondary"] == pytest.approx(distance)
    assert records[-1]["secondary"] < 0.1 * distance
    with torch.no_grad():
        reference = model(x)
        fip = float(output_divergence(call_with_vector(model, pruned, x), reference))
        one_shot = float(output_divergence(call_with_vector(model, prune(w0, mask), x), reference))
    assert fip < 0.5 * one_shot


def test_finetune_keeps_frozen_weights_at_zero_and_lowers_the_loss():
    model, x = network(), inputs()
    y = model(x).argmax(-1).detach()
    w0 = parameter_vector(model)
    mask = magnitude_mask(model, w0, 0.8)
    start = evaluate_weights(model, prune(w0, mask), x, y)
    tuned, records = finetune(
        model, w0, x, y, steps=30, lr=1e-2, batch_size=32, frozen_zero=mask, record_every=10, progress=False
    )
    assert torch.equal(tuned[mask], torch.zeros(int(mask.sum()), dtype=DTYPE))
    assert [r["step"] for r in records] == [0, 10, 20, 30]
    assert records[0]["loss"] is None
    assert evaluate_weights(model, tuned, x, y)["loss"] < start["loss"]


def test_evaluate_weights_matches_the_module():
    model, x = network(), inputs(10)
    y = torch.arange(10) % 3
    result = evaluate_weights(model, parameter_vector(model), x, y, batch_size=3)
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-12)
    assert result["accuracy"] == float((logits.argmax(-1) == y).double().mean())


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, 1.5, -0.1, True, "0.5", float("nan")])
def test_sparsity_outside_the_open_unit_interval(bad):
    model = network()
    with pytest.raises(ValueError, match="sparsity must be a fraction in \\(0, 1\\)"):
        magnitude_mask(model, parameter_vector(model), bad)
    with pytest.raises(ValueError, match="target_sparsity"):
        sparsify_along_path(model, inputs(), bad, steps=1, step_length=0.1, progress=False)


def test_mismatched_batches_and_masks():
    model, x = network(), inputs(8)
    w = parameter_vector(model)
    with pytest.raises(ValueError, match="x, y"):
        finetune(model, w, x, torch.zeros(7, dtype=torch.long), steps=1, progress=False)
    with pytest.raises(ValueError, match="x, y"):
        evaluate_weights(model, w, x[:0], torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="mask"):
        prune(w, torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="w must have shape"):
        magnitude_mask(model, w[:-1], 0.5)


def test_sparsify_command_writes_results(tmp_path):
    out = tmp_path / "run"
    assert main(["sparsify", *sparsify_command.SMOKE_ARGS, "--out", str(out)]) == 0
    result = json.loads((out / "sparsify.json").read_text())
    assert result["settings"]["sparsities"] == [0.5, 0.9]
    rows = result["rows"]
    assert {(r["sparsity"], r["method"]) for r in rows} == {
        (s, m) for s in (0.5, 0.9) for m in ("one-shot", "prune + fine-tune", "FIP")
    }
    for row in rows:
        assert row["measured_sparsity"] == pytest.approx(row["sparsity"], abs=1e-3)
        assert 0 <= row["test_accuracy"] <= 1
    with (out / "sparsify_summary.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    with (out / "sparsify_path.csv").open(newline="") as handle:
        path = list(csv.DictReader(handle))
    assert {r["method"] for r in path} == {"FIP", "prune + fine-tune"}
    assert (out / "sparsify.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "seconds" in json.loads((out / "timing.json").read_text())


def test_sparsify_command_from_a_checkpoint(tmp_path, capsys):
    trained = tmp_path / "train"
    assert (
        main(
            [
                "train",
                "--data",
                "digits",
                "--width",
                "8",
                "--epochs",
                "1",
                "--no-progress",
                "--out",
                str(trained),
            ]
        )
        == 0
    )
    out = tmp_path / "sparse"
    argv = [
        "sparsify",
        "--checkpoint",
        str(trained / "model.pt"),
        "--sparsities",
        "0.6",
        "--steps",
        "2",
        "--seeds",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    settings = json.loads((out / "sparsify.json").read_text())["settings"]
    assert (settings["data"], settings["width"]) == ("digits", 8)
    capsys.readouterr()
    argv[2] = str(tmp_path / "missing.pt")
    assert main(argv) == 2  # a usage error naming the option
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("geomanifold sparsify: error: argument --checkpoint:") and "missing.pt" in last


@pytest.mark.parametrize("bad", [["--sparsities", "0.5,1.5"], ["--sparsities", "x"], ["--steps", "0"]])
def test_sparsify_usage_errors(bad, capsys):
    assert main(["sparsify", *bad]) == 2
    assert "usage:" in capsys.readouterr().err
