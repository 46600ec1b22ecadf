"""Training loops for context-conditioned models ``model(x, s)`` and plain ones.

A *context function* draws each batch's context and transforms its inputs::

    context_fn(x: (B, *F), generator) -> (x': (B, *F'), s: (B, m))

e.g. ``lambda x, g: (lambda s: (add_noise(x, s, 2.0, g), s))(torch.rand(len(x), 1, generator=g))``.
Models that take the context are called ``model(x', s)``, the others ``model(x')``: by default
:class:`~geomanifold.conditioning.WeightManifold` and the baselines
(:class:`~geomanifold.baselines.ContextModule`) take it, anything else does not
(override with ``uses_context``).

:func:`train_epoch` is one pass over the data; :func:`fit` runs several with checkpoints that a
run resumes from exactly. Both check every step for NaN/Inf in the inputs, the loss and the
gradients (:class:`NonFiniteError`) and for a loss that has grown past
``divergence_factor · max(first loss, 1)`` (:class:`DivergenceError`) before the optimizer touches
the parameters, and the parameters after each update, so :func:`fit` writes a checkpoint only
when every parameter is finite; it turns Ctrl-C into :class:`TrainingInterrupted`, which says
where the last checkpoint is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, load_into, save_checkpoint
from .weightspace.metrics import check_batch

__all__ = [
    "DIVERGENCE_FACTOR",
    "ContextFn",
    "DivergenceError",
    "NonFiniteError",
    "TrainingInterrupted",
    "apply_context",
    "evaluate",
    "fit",
    "train_epoch",
]

ContextFn = Callable[[Tensor, torch.Generator | None], tuple[Tensor, Tensor]]
LossFn = Callable[[Tensor, Tensor], Tensor]

DIVERGENCE_FACTOR = 1e3
"""Default bound of the divergence guard: a batch loss above ``DIVERGENCE_FACTOR · max(L₁, 1)``,
``L₁`` the run's first batch loss, stops training (cross-entropy starts near ``ln C``)."""


class NonFiniteError(ValueError):
    """NaN or Inf in a training step, found before the optimizer changed anything.

    Attributes:
        step: the optimizer step that was being taken (1-based, counted over the whole run).
        tensor: what held the value: ``"input batch"``, ``"context batch s"``, ``"loss"`` or
            ``"gradient of parameter NAME"`` (found before the update), or ``"parameter NAME"``
            (after the update, e.g. an infinite learning rate).
    """

    def __init__(self, message: str, step: int, tensor: str):
        super().__init__(message)
        self.step, self.tensor = step, tensor


LOWER_LR = "lower the learning rate"
"""The advice that ends the message of a diverged run or a non-finite update (the CLI names its
option instead)."""


class DivergenceError(NonFiniteError):
    """The loss grew past the divergence bound (``divergence_factor · max(first loss, 1)``), found
    before the optimizer changed anything; a non-finite loss is its limit case.

    Attributes:
        step: as for :class:`NonFiniteError`; ``tensor`` is ``"loss"``.
        loss: the batch loss that crossed the bound.
    """

    def __init__(self, message: str, step: int, loss: float):
        super().__init__(message, step, "loss")
        self.loss = loss


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) during :func:`fit`, with where the run stood.

    Attributes:
        step: optimizer steps completed when the interrupt came.
        checkpoint: the checkpoint file of the run (``None`` when it writes none).
        checkpoint_step: the step the last checkpoint written holds (``None`` when none was written).
    """

    def __init__(self, step: int, checkpoint: Path | None, checkpoint_step: int | None):
        if checkpoint is None:
            where = "no checkpoint (the run writes none)"
        elif checkpoint_step is None:
            where = f"no checkpoint written yet to {str(checkpoint)!r}"
        else:
            where = f"last checkpoint {str(checkpoint)!r} (step {checkpoint_step})"
        super().__init__(f"interrupted at step {step}; {where}")
        self.step, self.checkpoint, self.checkpoint_step = step, checkpoint, checkpoint_step


def _takes_context(model: nn.Module, uses_context: bool | None) -> bool:
    if uses_context is not None:
        return uses_context
    from .baselines import ContextModule
    from .conditioning import LowRankWeightManifold, WeightManifold

    inner = getattr(model, "module", model)  # DistributedDataParallel / DataParallel
    return isinstance(inner, WeightManifold | LowRankWeightManifold | ContextModule)


def _call(model: nn.Module, x: Tensor, s: Tensor | None, uses_context: bool) -> Tensor:
    return model(x, s) if uses_context else model(x)


def apply_context(
    x: Tensor,
    context_fn: ContextFn,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    """``context_fn`` over ``x: (N, *F)`` in batches: a fixed transformed set ``(x', s)``
    (e.g. one noisy test set shared by every model under comparison)."""
    check_batch(x, "x")
    parts = [context_fn(x[i : i + batch_size], generator) for i in range(0, len(x), batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _check_examples(x: Tensor, y: Tensor) -> None:
    """``x: (N, ...)`` and ``y: (N, ...)`` with one batch dimension of the same size ``N >= 1``."""
    if x.dim() == 0 or y.dim() == 0:
        raise ValueError(
            "x and y need a leading batch dimension (N, ...); got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    check_batch(x, "x")


def _check_finite(tensor: Tensor, what: str, step: int) -> None:
    if tensor.is_floating_point() or tensor.is_complex():
        if not torch.isfinite(tensor).all():
            raise NonFiniteError(f"step {step}: the {what} contains NaN or Inf", step, what)


def _check_all(named: list[tuple[str, Tensor]], what: str, step: int) -> None:
    """One synchronisation for all tensors; the first bad one is looked for only on failure."""
    if named and not torch.stack([torch.isfinite(t).all() for _, t in named]).all():
        for name, tensor in named:
            _check_finite(tensor, f"{what} {name}", step)


def _draw_order(size: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """A random permutation of ``range(size)`` from ``generator`` (on its device), moved to ``device``."""
    where = generator.device if generator is not None else "cpu"
    return torch.randperm(size, generator=generator, device=where).to(device)


@dataclass
class _Loop:
    """What every training step needs besides the batch: the model call and its checks."""

    model: nn.Module
    x: Tensor
    y: Tensor
    optimizer: torch.optim.Optimizer
    context_fn: ContextFn | None
    generator: torch.Generator | None
    loss_fn: LossFn
    takes_context: bool
    batch_size: int
    divergence_factor: float
    first_loss: float | None = None  # the run's first batch loss: the scale of the divergence bound

    def steps(self, order: Tensor, batches: range, first_step: int) -> Iterator[tuple[int, float, int]]:
        """Optimizer steps on batches ``batches`` of the permutation ``order``.

        Yields after each step ``(step, loss · batch length, batch length)``, ``step`` counted from
        ``first_step + 1``. Raises :class:`NonFiniteError` before ``optimizer.step()`` when the
        batch (after ``context_fn``), the loss or a gradient is not finite, and
        :class:`DivergenceError` when the loss is above ``divergence_factor · max(first loss, 1)``.
        """
        self.model.train()
        step = first_step
        for batch in batches:
            step += 1
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            xb, yb, s = self.x[index], self.y[index], None
            if self.context_fn is not None:
                xb, s = self.context_fn(xb, self.generator)
                _check_finite(s, "context batch s", step)
            _check_finite(xb, "input batch", step)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(_call(self.model, xb, s, self.takes_context), yb)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteError(f"step {step}: the loss is {value}", step, "loss")
            if self.first_loss is None:
                self.first_loss = value
            bound = self.divergence_factor * max(self.first_loss, 1.0)
            if value > bound:
                raise DivergenceError(
                    f"diverged at step {step}: loss {value:.4g} > {self.divergence_factor:g} × "
                    f"max(first loss {self.first_loss:.4g}, 1)",
                    step,
                    value,
                )
            loss.backward()
            _check_all(
                [(name, p.grad) for name, p in self.model.named_parameters() if p.grad is not None],
                "gradient of parameter",
                step,
            )
            if s is not None and hasattr(self.optimizer, "observe"):
                self.optimizer.observe(s)  # contexts for "empirical" natural-gradient metrics
            self.optimizer.step()
            with torch.no_grad():
                _check_all(list(self.model.named_parameters()), "parameter", step)
            yield step, value * len(index), len(index)


def _loop(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    context_fn: ContextFn | None,
    batch_size: int,
    generator: torch.Generator | None,
    loss_fn: LossFn,
    uses_context: bool | None,
    divergence_factor: float,
) -> _Loop:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (isinstance(divergence_factor, int | float) and divergence_factor > 1):
        raise ValueError(
            f"divergence_factor must be a number > 1 (math.inf: no bound), got {divergence_factor!r}"
        )
    _check_examples(x, y)
    takes = _takes_context(model, uses_context)
    if takes and context_fn is None:
        raise ValueError("context_fn is required for a model that takes a context s")
    return _Loop(
        model, x, y, optimizer, context_fn, generator, loss_fn, takes, batch_size, float(divergence_factor)
    )


def train_epoch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    context_fn: ContextFn | None = None,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
    loss_fn: LossFn = F.cross_entropy,
    uses_context: bool | None = None,
    drop_last: bool = False,
    divergence_factor: float = DIVERGENCE_FACTOR,
) -> float:
    """One pass over ``(x: (N, *F), y: (N,))`` in a random order drawn from ``generator``.

    Each batch goes through ``context_fn`` (fresh contexts and transforms every epoch), the
    model, ``loss_fn`` (a batch mean), backward and ``optimizer.step()`` (after
    ``optimizer.observe(s)`` when the optimizer has it). ``x`` and ``y`` should already be on the
    model's device; ``generator`` must live on that device too when ``context_fn`` draws with it
    there.

    Returns:
        the mean training loss over the epoch's examples.

    Raises:
        NonFiniteError: NaN/Inf in a batch, the loss or a gradient (``step`` counts this epoch's
            steps; the parameters are those after the last good step), or in the parameters
            after an update.
        DivergenceError: a batch loss above ``divergence_factor · max(first batch loss, 1)``.
    """
    loop = _loop(
        model, x, y, optimizer, context_fn, batch_size, generator, loss_fn, uses_context, divergence_factor
    )
    order = _draw_order(len(x), generator, x.device)
    batches = len(x) // batch_size if drop_last else math.ceil(len(x) / batch_size)
    total, count = 0.0, 0
    for _, loss_sum, n in loop.steps(order, range(batches), 0):
        total += loss_sum
        count += n
    return total / max(count, 1)


@dataclass
class _Position:
    """Where a :func:`fit` run stands: enough to continue it bit for bit."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # completed batches of the current epoch
    step: int = 0  # completed optimizer steps
    loss_sum: float = 0.0  # Σ loss · batch length over the current epoch's batches
    count: int = 0
    order: Tensor | None = None  # the current epoch's permutation (None between epochs)
    history: list[dict] = field(default_factory=list)
    saved_step: int | None = None  # the step of the last checkpoint written (None: none yet)


def _kept(path: Path | None, position: _Position) -> str:
    """Which checkpoint survives a stop, for the error message."""
    if path is None:
        return "no checkpoint (the run writes none)"
    if position.saved_step is None:
        return f"no checkpoint written yet to {str(path)!r}"
    return f"{str(path)!r} keeps the last finite checkpoint (step {position.saved_step})"


def _stopped(error: NonFiniteError, position: _Position, path: Path | None) -> NonFiniteError:
    """``error`` of a step, with the epoch, batch and surviving checkpoint added to its message,
    and the advice to lower the learning rate where the loss or an update blew up."""
    updated = error.tensor.startswith("parameter ")
    message = (
        f"{error} (epoch {position.epoch + 1}, batch {position.batch + 1}); training stopped "
        f"{'after' if updated else 'before'} this step's update; {_kept(path, position)}"
    )
    if updated or isinstance(error, DivergenceError):
        message += f"; {LOWER_LR}"
    if isinstance(error, DivergenceError):
        return DivergenceError(message, error.step, error.loss)
    return NonFiniteError(message, error.step, error.tensor)


def _save(
    path: Path,
    loop: _Loop,
    position: _Position,
    metadata: Mapping[str, Any] | None,
) -> None:
    """Write the checkpoint (every step has checked that the parameters are finite, so a
    non-finite state is never written and the file keeps the last finite one)."""
    generator = loop.generator
    training = {
        "epoch": position.epoch,
        "batch": position.batch,
        "loss_sum": position.loss_sum,
        "count": position.count,
        "order": None if position.order is None else position.order.cpu(),
        "history": position.history,
        "generator": None if generator is None else generator.get_state(),
        "global_rng": torch.get_rng_state(),
        "dataset_size": len(loop.x),
        "batch_size": loop.batch_size,
        "first_loss": loop.first_loss,
    }
    save_checkpoint(path, loop.model, loop.optimizer, metadata, position.step, training=training)
    position.saved_step = position.step


def _restore(path: Path, loop: _Loop, metadata: Mapping[str, Any] | None) -> _Position:
    payload = load_checkpoint(path)
    training = payload.get("training")
    if training is None:
        raise CheckpointError(f"checkpoint {str(path)!r} has no training position (not written by fit)")
    for key, value in (("dataset_size", len(loop.x)), ("batch_size", loop.batch_size)):
        if training[key] != value:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written with {key}={training[key]}; resuming needs the "
                f"same value, got {value}"
            )
    saved = payload["metadata"]
    changed = sorted(k for k in set(saved) | set(metadata or {}) if saved.get(k) != (metadata or {}).get(k))
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {(metadata or {}).get(k)!r}" for k in changed)
        raise CheckpointError(f"checkpoint {str(path)!r} has other run metadata ({detail})")
    if (training["generator"] is None) != (loop.generator is None):
        raise CheckpointError(f"checkpoint {str(path)!r}: the run must again have a generator, or again none")
    load_into(loop.model, payload, loop.optimizer)
    if loop.generator is not None:
        loop.generator.set_state(training["generator"])
    loop.first_loss = training.get("first_loss")
    torch.set_rng_state(training["global_rng"])
    order = training["order"]
    return _Position(
        epoch=training["epoch"],
        batch=training["batch"],
        step=payload["step"],
        loss_sum=training["loss_sum"],
        count=training["count"],
        order=None if order is None else order.to(loop.x.device),
        history=list(training["history"]),
        saved_step=payload["step"],
    )


def _run_epoch(
    loop: _Loop,
    position: _Position,
    batches: int,
    bar: tqdm,
    path: Path | None,
    checkpoint_every: int,
    metadata: Mapping[str, Any] | None,
) -> None:
    """The rest of the current epoch of a :func:`fit` run, with its mid-epoch checkpoints."""
    if position.order is None:
        position.order = _draw_order(len(loop.x), loop.generator, loop.x.device)
    steps = loop.steps(position.order, range(position.batch, batches), position.step)
    while True:
        try:
            step, loss_sum, n = next(steps)
        except StopIteration:
            break
        except NonFiniteError as error:
            raise _stopped(error, position, path) from None
        position.step, position.batch = step, position.batch + 1
        position.loss_sum += loss_sum
        position.count += n
        bar.update()
        if path and checkpoint_every and step % checkpoint_every == 0 and position.batch < batches:
            _save(path, loop, position, metadata)
    position.epoch += 1
    loss = position.loss_sum / position.count
    position.history.append({"epoch": position.epoch, "step": position.step, "train_loss": loss})
    position.batch, position.loss_sum, position.count, position.order = 0, 0.0, 0, None
    bar.set_postfix(loss=f"{loss:.4f}")


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    generator: torch.Generator,
    context_fn: ContextFn | None = None,
    batch_size: int = 64,
    loss_fn: LossFn = F.cross_entropy,
    uses_context: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    metadata: Mapping[str, Any] | None = None,
    progress: bool = True,
    divergence_factor: float = DIVERGENCE_FACTOR,
) -> list[dict]:
    """Train for ``epochs`` passes over ``(x: (N, *F), y: (N,))`` as :func:`train_epoch` does,
    with checkpoints that a run resumes from exactly.

    The checkpoint (:func:`~geomanifold.checkpoint.save_checkpoint`, written atomically) holds the
    model, the optimizer (with its natural-gradient buffers and metric states), ``metadata``, the
    state of ``generator`` and of torch's global CPU generator (dropout), and the position: epoch,
    batch within the epoch with that epoch's order and running loss, and the history. It is
    written every ``checkpoint_every`` optimizer steps (``0``: at the end of every epoch) and at
    the end. With ``resume=True`` the run continues from ``checkpoint``; on CPU it then ends with
    the same parameters, bit for bit, as a run that was never interrupted (``epochs`` may be raised
    to train further; ``batch_size``, the data size and ``metadata`` must match).

    Args:
        epochs: total number of passes, counting those done before a resume (``>= 1``).
        generator: draws each epoch's order and is handed to ``context_fn``.
        checkpoint: file to write (and to resume from); ``None`` for no checkpoints.
        checkpoint_every: optimizer steps between checkpoints, ``>= 0``.
        resume: continue from ``checkpoint`` (which must exist).
        metadata: JSON-like run description stored in the checkpoint (e.g. the hyper-parameters).
        progress: show a tqdm bar over the steps.
        divergence_factor: stop when a batch loss exceeds ``divergence_factor · max(L₁, 1)``,
            ``L₁`` the run's first batch loss (kept across a resume); ``math.inf`` turns it off.

    Returns:
        one row per epoch, ``{"epoch": 1-based, "step": optimizer steps so far, "train_loss":
        mean loss over the epoch's examples}``, including the epochs before a resume.

    Raises:
        NonFiniteError: NaN/Inf in a batch, the loss or a gradient, or in the parameters after an
            update; names the step and the tensor. ``checkpoint`` keeps the last finite one.
        DivergenceError: a batch loss above the divergence bound (a subclass of NonFiniteError).
        CheckpointError: ``resume`` from a missing checkpoint or one that does not fit the run.
        TrainingInterrupted: Ctrl-C; says the step reached and the last checkpoint written.
    """
    for name, value, low in (("epochs", epochs, 1), ("checkpoint_every", checkpoint_every, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    loop = _loop(
        model, x, y, optimizer, context_fn, batch_size, generator, loss_fn, uses_context, divergence_factor
    )
    path = None if checkpoint is None else Path(checkpoint)
    position = _restore(path, loop, metadata) if resume else _Position()
    batches = math.ceil(len(x) / batch_size)
    try:
        with tqdm(
            total=epochs * batches, initial=min(position.step, epochs * batches),
            desc="fit", unit="step", disable=not progress,
        ) as bar:
            while position.epoch < epochs:
                _run_epoch(loop, position, batches, bar, path, checkpoint_every, metadata)
                last = position.epoch == epochs
                if path and (checkpoint_every == 0 or position.step % checkpoint_every == 0 or last):
                    _save(path, loop, position, metadata)
    except KeyboardInterrupt:
        raise TrainingInterrupted(position.step, path, position.saved_step) from None
    return list(position.history)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    s: Tensor | None = None,
    batch_size: int = 1024,
    loss_fn: LossFn = F.cross_entropy,
    uses_context: bool | None = None,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on fixed inputs ``x: (N, *F)``, labels ``y: (N,)``
    and contexts ``s: (N, m)`` (see :func:`apply_context`; ignored by models without context).

    Returns:
        ``{"loss": ..., "accuracy": ...}``.
    """
    _check_examples(x, y)
    takes = _takes_context(model, uses_context)
    if takes and s is None:
        raise ValueError("s is required to evaluate a model that takes a context s")
    if takes and len(s) != len(x):
        raise ValueError(f"s must have one context per example: got {len(s)} for {len(x)} examples")
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        sb = s[start : start + batch_size] if takes else None
        logits = _call(model, xb, sb, takes)
        total += loss_fn(logits, yb).item() * len(xb)
        correct += (logits.argmax(-1) == yb).sum().item()
    return {"loss": total / len(x), "accuracy": correct / len(x)}
