"""DistributedDataParallel on a weight-manifold model equals single-process training.

Two gloo processes on CPU each take half of every global batch (with its own per-example s);
DDP averages the gradients, which equals the gradient of the full-batch mean loss, so the
natural-gradient steps (the G⁻¹ mixing is linear in the gradient) and the parameters after a
few steps must equal those of one process on the full batch.
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from geomanifold.bases import Line
from geomanifold.conditioning import WeightManifold
from geomanifold.optim import NaturalGradientSGD

WORLD = 2
STEPS = 4
BATCH = 16  # global batch; each rank gets BATCH // WORLD


def make_model() -> WeightManifold:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    return WeightManifold(mlp, Line(), noise=0.1, generator=torch.Generator().manual_seed(1))


def global_batches() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(2)
    return [
        (
            torch.randn(BATCH, 6, generator=g, dtype=torch.float64),
            torch.rand(BATCH, 1, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (BATCH,), generator=g),
        )
        for _ in range(STEPS)
    ]


def make_optimizer(model: WeightManifold) -> NaturalGradientSGD:
    return NaturalGradientSGD(model.param_groups(), lr=0.2, momentum=0.9, weight_decay=1e-3)


def train(model, batches, rank: int = 0, world: int = 1) -> None:
    optimizer = make_optimizer(model.module if world > 1 else model)
    per_rank = BATCH // world
    for x, s, y in batches:
        part = slice(rank * per_rank, (rank + 1) * per_rank)
        optimizer.zero_grad()
        F.cross_entropy(model(x[part], s[part]), y[part]).backward()
        optimizer.step()


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model = nn.parallel.DistributedDataParallel(make_model())
        train(model, global_batches(), rank, WORLD)
        torch.save(model.module.state_dict(), f"{out}.rank{rank}")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_workers(out: str, attempts: int = 3) -> None:
    """Run the workers; a worker killed by a signal is retried on a fresh port (gloo's TCP transport
    can abort while the ranks connect, pytorch/gloo#514), an exception raised in a worker is not."""
    for attempt in range(attempts):
        try:
            mp.spawn(worker, args=(free_port(), out), nprocs=WORLD, join=True)
            return
        except mp.ProcessExitedException:
            if attempt == attempts - 1:
                raise


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")
def test_ddp_two_gloo_processes_match_single_process(tmp_path):
    out = str(tmp_path / "ddp")
    spawn_workers(out)

    single = make_model()
    before = {k: v.clone() for k, v in single.state_dict().items()}
    train(single, global_batches())
    expected = single.state_dict()
    for rank in range(WORLD):
        got = torch.load(f"{out}.rank{rank}")
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert value.dtype == torch.float64
            torch.testing.assert_close(got[name], value, rtol=1e-10, atol=1e-12, msg=name)
            assert not torch.equal(value, before[name])  # training moved every tensor

    # the comparison discriminates: training on one rank's half alone ends elsewhere
    half = make_model()
    train(
        half,
        [(x[: BATCH // WORLD], s[: BATCH // WORLD], y[: BATCH // WORLD]) for x, s, y in global_batches()],
    )
    assert not torch.allclose(half.state_dict()[name], expected[name], rtol=1e-6, atol=1e-8)
