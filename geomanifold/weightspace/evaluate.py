"""What to measure along a path between two networks (docs/concepts.md, "Paths of networks that keep their
function").

At ``T`` evenly spaced ``t`` (default 61): loss and accuracy on each labelled set (BatchNorm
statistics recomputed for every point), the loss barrier under both definitions, length and
energy in function space, Euclidean length and energy, speed along ``t`` and the extrinsic
curvature of the curve in weight space.

Barriers of a loss profile ``L(t_0 = 0), …, L(t_{T-1} = 1)``:

* ``"max-mean"``: ``max_t L(t) − (L(0) + L(1)) / 2``;
* ``"chord"``: ``max_t [L(t) − ((1 − t) L(0) + t L(1))]``, the height above the chord.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .batchnorm import has_batchnorm, recomputed_buffers
from .divergence import check_divergence, output_divergence
from .functional import call_with_vector
from .metrics import check_batch
from .paths import PinnedCurve

__all__ = ["BARRIERS", "evaluate_path", "loss_barrier"]

BARRIERS = ("max-mean", "chord")


def loss_barrier(losses: Tensor, t: Tensor | None = None, definition: str = "max-mean") -> float:
    """The barrier of a loss profile ``losses: (T,)`` at times ``t: (T,)`` (default evenly spaced
    on ``[0, 1]``; ``t[0] = 0`` and ``t[-1] = 1``) under ``definition`` (see module docstring)."""
    if definition not in BARRIERS:
        raise ValueError(f"definition must be one of {', '.join(BARRIERS)}; got {definition!r}")
    losses = torch.as_tensor(losses, dtype=torch.float64).reshape(-1)
    if losses.numel() < 2:
        raise ValueError(f"losses must hold at least two points (the endpoints), got {losses.numel()}")
    if definition == "max-mean":
        return float(losses.max() - (losses[0] + losses[-1]) / 2)
    t = torch.linspace(0, 1, len(losses), dtype=torch.float64) if t is None else torch.as_tensor(t).double()
    if t.shape != losses.shape:
        raise ValueError(f"t must have the shape of losses {tuple(losses.shape)}, got {tuple(t.shape)}")
    return float((losses - ((1 - t) * losses[0] + t * losses[-1])).max())


@torch.no_grad()
def evaluate_path(
    model: nn.Module,
    path: PinnedCurve,
    data: Mapping[str, tuple[Tensor, Tensor]],
    metric_x: Tensor,
    points: int = 61,
    kind: str = "kl",
    bn_x: Tensor | None = None,
    batch_size: int = 1000,
    progress: bool = True,
) -> dict:
    """Evaluate ``path`` at ``points`` evenly spaced ``t``.

    Args:
        model: the architecture; evaluated in eval mode.
        path: the curve.
        data: ``{name: (x: (N, *F), y: (N,))}`` labelled sets, e.g. ``{"train": ..., "test": ...}``.
        metric_x: ``(M, *F)`` inputs for function-space length, energy and speed.
        points: number of evenly spaced ``t`` (≥ 2).
        kind: output divergence for function-space quantities (``"kl"`` or ``"squared"``).
        bn_x: ``(N', *F)`` inputs to recompute BatchNorm statistics at every point (required when
            the model has BatchNorm).

    Returns:
        ``{"t": [T], "<name>_loss": [T], "<name>_accuracy": [T]`` per set, ``"function_speed"``:
        ``[T − 1]`` at segment midpoints, ``"euclidean_speed"``, ``"curvature"``: ``[T]``, and scalars
        ``"function_length"``, ``"function_energy"``, ``"euclidean_length"``, ``"euclidean_energy"``,
        ``"<name>_barrier_max_mean"``, ``"<name>_barrier_chord"``, ``"<name>_worst_error"``,
        ``"<name>_endpoint_error"`` (mean of the two ends)}``.
    """
    if not isinstance(points, int) or points < 2:
        raise ValueError(f"points must be an int >= 2 (the endpoints at least), got {points!r}")
    check_divergence(kind)
    check_batch(metric_x, "metric_x")
    for name, (x, y) in data.items():
        check_batch(x, f"data[{name!r}] inputs", metric_x)
        if y.shape != (len(x),):
            raise ValueError(f"data[{name!r}] labels must have shape (N={len(x)},), got {tuple(y.shape)}")
    needs_bn = has_batchnorm(model)
    if needs_bn:
        if bn_x is None:
            raise ValueError(
                "bn_x is required: the model has BatchNorm, whose statistics are recomputed per point"
            )
        check_batch(bn_x, "bn_x", metric_x)
    model.eval()
    t = torch.linspace(0, 1, points, dtype=torch.float64)
    weights = path(t).detach()
    curves: dict[str, list[float]] = {f"{name}_{q}": [] for name in data for q in ("loss", "accuracy")}
    metric_outputs = []
    for w in tqdm(weights, desc="evaluate path", disable=not progress, leave=False):
        buffers = recomputed_buffers(model, w, bn_x) if needs_bn else None
        for name, (x, y) in data.items():
            loss, correct = 0.0, 0
            for start in range(0, len(x), batch_size):
                logits = call_with_vector(model, w, x[start : start + batch_size], buffers)
                loss += F.cross_entropy(logits, y[start : start + batch_size], reduction="sum").item()
                correct += (logits.argmax(-1) == y[start : start + batch_size]).sum().item()
            curves[f"{name}_loss"].append(loss / len(x))
            curves[f"{name}_accuracy"].append(correct / len(x))
        metric_outputs.append(call_with_vector(model, w, metric_x, buffers).reshape(len(metric_x), -1))
    outputs = torch.stack(metric_outputs).double()
    divergences = output_divergence(outputs[:-1], outputs[1:], kind).clamp_min(0)
    n = points - 1
    curve = path.manifold()
    result = {
        "t": t.tolist(),
        **curves,
        "function_speed": (n * divergences.sqrt()).tolist(),
        "euclidean_speed": curve.metric(t[:, None])[:, 0, 0].sqrt().tolist(),
        "curvature": curve.curvature(t[:, None]).tolist(),
        "function_length": float(divergences.sqrt().sum()),
        "function_energy": float(n * divergences.sum()),
        "euclidean_length": path.euclidean_length(),
        "euclidean_energy": path.euclidean_energy(),
    }
    for name in data:
        losses = torch.tensor(curves[f"{name}_loss"], dtype=torch.float64)
        errors = 1 - torch.tensor(curves[f"{name}_accuracy"], dtype=torch.float64)
        result[f"{name}_barrier_max_mean"] = loss_barrier(losses, t, "max-mean")
        result[f"{name}_barrier_chord"] = loss_barrier(losses, t, "chord")
        result[f"{name}_worst_error"] = float(errors.max())
        result[f"{name}_endpoint_error"] = float((errors[0] + errors[-1]) / 2)
    return result
