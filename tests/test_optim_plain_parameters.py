"""Natural optimizers given ``wm.parameters()`` find the control points themselves: the same steps
as with ``wm.param_groups()``."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from geomanifold.bases import Fourier, Line
from geomanifold.conditioning import WeightManifold
from geomanifold.optim import NaturalGradientAdam, NaturalGradientPreconditioner, NaturalGradientSGD

F64 = torch.float64


def _model(basis) -> WeightManifold:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    return WeightManifold(net, basis, noise=0.3, exclude="2.bias")


def _train(wm, optimizer, steps=3):
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(6, 4, generator=generator, dtype=F64)
        s = torch.rand(6, wm.basis.dim, generator=generator, dtype=F64)
        y = torch.randint(0, 3, (6,), generator=generator)
        wm.zero_grad()
        F.cross_entropy(wm(x, s), y).backward()
        if isinstance(optimizer, NaturalGradientPreconditioner):
            optimizer.precondition_()
            torch.optim.SGD(wm.parameters(), lr=0.1).step()
        else:
            optimizer.step()
    return [p.detach().clone() for p in wm.parameters()]


OPTIMIZERS = {
    "sgd": lambda params: NaturalGradientSGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda params: NaturalGradientAdam(params, lr=0.01, weight_decay=1e-3),
    "preconditioner": NaturalGradientPreconditioner,
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("basis", [Line(), Fourier(1)], ids=["line", "fourier"])
def test_plain_parameters_take_the_natural_steps_of_param_groups(name, basis):
    make = OPTIMIZERS[name]
    grouped = _model(basis)
    plain = copy.deepcopy(grouped)  # the marks are renewed on the copy by parameters()
    expected = _train(grouped, make(grouped.param_groups()))
    optimizer = make(plain.parameters())
    assert [len(g["params"]) for g in optimizer.param_groups] == [3, 1]
    assert optimizer.param_groups[0]["basis"] is plain.basis
    for p, e in zip(_train(plain, optimizer), expected, strict=True):
        torch.testing.assert_close(p, e, rtol=0, atol=1e-12)
    # the natural step differs from the plain one (the test can fail)
    other = _model(basis)
    plain_steps = _train(other, make([{"params": list(other.parameters()), "metric": "none"}]))
    assert any(not torch.allclose(p, e) for p, e in zip(plain_steps, expected, strict=True))
