"""Instability analysis (Frankle, Dziugaite, Roy & Carbin 2020, "Linear Mode Connectivity and the
Lottery Ticket Hypothesis", arXiv 1912.05671).

A network is trained for ``k`` steps; two copies of it (weights and optimizer state) are then
trained to the same total number of steps on different data orders. The network is *stable* at
``k`` when the straight line between the two results has no error barrier: the instability is
``max_t err(t) − (err(0) + err(1)) / 2`` on the test set (and the same for the loss), measured at
evenly spaced ``t`` with BatchNorm statistics recomputed at each point. It falls as ``k`` grows.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DataSplit
from ..settings import InstabilityOptions
from ..summary import format_mean_interval
from ..weightspace.evaluate import evaluate_path
from ..weightspace.functional import parameter_vector
from ..weightspace.paths import straight_line
from .networks import build_network

__all__ = ["InstabilityOptions", "format_table", "instability", "summarise"]


class _Batches:
    """Minibatches of ``(x, y)`` in a fresh random order per epoch from ``generator``."""

    def __init__(self, x, y, batch_size: int, generator: torch.Generator) -> None:
        self.x, self.y, self.batch_size, self.generator = x, y, batch_size, generator
        self.order, self.position = torch.empty(0, dtype=torch.long), 0

    def next(self):
        if self.position >= len(self.order):
            self.order, self.position = torch.randperm(len(self.x), generator=self.generator), 0
        index = self.order[self.position : self.position + self.batch_size].to(self.x.device)
        self.position += self.batch_size
        return self.x[index], self.y[index]


def _optimizer(model: nn.Module, options: InstabilityOptions) -> torch.optim.Optimizer:
    if options.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=options.lr)
    return torch.optim.SGD(model.parameters(), lr=options.lr, momentum=0.9)


def _train(model: nn.Module, opt: torch.optim.Optimizer, batches: _Batches, steps: int) -> None:
    model.train()
    for _ in range(steps):
        x, y = batches.next()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            raise ValueError(f"training diverged (loss {loss.item()}); lower --lr")
        loss.backward()
        opt.step()


def instability(split: DataSplit, options: InstabilityOptions, seed: int = 0) -> list[dict]:
    """Error and loss barriers between two copies parted at each ``k`` of ``options.ks``.

    The trunk is initialised and ordered by ``seed``; the copies parted at ``k`` train on orders
    seeded ``1000003 · seed + 3k + 1`` and ``+ 2``.

    Returns:
        ``[{"seed", "k", "error_barrier", "loss_barrier", "endpoint_error"}]`` in the order of ``ks``
        (test set; barriers as in the module docstring).
    """
    device = split.x_train.device
    model = build_network(options.arch, split, options.width, seed).to(device)
    opt = _optimizer(model, options)
    trunk = _Batches(*split.train, options.batch_size, torch.Generator().manual_seed(seed))
    done, rows = 0, []
    for k in sorted(options.ks):
        _train(model, opt, trunk, k - done)
        done = k
        ends = []
        for branch in (1, 2):
            copy_model = copy.deepcopy(model)
            copy_opt = _optimizer(copy_model, options)
            copy_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
            generator = torch.Generator().manual_seed(1_000_003 * seed + 3 * k + branch)
            _train(
                copy_model, copy_opt, _Batches(*split.train, options.batch_size, generator), options.steps - k
            )
            ends.append(copy_model.eval())
        line = straight_line(parameter_vector(ends[0]), parameter_vector(ends[1]))
        result = evaluate_path(
            ends[0],
            line,
            {"test": split.test},
            split.x_test[:256],
            options.points,
            bn_x=split.x_train,
            progress=False,
        )
        rows.append(
            {
                "seed": seed,
                "k": k,
                "error_barrier": result["test_worst_error"] - result["test_endpoint_error"],
                "loss_barrier": result["test_barrier_max_mean"],
                "endpoint_error": result["test_endpoint_error"],
            }
        )
    order = {k: i for i, k in enumerate(options.ks)}
    return sorted(rows, key=lambda row: order[row["k"]])


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Mean and spread over seeds per ``k``: ``[{"k", "seeds", "error_barrier", "error_barrier_sd",
    "loss_barrier", "loss_barrier_sd", "endpoint_error"}]`` (``_sd``: sample standard deviation,
    ``None`` with one seed)."""
    out = []
    for k in dict.fromkeys(row["k"] for row in rows):
        group = [row for row in rows if row["k"] == k]
        entry = {"k": k, "seeds": len(group)}
        for key in ("error_barrier", "loss_barrier", "endpoint_error"):
            values = torch.tensor([row[key] for row in group], dtype=torch.float64)
            entry[key] = float(values.mean())
            if key != "endpoint_error":
                entry[f"{key}_sd"] = float(values.std()) if len(group) > 1 else None
        out.append(entry)
    return out


def format_table(summary: Sequence[dict]) -> str:
    """The summary as a fixed-width text table (``± sd`` over seeds, ``(1 seed)`` with one)."""

    def cell(row: dict, key: str) -> str:
        spread = row[f"{key}_sd"]
        return format_mean_interval(row[key], math.nan if spread is None else spread)

    lines = [f"{'k':>6}{'error barrier':>22}{'loss barrier':>22}{'end error':>11}"]
    for row in summary:
        lines.append(
            f"{row['k']:>6}{cell(row, 'error_barrier'):>22}{cell(row, 'loss_barrier'):>22}"
            f"{row['endpoint_error']:>11.4f}"
        )
    return "\n".join(lines)
