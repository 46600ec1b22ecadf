"""Checkpoints: model and optimizer state with run metadata, in one file that cannot be half
written and is read without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain Python values (``format_version``, ``step``,
``metadata``, ``model``, ``optimizer``) written by :func:`torch.save` through
:func:`geomanifold.io.atomic_write` and read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .io import atomic_write

__all__ = ["FORMAT_VERSION", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, of another format version, or that does not
    fit the model it is loaded into."""


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    metadata: Mapping[str, Any] | None = None,
    step: int = 0,
) -> Path:
    """Write ``model.state_dict()``, ``optimizer.state_dict()`` (if given), ``step`` and
    ``metadata`` (JSON-like: str, int, float, bool, None, lists and dicts of them) atomically to
    ``path``."""
    payload = {
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "metadata": dict(metadata or {}),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda stream: stream.write(buffer.getvalue()))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Returns:
        the dict with keys ``format_version``, ``step``, ``metadata``, ``model``, ``optimizer``.

    Raises:
        CheckpointError: naming ``path`` when it is missing, not a checkpoint, or of another
            format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError ...
        raise CheckpointError(f"checkpoint {str(path)!r} is not a readable checkpoint: {error}") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a geomanifold checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {payload['format_version']}; "
            f"this geomanifold reads version {FORMAT_VERSION}"
        )
    return payload
