"""Figures of the conditioning experiments: accuracy as a function of the context.

- :func:`plot_accuracy_curves`: accuracy vs ``s`` per method, mean over seeds with the 95 %
  t-interval as a band, the held-out region shaded, discrete training values marked;
- :func:`plot_polar_accuracy`: the same on a polar axis for an angle (``θ = 2π s``);
- :func:`plot_accuracy_heatmaps`: one heat map per method over a 2-D context (torus, cylinder);
- :func:`plot_accuracy_by_distance`: accuracy vs the distance into the unseen region;
- :func:`plot_inference_by_batch`: inference error vs the unlabeled batch size, per criterion;
- :func:`plot_results`: the figures that fit a result of
  :func:`geomanifold.experiments.conditioning.run_suite`, written as PNG.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from ..summary import mean_interval
from .figures import new_figure, save_png

__all__ = [
    "accuracy_by_context",
    "plot_accuracy_by_distance",
    "plot_accuracy_curves",
    "plot_accuracy_heatmaps",
    "plot_inference_by_batch",
    "plot_polar_accuracy",
    "plot_results",
]

HELD_OUT_COLOR = "#bbbbbb"
SKEW_COLOR = "#cfe3f7"


def accuracy_by_context(curves: list[dict], contexts: list[list[float]]) -> dict[str, np.ndarray]:
    """``{method: (T, 2)}``: mean accuracy and 95 % half-width over seeds at each test context,
    in the order of ``contexts`` (``(T, m)``)."""
    values: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in curves:
        key = tuple(row[f"s{i}"] for i in range(len(contexts[0])))
        values[row["method"]][key].append(row["accuracy"])
    return {
        method: np.array([mean_interval(by_context[tuple(s)]) for s in contexts])
        for method, by_context in values.items()
    }


def _band(ax: Axes, x: np.ndarray, stats: np.ndarray, label: str, color) -> None:
    mean, half = stats[:, 0], np.nan_to_num(stats[:, 1])
    ax.plot(x, mean, "-o", ms=3, color=color, label=label)
    ax.fill_between(x, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1), color=color, alpha=0.15, lw=0)


def plot_accuracy_curves(ax: Axes, result: dict) -> None:
    """Accuracy vs the (first) context coordinate, one line per method (``m = 1``)."""
    protocol = result["protocol"]
    s = np.array(protocol["test_contexts"])[:, 0]
    stats = accuracy_by_context(result["curves"], protocol["test_contexts"])
    if protocol["held_out"] is not None:
        low, high = protocol["held_out"]
        ax.axvspan(low, high, color=HELD_OUT_COLOR, alpha=0.5, lw=0, label="held out")
    if protocol.get("skew"):
        label = f"over-sampled (p = {protocol['skew']:g})"
        ax.axvspan(*protocol["skew_region"], color=SKEW_COLOR, alpha=0.6, lw=0, label=label)
    for value in protocol["train_values"] or []:
        ax.axvline(value, color="black", lw=0.8, ls=":")
    colors = _colors(len(stats))
    for (method, values), color in zip(stats.items(), colors, strict=True):
        _band(ax, s, values, method, color)
    default = "context s (angle 2πs)" if protocol["periodic"][0] else "context s"
    ax.set_xlabel(f"context: {protocol['axes'][0]}" if "axes" in protocol else default)
    ax.set_ylabel("test accuracy (mean, 95 % interval)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_polar_accuracy(ax: Axes, result: dict) -> None:
    """Accuracy vs the angle ``2π s`` on a polar axis ``ax`` (``m = 1``, periodic); curves closed."""
    protocol = result["protocol"]
    s = np.array(protocol["test_contexts"])[:, 0]
    stats = accuracy_by_context(result["curves"], protocol["test_contexts"])
    if protocol["held_out"] is not None:
        low, high = protocol["held_out"]
        theta = np.linspace(2 * math.pi * low, 2 * math.pi * high, 50)
        ax.fill_between(theta, 0, 1, color=HELD_OUT_COLOR, alpha=0.5, lw=0, label="held out")
    closed = np.append(s, s[0] + 1) * 2 * math.pi
    for (method, values), color in zip(stats.items(), _colors(len(stats)), strict=True):
        ax.plot(closed, np.append(values[:, 0], values[0, 0]), "-", color=color, label=method)
    for value in protocol["train_values"] or []:
        ax.plot([2 * math.pi * value] * 2, [0, 1], color="black", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_rgrids([0.25, 0.5, 0.75, 1.0], fontsize=7)
    ax.set_rlabel_position(90)
    ax.set_ylabel("radius: test accuracy (0 to 1)", fontsize=8, labelpad=34)
    ax.set_xlabel("angle: rotation 2πs of the test digits", fontsize=8)
    ax.set_title("test accuracy vs rotation angle", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.05, 1.0))


def plot_accuracy_heatmaps(fig, result: dict) -> None:
    """One heat map of mean accuracy over ``(s0, s1)`` per method on ``fig`` (``m = 2``), with a
    shared colour scale; the held-out band of ``s0`` outlined."""
    protocol = result["protocol"]
    labels = protocol.get("axes", ["s0", "s1"])  # results written before the labels were stored
    contexts = np.array(protocol["test_contexts"])
    s0, s1 = np.unique(contexts[:, 0]), np.unique(contexts[:, 1])
    stats = accuracy_by_context(result["curves"], protocol["test_contexts"])
    grids = {m: v[:, 0].reshape(len(s0), len(s1)) for m, v in stats.items()}
    low = min(g.min() for g in grids.values())
    high = max(g.max() for g in grids.values())
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    image = None
    for ax, (method, grid) in zip(axes, grids.items(), strict=True):
        image = ax.imshow(
            grid.T,
            origin="lower",
            aspect="auto",
            cmap="viridis",
            vmin=low,
            vmax=high,
            extent=_extent(s0, s1),
        )
        if protocol["held_out"] is not None:
            for edge in protocol["held_out"]:
                ax.axvline(edge, color="white", lw=1.5, ls="--")
        ax.set_title(f"{method}\nmean {grid.mean():.3f}", fontsize=8)
        ax.set_xlabel(labels[0], fontsize=8)
    axes[0].set_ylabel(labels[1], fontsize=8)
    fig.colorbar(image, ax=list(axes), label="test accuracy", shrink=0.9)


def plot_accuracy_by_distance(ax: Axes, result: dict) -> None:
    """Mean test accuracy (95 % interval over runs) vs the distance of the test context into the
    unseen region (0: seen contexts, the edges included), one line per method."""
    rows = result["distance"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    periodic = result["protocol"]["periodic"][0]
    scale = 360.0 if periodic else 1.0
    for method, color in zip(methods, _colors(len(methods)), strict=True):
        mine = [r for r in rows if r["method"] == method]
        x = np.array([r["distance"] for r in mine]) * scale
        stats = np.array([[r["accuracy_mean"], r["accuracy_ci95"]] for r in mine])
        _band(ax, x, stats, method, color)
    ax.set_xlabel(
        "distance into the unseen region (degrees)" if periodic else "distance into the unseen region (s)"
    )
    ax.set_ylabel("test accuracy (mean, 95 % interval)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_inference_by_batch(ax: Axes, result: dict) -> None:
    """Mean inference error (wrapped distance in the unit chart, 95 % interval over runs) vs the
    number of unlabeled examples per inferred context, one line per method and criterion."""
    config = result["config"]
    lines = [(m, c) for m in config["methods"] for c in config["criteria"]]
    batches = np.array(config["infer_batches"])
    for (method, criterion), color in zip(lines, _colors(len(lines)), strict=True):
        key = [f"infer_error_{criterion}_b{b}" for b in batches]
        mine = [r for r in result["runs"] if r["method"] == method and r.get(key[0]) is not None]
        if mine:
            stats = np.array([mean_interval([r[k] for r in mine]) for k in key])
            _band(ax, batches, stats, f"{method}, {criterion}", color)
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("unlabeled examples per inferred context (batch size)")
    ax.set_ylabel("inference error (turns, mean, 95 % interval)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _extent(s0: np.ndarray, s1: np.ndarray) -> list[float]:
    def edges(v: np.ndarray) -> tuple[float, float]:
        step = (v[-1] - v[0]) / max(len(v) - 1, 1)
        return v[0] - step / 2, v[-1] + step / 2

    return [*edges(s0), *edges(s1)]


def _colors(n: int) -> list:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(n)]


def plot_results(out: Path, result: dict) -> list[Path]:
    """Write the figures that fit ``result`` into ``out``: ``accuracy_vs_context.png`` (a 1-D
    context; with ``accuracy_polar.png`` for an angle) or ``accuracy_heatmaps.png`` (2-D);
    ``accuracy_vs_distance.png`` where some test contexts are unseen; ``inference_vs_batch.png``
    where several inference batch sizes were measured."""
    protocol = result["protocol"]
    config = result["config"]
    title = (
        f"{config['data']}, task {config['task']}, protocol {protocol['name']}, "
        f"manifold {result['manifold']}, {len(config.get('splits') or [0])} split(s) × "
        f"{len(config['seeds'])} seed(s)" + (f", skew {protocol['skew']:g}" if protocol.get("skew") else "")
    )
    paths = []
    if len(protocol["periodic"]) == 1:
        fig = new_figure(8.0, 4.0, dpi=100)
        ax = fig.add_subplot()
        plot_accuracy_curves(ax, result)
        ax.set_title(title, fontsize=9)
        paths.append(save_png(fig, Path(out) / "accuracy_vs_context.png"))
        if protocol["periodic"][0]:
            fig = new_figure(6.0, 4.2, dpi=100)
            plot_polar_accuracy(fig.add_subplot(projection="polar"), result)
            fig.suptitle(title, fontsize=8)
            paths.append(save_png(fig, Path(out) / "accuracy_polar.png"))
    else:
        methods = len({row["method"] for row in result["curves"]})
        fig = new_figure(2.4 * methods + 1.2, 3.2, dpi=100)
        plot_accuracy_heatmaps(fig, result)
        fig.suptitle(title, fontsize=9)
        paths.append(save_png(fig, Path(out) / "accuracy_heatmaps.png"))
    if any(r["distance"] > 0 for r in result.get("distance", [])):
        fig = new_figure(8.0, 4.0, dpi=100)
        ax = fig.add_subplot()
        plot_accuracy_by_distance(ax, result)
        ax.set_title(title, fontsize=9)
        paths.append(save_png(fig, Path(out) / "accuracy_vs_distance.png"))
    if len(config.get("infer_batches") or ()) > 1 and config.get("infer"):
        fig = new_figure(8.0, 4.0, dpi=100)
        ax = fig.add_subplot()
        plot_inference_by_batch(ax, result)
        ax.set_title(title, fontsize=9)
        paths.append(save_png(fig, Path(out) / "inference_vs_batch.png"))
    return paths
