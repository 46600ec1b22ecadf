"""Train a line-conditioned MLP on noisy MNIST-5k with DistributedDataParallel.

A weight-manifold model is an ordinary ``nn.Module``, so DDP wraps it directly. Each process takes
its shard of the data with its own per-example noise levels ``s``; DDP averages the gradients and
the ``G⁻¹`` mixing is linear, so N processes take the same natural-gradient steps as one process on
the whole batch (tests/test_distributed.py checks this with 2 gloo processes).

Batch size: ``BATCH`` is per process. Each step averages over ``BATCH × world size`` examples
(the effective batch grows with the number of processes) and an epoch has that many times fewer
steps; the learning rate is not rescaled, so 2 processes train like one process at batch
``2 × BATCH``, not like one process at batch ``BATCH``.

    torchrun --standalone --nproc_per_node=2 examples/train_ddp.py
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from geomanifold import Line, NaturalGradientSGD, WeightManifold
from geomanifold.data import add_noise, load_mnist5k
from geomanifold.training import evaluate

BATCH = 64  # examples per process and step; the effective batch is BATCH * world size

dist.init_process_group("gloo")  # "nccl" on GPUs; torchrun sets the rank and world size
rank, world = dist.get_rank(), dist.get_world_size()
data = load_mnist5k(seed=0)
torch.manual_seed(0)  # the same initial weights on every rank
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
model = nn.parallel.DistributedDataParallel(WeightManifold(net, Line()))
optimizer = NaturalGradientSGD(model.module.param_groups(), lr=0.05, momentum=0.9)
generator = torch.Generator().manual_seed(rank)
x, y = data.x_train[rank::world], data.y_train[rank::world]  # this rank's shard
if rank == 0:
    steps = -(-len(x) // BATCH)
    print(f"{world} process(es) x batch {BATCH} = effective batch {world * BATCH}; {steps} steps per epoch")
for epoch in range(3):
    for i in range(0, len(x), BATCH):
        xb, yb = x[i : i + BATCH], y[i : i + BATCH]
        s = torch.rand(len(xb), 1, generator=generator)  # one noise level per example
        loss = F.cross_entropy(model(add_noise(xb, s, 2.0, generator), s), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if rank == 0:
        s_test = torch.rand(len(data.x_test), 1, generator=torch.Generator().manual_seed(1))
        noisy = add_noise(data.x_test, s_test, 2.0, torch.Generator().manual_seed(2))
        print(f"epoch {epoch}: test {evaluate(model.module, noisy, data.y_test, s_test)}")
dist.destroy_process_group()
