"""Connecting two trained networks: straight line, the mode-connecting Bézier curve, AutoNEB and
geodesics under a task metric, with and without permutation alignment, evaluated along ``t`` and
as ensembles of networks along each path (docs/concepts.md, "Geodesics in weight space").

:func:`connect_networks` runs every requested method for one pair ``(A, B)`` and returns each
path's evaluation (:func:`~geomanifold.weightspace.evaluate.evaluate_path`); :func:`summary_row`
keeps the scalars for a table.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..data import DataSplit
from ..io import write_csv, write_json
from ..plotting import save_png
from ..plotting.paths import PANELS, SQUARED_SPEED_LABEL, plot_along_paths
from ..settings import ALIGNMENTS, ConnectOptions
from ..settings import PATH_METHODS as METHODS
from ..weightspace.alignment import align_hidden_units
from ..weightspace.autoneb import autoneb
from ..weightspace.connectivity import train_curve_on_loss
from ..weightspace.ensemble import path_ensemble
from ..weightspace.evaluate import evaluate_path
from ..weightspace.functional import parameter_vector
from ..weightspace.geodesic import solve_geodesic
from ..weightspace.paths import PinnedCurve, bezier, bspline_path, polyline, straight_line
from .datasets import load_data
from .networks import build_network, train_network

__all__ = [
    "ALIGNMENTS",
    "METHODS",
    "ConnectOptions",
    "connect_networks",
    "format_table",
    "run_demo",
    "summary_row",
    "train_endpoints",
    "write_results",
]

ALIGNED_PAIRS = {
    "none": ("",),
    "weights": (" (aligned)",),
    "activations": (" (activation-aligned)",),
    "both": ("", " (aligned)"),
    "all": ("", " (aligned)", " (activation-aligned)"),
}
ALIGNMENT_INPUTS = 512
CURVE_KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "euclidean_speed", "curvature")
SUMMARY_KEYS = (
    "train_barrier_max_mean",
    "train_barrier_chord",
    "test_barrier_max_mean",
    "test_barrier_chord",
    "test_worst_error",
    "test_endpoint_error",
    "function_length",
    "function_energy",
    "euclidean_length",
    "euclidean_energy",
    "ends_ensemble_accuracy",
    "path_ensemble_accuracy",
)
ENSEMBLE_MEMBERS = 5


def _path(
    method: str, model: nn.Module, a, b, split: DataSplit, options: ConnectOptions, seed: int, progress: bool
) -> PinnedCurve:
    generator = torch.Generator().manual_seed(seed)
    x, y = split.train
    if method == "straight":
        return straight_line(a, b)
    if method == "autoneb":
        path, _ = autoneb(
            model,
            a,
            b,
            x,
            y,
            cycles=options.autoneb_cycles,
            steps=options.autoneb_steps,
            lr=options.bezier_lr,
            batch_size=options.batch_size,
            generator=generator,
            progress=progress,
        )
        return path
    if method == "bezier":
        path = bezier(a, b, 2)
        train_curve_on_loss(
            model,
            path,
            x,
            y,
            options.bezier_epochs,
            options.bezier_lr,
            options.batch_size,
            generator,
            progress,
        )
        return path
    initial = polyline(a, b, options.interior) if method == "geodesic" else bspline_path(a, b, 6)
    result = solve_geodesic(
        model,
        initial,
        x,
        options.kind,
        options.steps,
        options.metric_batch,
        options.geodesic_lr,
        "scaled",
        None,
        generator,
        progress,
        redraw=options.redraw,
        holdout=options.holdout,
    )
    return result.constant_speed


def connect_networks(
    model_a: nn.Module,
    model_b: nn.Module,
    split: DataSplit,
    options: ConnectOptions,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, dict]:
    """Every path of ``options.methods`` from ``model_a`` to ``model_b`` (and to ``model_b`` aligned
    to ``model_a``), evaluated along ``t``.

    Returns:
        ``{path name: evaluation}`` where the name is the method, with ``" (aligned)"`` appended
        for B aligned by weight matching (``" (activation-aligned)"`` by activation matching); each
        evaluation also holds ``"seconds"`` (path construction time) and the test accuracies of the
        ensembles of the two ends and of :data:`ENSEMBLE_MEMBERS` networks evenly spaced on the path.
    """
    x_align = split.x_train[:ALIGNMENT_INPUTS]
    methods = {"": None, " (aligned)": "weights", " (activation-aligned)": "activations"}
    pairs = []
    for suffix in ALIGNED_PAIRS[options.align]:
        method = methods[suffix]
        if method is not None:
            aligned = align_hidden_units(model_a, model_b, x_align, method, seed=seed)
        pairs.append((suffix, model_b if method is None else aligned))
    a = parameter_vector(model_a)
    data = {"train": split.train, "test": split.test}
    metric_x = split.x_test[: options.metric_inputs]
    results = {}
    for suffix, other in pairs:
        b = parameter_vector(other)
        for method in options.methods:
            started = time.perf_counter()
            path = _path(method, model_a, a, b, split, options, seed, progress)
            seconds = time.perf_counter() - started
            evaluation = evaluate_path(
                model_a,
                path,
                data,
                metric_x,
                options.points,
                options.kind,
                bn_x=split.x_train,
                progress=progress,
            )
            ensembles = path_ensemble(
                model_a, path, *split.test, (2, ENSEMBLE_MEMBERS), bn_x=split.x_train
            )
            results[method + suffix] = {
                **evaluation,
                "ends_ensemble_accuracy": ensembles[0]["accuracy"],
                "path_ensemble_accuracy": ensembles[1]["accuracy"],
                "seconds": seconds,
            }
    return results


def summary_row(name: str, evaluation: dict) -> dict:
    """The scalar results of one path: ``{"path": name, <SUMMARY_KEYS>}``."""
    return {"path": name, **{key: evaluation[key] for key in SUMMARY_KEYS}}


def format_table(rows: list[dict]) -> str:
    """The summary rows as a fixed-width text table (test-loss barriers, errors, function length)."""
    lines = [f"{'path':<24}{'barrier':>9}{'chord':>8}{'worst err':>11}{'ends err':>10}{'f-length':>10}"]
    for row in rows:
        lines.append(
            f"{row['path']:<24}{row['test_barrier_max_mean']:>9.4f}{row['test_barrier_chord']:>8.4f}"
            f"{row['test_worst_error']:>11.4f}{row['test_endpoint_error']:>10.4f}{row['function_length']:>10.4f}"
        )
    return "\n".join(lines)


def write_results(out: Path, results: dict[str, dict], settings: dict, prefix: str = "connect") -> list[dict]:
    """Write ``<prefix>_summary.csv`` (one row per path), ``<prefix>_curves.csv`` (one row per path
    and ``t``), ``<prefix>.json`` (settings and every evaluation) and ``<prefix>_along_paths.png``.

    Returns:
        the summary rows.
    """
    rows = [summary_row(name, result) for name, result in results.items()]
    curves = [
        {"path": name, "t": t, **{key: result[key][i] for key in CURVE_KEYS}}
        for name, result in results.items()
        for i, t in enumerate(result["t"])
    ]
    write_csv(out / f"{prefix}_summary.csv", rows)
    write_csv(out / f"{prefix}_curves.csv", curves)
    write_json(out / f"{prefix}.json", {"settings": settings, "paths": results})
    title = f"{settings['arch']} (width {settings['width']}) on {settings['data']}"
    panels = PANELS if settings["kind"] == "kl" else (*PANELS[:2], (*PANELS[2][:2], SQUARED_SPEED_LABEL))
    save_png(plot_along_paths(results, panels, title), out / f"{prefix}_along_paths.png")
    return rows


def train_endpoints(
    split: DataSplit, arch: str, width: int, seed: int, progress: bool = True, **training
) -> tuple[nn.Module, nn.Module]:
    """Two networks trained from initialisation seeds ``2·seed`` and ``2·seed + 1`` (same data order
    seed), in eval mode; ``training``: keyword arguments of
    :func:`~geomanifold.experiments.networks.train_network`."""
    models = []
    for init in (2 * seed, 2 * seed + 1):
        model = build_network(arch, split, width, init).to(split.x_train.device)
        result = train_network(model, split, seed=init, progress=progress, **training)
        print(f"endpoint (seed {init}): test accuracy {result['test_accuracy']:.4f}", flush=True)
        models.append(model.eval())
    return models[0], models[1]


def run_demo(out: Path, seed: int = 0, progress: bool = True) -> dict:
    """The demo step: two small MLPs (width 64) on MNIST-5k, joined by the straight line, the
    mode-connecting Bézier curve and the KL geodesic (no alignment). Writes ``connect_demo_*``."""
    split = load_data("mnist5k")
    model_a, model_b = train_endpoints(split, "mlp", 64, seed, progress, epochs=4)
    options = ConnectOptions(align="none", steps=100, interior=8, bezier_epochs=2, points=31)
    results = connect_networks(model_a, model_b, split, options, seed, progress)
    for result in results.values():
        result.pop("seconds")
    settings = {"data": "mnist5k", "arch": "mlp", "width": 64, "seed": seed, **asdict(options)}
    rows = write_results(out, results, settings, "connect_demo")
    print(format_table(rows))
    return {
        row["path"]: {"test_barrier": row["test_barrier_max_mean"], "worst_error": row["test_worst_error"]}
        for row in rows
    }
