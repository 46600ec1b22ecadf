"""The demo's conditioning step: rotated MNIST-5k with a held-out 90° arc.

A circle weight manifold, input concatenation and an unconditioned network (the same MLP
196-32-10, the same initial weights per seed) are trained on digits rotated by angles outside
``[135°, 225°)`` and tested at 24 angles all around; the table gives mean accuracy with 95 %
t-intervals over seeds, on the seen angles, on the held-out arc, and with the angle inferred
from unlabeled batches. Outputs go to ``out/conditioning/`` (see
:func:`~geomanifold.experiments.conditioning.write_outputs`).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .conditioning import ExperimentConfig, format_summary, run_suite, write_outputs

__all__ = ["METHODS", "run"]

METHODS = ("manifold", "concat", "unconditioned")


def run(
    out: Path,
    epochs: int = 10,
    seeds: int = 3,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict:
    """Run the comparison, print its table, write results and figures to ``out/conditioning``.

    Torch's thread count is the caller's (``geomanifold demo`` runs on one thread: the matrices
    are tiny, and more threads oversubscribe a busy machine).

    Returns:
        ``{"methods": {method: {metric: mean}}, "files": [...]}`` (JSON-serialisable).
    """
    config = ExperimentConfig(
        data="mnist5k",
        task="rotation",
        protocol="heldout",
        methods=METHODS,
        seeds=tuple(range(seeds)),
        epochs=epochs,
    )
    started = time.perf_counter()
    result = run_suite(config, device, progress=progress)
    folder = Path(out) / "conditioning"
    paths = write_outputs(folder, result, time.perf_counter() - started)
    print(
        f"MNIST-5k rotated, MLP 196-32-10, {epochs} epochs, {seeds} seed(s); angles in [135°, 225°) "
        "held out of training; accuracy mean ± 95 % interval:"
    )
    print(
        format_summary(
            result["summary"],
            (
                "accuracy",
                "accuracy_seen",
                "accuracy_unseen",
                "infer_error",
                "infer_accuracy",
                "true_s_accuracy",
            ),
        )
    )
    return {
        "methods": {
            row["method"]: {k.removesuffix("_mean"): row[k] for k in row if k.endswith("_mean")}
            for row in result["summary"]
        },
        "files": [p.relative_to(out).as_posix() for p in paths],
    }
