"""Functionally invariant walks: recording draws no random numbers, so the path does not depend on
how often progress is recorded; the shared walk options are checked."""

import pytest
import torch

from geomanifold.data import DataSplit
from geomanifold.experiments.networks import build_network
from geomanifold.weightspace.continual import learn_along_path
from geomanifold.weightspace.fip import walk
from geomanifold.weightspace.sparsify import pruning_objective, sparsify_along_path


def tiny():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 1, 3, 3, generator=g, dtype=torch.float64)
    y = torch.arange(60) % 3
    split = DataSplit(x[:40], y[:40], x[40:], y[40:], "tiny", 3)
    return build_network("mlp", split, 6, seed=0).double(), x, y


@pytest.mark.parametrize("driver", ["continual", "sparsify"])
def test_the_path_does_not_depend_on_record_every(driver):
    model, x, y = tiny()
    ends, records = [], []
    for record_every in (1, 4, 25):
        evaluate = lambda w: {"norm": float(w.norm())}  # noqa: E731
        options = dict(record_every=record_every, evaluate=evaluate, batch_size=8, progress=False)
        if driver == "continual":
            w, walked = learn_along_path(model, x[:20], x[20:], y[20:], 12, 0.05, **options)
        else:
            w, _, walked = sparsify_along_path(model, x, 0.5, 12, 0.05, **options)
        ends.append(w)
        records.append({r["step"]: r["secondary"] for r in walked})
    assert torch.equal(ends[0], ends[1]) and torch.equal(ends[0], ends[2])
    assert records[1][4] == records[0][4] and records[2][12] == records[0][12]
    assert sorted(records[1]) == [0, 4, 8, 12]


def test_walk_options_are_checked():
    model, x, _ = tiny()
    mask = torch.zeros(sum(p.numel() for p in model.parameters()), dtype=torch.bool)
    mask[:5] = True
    with pytest.raises(TypeError, match=r"unknown walk options \['steps_per_record'\]; valid: rule"):
        walk(model, x, pruning_objective(mask), 2, 0.1, steps_per_record=3)
