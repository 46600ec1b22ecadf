"""Conditioning experiments: protocols, methods, statistics, the compare/condition
commands end to end on a tiny configuration, and their errors."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from geomanifold.baselines import count_parameters
from geomanifold.cli import main
from geomanifold.data import write_idx
from geomanifold.data.idx import IDX_FILES
from geomanifold.experiments.datasets import load_data
from geomanifold.experiments.methods import METHODS, MethodSpec, build_method, specialist_contexts
from geomanifold.experiments.protocols import make_protocol
from geomanifold.experiments.statistics import mean_interval
from geomanifold.experiments.tasks import TASKS
from geomanifold.plotting import new_figure
from geomanifold.plotting.conditioning import plot_accuracy_heatmaps

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_mean_interval_closed_form():
    mean, half = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302652729749464 / math.sqrt(3))  # t_{0.975, 2} · sd / √n, sd = 1
    assert math.isnan(mean_interval([0.5])[1]) and mean_interval([0.5])[0] == 0.5
    assert all(math.isnan(v) for v in mean_interval([]))
    assert mean_interval([1.0, None, 3.0]) == mean_interval([1.0, 3.0])


@pytest.mark.parametrize(
    ("task", "protocol", "inside", "closure"),
    [
        ("rotation", "heldout", lambda s: (s < 0.375) | (s >= 0.625), lambda s: (s <= 0.375) | (s >= 0.625)),
        ("noise", "heldout", lambda s: (s < 0.4) | (s >= 0.6), lambda s: (s <= 0.4) | (s >= 0.6)),
        ("noise", "extrapolation", lambda s: s <= 0.6, lambda s: s <= 0.6),
        ("rotation", "few", lambda s: torch.isin(s, torch.tensor([0.0, 0.25, 0.5, 0.75])), None),
        ("noise", "uniform", lambda s: (s >= 0) & (s <= 1), None),
    ],
)
def test_protocol_training_contexts_stay_in_their_support(task, protocol, inside, closure):
    """Training contexts stay in the support; test contexts are seen where they lie in its
    closure (the edges of a held-out region count as seen)."""
    plan = make_protocol(protocol, TASKS[task])
    s = plan.sample(5000, torch.Generator().manual_seed(0))
    assert s.shape == (5000, 1)
    assert inside(s[:, 0]).all()
    assert plan.in_training_support(s).all()
    assert plan.seen.tolist() == (closure or inside)(plan.test_contexts[:, 0]).tolist()


def test_protocol_test_grids():
    rotation = make_protocol("heldout", TASKS["rotation"])
    assert len(rotation.test_contexts) == 24 and rotation.seen.sum() == 19  # 5 of 24 angles inside the arc
    few = make_protocol("few", TASKS["noise"], few=8)
    assert few.seen.sum() == 8  # the 8 training values are added to the grid
    torus = make_protocol("uniform", TASKS["torus"])
    assert torus.test_contexts.shape == (64, 2)
    with pytest.raises(ValueError, match="valid for it: uniform, heldout, few, misspecified"):
        make_protocol("extrapolation", TASKS["rotation"])
    with pytest.raises(ValueError, match="--few must be one of 2, 4, 8"):
        make_protocol("few", TASKS["rotation"], few=3)


def spec(manifold="circle", periodic=(True,), shape=(1, 8, 8)) -> MethodSpec:
    plan = make_protocol("heldout", TASKS["rotation"])
    contexts = specialist_contexts(periodic, None, plan.in_training_support)
    return MethodSpec("mlp", shape, 10, 16, periodic, manifold, contexts, 1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_builds_and_runs_with_one_context_per_example(method):
    model, optimizer = build_method(method, spec(), seed=0)
    x, s = torch.rand(5, 1, 8, 8), torch.rand(5, 1)
    assert model(x, s).shape == (5, 10)
    assert isinstance(optimizer, torch.optim.Optimizer)


def test_matched_variants_have_about_the_manifolds_parameter_count():
    target = count_parameters(build_method("manifold", spec(), 0)[0])
    for name in ("concat-matched", "film-matched", "unconditioned-matched"):
        count = count_parameters(build_method(name, spec(), 0)[0])
        assert abs(count - target) / target < 0.05, (name, count, target)


def test_the_manifold_starts_as_the_unconditioned_network():
    manifold = build_method("manifold", spec(), seed=3)[0]
    plain = build_method("unconditioned", spec(), seed=3)[0]
    x = torch.rand(4, 1, 8, 8)
    for s in (0.0, 0.3, 0.8):
        assert torch.allclose(manifold(x, torch.tensor([s])), plain(x, torch.tensor([s])), atol=1e-6)


def test_specialists_cover_only_the_training_support():
    plan = make_protocol("heldout", TASKS["rotation"])
    contexts = specialist_contexts((True,), None, plan.in_training_support)
    assert contexts[:, 0].tolist() == [0.0, 0.125, 0.25, 0.375, 0.625, 0.75, 0.875]
    few = make_protocol("few", TASKS["rotation"], few=2)
    values = specialist_contexts((True,), few.train_values, few.in_training_support)
    assert values[:, 0].tolist() == [0.0, 0.5]


def test_fashion_mnist_loads_from_a_local_idx_folder(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", 6), ("test", 4)):
        write_idx(raw / IDX_FILES[f"{part}_images"], rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(raw / IDX_FILES[f"{part}_labels"], np.arange(n, dtype=np.uint8))
    split = load_data("fashion", tmp_path)
    assert split.x_train.shape == (6, 1, 14, 14) and split.x_test.shape == (4, 1, 14, 14)  # pooled
    assert split.name == "fashion" and 0 <= split.x_train.min() and split.x_train.max() <= 1


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A tiny end-to-end ``compare`` on digits, rotation with a held-out arc."""
    out = tmp_path_factory.mktemp("compare")
    threads = torch.get_num_threads()
    argv = [
        "compare", "--data", "digits", "--task", "rotation", "--protocol", "heldout",
        "--methods", "manifold,concat,unconditioned,specialists", "--seeds", "2", "--epochs", "2",
        "--train-size", "300", "--test-size", "64", "--out", str(out), "--no-progress", "--threads", "1",
    ]
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def test_compare_writes_valid_json(compared):
    result = json.loads((compared / "results.json").read_text())
    assert result["config"]["task"] == "rotation" and result["manifold"] == "circle"
    assert len(result["runs"]) == 8 and len(result["summary"]) == 4
    assert len(result["curves"]) == 8 * 24
    for run in result["runs"]:
        assert 0 <= run["accuracy"] <= 1 and 0 <= run["accuracy_unseen"] <= 1
        if run["method"] == "unconditioned":
            assert run["infer_error"] is None
        else:
            assert 0 <= run["infer_error"] <= math.sqrt(0.5) and 0 <= run["infer_accuracy"] <= 1
    summary = {row["method"]: row for row in result["summary"]}
    runs = [r["accuracy"] for r in result["runs"] if r["method"] == "manifold"]
    assert summary["manifold"]["accuracy_mean"] == pytest.approx(np.mean(runs))
    assert summary["manifold"]["accuracy_n"] == 2


def test_compare_writes_csv_and_png(compared):
    with (compared / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and rows[0]["task"] == "rotation" and rows[0]["data"] == "digits"
    with (compared / "curves.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8 * 24
    for name in ("accuracy_vs_context.png", "accuracy_polar.png"):
        data = (compared / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
    assert sorted(p.name for p in (compared / "checkpoints").iterdir())[0] == "concat-seed0.pt"


def test_condition_runs_one_method_on_a_two_dimensional_context(tmp_path, one_thread, capsys):
    """(With ``--resume`` on a fresh ``--out``: it starts from step 0 and says so in one line.)"""
    argv = [
        "condition", "--data", "digits", "--task", "cylinder", "--method", "manifold", "--seeds", "1",
        "--epochs", "1", "--train-size", "100", "--test-size", "16", "--out", str(tmp_path), "--no-progress",
        "--resume",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out.splitlines()[0]
    folder = tmp_path / "checkpoints"
    assert first == f"resume: no checkpoint found in {folder} for 1 of 1 run(s); those start from step 0"
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["manifold"] == "cylinder" and len(result["curves"]) == 9 * 8  # 9 noise levels × 8 angles
    assert (tmp_path / "accuracy_heatmaps.png").read_bytes()[:8] == PNG_SIGNATURE
    fig = new_figure(4.0, 3.0)  # the heat map's axes say what each context coordinate does
    plot_accuracy_heatmaps(fig, result)
    assert result["protocol"]["axes"] == list(TASKS["cylinder"].axes)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == TASKS["cylinder"].axes


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--data", "imagenet"),
        ("--task", "blur"),
        ("--manifold", "sphere"),
        ("--protocol", "z"),
        ("--methods", "x"),
    ],
)
def test_unknown_choices_are_usage_errors_naming_the_valid_ones(option, value, capsys):
    assert main(["compare", option, value]) == 2
    err = capsys.readouterr().err
    assert ("invalid" in err or "expected" in err) and option in err
    valid = {"--data": "mnist5k", "--task": "rotation", "--manifold": "circle", "--protocol": "heldout"}
    assert valid.get(option, "manifold") in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "mnist"], "--data mnist needs --data-dir"),
        (["--data", "digits", "--task", "shift"], "valid tasks for this data: noise, rotation, torus"),
        (["--data", "digits", "--manifold", "torus"], "valid here: line, circle, fourier2, spline"),
        (["--data", "digits", "--protocol", "extrapolation"], "--protocol extrapolation needs an interval"),
    ],
)
def test_bad_combinations_are_one_line_errors(argv, message, tmp_path, capsys):
    assert main(["condition", *argv, "--out", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_data_folder_is_a_usage_error_naming_the_option(capsys):
    assert main(["condition", "--data", "fashion", "--data-dir", "/nonexistent/folder"]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "does not exist" in err


def test_demo_rotation_step_with_tiny_options(tmp_path, one_thread, capsys):
    argv = ["demo", "--only", "rotation", "--demo-epochs", "1", "--demo-seeds", "1", "--out", str(tmp_path)]
    assert main([*argv, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "manifold" in printed and "concat" in printed and "accuracy_unseen" in printed
    summary = json.loads((tmp_path / "demo_summary.json").read_text())["steps"]["rotation"]
    assert set(summary["methods"]) == {"manifold", "concat", "unconditioned"}
    assert (tmp_path / "conditioning" / "accuracy_polar.png").read_bytes()[:8] == PNG_SIGNATURE
