"""Continual learning along functionally invariant paths: the replay buffer, the task splits, the
walk against plain fine-tuning on real digits, bad input, and the ``continual`` command."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from geomanifold.cli import main
from geomanifold.commands import continual as continual_command
from geomanifold.data import load_digits8x8, rotate
from geomanifold.experiments.continual import split_tasks
from geomanifold.experiments.networks import build_network, train_network
from geomanifold.weightspace.continual import learn_along_path, pseudo_labels, replay_buffer, task_objective
from geomanifold.weightspace.finetune import evaluate_weights, finetune
from geomanifold.weightspace.functional import parameter_vector

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    return load_digits8x8(seed=0)


def test_replay_buffer_is_a_seeded_subset():
    x = torch.arange(50.0).reshape(25, 2)
    buffer = replay_buffer(x, 10, seed=3)
    assert buffer.shape == (10, 2)
    rows = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in rows for r in buffer.tolist())
    assert len({tuple(r) for r in buffer.tolist()}) == 10
    assert torch.equal(buffer, replay_buffer(x, 10, seed=3))


def test_split_tasks(digits):
    a, b = split_tasks(digits, "digits")
    assert set(a.y_train.tolist()) == {0, 1, 2, 3, 4} and set(b.y_test.tolist()) == {5, 6, 7, 8, 9}
    assert len(a.x_train) + len(b.x_train) == len(digits.x_train) and a.num_classes == b.num_classes == 10
    a, b = split_tasks(digits, "rotation", 0.25)
    assert torch.equal(a.x_train, digits.x_train) and torch.equal(b.y_train, digits.y_train)
    torch.testing.assert_close(b.x_test, rotate(digits.x_test, 0.25))
    with pytest.raises(ValueError, match="task_split"):
        split_tasks(digits, "permuted")


def test_fip_remembers_task_a_better_than_fine_tuning(digits):
    """On real 8×8 digits (0–4, then 5–9), with one shared 10-way head: plain fine-tuning forgets
    task A entirely, the walk that keeps the outputs on 100 unlabelled task-A inputs does not."""
    task_a, task_b = split_tasks(digits, "digits")
    model = build_network("mlp", task_a, width=32, seed=0)
    train_network(model, task_a, epochs=20, lr=3e-3, seed=0, progress=False)
    model.eval()
    w0 = parameter_vector(model)
    before = evaluate_weights(model, w0, *task_a.test)["accuracy"]
    assert before > 0.9
    buffer = replay_buffer(task_a.x_train, 100)
    walked, records = learn_along_path(
        model,
        buffer,
        *task_b.train,
        steps=150,
        step_length=0.3,
        penalty=1.0,
        batch_size=64,
        record_every=50,
        progress=False,
    )
    tuned, _ = finetune(model, w0, *task_b.train, steps=150, lr=3e-3, batch_size=64, progress=False)
    fip_a = evaluate_weights(model, walked, *task_a.test)["accuracy"]
    tuned_a = evaluate_weights(model, tuned, *task_a.test)["accuracy"]
    assert tuned_a < 0.2  # catastrophic forgetting
    assert fip_a > 0.85 and fip_a > tuned_a + 0.6
    assert evaluate_weights(model, walked, *task_b.test)["accuracy"] > 0.5  # and B is learned
    assert [r["step"] for r in records] == [0, 50, 100, 150]
    assert records[-1]["secondary"] < records[0]["secondary"]


def test_pseudo_labels_and_task_objective():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4)).eval()
    x = torch.randn(7, 3)
    torch.testing.assert_close(pseudo_labels(model, x, batch_size=2), model(x).argmax(-1))
    y = torch.arange(7) % 4
    objective = task_objective(model, x, y, batch_size=100)
    expected = nn.functional.cross_entropy(model(x), y)  # the whole set when batch_size >= N
    torch.testing.assert_close(objective(parameter_vector(model)), expected)


def test_bad_buffers_and_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).eval()
    x, y = torch.randn(6, 1, 4), torch.arange(6) % 3
    with pytest.raises(ValueError, match="buffer must hold at least one"):
        learn_along_path(model, x[:0], x, y, steps=1, step_length=0.1, progress=False)
    with pytest.raises(ValueError, match="buffer inputs must have"):
        learn_along_path(model, torch.randn(3, 1, 5), x, y, steps=1, step_length=0.1, progress=False)
    with pytest.raises(ValueError, match="new task"):
        learn_along_path(model, x, x, y[:5], steps=1, step_length=0.1, progress=False)
    for size in (0, 7, 2.5):
        with pytest.raises(ValueError, match="buffer_size"):
            replay_buffer(x, size)
    with pytest.raises(ValueError, match="replay"):
        finetune(model, parameter_vector(model), x, y, steps=1, replay=(x, y[:2]), progress=False)


def test_continual_command_writes_results(tmp_path):
    out = tmp_path / "run"
    assert main(["continual", *continual_command.SMOKE_ARGS, "--out", str(out)]) == 0
    result = json.loads((out / "continual.json").read_text())
    assert {(r["task_split"], r["method"]) for r in result["rows"]} == {
        (s, m) for s in ("digits", "rotation") for m in ("fine-tune", "replay + CE", "FIP")
    }
    for row in result["rows"]:
        assert 0 <= row["task_a_accuracy"] <= 1 and 0 <= row["task_b_accuracy"] <= 1
    with (out / "continual_path.csv").open(newline="") as handle:
        path = list(csv.DictReader(handle))
    assert sorted({int(r["step"]) for r in path}) == [0, 2, 4]
    assert (out / "continual.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("bad", [["--task-split", "permuted"], ["--buffer-size", "0"], ["--data", "cifar10"]])
def test_continual_usage_errors(bad, capsys):
    assert main(["continual", *bad]) == 2
    assert "usage:" in capsys.readouterr().err


def test_continual_buffer_larger_than_task_a(tmp_path, capsys):
    argv = ["continual", *continual_command.SMOKE_ARGS, "--buffer-size", "100000", "--out", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("geomanifold continual: error: buffer_size") and "\n" not in err
