"""Options and set-up shared by the sub-commands: argument types (each refuses a bad value with
one line naming the option and what is valid), the run options every experiment command takes
(``--out``, ``--seed``/``--seeds``, ``--device``, ``--threads``, ``--no-progress``), the checkpoint
options, and the run set-up that checks them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import ARCHITECTURES, DATA_SET_NAMES

if TYPE_CHECKING:
    import torch

__all__ = [
    "add_arch_options",
    "add_checkpoint_options",
    "add_data_options",
    "add_run_options",
    "check_out",
    "check_resume",
    "existing_file",
    "existing_folder",
    "float_in",
    "name_list",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "resolve_device",
    "seed_list",
    "setup_run",
]


def _int_at_least(minimum: int, words: str):
    """An argparse type accepting integers ``>= minimum`` (``words`` describes them in errors)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {words}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1, "a positive integer")
positive_int.__doc__ = "argparse type: an integer ≥ 1."
non_negative_int = _int_at_least(0, "an integer >= 0")
non_negative_int.__doc__ = "argparse type: an integer ≥ 0."


def float_in(low: float, high: float, closed_low: bool, words: str) -> Callable[[str], float]:
    """An argparse type accepting finite numbers in ``(low, high)`` (``[low, high)`` when
    ``closed_low``; ``high`` may be ``inf``); ``words`` describes them in errors."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        above = low <= value if closed_low else low < value
        if not math.isfinite(value) or not above or not value < high:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}")
        return value

    return parse


positive_float = float_in(0.0, math.inf, False, "a finite number > 0")
positive_float.__doc__ = "argparse type: a finite float > 0 (a learning rate, a length)."
non_negative_float = float_in(0.0, math.inf, True, "a finite number >= 0")
non_negative_float.__doc__ = "argparse type: a finite float ≥ 0 (a penalty weight)."


def existing_file(text: str) -> Path:
    """argparse type for an input file (a checkpoint): it must exist and not be a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file, e.g. a model.pt")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; expected an existing file")
    return path


def existing_folder(text: str) -> Path:
    """argparse type for an input folder (``--data-dir``): it must exist and be a folder."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a folder")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; expected an existing folder")
    return path


def add_arch_options(parser: argparse.ArgumentParser, arch: str, width: int) -> None:
    """``--arch`` (one of :data:`~geomanifold.settings.ARCHITECTURES`, default ``arch``) and
    ``--width`` (default ``width``)."""
    parser.add_argument("--arch", choices=ARCHITECTURES, default=arch, help=f"network (default: {arch})")
    parser.add_argument(
        "--width",
        type=positive_int,
        default=width,
        metavar="W",
        help=f"hidden units (mlp) or first-layer channels (default: {width})",
    )


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data`` (one of the embedded or local data sets) and ``--data-dir`` (the folder of a local
    one)."""
    parser.add_argument(
        "--data", choices=DATA_SET_NAMES, default="mnist5k", help="data set (default: mnist5k)"
    )
    parser.add_argument(
        "--data-dir",
        type=existing_folder,
        default=None,
        metavar="DIR",
        help="local folder with the files of --data mnist, fashion or cifar10 (torchvision layout)",
    )


def name_list(choices: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type for comma-separated, distinct names out of ``choices`` (``what`` names them
    in errors, e.g. ``"methods"``); returns them as a tuple in the given order."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        if not names or any(name not in choices for name in names) or len(set(names)) < len(names):
            raise argparse.ArgumentTypeError(
                f"expected distinct {what} separated by commas, got {text!r}; valid: {', '.join(choices)}"
            )
        return names

    return parse


def seed_list(text: str) -> list[int]:
    """argparse type for ``--seeds``: ``3`` means seeds 0, 1, 2; ``0,5,7`` lists them."""
    try:
        if "," in text:
            seeds = [int(part) for part in text.split(",") if part.strip()]
        else:
            seeds = list(range(positive_int(text)))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected a count (e.g. 3) or a comma-separated list of seeds (e.g. 0,1,2), got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def add_run_options(
    parser: argparse.ArgumentParser, default_out: Path, *, several_seeds: bool = False
) -> None:
    """Add ``--out``, ``--seed`` (or ``--seeds`` when ``several_seeds``), ``--device``,
    ``--threads`` and ``--no-progress`` to ``parser``."""
    parser.add_argument(
        "--out", type=Path, default=default_out, metavar="DIR", help=f"output folder (default: {default_out})"
    )
    if several_seeds:
        parser.add_argument(
            "--seeds", type=seed_list, default=[0, 1, 2], metavar="N|LIST",
            help="number of seeds, or a comma-separated list (default: 3, i.e. 0,1,2)",
        )
    else:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--device", default="cpu", metavar="DEVICE",
        help="torch device, e.g. cpu, cuda, cuda:1, mps (default: cpu)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--checkpoint-every N`` (optimizer steps between checkpoints, 0 = every epoch) and
    ``--resume`` (continue from the checkpoint in ``--out``), the ``checkpoint_every`` and
    ``resume`` arguments of :func:`geomanifold.training.fit`."""
    parser.add_argument(
        "--checkpoint-every", type=non_negative_int, default=0, metavar="N",
        help="write a checkpoint every N optimizer steps (default: 0, at the end of every epoch)",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run from its checkpoint in --out (same options needed)",
    )


def check_resume(args: argparse.Namespace, checkpoint: Path) -> None:
    """With ``--resume``, ``checkpoint`` (a file in ``--out``) must exist: a ``ValueError`` naming
    both options otherwise."""
    if args.resume and not checkpoint.is_file():
        raise ValueError(
            f"--resume: no checkpoint {str(checkpoint)!r} to continue from; "
            "check --out, or run without --resume"
        )


def check_out(out: Path) -> None:
    """``--out`` must be a folder or creatable as one: a ``ValueError`` naming it otherwise."""
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is a file" if folder == out else f"is inside {str(folder)!r}, which is a file"
                raise ValueError(f"--out: {str(out)!r} {what}; expected a folder (created if missing)")
            return


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)`` after checking that it exists here; a ``ValueError`` naming
    ``--device`` and the devices available otherwise."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device: {name!r} is not a torch device (e.g. cpu, cuda, cuda:0, mps)") from None
    available = ["cpu"]
    if torch.cuda.is_available():
        available += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        available.append("mps")
    if device.type == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        raise ValueError(f"--device: {name!r} is not available here; available: {', '.join(available)}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device: {name!r} is not available here; available: {', '.join(available)}")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device: {name!r} is not supported; available: {', '.join(available)}")
    return device


def setup_run(args: argparse.Namespace) -> torch.device:
    """Check ``--out``, apply ``--threads`` and return the checked ``--device``; creates ``--out``."""
    import torch

    check_out(args.out)
    if getattr(args, "threads", None) is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(getattr(args, "device", "cpu"))
    args.out.mkdir(parents=True, exist_ok=True)
    return device
