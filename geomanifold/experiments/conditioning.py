"""Conditioning experiments (docs/results_conditioning.md): methods × seeds on one task and protocol.

One run trains a method on the transformed training set (a fresh context per example and
batch, drawn by the protocol) and evaluates it on the test set transformed at every test context
(one fixed transformed test set per seed and context, shared by all methods). It reports accuracy
and loss over all test contexts and over the *seen* and *unseen* ones, the accuracy curve over
the contexts, and conditioning inference: for each test context, the context of a batch of
unlabeled test examples inferred by :func:`~geomanifold.conditioning.infer_context`, its error
(wrapped distance in the unit chart) and the accuracy when predicting with it, next to the
accuracy with the true context on the same batch.

:func:`run_suite` runs every method and seed; :func:`summarize` gives mean and 95 % t-interval
per method; :func:`write_outputs` writes ``results.json``, ``results.csv``, ``summary.csv``,
``curves.csv``, ``timing.json`` and the figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..baselines import Unconditioned, count_parameters
from ..chart import Chart
from ..conditioning import infer_context
from ..io import write_csv, write_json
from ..training import evaluate, fit
from .datasets import load_data
from .methods import MethodSpec, build_method, manifold_basis, specialist_contexts
from .protocols import ProtocolPlan, make_protocol
from .statistics import mean_interval
from .tasks import Task, get_task

__all__ = [
    "METRICS",
    "ExperimentConfig",
    "format_summary",
    "run_method",
    "run_suite",
    "summarize",
    "write_outputs",
]

METRICS = (
    "accuracy",
    "accuracy_seen",
    "accuracy_unseen",
    "loss",
    "infer_error",
    "infer_accuracy",
    "true_s_accuracy",
)
INFER_CHUNK = 8  # test contexts per inference call (bounds memory for m = 2)


@dataclass(frozen=True)
class ExperimentConfig:
    """One comparison: data, task, protocol, manifold topology, methods, seeds and sizes.

    ``manifold=None`` takes the task's fitting topology, or its mis-specified one under the
    ``misspecified`` protocol. ``few``: ``k`` of the ``few`` protocol; ``points``: test grid
    points per coordinate (``None``: the protocol's default); ``infer_batch``: unlabeled examples
    per inferred context; ``train_size``/``test_size`` cap the data (``None``: all).
    """

    data: str = "mnist5k"
    task: str = "rotation"
    protocol: str = "uniform"
    manifold: str | None = None
    methods: tuple[str, ...] = ("manifold", "manifold-adam", "unconditioned", "concat")
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    backbone: str = "mlp"
    width: int = 32
    few: int = 4
    points: int | None = None
    infer: bool = True
    infer_batch: int = 64
    train_size: int | None = None
    test_size: int | None = None
    data_dir: str | None = None

    def topology(self, task: Task) -> str:
        """The manifold topology used for ``task``."""
        if self.manifold is not None:
            return self.manifold
        return task.misspecified if self.protocol == "misspecified" else task.manifold


def _test_sets(task: Task, plan: ProtocolPlan, x: Tensor, seed: int) -> list[Tensor]:
    """The test inputs transformed at each test context (noise drawn under ``1000 + seed``)."""
    generator = torch.Generator(device=x.device).manual_seed(1000 + seed)
    contexts = plan.test_contexts.to(x.device)
    return [task.transform(x, s.expand(len(x), -1), generator) for s in contexts]


def _has_context(model: nn.Module) -> bool:
    """Whether the model's predictions depend on ``s`` (inference is meaningless otherwise)."""
    return not isinstance(model, Unconditioned)


@torch.no_grad()
def _inference(
    model: nn.Module, plan: ProtocolPlan, test_sets: list[Tensor], y: Tensor, batch: int
) -> dict[str, float]:
    """Mean inference error and accuracy with inferred vs true contexts, over the test contexts."""
    model.eval()
    chart = Chart.unit(plan.periodic)
    errors, inferred_correct, true_correct, total = [], 0, 0, 0
    labels = y[:batch]
    for start in range(0, len(test_sets), INFER_CHUNK):
        x = torch.stack([t[:batch] for t in test_sets[start : start + INFER_CHUNK]])  # (J, B, *F)
        truth = plan.test_contexts[start : start + INFER_CHUNK].to(x.device)
        estimate = infer_context(model, x, grid=24 if len(plan.periodic) == 1 else 12)
        s_hat = estimate.s.to(truth.dtype)
        errors.append(chart.wrapped_difference(truth, s_hat).norm(dim=-1))
        for j in range(len(x)):
            inferred = model(x[j], s_hat[j]).argmax(-1)
            true = model(x[j], truth[j]).argmax(-1)
            inferred_correct += (inferred == labels).sum().item()
            true_correct += (true == labels).sum().item()
            total += len(labels)
    return {
        "infer_error": torch.cat(errors).mean().item(),
        "infer_accuracy": inferred_correct / total,
        "true_s_accuracy": true_correct / total,
    }


def run_method(
    method: str,
    seed: int,
    config: ExperimentConfig,
    task: Task,
    plan: ProtocolPlan,
    spec: MethodSpec,
    train: tuple[Tensor, Tensor],
    test_sets: list[Tensor],
    y_test: Tensor,
    checkpoint: dict | None = None,
) -> tuple[dict, list[dict]]:
    """Train and evaluate one method for one seed.

    ``checkpoint``: ``{"checkpoint": path, "checkpoint_every": n, "resume": bool}`` for
    :func:`~geomanifold.training.fit` (default: no checkpoint).

    Returns:
        the run's row (``method``, ``seed``, ``parameters`` and :data:`METRICS`) and its curve
        rows (one per test context: ``s0`` [``s1``], ``seen``, ``accuracy``, ``loss``).
    """
    x_train, y_train = train
    model, optimizer = build_method(method, spec, seed)
    model.to(x_train.device)
    generator = torch.Generator(device=x_train.device).manual_seed(seed)

    def context_fn(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
        s = plan.sample(len(x), g)
        return task.transform(x, s, g), s

    fit(
        model,
        x_train,
        y_train,
        optimizer,
        epochs=config.epochs,
        generator=generator,
        context_fn=context_fn,
        batch_size=config.batch_size,
        progress=False,
        **(checkpoint or {}),
    )
    curve = []
    for s, x, seen in zip(plan.test_contexts.tolist(), test_sets, plan.seen.tolist(), strict=True):
        contexts = torch.tensor(s, device=x.device).expand(len(x), -1)
        result = evaluate(model, x, y_test, contexts)
        point = {"method": method, "seed": seed, **{f"s{i}": v for i, v in enumerate(s)}, "seen": seen}
        curve.append({**point, "accuracy": result["accuracy"], "loss": result["loss"]})
    row: dict = {"method": method, "seed": seed, "parameters": count_parameters(model)}
    for suffix, wanted in (("", (True, False)), ("_seen", (True,)), ("_unseen", (False,))):
        kept = [c for c in curve if c["seen"] in wanted]
        row[f"accuracy{suffix}"] = sum(c["accuracy"] for c in kept) / len(kept) if kept else None
        row[f"loss{suffix}"] = sum(c["loss"] for c in kept) / len(kept) if kept else None
    inference = dict.fromkeys(("infer_error", "infer_accuracy", "true_s_accuracy"))
    if config.infer and _has_context(model):
        inference = _inference(model, plan, test_sets, y_test, config.infer_batch)
    row.update(inference)
    return row, curve


def run_suite(
    config: ExperimentConfig,
    device: torch.device | str = "cpu",
    progress: bool = True,
    checkpoints: Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
) -> dict:
    """Every method of ``config`` for every seed.

    With ``checkpoints`` (a folder), each run keeps a checkpoint ``<method>-seed<seed>.pt`` there
    (every ``checkpoint_every`` steps, 0: every epoch) and ``resume`` continues the runs that have
    one (finished runs are not retrained); the others start from step 0, which one line on stdout
    says.

    Returns:
        ``{"config", "manifold", "protocol", "runs", "curves", "summary", "seconds"}``: the
        configuration, the topology used, the protocol plan (test contexts, seen flags, held-out
        region, training values), run rows, curve rows, :func:`summarize` rows and per-run
        wall-clock seconds (``{"method/seed": s}``, for ``timing.json`` only).
    """
    data = load_data(config.data, config.data_dir)
    task = get_task(config.task, data.input_shape)
    plan = make_protocol(config.protocol, task, config.few, config.points)
    topology = config.topology(task)
    manifold_basis(topology, task.periodic)  # fail early on a topology that does not fit
    x_train, y_train = data.x_train[: config.train_size], data.y_train[: config.train_size]
    x_test, y_test = data.x_test[: config.test_size], data.y_test[: config.test_size]
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    spec = MethodSpec(
        config.backbone,
        data.input_shape,
        data.num_classes,
        config.width,
        task.periodic,
        topology,
        specialist_contexts(task.periodic, plan.train_values, plan.in_training_support),
        config.lr,
    )
    runs, curves, seconds = [], [], {}

    def checkpoint_path(method: str, seed: int) -> Path:
        return Path(checkpoints) / f"{method}-seed{seed}.pt"

    if resume and checkpoints is not None:
        total = len(config.seeds) * len(config.methods)
        fresh = sum(not checkpoint_path(m, s).is_file() for s in config.seeds for m in config.methods)
        if fresh:
            print(f"resume: no checkpoint found in {checkpoints} for {fresh} of {total} run(s); "
                  "those start from step 0")
    bar = tqdm(total=len(config.seeds) * len(config.methods), disable=not progress, desc="runs")
    for seed in config.seeds:
        test_sets = _test_sets(task, plan, x_test, seed)
        for method in config.methods:
            bar.set_postfix_str(f"{method} seed {seed}")
            started = time.perf_counter()
            saving = None
            if checkpoints is not None:
                path = checkpoint_path(method, seed)
                saving = {"checkpoint": path, "checkpoint_every": checkpoint_every}
                saving["resume"] = resume and path.is_file()
            row, curve = run_method(
                method, seed, config, task, plan, spec, (x_train, y_train), test_sets, y_test, saving
            )
            seconds[f"{method}/{seed}"] = round(time.perf_counter() - started, 3)
            runs.append(row)
            curves += curve
            bar.update()
    bar.close()
    protocol = {
        "name": plan.name,
        "periodic": list(task.periodic),
        "held_out": plan.held_out,
        "train_values": None if plan.train_values is None else plan.train_values.tolist(),
        "test_contexts": plan.test_contexts.tolist(),
        "seen": plan.seen.tolist(),
    }
    return {
        "config": asdict(config),
        "manifold": topology,
        "protocol": protocol,
        "runs": runs,
        "curves": curves,
        "summary": summarize(runs, config.methods),
        "seconds": seconds,
    }


def summarize(runs: Sequence[dict], methods: Sequence[str]) -> list[dict]:
    """Per method and metric of :data:`METRICS`: ``mean``, ``ci95`` (half-width of the 95 %
    t-interval over seeds) and ``n`` (seeds with a value)."""
    rows = []
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        row: dict = {"method": method, "parameters": mine[0]["parameters"] if mine else None}
        for metric in METRICS:
            values = [r[metric] for r in mine if r.get(metric) is not None]
            row[f"{metric}_mean"], row[f"{metric}_ci95"] = mean_interval(values)
            row[f"{metric}_n"] = len(values)
        rows.append(row)
    return rows


def format_summary(summary: Sequence[dict], metrics: Sequence[str] = METRICS) -> str:
    """A plain-text table: one line per method, ``mean ± ci95`` per metric."""

    def cell(row: dict, metric: str) -> str:
        mean, half = row[f"{metric}_mean"], row[f"{metric}_ci95"]
        if mean != mean:  # NaN: no value
            return "-"
        return f"{mean:.3f}" if half != half else f"{mean:.3f}±{half:.3f}"

    header = ["method", "params", *metrics]
    lines = [[row["method"], str(row["parameters"]), *(cell(row, m) for m in metrics)] for row in summary]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)) for line in [header, *lines]
    )


def write_outputs(out: Path, result: dict, seconds: float) -> list[Path]:
    """Write the result files and figures into ``out``; return their paths.

    ``results.json`` (configuration, protocol, runs, summary, curves), ``results.csv`` (runs with
    the configuration in every row), ``summary.csv``, ``curves.csv``, ``timing.json`` (the only
    file with wall-clock times) and the figures of :func:`geomanifold.plotting.conditioning.plot_results`.
    """
    from ..plotting.conditioning import plot_results

    out = Path(out)
    settings = {k: v for k, v in result["config"].items() if k not in ("methods", "seeds")}
    settings = {k: (",".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in settings.items()}
    payload = {k: v for k, v in result.items() if k != "seconds"}
    runs = result["runs"]
    paths = [
        write_json(out / "results.json", payload),
        write_csv(out / "results.csv", [{**settings, "manifold": result["manifold"], **r} for r in runs]),
        write_csv(out / "summary.csv", result["summary"]),
        write_csv(out / "curves.csv", result["curves"]),
        write_json(out / "timing.json", {"total_seconds": round(seconds, 3), "runs": result["seconds"]}),
    ]
    return paths + plot_results(out, result)
