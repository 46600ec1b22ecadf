"""``geomanifold train``: train one reference network on an embedded data set and save a checkpoint
(the endpoints that ``geomanifold connect`` joins)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..io import write_csv, write_json
from ..settings import OPTIMIZERS
from .common import (
    add_arch_options,
    add_checkpoint_options,
    add_data_options,
    add_run_options,
    check_resume,
    positive_float,
    positive_int,
    setup_run,
)

__all__ = ["DEFAULT_OUT", "SMOKE_ARGS", "add_network_options", "register", "run"]

NAME = "train"
HELP = "train a reference network and save a checkpoint"
ORDER = 30
DEFAULT_OUT = Path("results/train")
CHECKPOINT = "model.pt"
SMOKE_ARGS = ["--data", "digits", "--width", "16", "--epochs", "1", "--threads", "1", "--no-progress"]


def add_network_options(parser: argparse.ArgumentParser, epochs: int = 10) -> None:
    """``--data``, ``--data-dir``, ``--arch``, ``--width``, ``--epochs``, ``--lr``, ``--batch-size``,
    ``--optimizer``: what network to train on what (shared by ``train`` and ``connect``)."""
    add_data_options(parser)
    add_arch_options(parser, "mlp", 128)
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=epochs,
        metavar="N",
        help=f"training epochs (default: {epochs})",
    )
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (default: 1e-3)")
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, metavar="B", help="batch size (default: 64)"
    )
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer (default: adam)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        NAME,
        help=HELP,
        description=f"Train a network on an embedded data set and save it as --out/{CHECKPOINT} with its "
        "data, architecture, width and seed in the checkpoint's metadata.",
    )
    add_network_options(parser)
    add_run_options(parser, DEFAULT_OUT)
    add_checkpoint_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import CheckpointError
    from ..experiments.datasets import load_data
    from ..experiments.networks import build_network, train_network

    device = setup_run(args)
    check_resume(args, args.out / CHECKPOINT)
    if (args.out / CHECKPOINT).is_dir():
        raise ValueError(f"--out: {str(args.out / CHECKPOINT)!r} is a folder; the checkpoint file goes there")
    started = time.perf_counter()
    split = load_data(args.data, args.data_dir)
    model = build_network(args.arch, split, args.width, args.seed).to(device)
    metadata = {
        "data": args.data,
        "arch": args.arch,
        "width": args.width,
        "seed": args.seed,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
    }
    try:
        result = train_network(
            model,
            split,
            args.epochs,
            args.lr,
            args.batch_size,
            args.seed,
            not args.no_progress,
            args.optimizer,
            checkpoint=args.out / CHECKPOINT,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            metadata=metadata,  # without --epochs: a resumed run may train for more
        )
    except CheckpointError as error:
        if not args.resume:
            raise
        raise CheckpointError(
            f"--resume: {error}; resume with the options of the run that wrote it (--epochs may grow)"
        ) from None
    write_csv(args.out / "train_history.csv", result["history"])
    test = {"test_loss": result["test_loss"], "test_accuracy": result["test_accuracy"]}
    summary = {**metadata, "epochs": args.epochs, **test}
    write_json(args.out / "train_summary.json", summary)
    write_json(args.out / "timing.json", {"seconds": round(time.perf_counter() - started, 3)})
    print(
        f"{args.arch} (width {args.width}) on {args.data}, seed {args.seed}: test accuracy "
        f"{result['test_accuracy']:.4f}; checkpoint {args.out / CHECKPOINT}"
    )
    return 0
