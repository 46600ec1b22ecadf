"""Continual learning along functionally invariant paths against fine-tuning baselines (docs/results_fip.md).

Two task pairs on one data set, a single 10-way head throughout (class-incremental for ``digits``):

* ``digits``: task A = digits 0–4, task B = digits 5–9;
* ``rotation``: task A = all digits, task B = the same digits rotated by ``rotation`` turns
  (:func:`geomanifold.data.rotate`; a quarter turn by default).

For each seed a network is trained on task A, a replay buffer of ``buffer_size`` task-A training
inputs is drawn (no labels), and task B is learned for ``steps`` steps three ways:

* ``fine-tune``: Adam on task B's cross-entropy;
* ``replay + CE``: the same plus the cross-entropy of the buffer labelled with the task-A
  network's *predicted* classes (same buffer, same size; no true labels);
* ``FIP``: penalty steps of fixed length on task B's cross-entropy plus ``penalty`` times the
  output divergence (``2·KL``) to the task-A network on the buffer
  (:func:`geomanifold.weightspace.continual.learn_along_path`).

Outputs (in ``out``): ``continual.json``, ``continual.csv`` (final accuracies per seed, split and
method), ``continual_summary.csv`` (mean and 95 % t-interval over seeds),
``continual_path.csv`` (both tasks' test accuracy along each path), ``continual.png``,
``timing.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import DataSplit, rotate
from ..io import write_json
from ..plotting.fip import continual_figure
from ..settings import TASK_SPLITS, ContinualSettings
from ..weightspace.continual import learn_along_path, pseudo_labels, replay_buffer
from ..weightspace.finetune import evaluate_weights, finetune
from ..weightspace.functional import parameter_vector
from .datasets import load_data
from .networks import build_network, train_network
from .statistics import summarise_over_seeds, write_seed_outputs

__all__ = ["METHODS", "TASK_SPLITS", "ContinualSettings", "run", "split_tasks", "summarise"]

METHODS = ("fine-tune", "replay + CE", "FIP")


def split_tasks(split: DataSplit, task_split: str, rotation: float = 0.25) -> tuple[DataSplit, DataSplit]:
    """Tasks A and B of ``task_split`` (see the module docstring) as two ``DataSplit`` s with the
    same ``num_classes``."""
    if task_split == "digits":

        def part(first: bool) -> DataSplit:
            train = split.y_train < 5 if first else split.y_train >= 5
            test = split.y_test < 5 if first else split.y_test >= 5
            return replace(
                split,
                x_train=split.x_train[train],
                y_train=split.y_train[train],
                x_test=split.x_test[test],
                y_test=split.y_test[test],
                name=f"{split.name} {'0-4' if first else '5-9'}",
            )

        return part(True), part(False)
    if task_split == "rotation":
        if split.x_train.ndim != 4:
            raise ValueError(
                f"--task-split rotation needs image data (N, C, H, W); {split.name} has examples of shape "
                f"{tuple(split.x_train.shape[1:])}"
            )
        rotated = replace(
            split,
            x_train=rotate(split.x_train, rotation),
            x_test=rotate(split.x_test, rotation),
            name=f"{split.name} rotated {rotation:g} turns",
        )
        return split, rotated
    raise ValueError(f"task_split must be one of {', '.join(TASK_SPLITS)}; got {task_split!r}")


def _seed_rows(
    settings: ContinualSettings,
    task_split: str,
    split: DataSplit,
    seed: int,
    device: torch.device,
    progress: bool,
) -> tuple[list[dict], list[dict]]:
    task_a, task_b = split_tasks(split, task_split, settings.rotation)
    model = build_network(settings.arch, task_a, settings.width, seed).to(device)
    train_network(model, task_a, settings.epochs, seed=seed, progress=progress)
    model.eval()
    tests = {name: tuple(t.to(device) for t in task.test) for name, task in (("a", task_a), ("b", task_b))}
    x_b, y_b = (t.to(device) for t in task_b.train)
    buffer = replay_buffer(task_a.x_train.to(device), settings.buffer_size, seed)
    w0 = parameter_vector(model)

    def accuracies(w: torch.Tensor) -> dict[str, float]:
        return {
            f"task_{name}_accuracy": evaluate_weights(model, w, *test)["accuracy"]
            for name, test in tests.items()
        }

    common = {
        "steps": settings.steps,
        "batch_size": settings.batch_size,
        "seed": seed,
        "record_every": settings.record_every,
        "evaluate": accuracies,
        "progress": progress,
    }
    _, tuned = finetune(model, w0, x_b, y_b, lr=settings.lr, **common)
    _, replayed = finetune(
        model, w0, x_b, y_b, lr=settings.lr, replay=(buffer, pseudo_labels(model, buffer)), **common
    )
    _, walked = learn_along_path(
        model, buffer, x_b, y_b, step_length=settings.step_length, penalty=settings.penalty, **common
    )
    rows, path_rows = [], []
    key = {"seed": seed, "task_split": task_split}
    for method, path in zip(METHODS, (tuned, replayed, walked), strict=True):
        start, end = path[0], path[-1]
        rows.append(
            {
                **key,
                "method": method,
                "task_a_before": start["task_a_accuracy"],
                "task_a_accuracy": end["task_a_accuracy"],
                "task_b_accuracy": end["task_b_accuracy"],
                "mean_accuracy": (end["task_a_accuracy"] + end["task_b_accuracy"]) / 2,
            }
        )
        path_rows += [
            {
                **key,
                "method": method,
                "step": r["step"],
                "task_a_accuracy": r["task_a_accuracy"],
                "task_b_accuracy": r["task_b_accuracy"],
            }
            for r in path
        ]
    return rows, path_rows


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Mean and 95 % t-interval half-width over seeds of both tasks' final accuracy, per task split
    and method."""
    fields = ("task_a_before", "task_a_accuracy", "task_b_accuracy", "mean_accuracy")
    return summarise_over_seeds(rows, ("task_split", "method"), fields)


def run(
    out: Path,
    settings: ContinualSettings,
    seeds: Sequence[int] = (0, 1, 2),
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict:
    """Run every task split for every seed and write the outputs listed in the module docstring.

    Returns:
        ``{"settings", "rows", "summary"}`` (also written to ``continual.json``).
    """
    started = time.perf_counter()
    device = torch.device(device)
    split = load_data(settings.data)
    rows, path_rows = [], []
    jobs = [(task_split, seed) for task_split in settings.task_splits for seed in seeds]
    for task_split, seed in tqdm(jobs, desc="continual: runs", unit="run", disable=not progress):
        seed_rows, seed_path = _seed_rows(settings, task_split, split, seed, device, progress)
        rows += seed_rows
        path_rows += seed_path
    result = write_seed_outputs(out, "continual", settings, seeds, rows, summarise(rows), path_rows)
    continual_figure(path_rows, out / "continual.png")
    write_json(out / "timing.json", {"seconds": round(time.perf_counter() - started, 3)})
    return result
