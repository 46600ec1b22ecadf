"""The conditioning study's infrastructure: held-out edges and depth, skewed sampling, validation
split and data splits, the stronger baselines, paired statistics, tuning, parallel jobs, context
inference criteria and global search, and their bad inputs."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.func import functional_call

from geomanifold.baselines import FiLM, HyperNetwork, count_parameters, mlp
from geomanifold.bases import Fourier
from geomanifold.cli import main
from geomanifold.commands import compare, condition
from geomanifold.conditioning import WeightManifold, infer_context
from geomanifold.conditioning.inference import context_criterion
from geomanifold.experiments.conditioning import ExperimentConfig, run_suite, tuning_trials
from geomanifold.experiments.datasets import carve_validation, load_data
from geomanifold.experiments.methods import (
    MethodSpec,
    build_method,
    specialist_cell_sampler,
    specialist_contexts,
)
from geomanifold.experiments.protocols import SKEW_REGION, make_protocol
from geomanifold.experiments.statistics import paired_comparisons, paired_difference
from geomanifold.experiments.tasks import TASKS

# --- protocols: edges, depth into the held-out region, skew -------------------------------------


def test_held_out_edges_are_seen_and_depth_is_the_distance_to_the_nearest_edge():
    plan = make_protocol("heldout", TASKS["rotation"])
    s = plan.test_contexts[:, 0].double()
    unseen = s[~plan.seen]
    assert unseen.tolist() == pytest.approx([10 / 24, 11 / 24, 12 / 24, 13 / 24, 14 / 24])
    depth = plan.distance_to_support(plan.test_contexts.double())
    expected = torch.where(~plan.seen, torch.minimum(s - 0.375, 0.625 - s), torch.zeros_like(s))
    assert torch.allclose(depth, expected, atol=1e-7)
    assert depth.max().item() == pytest.approx(0.125, abs=1e-7)
    extrapolation = make_protocol("extrapolation", TASKS["noise"])
    depth = extrapolation.distance_to_support(torch.tensor([[0.2], [0.6], [0.9]], dtype=torch.float64))
    assert depth.tolist() == pytest.approx([0.0, 0.0, 0.3])
    few = make_protocol("few", TASKS["rotation"], few=4)
    assert few.distance_to_support(torch.tensor([[0.95], [0.3]])).tolist() == pytest.approx([0.05, 0.05])


@pytest.mark.parametrize("protocol", ["uniform", "heldout"])
def test_skewed_sampling_puts_the_asked_share_in_the_favoured_quarter(protocol):
    skew = 0.9
    plan = make_protocol(protocol, TASKS["rotation"], skew=skew)
    s = plan.sample(40_000, torch.Generator().manual_seed(1))[:, 0]
    low, high = SKEW_REGION
    share = ((s >= low) & (s < high)).double().mean().item()
    base = 0.25 if protocol == "uniform" else 0.25 / 0.75  # the quarter's share without skew
    assert share == pytest.approx(skew + (1 - skew) * base, abs=0.01)
    assert plan.in_training_support(s[:, None]).all()
    unskewed = make_protocol(protocol, TASKS["rotation"])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(
        unskewed.sample(100, g1), make_protocol(protocol, TASKS["rotation"], skew=0).sample(100, g2)
    )


@pytest.mark.parametrize("skew", [1.0, -0.1, 1.5])
def test_skew_outside_zero_one_is_refused(skew):
    with pytest.raises(ValueError, match=r"--skew must be a probability in \[0, 1\)"):
        make_protocol("uniform", TASKS["rotation"], skew=skew)


def test_skew_with_discrete_training_values_is_refused():
    with pytest.raises(ValueError, match="--skew needs a protocol with continuous training contexts"):
        make_protocol("few", TASKS["rotation"], skew=0.5)


# --- data: splits and validation ------------------------------------------------------------------


def test_validation_is_carved_from_training_data_disjointly_and_deterministically():
    x = torch.arange(100.0)[:, None]
    y = torch.arange(100) % 10
    (x_fit, _), (x_val, y_val) = carve_validation(x, y, 0.2, seed=4)
    assert len(x_val) == 20 and len(x_fit) == 80
    assert sorted(torch.cat([x_fit, x_val])[:, 0].tolist()) == x[:, 0].tolist()
    assert torch.equal(y_val, x_val[:, 0].long() % 10)
    again = carve_validation(x, y, 0.2, seed=4)[1][0]
    other = carve_validation(x, y, 0.2, seed=5)[1][0]
    assert torch.equal(again, x_val) and not torch.equal(other, x_val)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.2, 0.001, 0.999])
def test_a_validation_fraction_outside_zero_one_or_leaving_an_empty_part_is_refused(fraction):
    with pytest.raises(
        ValueError, match=r"--validation must be a fraction in \(0, 1\) that leaves both parts"
    ):
        carve_validation(torch.zeros(100, 1), torch.zeros(100), fraction)


def test_splits_differ_and_split_zero_is_the_default_split():
    first, second = load_data("digits", split=0), load_data("digits", split=1)
    assert torch.equal(first.x_test, load_data("digits").x_test)
    assert first.x_train.shape == second.x_train.shape and not torch.equal(first.x_test, second.x_test)


# --- baselines -------------------------------------------------------------------------------------


def small_spec(periodic=(True,)) -> MethodSpec:
    plan = make_protocol("heldout", TASKS["rotation"])
    contexts = specialist_contexts(periodic, None, plan.in_training_support)
    return MethodSpec("mlp", (1, 8, 8), 10, 16, periodic, "circle", contexts, 1e-3)


@pytest.mark.parametrize("method", ["film-mlp", "concat-every-matched"])
def test_stronger_baselines_are_matched_to_the_manifolds_size(method):
    target = count_parameters(build_method("manifold", small_spec(), 0)[0])
    count = count_parameters(build_method(method, small_spec(), 0)[0])
    assert abs(count - target) / target < 0.05, (method, count, target)


def test_the_hypernetwork_has_the_manifolds_weight_tensors_plus_its_generator():
    target = count_parameters(build_method("manifold", small_spec(), 0)[0])  # K = 3 copies
    count = count_parameters(build_method("hypernet", small_spec(), 0)[0])  # codes K - 1 = 2
    assert count == target + (2 * 64 + 64) + (64 * 2 + 2)


@pytest.mark.parametrize("method", ["film", "film-mlp", "hypernet", "scn"])
def test_modulating_baselines_start_as_the_shared_backbone(method):
    model = build_method(method, small_spec(), seed=3)[0]
    plain = build_method("unconditioned", small_spec(), seed=3)[0]
    x = torch.rand(6, 1, 8, 8)
    s = torch.rand(6, 1)
    assert torch.allclose(model(x, s), plain(x, s), atol=1e-6)


def test_film_generator_parameter_count_and_identity_start():
    backbone = mlp(5, [7], 3).double()
    film = FiLM(backbone, [True], hidden=11).double()
    assert count_parameters(film) - count_parameters(backbone) == (2 * 11 + 11) + (11 * 14 + 14)
    x = torch.rand(4, 5, dtype=torch.float64)
    assert torch.allclose(film(x, torch.rand(4, 1, dtype=torch.float64)), backbone(x))
    with pytest.raises(ValueError, match="hidden must be None or an int >= 1"):
        FiLM(backbone, [True], hidden=0)


def test_hypernetwork_generates_every_weight_as_an_affine_map_of_its_code():
    """Against an explicit computation: perturb the weight tensors, then compare the forward pass
    per example with the backbone called on ``W₀ + Σ_j g_j(s) (W_j − W₀)``."""
    torch.manual_seed(0)
    backbone = mlp(5, [7], 3).double()
    model = HyperNetwork(backbone, 2, [True, False], hidden=6).double()
    with torch.no_grad():
        for point in model.manifold.control_points():
            point.add_(0.3 * torch.randn_like(point))
    points = dict(model.manifold.named_control_points())
    names = [name for name, _ in backbone.named_parameters()]
    x = torch.rand(4, 5, dtype=torch.float64)
    s = torch.rand(4, 2, dtype=torch.float64)
    out = model(x, s)
    for i in range(4):
        g = model.code(s[i])
        weights = {}
        for name in names:
            owner, _, leaf = name.rpartition(".")
            stacked = points[f"model.{owner}.layer.{leaf}"]  # (d + 1, *shape)
            weights[name] = stacked[0] + sum(g[j] * (stacked[j + 1] - stacked[0]) for j in range(2))
        expected = functional_call(backbone, weights, (x[i : i + 1],))
        assert torch.allclose(out[i : i + 1], expected, atol=1e-10)
    assert count_parameters(model) == 3 * count_parameters(backbone) + (3 * 6 + 6) + (6 * 2 + 2)
    with pytest.raises(ValueError, match="codes must be an int >= 1"):
        HyperNetwork(backbone, 0, [True])


def test_specialist_cells_route_every_sample_to_their_specialist_inside_the_support():
    plan = make_protocol("heldout", TASKS["rotation"])
    model = build_method("specialists", small_spec(), 0)[0]
    contexts = model.values.cpu()
    covered = []
    for n in range(len(contexts)):
        sampler = specialist_cell_sampler(contexts, n, plan.periodic, plan.in_training_support, False)
        s = sampler(500, torch.Generator().manual_seed(n))
        assert s.shape == (500, 1) and plan.in_training_support(s).all()
        assert (model.route(s) == n).all()
        covered.append(s)
    everything = torch.cat(covered)[:, 0]
    histogram = torch.histc(everything, bins=16, min=0, max=1)
    assert (histogram[[i for i in range(16) if not 6 <= i < 10]] > 0).all()  # the whole support is covered


# --- statistics ------------------------------------------------------------------------------------


def test_paired_difference_closed_forms():
    a, b = [0.9, 0.8, 0.85, 0.7, 0.95], [0.5, 0.6, 0.7, 0.65, 0.75]
    d = np.subtract(a, b)
    result = paired_difference(a, b)
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert result["mean"] == pytest.approx(d.mean()) and result["ci"] == pytest.approx(half)
    assert result["p_wilcoxon"] == pytest.approx(2 / 32)  # all five signs positive, exact two-sided
    assert result["wins"] == 5 and result["n"] == 5
    assert math.isnan(paired_difference([1.0, 2.0], [1.0, 2.0])["p_wilcoxon"])
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0], [1.0, 2.0])


def test_paired_comparisons_pair_on_split_and_seed_whatever_the_order():
    runs = [
        {"method": "manifold", "split": 0, "seed": 0, "accuracy": 0.9},
        {"method": "manifold", "split": 1, "seed": 0, "accuracy": 0.7},
        {"method": "concat", "split": 1, "seed": 0, "accuracy": 0.6},
        {"method": "concat", "split": 0, "seed": 0, "accuracy": 0.5},
        {"method": "concat", "split": 0, "seed": 9, "accuracy": 0.1},  # no partner: left out
    ]
    (row,) = paired_comparisons(runs, "manifold", ["accuracy"])
    assert row["method"] == "concat" and row["n"] == 2
    assert row["mean"] == pytest.approx((0.4 + 0.1) / 2)


# --- tuning, splits and parallel jobs ---------------------------------------------------------------


def test_every_method_gets_the_same_trials_starting_with_the_given_setting():
    config = ExperimentConfig(trials=5, lr=1e-3, epochs=7)
    trials = tuning_trials(config)
    assert len(trials) == 5 and trials[0] == {"lr": 1e-3, "epochs": 7, "weight_decay": 0.0}
    assert trials == tuning_trials(ExperimentConfig(trials=5, lr=1e-3, epochs=7, methods=("concat",)))
    assert all(3e-4 <= t["lr"] <= 1e-2 for t in trials[1:])


TINY = dict(
    data="digits",
    task="rotation",
    protocol="heldout",
    methods=("manifold", "concat"),
    seeds=(0, 1),
    epochs=1,
    train_size=80,
    test_size=16,
    infer=False,
    splits=(0, 1),
    validation=0.25,
    trials=2,
    points=24,
)


def test_tuning_picks_the_best_validation_setting_for_every_seed_of_a_split(one_thread):
    result = run_suite(ExperimentConfig(**TINY), progress=False)
    assert len(result["tuning"]) == 2 * 2 * 2 and len(result["runs"]) == 2 * 2 * 2
    for chosen in result["chosen"]:
        mine = [
            r for r in result["tuning"] if r["method"] == chosen["method"] and r["split"] == chosen["split"]
        ]
        assert chosen["val_accuracy"] == max(r["val_accuracy"] for r in mine)
        runs = [
            r for r in result["runs"] if r["method"] == chosen["method"] and r["split"] == chosen["split"]
        ]
        assert all(r["lr"] == chosen["lr"] and r["epochs"] == chosen["epochs"] for r in runs)
    paired = {(r["method"], r["metric"]): r for r in result["paired"]}
    assert paired[("concat", "accuracy")]["n"] == 4
    depths = {r["distance"] for r in result["distance"]}
    assert 0.0 in depths and max(depths) == pytest.approx(0.125, abs=1e-6)
    assert len(depths) == 4  # 0, 1/24, 2/24, 3/24 of a turn, the same from both edges


def test_parallel_jobs_give_the_same_results(one_thread):
    config = ExperimentConfig(**{**TINY, "methods": ("manifold",), "seeds": (0,), "trials": 0})
    serial = run_suite(config, progress=False)
    parallel = run_suite(config, progress=False, jobs=2, threads=1)

    assert serial["runs"] == parallel["runs"] and serial["curves"] == parallel["curves"]
    assert set(serial["seconds"]["runs"]) == {"manifold/0/0", "manifold/1/0"}  # wall times kept apart
    with pytest.raises(ValueError, match="--jobs must be an integer >= 1"):
        run_suite(config, progress=False, jobs=0)


def test_compare_with_tuning_writes_paired_and_tuning_tables(tmp_path, one_thread, capsys):
    argv = [
        "compare",
        "--data",
        "digits",
        "--methods",
        "manifold,unconditioned",
        "--protocol",
        "heldout",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--train-size",
        "100",
        "--test-size",
        "16",
        "--trials",
        "1",
        "--no-infer",
        "--no-progress",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "paired differences" in printed and "manifold − unconditioned" in printed
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["config"]["validation"] == 0.2 and result["config"]["trials"] == 1
    for name in ("paired.csv", "tuning.csv", "distance.csv", "accuracy_vs_distance.png"):
        assert (tmp_path / name).is_file()


def test_shared_smoke_arguments_are_the_commands_previous_ones():
    tail = ["--train-size", "200", "--test-size", "64", "--no-progress", "--threads", "1"]
    assert compare.SMOKE_ARGS == [
        "--data",
        "digits",
        "--task",
        "noise",
        "--protocol",
        "extrapolation",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--methods",
        "manifold,concat,unconditioned",
        *tail,
    ]
    assert condition.SMOKE_ARGS == [
        "--data",
        "digits",
        "--task",
        "rotation",
        "--protocol",
        "heldout",
        "--epochs",
        "1",
        "--seeds",
        "1",
        *tail,
    ]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--validation", "0", "expected a fraction in (0, 1)"),
        ("--validation", "1", "expected a fraction in (0, 1)"),
        ("--jobs", "0", "expected a positive integer"),
        ("--trials", "0", "expected a positive integer"),
        ("--skew", "1", "expected a probability in [0, 1)"),
        ("--skew", "-0.5", "expected a probability in [0, 1)"),
        ("--splits", "0,0", "expected distinct seeds"),
    ],
)
def test_bad_study_options_are_usage_errors_naming_the_option(option, value, message, capsys):
    assert main(["compare", option, value]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and message in err


def test_a_validation_part_that_leaves_nothing_is_a_one_line_error(tmp_path, capsys):
    argv = [
        "compare",
        "--data",
        "digits",
        "--train-size",
        "10",
        "--validation",
        "0.01",
        "--trials",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--validation must be a fraction in (0, 1) that leaves both" in err


# --- context inference ----------------------------------------------------------------------------


def test_information_criterion_matches_a_direct_computation():
    torch.manual_seed(1)
    model = WeightManifold(mlp(4, [6], 3), Fourier(1)).double()
    x = torch.rand(2, 5, 4, dtype=torch.float64)
    s = torch.rand(2, 3, 1, dtype=torch.float64)
    value = context_criterion(model, x, s, "information")
    for n in range(2):
        for j in range(3):
            p = torch.softmax(model(x[n], s[n, j]), -1)
            conditional = -(p * p.log()).sum(-1).mean()
            marginal = p.mean(0)
            assert value[n, j].item() == pytest.approx(
                (conditional + (marginal * marginal.log()).sum()).item()
            )


@pytest.mark.parametrize("criterion", ["entropy", "information"])
def test_the_search_is_global_no_dense_grid_point_is_better(criterion):
    """Models with many local minima over the circle: the estimate is at least as good as the
    best of 720 evenly spaced angles."""
    torch.manual_seed(0)
    for trial in range(4):  # the fourth needs more than three starts
        model = WeightManifold(mlp(4, [8], 5), Fourier(3), init="independent").double()
        x = torch.randn(3, 16, 4, dtype=torch.float64) * 2
        estimate = infer_context(model, x, criterion=criterion)
        dense = torch.arange(720, dtype=torch.float64)[:, None] / 720
        best = context_criterion(model, x, dense[None].expand(3, -1, -1), criterion).min(1).values
        assert (estimate.objective <= best + 1e-5).all(), (trial, estimate.objective, best)
        again = context_criterion(model, x, estimate.s[:, None], criterion)[:, 0]
        assert torch.allclose(again, estimate.objective)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((8,), r"x must have shape \(N, B, \*F\)"),
        ((8, 4), r"x must have shape \(N, B, \*F\)"),
        ((0, 8, 4), "at least one batch"),
        ((2, 0, 4), "at least one batch"),
    ],
)
def test_inputs_without_a_batch_dimension_or_examples_are_refused(shape, message):
    model = WeightManifold(mlp(4, [6], 3), Fourier(1))
    with pytest.raises(ValueError, match=message):
        infer_context(model, torch.zeros(shape))


def test_bad_criterion_and_starts_are_refused():
    model = WeightManifold(mlp(4, [6], 3), Fourier(1))
    with pytest.raises(ValueError, match="criterion must be one of entropy, information"):
        infer_context(model, torch.zeros(1, 2, 4), criterion="agreement")
    with pytest.raises(ValueError, match="starts must be an int >= 1"):
        infer_context(model, torch.zeros(1, 2, 4), starts=0)


def test_skewed_runs_report_the_favoured_and_the_rare_region_paired(tmp_path, one_thread):
    config = ExperimentConfig(**{**TINY, "protocol": "uniform", "trials": 0, "validation": 0.0, "skew": 0.9})
    result = run_suite(config, progress=False)
    for run in result["runs"]:
        curve = [
            c
            for c in result["curves"]
            if (c["method"], c["split"], c["seed"]) == (run["method"], run["split"], run["seed"])
        ]
        rare = [c["accuracy"] for c in curve if c["s0"] >= 0.25]
        assert run["accuracy_rare"] == pytest.approx(sum(rare) / len(rare))
    metrics = {r["metric"] for r in result["paired"]}
    assert {"accuracy_favoured", "accuracy_rare"} <= metrics
    assert result["protocol"]["skew"] == 0.9


def test_inference_errors_are_split_into_seen_and_unseen_contexts(one_thread):
    changes = dict(methods=("manifold",), seeds=(0,), splits=(0,), trials=0, validation=0.0, infer=True)
    config = ExperimentConfig(**{**TINY, **changes}, infer_batches=(4,), criteria=("entropy", "information"))
    (row,) = run_suite(config, progress=False)["runs"]
    plan = make_protocol("heldout", TASKS["rotation"], points=24)
    seen, unseen = int(plan.seen.sum()), int((~plan.seen).sum())
    for suffix in ("", "_entropy_b4", "_information_b4"):
        parts = seen * row[f"infer_error_seen{suffix}"] + unseen * row[f"infer_error_unseen{suffix}"]
        key = f"infer_error{suffix}" if suffix else "infer_error"
        assert row[key] == pytest.approx(parts / (seen + unseen))
    assert 0 <= row["infer_gross_information_b4"] <= 1
