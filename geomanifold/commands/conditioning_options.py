"""Options shared by ``geomanifold condition`` and ``geomanifold compare`` (no command here):
the data, task, protocol and manifold of a conditioning experiment, its sizes, the run and
checkpoint options, and running it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..experiments.conditioning import ExperimentConfig, format_summary, run_suite, write_outputs
from ..experiments.methods import BACKBONES, MANIFOLDS
from ..experiments.protocols import FEW_VALUES, PROTOCOLS
from ..experiments.tasks import TASKS
from .common import (
    add_checkpoint_options,
    add_data_options,
    add_run_options,
    positive_float,
    positive_int,
    setup_run,
)

__all__ = ["add_experiment_options", "experiment_config", "run_experiment"]


def add_experiment_options(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """``--data``, ``--data-dir``, ``--task``, ``--manifold``, ``--protocol``, ``--few`` and the sizes,
    then the run options (``--seeds``, output folder ``default_out``) and the checkpoint options."""
    add_data_options(parser)
    parser.add_argument(
        "--task", choices=list(TASKS), default="rotation", help="context task (default: rotation)"
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
    parser.add_argument("--no-infer", action="store_true", help="skip conditioning inference")
    add_run_options(parser, default_out, several_seeds=True)
    add_checkpoint_options(parser)


def experiment_config(args: argparse.Namespace, methods: tuple[str, ...]) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of the parsed options."""
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
    )


def run_experiment(args: argparse.Namespace, methods: tuple[str, ...]) -> int:
    """Set up the run (:func:`~geomanifold.commands.common.setup_run`), run the suite, print its
    table, write results, checkpoints and figures into ``args.out``."""
    device = setup_run(args)
    started = time.perf_counter()
    result = run_suite(
        experiment_config(args, methods),
        device,
        progress=not args.no_progress,
        checkpoints=args.out / "checkpoints",
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
    )
    paths = write_outputs(args.out, result, time.perf_counter() - started)
    print(
        f"task {args.task} on {args.data}, protocol {args.protocol}, manifold {result['manifold']}, "
        f"{len(args.seeds)} seed(s), mean ± 95 % interval:"
    )
    print(format_summary(result["summary"]))
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
