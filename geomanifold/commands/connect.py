"""``geomanifold connect [A.pt B.pt]``: paths between two trained networks of the same
architecture (straight line, mode-connecting Bézier curve, AutoNEB, geodesics under a task metric),
with and without permutation alignment (weight or activation matching), evaluated along ``t``
(loss, accuracy, barriers, lengths, speed, curvature, ensembles along the path) and plotted.
Without checkpoints, the two endpoints are trained first (seeds ``2·seed`` and ``2·seed + 1``) with
the ``train`` options."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

from ..io import write_json
from ..settings import ALIGNMENTS, DIVERGENCES, ConnectOptions
from ..settings import PATH_METHODS as METHODS
from .common import (
    add_run_options,
    existing_file,
    name_list,
    non_negative_int,
    positive_float,
    positive_int,
    setup_run,
)
from .train import add_network_options

__all__ = ["DEFAULT_OUT", "SMOKE_ARGS", "load_endpoints", "register", "run"]

NAME = "connect"
HELP = "connect two trained networks by straight, Bézier, AutoNEB and geodesic paths"
ORDER = 31
DEFAULT_OUT = Path("results/connect")
SMOKE_ARGS = [
    "--data",
    "digits",
    "--width",
    "16",
    "--epochs",
    "1",
    "--steps",
    "3",
    "--interior",
    "3",
    "--bezier-epochs",
    "1",
    "--points",
    "5",
    "--threads",
    "1",
    "--no-progress",
]
ARCHITECTURE_KEYS = ("data", "arch", "width")


def register(commands: argparse._SubParsersAction) -> None:
    defaults = ConnectOptions()
    parser = commands.add_parser(
        NAME,
        help=HELP,
        description=__doc__,
    )
    parser.add_argument(
        "checkpoints",
        nargs="*",
        type=existing_file,
        metavar="CHECKPOINT",
        help="two checkpoints written by `geomanifold train` (none: train both here)",
    )
    add_network_options(parser)
    parser.add_argument(
        "--methods",
        type=name_list(METHODS, "methods"),
        default=defaults.methods,
        metavar="LIST",
        help=f"comma-separated paths out of {', '.join(METHODS)} (default: {','.join(defaults.methods)})",
    )
    parser.add_argument(
        "--align",
        choices=ALIGNMENTS,
        default=defaults.align,
        help="permutation alignment of B's hidden units to A: none, weights (weight matching), activations "
        "(activation matching), both (none and weights) or all (default: both)",
    )
    parser.add_argument(
        "--kind",
        choices=DIVERGENCES,
        default=defaults.kind,
        help="task metric: 2·KL of softmax outputs or squared output distance (default: kl)",
    )
    parser.add_argument(
        "--interior",
        type=positive_int,
        default=defaults.interior,
        metavar="N",
        help=f"free interior points of the geodesic polyline (default: {defaults.interior})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=defaults.steps,
        metavar="N",
        help=f"steps of the geodesic solver (default: {defaults.steps})",
    )
    parser.add_argument(
        "--geodesic-lr",
        type=positive_float,
        default=defaults.geodesic_lr,
        help="first step of the geodesic solver, in segment lengths of the chord (default: 0.1)",
    )
    parser.add_argument(
        "--metric-batch",
        type=positive_int,
        default=defaults.metric_batch,
        metavar="N",
        help=f"inputs of each fitting batch of the geodesic solver (default: {defaults.metric_batch})",
    )
    parser.add_argument(
        "--redraw",
        type=non_negative_int,
        default=defaults.redraw,
        metavar="N",
        help=f"steps of the geodesic solver per fitting batch, redrawn after each round "
        f"(0: one fixed batch; default: {defaults.redraw})",
    )
    parser.add_argument(
        "--holdout",
        type=non_negative_int,
        default=defaults.holdout,
        metavar="N",
        help="training inputs the geodesic solver never fits; a round of steps is kept only if it lowers "
        f"the path energy on them (at most half the inputs; 0: no check; default: {defaults.holdout})",
    )
    parser.add_argument(
        "--bezier-epochs",
        type=positive_int,
        default=defaults.bezier_epochs,
        metavar="N",
        help=f"epochs of the mode-connecting Bézier curve (default: {defaults.bezier_epochs})",
    )
    parser.add_argument(
        "--points",
        type=positive_int,
        default=defaults.points,
        metavar="T",
        help=f"evaluation points along t (default: {defaults.points})",
    )
    add_run_options(parser, DEFAULT_OUT)
    parser.set_defaults(handler=run)


def load_endpoints(paths: list[Path], device, data_dir: Path | None = None) -> tuple:
    """``(split, model_a, model_b, metadata)`` from two checkpoints of ``geomanifold train`` (the data
    set named in their metadata, from ``data_dir`` where it needs one).

    Raises:
        ValueError: not exactly two paths, metadata without the architecture, or two checkpoints of
            different data, architecture or width (naming the first mismatch).
        CheckpointError: an unreadable checkpoint or weights that do not fit the architecture.
        NonFiniteWeightsError: NaN or infinite weights (naming the checkpoint).
    """
    from ..checkpoint import CheckpointError, load_checkpoint, load_into
    from ..experiments.datasets import load_data
    from ..experiments.networks import build_network
    from ..weightspace.functional import check_vector, parameter_vector

    if len(paths) != 2:
        raise ValueError(f"checkpoints: give two (A.pt B.pt) or none, got {len(paths)}")
    payloads = [load_checkpoint(path) for path in paths]
    for path, payload in zip(paths, payloads, strict=True):
        missing = [key for key in ARCHITECTURE_KEYS if key not in payload["metadata"]]
        if missing:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has no {', '.join(missing)} in its metadata; "
                "write it with `geomanifold train`"
            )
    first, second = (payload["metadata"] for payload in payloads)
    for key in ARCHITECTURE_KEYS:
        if first[key] != second[key]:
            raise ValueError(
                f"checkpoints have different architectures: {key} {first[key]!r} in "
                f"{str(paths[0])!r} but {second[key]!r} in {str(paths[1])!r}"
            )
    split = load_data(first["data"], data_dir)
    models = []
    for path, payload in zip(paths, payloads, strict=True):
        model = build_network(first["arch"], split, first["width"]).to(device)
        load_into(model, payload)
        check_vector(model, parameter_vector(model), f"weights of checkpoint {str(path)!r}")
        models.append(model.eval())
    return split, *models, {key: first[key] for key in ARCHITECTURE_KEYS}


def run(args: argparse.Namespace) -> int:
    from ..experiments.connect import connect_networks, format_table, train_endpoints, write_results
    from ..experiments.datasets import load_data

    device = setup_run(args)
    options = ConnectOptions(
        methods=args.methods,
        align=args.align,
        kind=args.kind,
        interior=args.interior,
        steps=args.steps,
        geodesic_lr=args.geodesic_lr,
        metric_batch=args.metric_batch,
        redraw=args.redraw,
        holdout=args.holdout,
        bezier_epochs=args.bezier_epochs,
        batch_size=args.batch_size,
        points=args.points,
    )
    started = time.perf_counter()
    if args.checkpoints:
        split, model_a, model_b, network = load_endpoints(args.checkpoints, device, args.data_dir)
    else:
        split = load_data(args.data, args.data_dir)
        network = {"data": args.data, "arch": args.arch, "width": args.width}
    split = replace(
        split, **{f: getattr(split, f).to(device) for f in ("x_train", "y_train", "x_test", "y_test")}
    )
    if not args.checkpoints:
        training = {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "optimizer": args.optimizer,
        }
        model_a, model_b = train_endpoints(
            split, args.arch, args.width, args.seed, not args.no_progress, **training
        )
    results = connect_networks(model_a, model_b, split, options, args.seed, not args.no_progress)
    seconds = {name: round(result.pop("seconds"), 3) for name, result in results.items()}
    rows = write_results(args.out, results, {**network, "seed": args.seed, **asdict(options)})
    write_json(args.out / "timing.json", {"paths": seconds, "total": round(time.perf_counter() - started, 3)})
    print(format_table(rows))
    print(f"wrote {args.out}")
    return 0
