"""Functionally invariant paths: walks through weight space that keep a network's outputs on a reference
set nearly fixed while making progress on a secondary objective (docs/concepts.md, "Paths of networks that
keep their function"; Raghavan & Thomson, arXiv 2106.02793 and Nature Machine Intelligence 2024).

From weights ``w`` with task metric ``G(w)`` (the pullback of the output metric on reference
inputs) and a secondary objective ``L₂`` (distance to a pruned hyperplane, a new task's loss), the
trust-region problem ``min_θ ⟨θ, G θ⟩ − β ⟨θ, −∇L₂⟩`` subject to ``||θ||² ≤ ε²`` is solved by
``θ* ∝ (G + μ I)⁻¹ (−∇L₂)``, which lies mostly in the near-null directions of ``G``. Three step
rules, each normalised to Euclidean length ``ε``:

* ``"trust-region"``: ``θ = (G + μ I)⁻¹ (−∇L₂)`` by matrix-free conjugate gradients;
* ``"penalty"`` (the practical first-order form): ``θ = −∇(L₂ + λ D)``, with ``D`` the output
  divergence to the *starting* network on a minibatch of the reference set (for continual
  learning, a replay buffer of old-task inputs: no labels are needed);
* ``"euclidean"``: ``θ = −∇L₂``, the baseline that ignores the function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..optim.cg import conjugate_gradient
from .divergence import check_divergence, output_divergence
from .functional import call_with_vector, check_vector, parameter_vector
from .metrics import TaskMetric, check_batch

__all__ = [
    "STEP_RULES",
    "Evaluator",
    "FunctionallyInvariantPath",
    "SecondaryObjective",
    "WalkOptions",
    "distance_to",
    "normalised",
    "trust_region_direction",
    "walk",
]

STEP_RULES = ("penalty", "trust-region", "euclidean")

SecondaryObjective = Callable[[Tensor], Tensor]
"""``L₂(w: (D,)) -> scalar``, differentiable in ``w`` (it may draw its own minibatch per call)."""

Evaluator = Callable[[Tensor], dict[str, float]]
"""``w: (D,) -> {name: value}``: what to record at the checkpoints of a walk (on fixed data: it must
not draw from the walk's random streams)."""


def normalised(direction: Tensor, length: float) -> Tensor:
    """``length · direction / ||direction||`` (zero if ``direction`` is zero)."""
    norm = direction.norm()
    return direction * (length / norm) if norm > 0 else torch.zeros_like(direction)


def distance_to(target: Tensor) -> SecondaryObjective:
    """``L₂(w) = ||w − target||`` for ``target: (D,)``: a walk from network A toward network B that
    keeps A's function (connecting optima along a functionally invariant path)."""
    target = target.detach()
    return lambda w: (w - target).norm()


def trust_region_direction(
    model: nn.Module,
    w: Tensor,
    x: Tensor,
    gradient: Tensor,
    metric: str = "fisher",
    damping: float = 1e-3,
    cg_iterations: int = 50,
    rtol: float = 1e-6,
) -> Tensor:
    """``θ = (G(w) + μ I)⁻¹ (−∇L₂)`` by conjugate gradients, ``G`` the task metric on ``x``.

    Args:
        model: the network ``f``.
        w: ``(D,)`` weights at which ``G`` is taken.
        x: ``(N, *F)`` reference inputs.
        gradient: ``(D,)``, ``∇L₂(w)``.
        metric: a :class:`~geomanifold.weightspace.metrics.TaskMetric` kind: ``"fisher"``
            (softmax outputs) or ``"gauss-newton"`` (Euclidean outputs).
        damping: ``μ > 0``; it keeps ``G + μ I`` positive definite (``G`` has rank ≤ N·C).
        cg_iterations, rtol: conjugate-gradient budget and relative residual.

    Returns:
        ``(D,)``, not normalised.
    """
    if not damping > 0:
        raise ValueError(f"damping must be > 0, got {damping!r}")

    task_metric = TaskMetric(model, w, x, metric)

    def apply(v: list[Tensor]) -> list[Tensor]:
        return [task_metric.matvec(v[0]) + damping * v[0]]

    return conjugate_gradient(apply, [-gradient], rtol=rtol, max_iter=cg_iterations)[0]


class FunctionallyInvariantPath:
    """A walk ``w_0, w_1, …`` of steps of Euclidean length ``ε`` from a network's weights.

    Args:
        model: the network ``f(x; w)``; put in eval mode for the walk (BatchNorm uses its running
            statistics, which stay fixed).
        reference: ``(N, *F)`` inputs on which the function is kept (training inputs, or a replay
            buffer of old-task inputs); the starting network's outputs on them are the target.
        secondary: ``L₂(w)``, see :data:`SecondaryObjective`.
        rule: one of :data:`STEP_RULES`.
        step_length: ``ε > 0``.
        penalty: ``λ ≥ 0``, weight of the output divergence in the ``"penalty"`` rule.
        divergence: ``"kl"`` (``2·KL`` of softmax outputs; Fisher metric in the trust-region rule)
            or ``"squared"`` (squared output distance; Gauss–Newton metric).
        batch_size: reference examples per step (a fresh random minibatch each step).
        damping, cg_iterations: of the ``"trust-region"`` rule, see :func:`trust_region_direction`.
        seed: seeds the minibatch draws.
        start: ``(D,)`` starting weights (default: the model's current parameters).
        recorded_secondary: ``L₂`` as recorded (default ``secondary``); give a fixed-batch version
            when ``secondary`` draws minibatches, so recording does not change the walk.
    """

    def __init__(
        self,
        model: nn.Module,
        reference: Tensor,
        secondary: SecondaryObjective,
        rule: str = "penalty",
        step_length: float = 0.01,
        penalty: float = 1.0,
        divergence: str = "kl",
        batch_size: int = 256,
        damping: float = 1e-3,
        cg_iterations: int = 50,
        seed: int = 0,
        start: Tensor | None = None,
        recorded_secondary: SecondaryObjective | None = None,
    ) -> None:
        if rule not in STEP_RULES:
            raise ValueError(f"rule must be one of {', '.join(STEP_RULES)}; got {rule!r}")
        if not step_length > 0:
            raise ValueError(f"step_length must be > 0, got {step_length!r}")
        if not penalty >= 0:
            raise ValueError(f"penalty must be >= 0, got {penalty!r}")
        check_batch(reference, "reference")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model = model.eval()
        self.reference = reference
        self.secondary = secondary
        self.recorded_secondary = secondary if recorded_secondary is None else recorded_secondary
        self.rule = rule
        self.step_length = float(step_length)
        self.penalty = float(penalty)
        self.divergence = check_divergence(divergence, "divergence")
        self.batch_size = min(batch_size, len(reference))
        self.damping = damping
        self.cg_iterations = cg_iterations
        self.generator = torch.Generator().manual_seed(int(seed))
        start = parameter_vector(model) if start is None else check_vector(model, start, "start")
        self.start = start.detach().clone()
        self.weights = self.start.clone()
        with torch.no_grad():
            self.target = call_with_vector(model, self.start, reference)

    def divergence_from_start(self, w: Tensor | None = None) -> float:
        """``D(f(X; w), f(X; w_0))`` on the whole reference set (``w`` defaults to the current
        weights)."""
        w = self.weights if w is None else w
        with torch.no_grad():
            return float(
                output_divergence(
                    call_with_vector(self.model, w, self.reference), self.target, self.divergence
                )
            )

    def _minibatch(self) -> Tensor:
        index = torch.randperm(len(self.reference), generator=self.generator)[: self.batch_size]
        return index.to(self.reference.device)

    def direction(self, w: Tensor) -> Tensor:
        """The step at ``w`` before normalisation, ``(D,)``, by the walk's rule."""
        w = w.detach().requires_grad_(True)
        objective = self.secondary(w)
        if self.rule == "penalty" and self.penalty > 0:
            index = self._minibatch()
            outputs = call_with_vector(self.model, w, self.reference[index])
            divergence = output_divergence(outputs, self.target[index], self.divergence)
            objective = objective + self.penalty * divergence
        (gradient,) = torch.autograd.grad(objective, w)
        if self.rule != "trust-region":
            return -gradient
        metric = "fisher" if self.divergence == "kl" else "gauss-newton"
        return trust_region_direction(
            self.model,
            w.detach(),
            self.reference[self._minibatch()],
            gradient,
            metric=metric,
            damping=self.damping,
            cg_iterations=self.cg_iterations,
        )

    def step(self) -> Tensor:
        """Take one step of length ``ε``; returns the new weights ``(D,)``."""
        self.weights = self.weights + normalised(self.direction(self.weights), self.step_length)
        return self.weights

    def walk(
        self,
        steps: int,
        record_every: int = 10,
        evaluate: Evaluator | None = None,
        keep_weights: bool = False,
        progress: bool = True,
    ) -> list[dict]:
        """Take ``steps`` steps, recording at step 0, every ``record_every`` steps and at the end.

        Each record is ``{"step", "secondary", "divergence", "distance", **evaluate(w)}``:
        ``L₂(w)`` (by ``recorded_secondary``), the output divergence to the start on the whole
        reference set, and the Euclidean distance ``||w − w_0||``; with ``keep_weights`` also
        ``"weights": (D,)``. Recording draws no random numbers: the walk does not depend on
        ``record_every``.
        """
        if steps < 0 or record_every < 1:
            raise ValueError(f"steps must be >= 0 and record_every >= 1, got {steps!r} and {record_every!r}")
        records = [self._record(0, evaluate, keep_weights)]
        for k in tqdm(
            range(1, steps + 1), desc=f"FIP ({self.rule})", unit="step", disable=not progress, leave=False
        ):
            self.step()
            if k % record_every == 0 or k == steps:
                records.append(self._record(k, evaluate, keep_weights))
        return records

    def _record(self, step: int, evaluate: Evaluator | None, keep_weights: bool) -> dict:
        w = self.weights
        with torch.no_grad():
            secondary = float(self.recorded_secondary(w))
        record = {
            "step": step,
            "secondary": secondary,
            "divergence": self.divergence_from_start(w),
            "distance": float((w - self.start).norm()),
        }
        if evaluate is not None:
            record.update(evaluate(w))
        if keep_weights:
            record["weights"] = w.clone()
        return record


class WalkOptions(TypedDict, total=False):
    """Keyword options shared by the drivers of a walk (:func:`walk`): ``rule``, ``penalty``,
    ``divergence``, ``batch_size``, ``seed`` (see :class:`FunctionallyInvariantPath`) and
    ``record_every``, ``evaluate``, ``progress`` (see :meth:`FunctionallyInvariantPath.walk`)."""

    rule: str
    penalty: float
    divergence: str
    batch_size: int
    seed: int
    record_every: int
    evaluate: Evaluator | None
    progress: bool


def walk(
    model: nn.Module,
    reference: Tensor,
    secondary: SecondaryObjective,
    steps: int,
    step_length: float,
    start: Tensor | None = None,
    recorded_secondary: SecondaryObjective | None = None,
    **options,
) -> tuple[Tensor, list[dict]]:
    """Walk ``steps`` steps of length ``step_length`` from ``start`` (default: the model's weights)
    keeping ``model``'s outputs on ``reference: (N, *F)`` while lowering ``secondary``.

    Args:
        options: :class:`WalkOptions`.

    Returns:
        the final weights ``(D,)`` and the records of :meth:`FunctionallyInvariantPath.walk`.
    """
    unknown = set(options) - set(WalkOptions.__annotations__)
    if unknown:
        valid = ", ".join(WalkOptions.__annotations__)
        raise TypeError(f"unknown walk options {sorted(unknown)}; valid: {valid}")
    recording = {key: options.pop(key) for key in ("record_every", "evaluate", "progress") if key in options}
    path = FunctionallyInvariantPath(
        model,
        reference,
        secondary,
        step_length=step_length,
        start=start,
        recorded_secondary=recorded_secondary,
        **options,
    )
    records = path.walk(steps, **recording)
    return path.weights, records
