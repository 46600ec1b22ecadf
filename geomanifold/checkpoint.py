"""Checkpoints: model and optimizer state with run metadata, in one file that cannot be half
written and is read without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain Python values written by :func:`torch.save` through
:func:`geomanifold.io.atomic_write` (temporary file, fsync, rename) and read with
``torch.load(weights_only=True)``, which refuses any other object. Its entries:

- ``format_version`` (:data:`FORMAT_VERSION`), ``step``, ``metadata`` (JSON-like run description);
- ``model``: the state dict (of the wrapped module for DDP / DataParallel);
- ``basis``: :func:`describe_basis` of a :class:`~geomanifold.conditioning.WeightManifold`'s basis
  (``None`` for other models), so that loading into another basis or ``K`` is refused by name;
- ``optimizer`` and ``optimizer_class``: the optimizer's state dict (the natural-gradient
  optimizers keep theirs free of Python objects) and its class name;
- ``training``: what :func:`geomanifold.training.fit` needs to resume (``None`` otherwise).

:func:`load_into` checks all of that against a model and optimizer before loading.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .bases import Basis
from .io import atomic_write

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "describe_basis",
    "load_checkpoint",
    "load_into",
    "save_checkpoint",
]

FORMAT_VERSION = 1
_PROBES = 7  # chart points at which describe_basis records φ


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, of another format version, or that does not
    fit the model or optimizer it is loaded into."""


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel, so checkpoints move between them."""
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    return model.module if isinstance(model, wrappers) else model


def _model_basis(model: nn.Module) -> Basis | None:
    from .conditioning import WeightManifold

    model = _unwrap(model)
    return model.basis if isinstance(model, WeightManifold) else None


def _probe_points(basis: Basis) -> torch.Tensor:
    """``(_PROBES, m)`` fixed points inside the chart (a Kronecker sequence, so coordinates differ)."""
    steps = torch.arange(_PROBES, dtype=torch.float64)[:, None] + 0.5
    shifts = torch.tensor([1.0, math.sqrt(2), math.sqrt(3)][: basis.dim], dtype=torch.float64)
    fractions = torch.remainder(steps * shifts / _PROBES + 0.25 * shifts, 1.0)
    columns = []
    for j, coordinate in enumerate(basis.chart.coordinates):
        low = getattr(coordinate, "low", -1.0)
        width = getattr(coordinate, "period", None) or getattr(coordinate, "high", 1.0) - low
        columns.append(low + width * fractions[:, j])
    return torch.stack(columns, -1)


def describe_basis(basis: Basis) -> dict[str, Any]:
    """A JSON-like description of ``basis`` to tell bases apart when loading a checkpoint.

    Returns:
        ``{"class", "repr", "dim": m, "size": K, "chart": chart description, "values"}`` where
        ``values`` are ``φ`` at 7 fixed chart points (a ``7 × K`` nested list), which tells apart
        bases of the same class and ``K`` (e.g. B-splines on other knots).
    """
    values = basis.partial(_probe_points(basis), (0,) * basis.dim).to(torch.float64)
    return {
        "class": type(basis).__name__,
        "repr": repr(basis),
        "dim": basis.dim,
        "size": basis.size,
        "chart": basis.chart.describe(),
        "values": values.tolist(),
    }


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    metadata: Mapping[str, Any] | None = None,
    step: int = 0,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (its state dict and, for a weight-manifold model, its basis description),
    ``optimizer`` (if given), ``step``, ``metadata`` and ``training`` (JSON-like values and tensors)
    atomically to ``path``: a crash while writing leaves the previous file as it was."""
    basis = _model_basis(model)
    payload = {
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "metadata": dict(metadata or {}),
        "model": _unwrap(model).state_dict(),
        "basis": None if basis is None else describe_basis(basis),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "training": None if training is None else dict(training),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda stream: stream.write(buffer.getvalue()))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Returns:
        the dict described in this module's docstring.

    Raises:
        CheckpointError: naming ``path`` when it is missing, a folder, not a checkpoint (including a file
            holding objects other than tensors and plain values), or of another format version.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; expected a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError ...
        text = str(error).strip()
        first = text.splitlines()[0].split(". ")[0].rstrip(".")[:120] if text else type(error).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a readable checkpoint ({first}); expected a file written by "
            "save_checkpoint or `geomanifold train`"
        ) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a geomanifold checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {payload['format_version']}; "
            f"this geomanifold reads version {FORMAT_VERSION}"
        )
    return payload


def _basis_text(description: Mapping[str, Any] | None) -> str:
    if description is None:
        return "no basis (not a WeightManifold)"
    return f"{description['repr']} (K={description['size']}, {description['chart']})"


def _check_basis(source: str, saved: Mapping[str, Any] | None, basis: Basis | None) -> None:
    current = None if basis is None else describe_basis(basis)
    if saved is None and current is None:
        return
    same = (
        saved is not None
        and current is not None
        and all(saved[key] == current[key] for key in ("class", "dim", "size", "chart"))
        and torch.allclose(
            torch.tensor(saved["values"]), torch.tensor(current["values"]), rtol=1e-9, atol=1e-12
        )
    )
    if not same:
        detail = ""
        if saved is not None and current is not None and saved["repr"] == current["repr"]:
            detail = " (same class and K, other basis functions, e.g. other knots)"
        raise CheckpointError(
            f"{source} was saved with basis {_basis_text(saved)}, but the model has "
            f"{_basis_text(current)}{detail}"
        )


def _check_state(source: str, saved: Mapping[str, torch.Tensor], model: nn.Module) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing or unexpected:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                parts.append(f"{label} keys {', '.join(keys[:3])}{more}")
        raise CheckpointError(f"{source} does not fit the model's architecture: {'; '.join(parts)}")
    for key, value in expected.items():
        if isinstance(value, torch.Tensor) and tuple(saved[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{source} does not fit the model's architecture: {key} has shape "
                f"{tuple(saved[key].shape)} in the checkpoint, {tuple(value.shape)} in the model"
            )


def load_into(
    model: nn.Module,
    checkpoint: str | os.PathLike | Mapping[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> dict:
    """Load a checkpoint (a path, or the dict from :func:`load_checkpoint`) into ``model`` and,
    if given, ``optimizer``, after checking that it fits.

    Returns:
        the checkpoint dict (``step``, ``metadata``, ``training``, ...).

    Raises:
        CheckpointError: naming the mismatch: another basis or ``K`` (weight-manifold models),
            missing or unexpected state-dict keys, a tensor of another shape, no optimizer state
            or one of another optimizer class or param-group layout.
    """
    if isinstance(checkpoint, Mapping):
        payload, source = dict(checkpoint), "the checkpoint"
    else:
        payload, source = load_checkpoint(checkpoint), f"checkpoint {str(checkpoint)!r}"
    inner = _unwrap(model)
    _check_basis(source, payload.get("basis"), _model_basis(model))
    _check_state(source, payload["model"], inner)
    if optimizer is not None:
        name = type(optimizer).__name__
        if payload.get("optimizer") is None:
            raise CheckpointError(f"{source} holds no optimizer state to load into {name}")
        if payload.get("optimizer_class") != name:
            saved = payload.get("optimizer_class")
            raise CheckpointError(f"{source} holds the state of optimizer {saved}, not of {name}")
    inner.load_state_dict(payload["model"])
    if optimizer is not None:
        try:
            optimizer.load_state_dict(payload["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(f"{source}: the optimizer state does not fit {name}: {error}") from None
    return payload
