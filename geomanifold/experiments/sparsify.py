"""Sparsification along functionally invariant paths against magnitude pruning (docs/results_fip.md).

For each seed a network is trained (or one is loaded from a ``geomanifold train`` checkpoint, whose
metadata then sets the data, architecture and width; seeds then vary only the minibatches) and, at each
target sparsity, pruned three ways with the same magnitude mask (global, weight matrices and
kernels only; :mod:`geomanifold.weightspace.sparsify`):

* ``one-shot``: set the masked weights to zero;
* ``prune + fine-tune``: then ``steps`` Adam steps on the training cross-entropy (labels used),
  masked weights held at zero;
* ``FIP``: ``steps`` penalty steps toward the pruned hyperplane keeping the outputs on the training
  inputs (no labels), then set the masked weights to zero. The step length is
  ``length_factor · d₀ / steps``, ``d₀`` the distance to the hyperplane at the start.

Outputs (in ``out``): ``sparsify.json`` (settings, rows, summary), ``sparsify.csv`` (one row per
seed, sparsity and method), ``sparsify_summary.csv`` (mean and 95 % t-interval over seeds),
``sparsify_path.csv`` (test accuracy along the FIP and the fine-tuning), ``sparsify.png``,
``timing.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import CheckpointError, load_checkpoint, load_into
from ..data import DataSplit
from ..io import write_json
from ..plotting.fip import sparsification_figure
from ..settings import SparsifySettings
from ..weightspace.finetune import evaluate_weights, finetune
from ..weightspace.functional import check_vector, parameter_vector
from ..weightspace.sparsify import magnitude_mask, prune, sparsify_along_path, sparsity
from .datasets import load_data
from .networks import build_network, train_network
from .statistics import summarise_over_seeds, write_seed_outputs

__all__ = ["METHODS", "SparsifySettings", "run", "summarise", "with_checkpoint_network"]

METHODS = ("one-shot", "prune + fine-tune", "FIP")


def with_checkpoint_network(settings: SparsifySettings) -> SparsifySettings:
    """``settings`` with ``data``, ``arch``, ``width`` and ``epochs`` taken from the metadata of
    ``settings.checkpoint`` (a ``geomanifold train`` checkpoint); unchanged without one.

    Raises:
        CheckpointError: an unreadable checkpoint, or one without that metadata.
    """
    if settings.checkpoint is None:
        return settings
    meta = load_checkpoint(settings.checkpoint)["metadata"]
    missing = [key for key in ("data", "arch", "width") if key not in meta]
    if missing:
        raise CheckpointError(
            f"--checkpoint {settings.checkpoint!r} has no {', '.join(missing)} in its metadata; "
            "write it with `geomanifold train`"
        )
    return replace(
        settings, data=meta["data"], arch=meta["arch"], width=meta["width"], epochs=meta.get("epochs", 0)
    )


def _network(
    settings: SparsifySettings, split: DataSplit, seed: int, device: torch.device, progress: bool
) -> tuple[nn.Module, float]:
    """The trained network of ``seed`` (or the checkpoint's) and its test accuracy."""
    model = build_network(settings.arch, split, settings.width, seed).to(device)
    if settings.checkpoint is None:
        train_network(model, split, settings.epochs, seed=seed, progress=progress)
    else:
        load_into(model, load_checkpoint(settings.checkpoint, map_location=device))
        check_vector(model, parameter_vector(model), f"weights of --checkpoint {settings.checkpoint!r}")
    model.eval()
    x_test, y_test = (t.to(device) for t in split.test)
    return model, evaluate_weights(model, parameter_vector(model), x_test, y_test)["accuracy"]


def _seed_rows(
    settings: SparsifySettings, split: DataSplit, seed: int, device: torch.device, progress: bool
) -> tuple[list[dict], list[dict]]:
    model, dense = _network(settings, split, seed, device, progress)
    x, y = (t.to(device) for t in split.train)
    x_test, y_test = (t.to(device) for t in split.test)
    w0 = parameter_vector(model)
    rows, path_rows = [], []
    for target in settings.sparsities:
        mask = magnitude_mask(model, w0, target)
        distance = float(w0[mask].norm())

        def along(w: torch.Tensor, mask: torch.Tensor = mask) -> dict[str, float]:
            return {
                "test_accuracy": evaluate_weights(model, w, x_test, y_test)["accuracy"],
                "test_accuracy_if_pruned": evaluate_weights(model, prune(w, mask), x_test, y_test)[
                    "accuracy"
                ],
            }

        fip, _, fip_path = sparsify_along_path(
            model,
            x,
            target,
            settings.steps,
            settings.length_factor * distance / settings.steps,
            penalty=settings.penalty,
            batch_size=settings.batch_size,
            seed=seed,
            record_every=settings.record_every,
            evaluate=along,
            progress=progress,
        )
        tuned, tune_path = finetune(
            model,
            w0,
            x,
            y,
            settings.steps,
            lr=settings.finetune_lr,
            batch_size=settings.batch_size,
            seed=seed,
            frozen_zero=mask,
            record_every=settings.record_every,
            evaluate=along,
            progress=progress,
        )
        for method, w in zip(METHODS, (prune(w0, mask), tuned, fip), strict=True):
            test = evaluate_weights(model, w, x_test, y_test)
            rows.append(
                {
                    "seed": seed,
                    "sparsity": target,
                    "method": method,
                    "test_accuracy": test["accuracy"],
                    "test_loss": test["loss"],
                    "measured_sparsity": sparsity(model, w),
                    "dense_accuracy": dense,
                    "distance_to_hyperplane": distance,
                }
            )
        for method, path in (("FIP", fip_path), ("prune + fine-tune", tune_path)):
            path_rows += [
                {
                    "seed": seed,
                    "sparsity": target,
                    "method": method,
                    "step": r["step"],
                    "test_accuracy": r["test_accuracy"],
                    "test_accuracy_if_pruned": r["test_accuracy_if_pruned"],
                    "divergence": r.get("divergence"),
                    "distance_to_hyperplane": r.get("secondary"),
                }
                for r in path
            ]
    return rows, path_rows


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Mean and 95 % t-interval half-width of the test accuracy over seeds, per sparsity and method."""
    return summarise_over_seeds(rows, ("sparsity", "method"), ("test_accuracy",))


def run(
    out: Path,
    settings: SparsifySettings,
    seeds: Sequence[int] = (0, 1, 2),
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict:
    """Run the comparison for every seed and write the outputs listed in the module docstring.

    Returns:
        ``{"settings", "rows", "summary"}`` (also written to ``sparsify.json``).
    """
    started = time.perf_counter()
    device = torch.device(device)
    settings = with_checkpoint_network(settings)
    split = load_data(settings.data)
    rows, path_rows = [], []
    for seed in tqdm(list(seeds), desc="sparsify: seeds", unit="seed", disable=not progress):
        seed_rows, seed_path = _seed_rows(settings, split, seed, device, progress)
        rows += seed_rows
        path_rows += seed_path
    result = write_seed_outputs(out, "sparsify", settings, seeds, rows, summarise(rows), path_rows)
    dense = sum(r["dense_accuracy"] for r in rows) / len(rows)
    sparsification_figure(result["summary"], path_rows, dense, out / "sparsify.png")
    write_json(out / "timing.json", {"seconds": round(time.perf_counter() - started, 3)})
    return result
