"""Permutation alignment on specs traced from the model or written by hand: the function never
changes, known permutations are recovered, and a broken spec is caught naming the module."""

import itertools

import pytest
import torch
from torch import nn

from geomanifold.models import Conv1D, VisionTransformer, resnet18
from geomanifold.weightspace import NonFiniteWeightsError, parameter_vector
from geomanifold.weightspace.alignment import (
    activation_matching,
    align_hidden_units,
    solve_assignment,
    weight_matching,
)
from geomanifold.weightspace.permutation_spec import (
    FunctionChangedError,
    PermutationSpec,
    SpecError,
    permute_model,
)
from geomanifold.weightspace.spec_tracing import trace_permutation_spec


def pair(make, seed=0):
    torch.manual_seed(seed)
    a = make().double().eval()
    torch.manual_seed(seed + 1)
    b = make().double().eval()
    return a, b


def randomise_statistics(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model


def cnn_groupnorm():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 16, 3),
    )


def mlp_layernorm(hidden: int = 12):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(16, hidden),
        nn.LayerNorm(hidden),
        nn.GELU(),
        nn.Linear(hidden, 10),
        nn.ReLU(),
        nn.Linear(10, 3),
    )


def nested():
    block = lambda i, o: nn.Sequential(nn.Linear(i, o), nn.Sequential(nn.BatchNorm1d(o), nn.ReLU()))  # noqa: E731
    return nn.Sequential(nn.Flatten(), nn.Sequential(block(16, 9), block(9, 7)), nn.Linear(7, 3))


ARCHITECTURES = {
    "cnn-groupnorm": (cnn_groupnorm, (1, 4, 4)),
    "mlp-layernorm": (mlp_layernorm, (1, 4, 4)),
    "nested-sequentials": (nested, (1, 4, 4)),
    "resnet18": (lambda: resnet18(5, 1, 4, small_input=True), (1, 8, 8)),
    "vit": (lambda: VisionTransformer(8, 4, 2, 2, 8, 16, 5, 1), (1, 8, 8)),
}


@pytest.mark.parametrize("method", ["weights", "activations"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_alignment_keeps_the_function_and_moves_closer(arch, method):
    make, shape = ARCHITECTURES[arch]
    a, b = pair(make)
    randomise_statistics(b)
    x = torch.randn(32, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    aligned = align_hidden_units(a, b, x, method=method)
    torch.testing.assert_close(aligned(x), b(x))
    distance = lambda m: (parameter_vector(m) - parameter_vector(a)).norm()  # noqa: E731
    assert distance(aligned) < distance(b)
    assert distance(aligned) != distance(b) or method == "activations"


@pytest.mark.parametrize("arch", ["cnn-groupnorm", "resnet18", "vit"])
def test_a_shuffled_copy_is_recovered_exactly(arch):
    make, shape = ARCHITECTURES[arch]
    a, _ = pair(make)
    x = torch.randn(16, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spec = trace_permutation_spec(a, x)
    units = spec.check(a)
    g = torch.Generator().manual_seed(2)
    shuffles = {}
    for p, n in units.items():
        groups = spec.groups.get(p, 1)
        size = n // groups
        order = torch.randperm(groups, generator=g)
        shuffles[p] = torch.cat([order[i] * size + torch.randperm(size, generator=g) for i in range(groups)])
    shuffled = permute_model(a, spec, shuffles, x)
    assert not torch.equal(parameter_vector(shuffled), parameter_vector(a))
    recovered = align_hidden_units(a, shuffled, x)
    torch.testing.assert_close(parameter_vector(recovered), parameter_vector(a))


def test_traced_specs_know_residuals_heads_and_groups():
    make, shape = ARCHITECTURES["resnet18"]
    spec = trace_permutation_spec(make(), torch.zeros(2, *shape))
    # the stem, layer1's blocks and their shortcut share one permutation; conv1s have their own
    stem = spec.axes["conv1.weight"][0]
    assert spec.axes["layer1.0.conv2.weight"][0] == stem == spec.axes["layer1.1.bn2.running_mean"][0]
    assert spec.axes["layer2.0.conv1.weight"][1] == stem == spec.axes["layer2.0.downsample.0.weight"][1]
    assert len(spec.sizes) == 12 and spec.axes["fc.weight"][0] is None
    make, shape = ARCHITECTURES["vit"]
    spec = trace_permutation_spec(make(), torch.zeros(2, *shape))
    heads, outer = spec.axes["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"][0]
    assert outer == 3 and spec.sizes[heads] == 2
    assert (
        spec.axes["class_token"][2]
        == spec.axes["encoder.pos_embedding"][2]
        == spec.axes["conv_proj.weight"][0]
    )
    spec = trace_permutation_spec(cnn_groupnorm(), torch.zeros(2, 1, 4, 4))
    assert list(spec.groups.values()) == [2]


def test_a_spec_that_ignores_groupnorm_groups_is_caught_at_the_groupnorm():
    a, b = pair(cnn_groupnorm)
    x = torch.randn(8, 1, 4, 4, dtype=torch.float64)
    spec = trace_permutation_spec(a, x)
    (name,) = spec.sizes
    ungrouped = PermutationSpec(spec.axes, spec.sizes)
    swap = torch.tensor([4, 1, 2, 3, 0, 5, 6, 7])  # moves a channel into the other group
    with pytest.raises(FunctionChangedError, match=r"module '1' \(GroupNorm\)"):
        permute_model(b, ungrouped, {name: swap}, x)
    permute_model(b, spec, {name: torch.tensor([4, 5, 6, 7, 1, 0, 3, 2])}, x)  # whole groups: fine


def test_group_respecting_assignment_is_the_best_among_group_respecting_permutations():
    score = torch.randn(6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    best = solve_assignment(score, groups=2)
    value = lambda p: float(score[torch.arange(6), torch.as_tensor(p)].sum())  # noqa: E731
    respecting = [
        p for p in itertools.permutations(range(6)) if {p[0] // 3, p[1] // 3, p[2] // 3} in ({0}, {1})
    ]
    assert value(best) == pytest.approx(max(value(p) for p in respecting))
    assert value(solve_assignment(score)) == pytest.approx(
        max(value(p) for p in itertools.permutations(range(6)))
    )


def test_operations_the_tracer_does_not_know_fix_their_units_instead_of_breaking():
    class Sorts(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(4, 6), nn.Linear(6, 5), nn.Linear(5, 7)
            self.fc4 = nn.Linear(3, 2)

        def forward(self, x):
            h = torch.sort(self.fc1(x), dim=-1).values  # not permutation-equivariant
            return self.fc4(self.fc3(torch.relu(self.fc2(h)))[:, :3])  # selects units

    a, b = pair(Sorts)
    x = torch.randn(8, 4, dtype=torch.float64)
    spec = trace_permutation_spec(a, x)
    assert list(spec.sizes) == ["fc2"]
    aligned = align_hidden_units(a, b, x)
    torch.testing.assert_close(aligned(x), b(x))


def test_hand_written_spec_for_an_untraceable_model_with_transposed_weights():
    a, b = pair(lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), Conv1D(5, 6), nn.ReLU(), Conv1D(3, 5)))
    x = torch.randn(16, 4, dtype=torch.float64)
    with pytest.raises(SpecError, match="cannot trace Sequential"):
        trace_permutation_spec(a, x)
    spec = PermutationSpec(
        axes={
            "0.weight": ("P0", None),
            "0.bias": ("P0",),
            "2.weight": ("P0", "P2"),
            "2.bias": ("P2",),
            "4.weight": ("P2", None),
        },
        sites={"P0": (("0", 1),), "P2": (("2", 1),)},
    )
    for method in ("weights", "activations"):
        aligned = align_hidden_units(a, b, x, method, spec=spec)
        torch.testing.assert_close(aligned(x), b(x))
    wrong = PermutationSpec({**spec.axes, "2.weight": ("P2", "P0")}, {"P0": 6, "P2": 5})
    with pytest.raises(
        SpecError, match=r"'2.weight' axis 1 has length 5, not a multiple of outer 1 × 6 units"
    ):
        align_hidden_units(a, b, x, spec=wrong)
    forgets_a_reader = PermutationSpec({k: v for k, v in spec.axes.items() if k != "4.weight"})
    with pytest.raises(FunctionChangedError, match=r"outputs of module '4' \(Conv1D\) differ"):
        align_hidden_units(a, b, x, spec=forgets_a_reader)


def test_hand_written_spec_aligns_like_the_traced_one():
    a, b = pair(mlp_layernorm)
    x = torch.randn(16, 1, 4, 4, dtype=torch.float64)
    spec = PermutationSpec(
        axes={
            "1.weight": ("P1", None),
            "1.bias": ("P1",),
            "2.weight": ("P1",),
            "2.bias": ("P1",),
            "4.weight": ("P2", "P1"),
            "4.bias": ("P2",),
            "6.weight": (None, "P2"),
        }
    )
    by_hand = align_hidden_units(a, b, x, spec=spec)
    traced = align_hidden_units(a, b, x)
    torch.testing.assert_close(parameter_vector(by_hand), parameter_vector(traced))
    perms = activation_matching(a, b, PermutationSpec(spec.axes, sites={"P1": (("1", 1),)}), x)
    assert set(perms) == {"P1", "P2"}


def test_bad_input_gets_one_line_errors_naming_the_argument():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 2)

        def forward(self, x):
            h = self.fc1(x)
            return self.fc2(h if h.sum() > 0 else -h)

    x = torch.randn(8, 4)
    with pytest.raises(
        SpecError, match=r"^model: torch.fx cannot trace DataDependent .* write its permutation spec by hand"
    ):
        align_hidden_units(DataDependent(), DataDependent(), x)
    a, b = pair(mlp_layernorm)
    xs = torch.randn(8, 1, 4, 4, dtype=torch.float64)
    with pytest.raises(
        SpecError, match=r"'4.weight' axis 1 has length 12, not a multiple of outer 1 × 10 units"
    ):
        align_hidden_units(a, b, xs, spec=PermutationSpec({"4.weight": ("P", "P")}))
    with pytest.raises(SpecError, match=r"the model has no tensor 'fc.weight'"):
        align_hidden_units(a, b, xs, spec=PermutationSpec({"fc.weight": ("P", None)}))
    with pytest.raises(SpecError, match=r"'1.bias' has 1 axes \(12,\), but its entry is \('P', None\)"):
        align_hidden_units(a, b, xs, spec=PermutationSpec({"1.bias": ("P", None)}))
    with pytest.raises(SpecError, match=r"groups names permutations \['Q'\]"):
        align_hidden_units(a, b, xs, spec=PermutationSpec({"1.bias": ("P",)}, groups={"Q": 2}))
    other = mlp_layernorm(hidden=13).double()
    with pytest.raises(ValueError, match=r"^reference and other must have the same architecture: '1.weight'"):
        align_hidden_units(a, other, xs)
    with pytest.raises(ValueError, match="method must be one of weights, activations"):
        align_hidden_units(a, b, xs, method="both")
    with pytest.raises(ValueError, match=r"^x must be a non-empty batch"):
        align_hidden_units(a, b, xs[:0])
    with pytest.raises(SpecError, match=r"^probe: Sequential fails on inputs of shape \(8, 3\)"):
        align_hidden_units(a, b, torch.randn(8, 3, dtype=torch.float64))
    with torch.no_grad():
        b[1].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match=r"^other has 1 NaN or infinite weights"):
        weight_matching(a, b, trace_permutation_spec(a, xs))
    with pytest.raises(SpecError, match=r"found no permutable hidden units in Linear"):
        align_hidden_units(nn.Linear(4, 2), nn.Linear(4, 2), x)
    spec = trace_permutation_spec(a, xs)
    with pytest.raises(SpecError, match=r"perms\['1'\] must be a permutation of 12 units"):
        permute_model(a, spec, {"1": torch.zeros(12, dtype=torch.long), "4": torch.arange(10)}, xs)
