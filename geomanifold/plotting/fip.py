"""Figures of the functionally-invariant-path experiments: the sparsification curve and both tasks'
accuracy along the continual-learning paths (means over seeds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .figures import new_figure, save_png

__all__ = ["continual_figure", "sparsification_figure"]

METHOD_COLORS = {
    "one-shot": "#7f7f7f",
    "prune + fine-tune": "#1f77b4",
    "fine-tune": "#1f77b4",
    "replay + CE": "#2ca02c",
    "FIP": "#d62728",
}


def _mean_by_step(rows: Sequence[dict], field: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and the mean of ``field`` over the rows (seeds) at each step."""
    steps = sorted({r["step"] for r in rows})
    means = [np.mean([r[field] for r in rows if r["step"] == step]) for step in steps]
    return np.asarray(steps), np.asarray(means)


def sparsification_figure(
    summary: Sequence[dict], path_rows: Sequence[dict], dense_accuracy: float, path: str | Path
) -> Path:
    """Left: test accuracy against sparsity per method (``summary`` rows ``{"sparsity", "method",
    "test_accuracy_mean", "test_accuracy_ci95"}`` as points with error bars; ``dense_accuracy`` as a
    dotted line). Right: test accuracy along the FIP and the fine-tuning at the highest sparsity
    (``path_rows``, mean over seeds), with the FIP's accuracy if pruned at that step."""
    fig = new_figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    sparsities = sorted({r["sparsity"] for r in summary})
    methods = list(dict.fromkeys(r["method"] for r in summary))
    for offset, method in zip(np.linspace(-0.004, 0.004, len(methods)), methods, strict=True):
        chosen = sorted((r for r in summary if r["method"] == method), key=lambda r: r["sparsity"])
        halves = np.nan_to_num(np.asarray([r["test_accuracy_ci95"] for r in chosen], dtype=float))
        left.errorbar(
            [r["sparsity"] + offset for r in chosen],
            [r["test_accuracy_mean"] for r in chosen],
            yerr=halves,
            marker="o",
            capsize=3,
            label=method,
            color=METHOD_COLORS.get(method),
        )
    left.axhline(dense_accuracy, color="black", linestyle=":", linewidth=1, label="dense")
    left.set(
        xlabel="sparsity (fraction of weights set to zero)",
        ylabel="test accuracy",
        title="accuracy after pruning",
    )
    left.legend(loc="lower left", fontsize=8)
    highest = sparsities[-1]
    at_highest = [r for r in path_rows if r["sparsity"] == highest]
    for method in dict.fromkeys(r["method"] for r in at_highest):
        chosen = [r for r in at_highest if r["method"] == method]
        color = METHOD_COLORS.get(method)
        right.plot(*_mean_by_step(chosen, "test_accuracy"), color=color, label=f"{method}")
        if method == "FIP":
            right.plot(
                *_mean_by_step(chosen, "test_accuracy_if_pruned"),
                color=color,
                linestyle="--",
                label="FIP, if pruned at this step",
            )
    right.set(xlabel="step", ylabel="test accuracy", title=f"along the path, sparsity {highest:g}")
    right.legend(loc="lower right", fontsize=8)
    return save_png(fig, path)


def continual_figure(path_rows: Sequence[dict], path: str | Path) -> Path:
    """One panel per task split: task A (solid) and task B (dashed) test accuracy against the step
    for each method, mean over seeds."""
    splits = list(dict.fromkeys(r["task_split"] for r in path_rows))
    fig = new_figure(5.0 * len(splits), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(splits)))
    for ax, task_split in zip(axes, splits, strict=True):
        chosen = [r for r in path_rows if r["task_split"] == task_split]
        for method in dict.fromkeys(r["method"] for r in chosen):
            rows = [r for r in chosen if r["method"] == method]
            color = METHOD_COLORS.get(method)
            ax.plot(*_mean_by_step(rows, "task_a_accuracy"), color=color, label=f"{method}: task A")
            ax.plot(
                *_mean_by_step(rows, "task_b_accuracy"),
                color=color,
                linestyle="--",
                label=f"{method}: task B",
            )
        ax.set(xlabel="step", ylabel="test accuracy", ylim=(-0.02, 1.02), title=f"task split: {task_split}")
        ax.legend(loc="center right", fontsize=7)
    return save_png(fig, path)
