"""Conditioning experiments: methods × data splits × seeds on one task and protocol.

One run trains a method on the transformed training set (a fresh context per example and
batch, drawn by the protocol) and evaluates it on the test set transformed at every test context
(one fixed transformed test set per split, seed and context, shared by all methods). It reports
accuracy and loss over all test contexts and over the *seen* and *unseen* ones, the accuracy
curve over the contexts (with each context's distance into the unseen region), and conditioning
inference: for each test context, the context of a batch of unlabeled test examples inferred by
:func:`~geomanifold.conditioning.infer_context`, its error (wrapped distance in the unit chart)
and the accuracy when predicting with it, next to the accuracy with the true context on the same
batch; optionally the error for several batch sizes and label-free criteria.

*Tuning* (``trials > 0``): a validation part is carved from the training part of every split
(:func:`~geomanifold.experiments.datasets.carve_validation`); every method tries the same
``trials`` hyper-parameter sets (:func:`tuning_trials`: learning rate, epochs, weight decay) with
the first seed, is scored by its validation accuracy at the *seen* test contexts only (no held-out
context is ever used to choose), and the best set is then trained for every seed and tested.

:func:`run_suite` runs every job (in ``jobs`` processes if asked); :func:`summarize` gives mean
and 95 % t-interval per method; :func:`~geomanifold.experiments.statistics.paired_comparisons`
the reference method minus each other one, paired on split and seed; :func:`write_outputs` writes
``results.json``, ``results.csv``, ``summary.csv``, ``paired.csv``, ``tuning.csv``,
``curves.csv``, ``distance.csv``, ``timing.json`` and the figures.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..baselines import Unconditioned, count_parameters
from ..chart import Chart
from ..conditioning import infer_context
from ..io import write_csv, write_json
from ..training import NonFiniteError, evaluate, fit
from .datasets import carve_validation, load_data
from .methods import MethodSpec, build_method, manifold_basis, specialist_cell_sampler, specialist_contexts
from .protocols import SKEW_REGION, ProtocolPlan, make_protocol
from .statistics import mean_interval, paired_comparisons
from .tasks import Task, get_task

__all__ = [
    "METRICS",
    "PAIRED_METRICS",
    "SKEW_METRICS",
    "ExperimentConfig",
    "Job",
    "format_paired",
    "format_summary",
    "run_job",
    "run_suite",
    "summarize",
    "tuning_trials",
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
SKEW_METRICS = ("accuracy_favoured", "accuracy_rare")
"""With skewed sampling: accuracy over the test contexts inside / outside the over-sampled region."""
PAIRED_METRICS = ("accuracy", "accuracy_seen", "accuracy_unseen", "loss", *SKEW_METRICS)
GROSS_ERROR = 0.125  # an inferred context more than 1/8 of the chart (45° of a turn) off
INFER_CHUNK = 8  # test contexts per inference call (bounds memory for m = 2)
LR_RANGE = (3e-4, 1e-2)
EPOCH_CHOICES = (5, 10, 20)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3)
TUNING_SEED = 20231


@dataclass(frozen=True)
class ExperimentConfig:
    """One comparison: data, task, protocol, manifold topology, methods, splits, seeds and sizes.

    ``manifold=None`` takes the task's fitting topology, or its mis-specified one under the
    ``misspecified`` protocol. ``few``: ``k`` of the ``few`` protocol; ``points``: test grid
    points per coordinate (``None``: the protocol's default); ``skew``: over-sampling of a quarter
    of the chart in training; ``infer_batch``: unlabeled examples per inferred context;
    ``infer_batches``/``criteria``: batch sizes and criteria of the extra inference errors
    ``infer_error_<criterion>_b<batch>`` (with ``infer_gross_…``, ``infer_accuracy_…`` and the
    errors over the seen and unseen contexts, ``infer_error_seen_…``, ``infer_error_unseen_…``);
    ``train_size``/``test_size`` cap the data (``None``: all); ``splits``: the data splits;
    ``validation``: fraction of the training part held out for validation (0: none);
    ``trials``: hyper-parameter sets tried per method (0: no tuning, ``lr``/``epochs``/
    ``weight_decay`` as given); ``reference``: the method the paired differences are taken from.
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
    splits: tuple[int, ...] = (0,)
    validation: float = 0.0
    trials: int = 0
    weight_decay: float = 0.0
    skew: float = 0.0
    infer_batches: tuple[int, ...] = ()
    criteria: tuple[str, ...] = ("entropy",)
    reference: str = "manifold"

    def topology(self, task: Task) -> str:
        """The manifold topology used for ``task``."""
        if self.manifold is not None:
            return self.manifold
        return task.misspecified if self.protocol == "misspecified" else task.manifold


@dataclass(frozen=True)
class Job:
    """One training run: ``phase`` ``"tune"`` (scored on validation) or ``"test"``."""

    method: str
    split: int
    seed: int
    lr: float
    epochs: int
    weight_decay: float
    phase: str = "test"
    trial: int = 0


def tuning_trials(config: ExperimentConfig) -> list[dict]:
    """The ``config.trials`` hyper-parameter sets every method tries, the same for all methods:
    first ``config``'s own ``lr``, ``epochs``, ``weight_decay``, then random search (seeded)
    over a log-uniform learning rate in :data:`LR_RANGE`, epochs in :data:`EPOCH_CHOICES` and
    weight decay in :data:`WEIGHT_DECAYS`."""
    trials = [{"lr": config.lr, "epochs": config.epochs, "weight_decay": config.weight_decay}]
    generator = torch.Generator().manual_seed(TUNING_SEED)
    low, high = (math.log(v) for v in LR_RANGE)
    while len(trials) < config.trials:
        u, e, w = torch.rand(3, generator=generator).tolist()
        trials.append(
            {
                "lr": float(f"{math.exp(low + u * (high - low)):.3g}"),
                "epochs": EPOCH_CHOICES[int(e * len(EPOCH_CHOICES))],
                "weight_decay": WEIGHT_DECAYS[int(w * len(WEIGHT_DECAYS))],
            }
        )
    return trials[: config.trials]


@dataclass(frozen=True)
class _Prepared:
    task: Task
    plan: ProtocolPlan
    spec: MethodSpec
    train: tuple[Tensor, Tensor]
    validation: tuple[Tensor, Tensor] | None
    test: tuple[Tensor, Tensor]


@lru_cache(maxsize=4)
def _prepare(config: ExperimentConfig, split: int, device: str) -> _Prepared:
    """Data of ``split`` (training part, validation part, test part) on ``device``, the task,
    the protocol plan and the method spec."""
    data = load_data(config.data, config.data_dir, split)
    task = get_task(config.task, data.input_shape)
    plan = make_protocol(config.protocol, task, config.few, config.points, config.skew)
    topology = config.topology(task)
    manifold_basis(topology, task.periodic)  # fail early on a topology that does not fit
    x_train, y_train = data.x_train[: config.train_size], data.y_train[: config.train_size]
    x_test, y_test = data.x_test[: config.test_size], data.y_test[: config.test_size]
    validation = None
    if config.validation:
        (x_train, y_train), validation = carve_validation(x_train, y_train, config.validation, split)
        validation = tuple(t.to(device) for t in validation)
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
    train = (x_train.to(device), y_train.to(device))
    return _Prepared(task, plan, spec, train, validation, (x_test.to(device), y_test.to(device)))


@lru_cache(maxsize=4)
def _test_sets(config: ExperimentConfig, split: int, seed: int, device: str, part: str) -> list[Tensor]:
    """The inputs of ``part`` (``"test"`` or ``"validation"``) transformed at each test context
    (noise drawn under ``1000 + seed``, ``2000 + seed`` for validation)."""
    prepared = _prepare(config, split, device)
    x = prepared.test[0] if part == "test" else prepared.validation[0]
    generator = torch.Generator(device=x.device).manual_seed((1000 if part == "test" else 2000) + seed)
    contexts = prepared.plan.test_contexts.to(x.device)
    return [prepared.task.transform(x, s.expand(len(x), -1), generator) for s in contexts]


def _has_context(model: nn.Module) -> bool:
    """Whether the model's predictions depend on ``s`` (inference is meaningless otherwise)."""
    return not isinstance(model, Unconditioned)


@torch.no_grad()
def _inference(
    model: nn.Module, plan: ProtocolPlan, test_sets: list[Tensor], y: Tensor, batch: int, criterion: str
) -> dict[str, float]:
    """Mean inference error (over all, seen and unseen test contexts), the share of gross errors
    (> :data:`GROSS_ERROR`) and accuracy with inferred vs true contexts."""
    model.eval()
    chart = Chart.unit(plan.periodic)
    errors, inferred_correct, true_correct, total = [], 0, 0, 0
    labels = y[:batch]
    for start in range(0, len(test_sets), INFER_CHUNK):
        x = torch.stack([t[:batch] for t in test_sets[start : start + INFER_CHUNK]])  # (J, B, *F)
        truth = plan.test_contexts[start : start + INFER_CHUNK].to(x.device)
        grid = 24 if len(plan.periodic) == 1 else 12
        estimate = infer_context(model, x, grid=grid, criterion=criterion)
        s_hat = estimate.s.to(truth.dtype)
        errors.append(chart.wrapped_difference(truth, s_hat).norm(dim=-1))
        for j in range(len(x)):
            inferred = model(x[j], s_hat[j]).argmax(-1)
            true = model(x[j], truth[j]).argmax(-1)
            inferred_correct += (inferred == labels).sum().item()
            true_correct += (true == labels).sum().item()
            total += len(labels)
    errors = torch.cat(errors)
    seen = plan.seen.to(errors.device)
    return {
        "infer_error": errors.mean().item(),
        "infer_gross": (errors > GROSS_ERROR).double().mean().item(),
        "infer_error_seen": errors[seen].mean().item() if seen.any() else None,
        "infer_error_unseen": errors[~seen].mean().item() if (~seen).any() else None,
        "infer_accuracy": inferred_correct / total,
        "true_s_accuracy": true_correct / total,
    }


def _train(
    model, optimizer, job: Job, config: ExperimentConfig, prepared: _Prepared, checkpoint: dict | None
):
    """Train ``model`` for ``job`` on the training part; the specialists one cell at a time."""
    x_train, y_train = prepared.train
    task, plan = prepared.task, prepared.plan
    generator = torch.Generator(device=x_train.device).manual_seed(job.seed)

    def run(sample, saving: dict | None) -> None:
        def context_fn(x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
            s = sample(len(x), g)
            return task.transform(x, s, g), s

        fit(
            model,
            x_train,
            y_train,
            optimizer,
            epochs=job.epochs,
            generator=generator,
            context_fn=context_fn,
            batch_size=config.batch_size,
            progress=False,
            **(saving or {}),
        )

    if job.method != "specialists":
        run(plan.sample, checkpoint)
        return
    contexts = model.values.cpu()
    for n in range(len(contexts)):
        sampler = specialist_cell_sampler(
            contexts, n, plan.periodic, plan.in_training_support, plan.train_values is not None
        )
        saving = None
        if checkpoint is not None:
            path = Path(checkpoint["checkpoint"])
            path = path.with_name(f"{path.stem}-cell{n}{path.suffix}")
            saving = {**checkpoint, "checkpoint": path, "resume": checkpoint["resume"] and path.is_file()}
        run(sampler, saving)


def _curve(model: nn.Module, job: Job, plan: ProtocolPlan, sets: list[Tensor], y: Tensor) -> list[dict]:
    curve = []
    distances = plan.distance_to_support(plan.test_contexts.double()).tolist()
    for s, x, seen, depth in zip(
        plan.test_contexts.tolist(), sets, plan.seen.tolist(), distances, strict=True
    ):
        contexts = torch.tensor(s, device=x.device).expand(len(x), -1)
        result = evaluate(model, x, y, contexts)
        point = {
            "method": job.method,
            "split": job.split,
            "seed": job.seed,
            **{f"s{i}": v for i, v in enumerate(s)},
            "seen": seen,
            "distance": round(depth, 6),
        }
        curve.append({**point, "accuracy": result["accuracy"], "loss": result["loss"]})
    return curve


def run_job(
    job: Job, config: ExperimentConfig, device: str = "cpu", checkpoint: dict | None = None
) -> tuple[dict, list[dict]]:
    """Train and evaluate one :class:`Job`.

    ``checkpoint``: ``{"checkpoint": path, "checkpoint_every": n, "resume": bool}`` for
    :func:`~geomanifold.training.fit` (default: no checkpoint).

    Returns:
        the run's row and its curve rows. A ``"test"`` row has ``method``, ``split``, ``seed``,
        the hyper-parameters, ``parameters``, ``seconds`` (wall time; :func:`run_suite` moves it
        to its ``seconds``) and :data:`METRICS` (plus the extra
        inference errors), the curve one row per test context (``s0`` [``s1``], ``seen``,
        ``distance``, ``accuracy``, ``loss``). A ``"tune"`` row has ``val_accuracy`` (mean over
        the seen test contexts of the validation part; ``-inf`` if training diverged) and no curve.
    """
    started = time.perf_counter()
    prepared = _prepare(config, job.split, str(device))
    spec = replace(prepared.spec, lr=job.lr, weight_decay=job.weight_decay)
    model, optimizer = build_method(job.method, spec, job.seed)
    model.to(device)
    row: dict = {
        "method": job.method,
        "split": job.split,
        "seed": job.seed,
        "lr": job.lr,
        "epochs": job.epochs,
        "weight_decay": job.weight_decay,
        "parameters": count_parameters(model),
    }
    plan = prepared.plan
    if job.phase == "tune":
        row["trial"] = job.trial
        try:
            _train(model, optimizer, job, config, prepared, None)
        except NonFiniteError:
            row.update(val_accuracy=-math.inf, seconds=round(time.perf_counter() - started, 3))
            return row, []
        sets = _test_sets(config, job.split, job.seed, str(device), "validation")
        y_val = prepared.validation[1]
        seen = [
            evaluate(model, x, y_val, torch.tensor(s, device=x.device).expand(len(x), -1))["accuracy"]
            for s, x, flag in zip(plan.test_contexts.tolist(), sets, plan.seen.tolist(), strict=True)
            if flag
        ]
        row.update(val_accuracy=sum(seen) / len(seen), seconds=round(time.perf_counter() - started, 3))
        return row, []
    _train(model, optimizer, job, config, prepared, checkpoint)
    sets = _test_sets(config, job.split, job.seed, str(device), "test")
    y_test = prepared.test[1]
    curve = _curve(model, job, plan, sets, y_test)
    for suffix, wanted in (("", (True, False)), ("_seen", (True,)), ("_unseen", (False,))):
        kept = [c for c in curve if c["seen"] in wanted]
        row[f"accuracy{suffix}"] = sum(c["accuracy"] for c in kept) / len(kept) if kept else None
        row[f"loss{suffix}"] = sum(c["loss"] for c in kept) / len(kept) if kept else None
    if plan.skew:
        low, high = SKEW_REGION
        for name, inside in zip(SKEW_METRICS, (True, False), strict=True):
            kept = [c["accuracy"] for c in curve if (low <= c["s0"] < high) == inside]
            row[name] = sum(kept) / len(kept)
    inference = dict.fromkeys(("infer_error", "infer_accuracy", "true_s_accuracy"))
    if config.infer and _has_context(model):
        inference = _inference(model, plan, sets, y_test, config.infer_batch, "entropy")
        inference.pop("infer_gross")
        for criterion in config.criteria:
            for batch in config.infer_batches:
                extra = _inference(model, plan, sets, y_test, batch, criterion)
                for key in ("error", "accuracy", "gross", "error_seen", "error_unseen"):
                    row[f"infer_{key}_{criterion}_b{batch}"] = extra[f"infer_{key}"]
    row.update(inference)
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row, curve


def _set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def _execute(
    jobs: list, config: ExperimentConfig, device: str, workers: int, threads: int | None, bar
) -> list:
    """``run_job`` for every ``(job, checkpoint)``, in order; in ``workers`` spawned processes
    when ``workers > 1`` (each with ``threads`` torch threads)."""
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job, saving in jobs:
            bar.set_postfix_str(f"{job.phase} {job.method} split {job.split} seed {job.seed}")
            results.append(run_job(job, config, device, saving))
            bar.update()
        return results
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        min(workers, len(jobs)), mp_context=context, initializer=_set_threads, initargs=(threads or 1,)
    ) as pool:
        futures = [pool.submit(run_job, job, config, device, saving) for job, saving in jobs]
        for _ in concurrent.futures.as_completed(futures):
            bar.update()
        return [future.result() for future in futures]


def run_suite(
    config: ExperimentConfig,
    device: torch.device | str = "cpu",
    progress: bool = True,
    checkpoints: Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    jobs: int = 1,
    threads: int | None = None,
) -> dict:
    """Every method of ``config`` for every split and seed, after tuning if ``config.trials``.

    With ``checkpoints`` (a folder), each test run keeps a checkpoint there
    (``<method>-seed<seed>.pt``, ``<method>-split<k>-seed<seed>.pt`` for splits ``k > 0``; every
    ``checkpoint_every`` steps, 0: every epoch) and ``resume`` continues the runs that have one
    (finished runs are not retrained); the others start from step 0, which one line on stdout
    says. ``jobs > 1`` runs independent trainings in that many processes (``threads`` torch
    threads each); the results do not depend on ``jobs``.

    Returns:
        ``{"config", "manifold", "protocol", "runs", "curves", "tuning", "chosen", "summary",
        "paired", "distance", "seconds"}``: the configuration, the topology used, the protocol
        plan, test-run rows, curve rows, tuning rows, the chosen hyper-parameters per method and
        split, :func:`summarize` rows, paired differences from ``config.reference``, accuracy by
        distance into the unseen region, and the wall-clock seconds per run, tuning run and
        method (for ``timing.json`` only).

    Raises:
        ValueError: ``jobs < 1``, ``trials > 0`` without a validation part, or a bad setting.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got {jobs!r}")
    if config.trials < 0:
        raise ValueError(f"--trials must be an integer >= 1, got {config.trials!r}")
    if config.trials and not config.validation:
        raise ValueError("--tune needs a validation part: --validation must be a fraction in (0, 1)")
    device = str(device)
    prepared = _prepare(config, config.splits[0], device)
    for split in config.splits[1:]:
        _prepare(config, split, device)
    bar = tqdm(disable=not progress, desc="runs")
    tuning, chosen = [], []
    settings = {
        m: {
            k: {"lr": config.lr, "epochs": config.epochs, "weight_decay": config.weight_decay}
            for k in config.splits
        }
        for m in config.methods
    }
    if config.trials:
        trials = tuning_trials(config)
        work = [
            (Job(m, k, config.seeds[0], **t, phase="tune", trial=i), None)
            for m in config.methods
            for k in config.splits
            for i, t in enumerate(trials)
        ]
        bar.reset(total=len(work))
        tuning = [row for row, _ in _execute(work, config, device, jobs, threads, bar)]
        for m in config.methods:
            for k in config.splits:
                mine = [r for r in tuning if r["method"] == m and r["split"] == k]
                best = max(mine, key=lambda r: (r["val_accuracy"], -r["trial"]))
                settings[m][k] = {h: best[h] for h in ("lr", "epochs", "weight_decay")}
                chosen.append(
                    {
                        "method": m,
                        "split": k,
                        "trial": best["trial"],
                        "val_accuracy": best["val_accuracy"],
                        **settings[m][k],
                    }
                )

    def checkpoint_path(method: str, split: int, seed: int) -> Path:
        name = f"{method}-seed{seed}.pt" if split == 0 else f"{method}-split{split}-seed{seed}.pt"
        return Path(checkpoints) / name

    work = []
    for k in config.splits:
        for seed in config.seeds:
            for m in config.methods:
                saving = None
                if checkpoints is not None:
                    path = checkpoint_path(m, k, seed)
                    saving = {
                        "checkpoint": path,
                        "checkpoint_every": checkpoint_every,
                        "resume": resume and path.is_file(),
                    }
                work.append((Job(m, k, seed, **settings[m][k]), saving))
    if resume and checkpoints is not None:
        fresh = sum(not checkpoint_path(j.method, j.split, j.seed).is_file() for j, _ in work)
        if fresh:
            print(
                f"resume: no checkpoint found in {checkpoints} for {fresh} of {len(work)} run(s); "
                "those start from step 0"
            )
    bar.reset(total=len(work))
    results = _execute(work, config, device, jobs, threads, bar)
    bar.close()
    runs = [row for row, _ in results]
    curves = [c for _, curve in results for c in curve]
    timing = _wall_times(runs, tuning, config.methods)
    plan = prepared.plan
    protocol = {
        "name": plan.name,
        "periodic": list(plan.periodic),
        "axes": list(prepared.task.axes),
        "held_out": plan.held_out,
        "train_values": None if plan.train_values is None else plan.train_values.tolist(),
        "test_contexts": plan.test_contexts.tolist(),
        "seen": plan.seen.tolist(),
        "skew": plan.skew,
        "skew_region": list(SKEW_REGION),
    }
    return {
        "config": asdict(config),
        "manifold": config.topology(prepared.task),
        "protocol": protocol,
        "runs": runs,
        "curves": curves,
        "tuning": tuning,
        "chosen": chosen,
        "summary": summarize(runs, config.methods, tuning),
        "paired": paired_comparisons(runs, config.reference, PAIRED_METRICS),
        "distance": accuracy_by_distance(curves, config.methods),
        "seconds": timing,
    }


def _wall_times(runs: list[dict], tuning: list[dict], methods: Sequence[str]) -> dict:
    """Take the ``seconds`` out of the run and tuning rows (so the result files do not depend on
    the machine's load) into ``{"runs": {"method/split/seed": s}, "tuning": {...}, "methods":
    {method: {"test_seconds_mean", "tuning_seconds"}}}`` for ``timing.json``."""
    test = {f"{r['method']}/{r['split']}/{r['seed']}": r.pop("seconds") for r in runs}
    tried = {f"{r['method']}/{r['split']}/trial{r['trial']}": r.pop("seconds") for r in tuning}
    per_method = {}
    for method in methods:
        mine = [v for k, v in test.items() if k.split("/")[0] == method]
        spent = [v for k, v in tried.items() if k.split("/")[0] == method]
        per_method[method] = {
            "test_seconds_mean": round(sum(mine) / len(mine), 3) if mine else None,
            "tuning_seconds": round(sum(spent), 3),
        }
    return {"runs": test, "tuning": tried, "methods": per_method}


def accuracy_by_distance(curves: Sequence[dict], methods: Sequence[str]) -> list[dict]:
    """Per method and distance into the unseen region (0: seen contexts): mean accuracy over
    the test contexts at that distance, per run, then mean and 95 % t-interval over the runs."""
    rows = []
    for method in methods:
        mine = [c for c in curves if c["method"] == method]
        for distance in sorted({c["distance"] for c in mine}):
            per_run: dict[tuple, list[float]] = {}
            for c in mine:
                if c["distance"] == distance:
                    per_run.setdefault((c["split"], c["seed"]), []).append(c["accuracy"])
            mean, half = mean_interval([sum(v) / len(v) for v in per_run.values()])
            rows.append(
                {
                    "method": method,
                    "distance": distance,
                    "accuracy_mean": mean,
                    "accuracy_ci95": half,
                    "runs": len(per_run),
                }
            )
    return rows


def summarize(runs: Sequence[dict], methods: Sequence[str], tuning: Sequence[dict] = ()) -> list[dict]:
    """Per method: ``parameters``, ``runs``, ``trials`` (tuning runs) and, per metric of
    :data:`METRICS` (and :data:`SKEW_METRICS` where measured), ``mean``, ``ci95`` (half-width
    of the 95 % t-interval over runs) and ``n`` (runs with a value)."""
    rows = []
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        tried = [r for r in tuning if r["method"] == method]
        row: dict = {
            "method": method,
            "parameters": mine[0]["parameters"] if mine else None,
            "runs": len(mine),
            "trials": len(tried),
        }
        for metric in (*METRICS, *(m for m in SKEW_METRICS if any(m in r for r in mine))):
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


def format_paired(
    paired: Sequence[dict], metrics: Sequence[str] = ("accuracy_seen", "accuracy_unseen", *SKEW_METRICS)
) -> str:
    """A plain-text table of paired differences: one line per method and metric, ``mean ± ci``,
    the Wilcoxon p-value and wins out of pairs."""
    lines = [["reference − method", "metric", "difference", "p (Wilcoxon)", "wins"]]
    for row in paired:
        if row["metric"] in metrics:
            lines.append(
                [
                    f"{row['reference']} − {row['method']}",
                    row["metric"],
                    f"{row['mean']:+.3f}±{row['ci']:.3f}",
                    f"{row['p_wilcoxon']:.3g}",
                    f"{row['wins']}/{row['n']}",
                ]
            )
    widths = [max(len(x) for x in column) for column in zip(*lines, strict=True)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)) for line in lines)


def write_outputs(out: Path, result: dict, seconds: float) -> list[Path]:
    """Write the result files and figures into ``out``; return their paths.

    ``results.json`` (configuration, protocol, runs, tuning, summary, paired differences,
    curves), ``results.csv`` (runs with the configuration in every row), ``summary.csv``,
    ``paired.csv``, ``tuning.csv`` (when tuned), ``curves.csv``, ``distance.csv``,
    ``timing.json`` (the only file with wall-clock times: per run, per tuning run, per method) and
    the figures of :func:`geomanifold.plotting.conditioning.plot_results`.
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
        write_csv(out / "paired.csv", result["paired"]),
        *([write_csv(out / "tuning.csv", result["tuning"])] if result["tuning"] else []),
        write_csv(out / "curves.csv", result["curves"]),
        write_csv(out / "distance.csv", result["distance"]),
        write_json(out / "timing.json", {"total_seconds": round(seconds, 3), **result["seconds"]}),
    ]
    return paths + plot_results(out, result)
