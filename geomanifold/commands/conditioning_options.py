"""Options shared by ``geomanifold condition`` and ``geomanifold compare`` (no command here):
the data, task, protocol and manifold of a conditioning experiment, its sizes, splits, tuning,
parallel jobs, the run and checkpoint options, registering such a command and running it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import BACKBONES, CRITERIA, FEW_VALUES, MANIFOLDS, PROTOCOLS, TASK_NAMES
from .common import (
    add_checkpoint_options,
    add_data_options,
    add_run_options,
    float_in,
    name_list,
    non_negative_float,
    positive_float,
    positive_int,
    seed_list,
    setup_run,
)

if TYPE_CHECKING:
    from ..experiments.conditioning import ExperimentConfig

__all__ = [
    "DEFAULT_TRIALS",
    "DEFAULT_VALIDATION",
    "add_experiment_options",
    "experiment_config",
    "register_experiment",
    "run_experiment",
    "smoke_args",
]

DEFAULT_TRIALS = 4
DEFAULT_VALIDATION = 0.2


def smoke_args(data: str, task: str, protocol: str, seeds: int, *extra: str) -> list[str]:
    """The arguments of a complete run in seconds (one epoch on 200 training and 64 test examples,
    one thread), for the commands' ``SMOKE_ARGS``."""
    return [
        "--data", data, "--task", task, "--protocol", protocol, "--epochs", "1", "--seeds", str(seeds),
        *extra, "--train-size", "200", "--test-size", "64", "--no-progress", "--threads", "1",
    ]


def register_experiment(
    commands: argparse._SubParsersAction,
    name: str,
    help: str,
    description: str,
    default_out: Path,
    add_methods: Callable[[argparse.ArgumentParser], None],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    """Add sub-command ``name``: its method option(s) (``add_methods``), then
    :func:`add_experiment_options`; ``handler`` runs it."""
    parser = commands.add_parser(name, help=help, description=description)
    add_methods(parser)
    add_experiment_options(parser, default_out)
    parser.set_defaults(handler=handler)


def add_experiment_options(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """``--data``, ``--data-dir``, ``--task``, ``--manifold``, ``--protocol``, ``--few``, the sizes,
    splits, tuning, skew, inference and ``--jobs`` options, then the run options (``--seeds``,
    output folder ``default_out``) and the checkpoint options."""
    add_data_options(parser)
    parser.add_argument(
        "--task", choices=TASK_NAMES, default="rotation", help="context task (default: rotation)"
    )
    parser.add_argument(
        "--manifold",
        choices=MANIFOLDS,
        default=None,
        help="manifold topology (default: the task's fitting one; the swapped one under misspecified)",
    )
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, default="uniform", help="protocol (default: uniform)"
    )
    parser.add_argument(
        "--few",
        type=int,
        choices=FEW_VALUES,
        default=4,
        help="training contexts k of --protocol few (default: 4)",
    )
    parser.add_argument("--epochs", type=positive_int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument("--lr", type=positive_float, default=2e-3, help="learning rate (default: 2e-3)")
    parser.add_argument(
        "--weight-decay", type=non_negative_float, default=0.0,
        help="weight decay of the optimizer (default: 0)",
    )
    parser.add_argument("--backbone", choices=BACKBONES, default="mlp", help="backbone (default: mlp)")
    parser.add_argument(
        "--width",
        type=positive_int,
        default=32,
        help="hidden units (mlp) or first-layer channels (cnn) (default: 32)",
    )
    parser.add_argument(
        "--train-size", type=positive_int, default=None, help="use the first N training examples"
    )
    parser.add_argument("--test-size", type=positive_int, default=None, help="use the first N test examples")
    parser.add_argument(
        "--splits", type=seed_list, default=[0], metavar="N|LIST",
        help="data splits: a count (2 means splits 0,1) or a comma-separated list; split k is the "
        "data set's train/test split seeded by k (default: 1, split 0)",
    )
    parser.add_argument(
        "--validation", type=float_in(0.0, 1.0, False, "a fraction in (0, 1)"), default=None, metavar="F",
        help=f"fraction of the training part held out for validation (default: {DEFAULT_VALIDATION} "
        "with --tune, else none)",
    )
    parser.add_argument(
        "--tune", action="store_true",
        help=f"tune lr, epochs and weight decay per method on the validation part ({DEFAULT_TRIALS} trials "
        "unless --trials), then test the chosen setting on every seed and split",
    )
    parser.add_argument(
        "--trials", type=positive_int, default=None, metavar="N",
        help="hyper-parameter sets each method tries (implies --tune; the same sets for every method)",
    )
    parser.add_argument(
        "--skew", type=float_in(0.0, 1.0, True, "a probability in [0, 1)"), default=0.0,
        metavar="P",
        help="draw the first context coordinate of a training example from [0, 0.25) with probability "
        "P (default: 0, the protocol's distribution)",
    )
    parser.add_argument("--no-infer", action="store_true", help="skip conditioning inference")
    parser.add_argument(
        "--infer-batches", type=seed_list, default=[], metavar="LIST",
        help="also report the inference error for these batch sizes (comma-separated, e.g. 16,64,256)",
    )
    parser.add_argument(
        "--criteria", type=name_list(CRITERIA, "criteria"), default=("entropy",), metavar="LIST",
        help=f"label-free criteria of --infer-batches (default: entropy); valid: {', '.join(CRITERIA)}",
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=1, metavar="N",
        help="independent trainings run in N processes (each with --threads threads, default 1)",
    )
    add_run_options(parser, default_out, several_seeds=True)
    add_checkpoint_options(parser)


def experiment_config(args: argparse.Namespace, methods: tuple[str, ...]) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of the parsed options.

    Raises:
        ValueError: an ``--infer-batches`` size larger than the test part.
    """
    from ..experiments.conditioning import ExperimentConfig

    trials = args.trials or (DEFAULT_TRIALS if args.tune else 0)
    validation = args.validation if args.validation is not None else (DEFAULT_VALIDATION if trials else 0.0)
    if any(b < 1 for b in args.infer_batches):
        raise ValueError(f"--infer-batches must be positive batch sizes, got {args.infer_batches}")
    return ExperimentConfig(
        data=args.data,
        task=args.task,
        protocol=args.protocol,
        manifold=args.manifold,
        methods=methods,
        seeds=tuple(args.seeds),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        backbone=args.backbone,
        width=args.width,
        few=args.few,
        infer=not args.no_infer,
        train_size=args.train_size,
        test_size=args.test_size,
        data_dir=None if args.data_dir is None else str(args.data_dir),
        splits=tuple(args.splits),
        validation=validation,
        trials=trials,
        weight_decay=args.weight_decay,
        skew=args.skew,
        infer_batches=tuple(args.infer_batches),
        criteria=tuple(args.criteria),
        reference=methods[0] if "manifold" not in methods else "manifold",
    )


def run_experiment(args: argparse.Namespace, methods: tuple[str, ...]) -> int:
    """Set up the run (:func:`~geomanifold.commands.common.setup_run`), run the suite, print its
    tables, write results, checkpoints and figures into ``args.out``."""
    from ..experiments.conditioning import format_paired, format_summary, run_suite, write_outputs

    device = setup_run(args)
    started = time.perf_counter()
    result = run_suite(
        experiment_config(args, methods),
        device,
        progress=not args.no_progress,
        checkpoints=args.out / "checkpoints",
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        jobs=args.jobs,
        threads=args.threads,
    )
    paths = write_outputs(args.out, result, time.perf_counter() - started)
    splits = f"{len(args.splits)} split(s) × " if len(args.splits) > 1 else ""
    print(
        f"task {args.task} on {args.data}, protocol {args.protocol}, manifold {result['manifold']}, "
        f"{splits}{len(args.seeds)} seed(s), mean ± 95 % interval:"
    )
    print(format_summary(result["summary"]))
    if result["paired"]:
        print("paired differences over splits and seeds (mean ± 95 % t-interval):")
        print(format_paired(result["paired"]))
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
