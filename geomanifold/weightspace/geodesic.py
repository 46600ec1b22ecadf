"""Geodesics between two networks under a task metric (docs/concepts.md, "Paths of networks that keep their
function").

The discrete energy of a path sampled at ``t_i = i / n`` is ``E = n Σ_i D(w_i, w_{i+1})`` with
``D`` an output divergence (:func:`~geomanifold.weightspace.divergence.output_divergence`); it
approximates ``∫ γ'ᵀ G γ' dt``. :func:`solve_geodesic` minimises it over the free control points
of a :class:`~geomanifold.weightspace.paths.PinnedCurve` (endpoints fixed): by default by conjugate
gradients on fitting batches redrawn every few steps, with steps measured in segment lengths of the
chord and taken only when they lower the energy on their batch, and rounds of steps kept only when
they lower the energy on held-out inputs (so the defaults behave alike from 10⁴ to 10⁷ weights and
never end above the initial path on the held-out inputs), else by Adam on minibatches or L-BFGS on
a fixed batch; then :func:`constant_speed`
resamples the result as a polyline whose points are equally spaced in function space.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..arguments import check_int
from ..settings import GEODESIC_HOLDOUT, GEODESIC_REDRAW
from .batchnorm import weight_function
from .divergence import check_divergence, output_divergence
from .metrics import check_batch
from .paths import PinnedCurve, combine, polyline

__all__ = ["GeodesicResult", "constant_speed", "path_energy", "path_outputs", "solve_geodesic"]

OPTIMIZERS = ("scaled", "adam", "lbfgs")
DEFAULT_LR = {"scaled": 0.1, "adam": 1e-3, "lbfgs": 1.0}
BACKTRACKS = 12
MAX_STEP = 1.0
REDRAW = GEODESIC_REDRAW
HOLDOUT = GEODESIC_HOLDOUT
PATIENCE = 3


def path_outputs(model: nn.Module, points: Tensor, x: Tensor) -> Tensor:
    """Outputs of the networks ``points: (T, D)`` on ``x: (N, *F)``: ``(T, N, C)`` (BatchNorm on batch
    statistics, see :func:`~geomanifold.weightspace.batchnorm.weight_function`)."""
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(
            f"points must hold at least two weight vectors (T >= 2, D), got {tuple(points.shape)}"
        )
    call = weight_function(model)
    return torch.stack([call(w, x).reshape(len(x), -1) for w in points])


def _segments(path: PinnedCurve, segments: int | None) -> int:
    """The polyline's own pieces by default (its points are its control points), else 16."""
    if segments is None:
        return path.basis.size - 1 if path.basis.degree == 1 else 16
    return check_int("segments", segments, 1)


def path_energy(
    model: nn.Module, path: PinnedCurve, x: Tensor, kind: str = "kl", segments: int | None = None
) -> Tensor:
    """``n Σ_i D(γ(t_i), γ(t_{i+1}))`` at ``t_i = i / n`` on inputs ``x: (N, *F)``: scalar,
    differentiable in the path's interior points. ``n = segments`` (default: the pieces of a
    polyline, 16 for smooth curves)."""
    check_divergence(kind)
    check_batch(x, "x")
    n = _segments(path, segments)
    outputs = path_outputs(model, path(torch.linspace(0, 1, n + 1, dtype=torch.float64)), x)
    return n * output_divergence(outputs[:-1], outputs[1:], kind).sum()


@dataclass
class GeodesicResult:
    """The solved path and its optimisation record.

    Attributes:
        path: the optimised curve (same basis as the input).
        constant_speed: ``path`` resampled as a polyline with points equally spaced in function space.
        history: ``[{"step", "energy"}]`` (``"scaled"``: on the fitting batch of the step; L-BFGS: on
            the fixed batch; Adam: minibatch energies); ``"scaled"`` also records ``"step_length"``,
            the accepted move in units of the chord's segment length, and ``"seconds"`` since the
            solve began.
        initial_energy: the energy of the initial path on the first fitting batch (``"scaled"``;
            ``None`` otherwise).
        held_out: ``[{"step", "energy", "kept"}]``: the energy on the held-out batch at step 0 and
            after each round of ``"scaled"`` steps, and whether the round was kept (empty without
            a held-out batch).
    """

    path: PinnedCurve
    constant_speed: PinnedCurve
    history: list[dict]
    initial_energy: float | None = None
    held_out: list[dict] = field(default_factory=list)


def uniform_times(segments: int) -> Tensor:
    """The interior times ``i / n``, ``i = 1 … n − 1``: ``(n − 1,)`` float64."""
    return torch.linspace(0, 1, segments + 1, dtype=torch.float64)[1:-1]


class _BatchEnergy:
    """``Σ_j D(γ(s_j), γ(s_{j+1})) / (s_{j+1} − s_j)`` over the times ``0 = s_0 < s_1 < … < 1`` on
    one batch at a time (``n Σ_i D(γ(t_i), γ(t_{i+1}))`` on the uniform grid ``t_i = i / n``), with
    the two endpoints' outputs computed once per batch (BatchNorm on the batch's own statistics,
    which are fixed with the batch).

    The points ``γ(s_j)`` are formed in ``m`` reused ``(D,)`` buffers (one without gradients) and
    enter the network as separate per-parameter leaves, so that :meth:`gradient` writes
    ``∂E/∂P_k = Σ_j φ_k(s_j) ∂E/∂γ(s_j)`` straight into a given ``(K − 2, D)`` buffer: no ``(D,)``
    gradient is assembled per point and no ``(D,)`` or ``(K − 2, D)`` tensor is allocated per
    evaluation."""

    def __init__(self, model: nn.Module, path: PinnedCurve, x: Tensor, kind: str, times: Tensor) -> None:
        self.call = weight_function(model)
        self.path, self.kind = path, kind
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.scratch: list[Tensor] = []
        self.spare = path.start.new_empty(0)  # one parameter's scaled gradient, the second of two terms
        self.leaves: list[list[Tensor]] = []
        self.last: weakref.ref | None = None
        self.use(x, times)

    def use(self, x: Tensor, times: Tensor) -> None:
        """Measure the energy on ``x: (N, *F)`` at the interior times ``times: (m,)`` from now on."""
        self.x, self.times = x, times
        self.widths = torch.diff(torch.cat([times.new_zeros(1), times, times.new_ones(1)]))
        self.terms = self.path.terms(times)
        with torch.no_grad():
            self.ends = [self.call(w, x).reshape(len(x), -1) for w in (self.path.start, self.path.end)]

    def _buffer(self, rows: int) -> list[Tensor]:
        """The points' buffers, ``≥ rows`` separate ``(D,)`` tensors (a point's leaves share the
        version counter of their storage, so the next point must not be formed in the same one)."""
        while len(self.scratch) < rows:
            self.scratch.append(self.path.start.new_empty(self.path.dim))
        return self.scratch

    def __call__(self) -> Tensor:
        """The energy: scalar, differentiable (through :meth:`gradient`) when grad mode is on."""
        rows = [self.path.start, *self.path.interior.detach().unbind(0), self.path.end]
        grad = torch.is_grad_enabled()
        buffer = self._buffer(len(self.terms) if grad else 1)
        self.leaves, self.last = [], None
        inner = []
        for j, terms in enumerate(self.terms):
            w = combine(terms, rows, buffer[j if grad else 0])
            if grad:
                pieces = zip(w.split(self.sizes), self.shapes, strict=True)
                leaves = [piece.view(shape).detach().requires_grad_() for piece, shape in pieces]
                self.leaves.append(leaves)
                w = dict(zip(self.names, leaves, strict=True))
            inner.append(self.call(w, self.x).reshape(len(self.x), -1))
        outputs = torch.stack([self.ends[0], *inner, self.ends[1]])
        divergences = output_divergence(outputs[:-1], outputs[1:], self.kind)
        energy = (divergences / self.widths.to(divergences)).sum()
        self.last = weakref.ref(energy)  # not a reference: dropping the energy frees its graph
        return energy

    def gradient(self, energy: Tensor, out: Tensor) -> Tensor:
        """``∂E/∂P`` of ``energy``, the last value of this object, into ``out: (K − 2, D)`` (the graph
        is freed): ``φ_k(s_j) ∂E/∂γ(s_j)`` summed over the points, as the chain rule through
        :meth:`PinnedCurve.points` does; returns ``out``.

        One backward pass; each parameter's gradient at each point is scattered into ``out`` as
        soon as it is computed and then dropped, so that at most a few parameters' gradients are
        held at a time (two terms of one slice are rounded as autograd sums them: each scaled,
        then added)."""
        if self.last is None or self.last() is not energy or not self.leaves:
            raise ValueError("energy must be the last value returned by this energy, with its graph")
        slices = [row.split(self.sizes) for row in out]
        filled: set[tuple[int, int]] = set()
        if len(self.spare) == 0:
            self.spare = self.path.start.new_empty(max(self.sizes))

        def scatter(j: int, i: int) -> Callable[[Tensor], None]:
            def hook(leaf: Tensor) -> None:
                piece = leaf.grad.reshape(-1)
                for k, c in self.terms[j]:
                    if not 0 < k <= len(out):
                        continue  # an endpoint
                    total = slices[k - 1][i]
                    if (k, i) in filled:
                        total.add_(torch.mul(piece, c, out=self.spare[: len(piece)]))
                    else:
                        torch.mul(piece, c, out=total)
                        filled.add((k, i))
                leaf.grad = None

            return hook

        handles = [
            leaf.register_post_accumulate_grad_hook(scatter(j, i))
            for j, leaves in enumerate(self.leaves)
            for i, leaf in enumerate(leaves)
        ]
        try:
            energy.backward(inputs=[leaf for leaves in self.leaves for leaf in leaves])
        finally:
            for handle in handles:
                handle.remove()
            self.leaves, self.last = [], None
        for k, row in enumerate(slices, 1):
            for i, total in enumerate(row):
                if (k, i) not in filled:
                    total.zero_()  # a parameter the outputs do not depend on
        return out


class _ScaledConjugateGradient:
    """Nonlinear conjugate gradients (Polak–Ribière+, Nocedal & Wright 2006 §5.2) with steps
    measured in segment lengths of the chord: the control points move ``τ · h`` in root mean
    square, ``h = |B − A| / n``; a step is taken only if it lowers the energy on the current batch
    (else ``τ`` shrinks and the step is retried, up to :data:`BACKTRACKS` times, then the direction
    restarts along the gradient); after an accepted step ``τ`` moves towards the minimiser of the
    parabola through the trials, up to 1. The rule does not depend on the number of weights."""

    def __init__(self, energy: _BatchEnergy, fraction: float, segments: int) -> None:
        self.energy, self.fraction, self.tau = energy, fraction, fraction
        self.interior = energy.path.interior
        self.h = float((energy.path.end - energy.path.start).norm()) / segments
        # the trial's start, the direction and two gradients (this step's and the next), reused
        self.start, self.direction, self.gradient, self.spare = (
            torch.empty_like(self.interior.detach()) for _ in range(4)
        )

    def restart(self) -> float:
        """Energy and gradient on the current batch; the direction restarts along ``−gradient``."""
        self.current = None
        self.current = self.energy()
        self.energy.gradient(self.current, self.gradient)
        self.squared = float(torch.vdot(self.gradient.flatten(), self.gradient.flatten()))  # |g|²
        torch.neg(self.gradient, out=self.direction)
        self.along_gradient = True
        return self.current.item()

    def step(self, last: bool = False) -> bool | None:
        """One step: ``True`` when taken, ``False`` when the direction was reset, ``None`` when
        no length along the gradient lowers the energy (converged on this batch). ``last``: the
        batch changes after this step, so the gradient at the new point is not computed."""
        direction, gradient, tau = self.direction, self.gradient, self.tau
        rms = float(torch.linalg.vector_norm(direction)) / len(direction) ** 0.5
        slope = float(torch.vdot(gradient.flatten(), direction.flatten())) * self.h / rms if rms > 0 else 0.0
        if not slope < 0 or self.h == 0:  # dE/dτ at τ = 0 is not negative
            return self._reset()
        interior = self.interior.detach()
        self.start.copy_(interior)
        for _ in range(BACKTRACKS):
            torch.add(self.start, direction, alpha=tau * self.h / rms, out=interior)
            trial = self.energy()
            change = trial.item() - self.current.item()
            curvature = change - slope * tau  # of the parabola through E(0), E'(0) and E(τ)
            best = -slope * tau**2 / (2 * curvature) if curvature > 0 else 4 * tau
            if change < 0:
                break
            tau, trial = min(max(best, tau / 10), tau / 2), None  # free its graph before the next trial
        else:
            interior.copy_(self.start)
            self.tau = self.fraction
            return self._reset()
        self.taken, self.current = tau, trial
        self.tau = min(max(best, tau / 4), 4 * tau, MAX_STEP)
        if last:
            self.current = trial.detach()  # no gradient here: free the graph now
            return True
        new = self.energy.gradient(trial, self.spare)
        flat, squared = new.flatten(), self.squared
        self.squared = float(torch.vdot(flat, flat))
        beta = max(0.0, (self.squared - float(torch.vdot(flat, gradient.flatten()))) / max(squared, 1e-300))
        direction.mul_(beta).sub_(new)
        self.gradient, self.spare, self.along_gradient = new, gradient, False
        return True

    def _reset(self) -> bool | None:
        """Restart along ``−gradient``: ``None`` if the direction already was ``−gradient``."""
        if self.along_gradient:
            return None
        torch.neg(self.gradient, out=self.direction)
        self.along_gradient = True
        return False


def _scaled_descent(
    fit: _BatchEnergy,
    steps: int,
    fraction: float,
    history: list[dict],
    bar,
    segments: int,
    draw: Callable[[], tuple[Tensor, Tensor]] | None,
    redraw: int,
    check: _BatchEnergy | None,
    checks: list[dict],
    patience: int,
) -> float:
    """Rounds of :class:`_ScaledConjugateGradient` steps (chord segment ``|B − A| / segments``).
    Each round draws a fresh fitting batch and sampling times (``draw``, when given) and takes
    ``redraw`` steps on them (all ``steps`` when 0); then, when ``check`` is given, the energy on
    its held-out batch must be below the best so far, else the round is undone (the path returns
    to the best one, ``τ`` halves) and after ``patience`` undone rounds in a row the solve stops.
    The energy on the held-out batch never rises.

    Returns:
        the initial energy on the first fitting batch.
    """
    began = time.perf_counter()
    solver = _ScaledConjugateGradient(fit, fraction, segments)
    interior = fit.path.interior
    if check is not None:
        with torch.no_grad():
            lowest = check().item()
        best = interior.detach().clone()
        checks.append({"step": 0, "energy": lowest, "kept": True})
    initial, step, misses = None, 0, 0
    while step < steps:
        if draw is not None and step:
            fit.use(*draw())
        energy = solver.restart()
        initial = energy if initial is None else initial
        converged = False
        for within in range(1, min(redraw or steps, steps - step) + 1):
            step += 1
            taken = solver.step(last=step == steps or (draw is not None and within == redraw))
            if taken is None:
                converged = True
                break
            if taken:
                energy = solver.current.item()
                seconds = time.perf_counter() - began
                history.append(
                    {"step": step, "energy": energy, "step_length": solver.taken, "seconds": seconds}
                )
                bar.update()
                bar.set_postfix(energy=f"{energy:.4g}")
        if check is not None:
            with torch.no_grad():
                held_out = check().item()
            kept = held_out < lowest
            checks.append({"step": step, "energy": held_out, "kept": kept})
            if kept:
                lowest, misses = held_out, 0
                best.copy_(interior.detach())
            else:
                with torch.no_grad():
                    interior.copy_(best)
                solver.tau, misses = solver.tau / 2, misses + 1
                if misses >= patience:
                    break
        if converged and draw is None:
            break
    return initial


def solve_geodesic(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    kind: str = "kl",
    steps: int = 200,
    batch_size: int = 256,
    lr: float | None = None,
    optimizer: str = "scaled",
    segments: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    *,
    redraw: int = REDRAW,
    holdout: int = HOLDOUT,
    patience: int = PATIENCE,
) -> GeodesicResult:
    """Minimise :func:`path_energy` over ``path.interior`` in place, endpoints fixed.

    Args:
        model: the architecture (its own weights are not used).
        path: the initial curve, e.g. ``polyline(A, B, 16)`` (starts on the straight line).
        x: ``(N, *F)`` inputs for the task metric (labels are not used).
        kind: ``"kl"`` or ``"squared"`` output divergence.
        steps: steps (``"scaled"``: direction resets and undone rounds included), optimiser steps
            (Adam) or iterations (L-BFGS).
        batch_size: inputs per fitting batch: ``"scaled"`` draws ``batch_size`` of the inputs not held
            out, afresh every ``redraw`` steps (the first ``batch_size`` when ``redraw = 0``);
            L-BFGS uses the fixed batch ``x[:batch_size]``; Adam a fresh minibatch per step drawn from
            ``generator``.
        lr: ``"scaled"``: the first step in segment lengths of the chord (default 0.1); Adam: the
            learning rate, decayed to 0 on a cosine schedule (default 1e-3); L-BFGS: the initial step
            length (default 1).
        optimizer: ``"scaled"`` (default; see :func:`_scaled_descent`: size-independent steps, the
            energy on the held-out batch never rises, the endpoints' outputs are computed once per
            batch), ``"adam"`` or ``"lbfgs"``.
        segments: pieces of the energy sum (see :func:`path_energy`).
        redraw: ``"scaled"``: steps per fitting batch (0: one fixed batch for the whole solve).
        holdout: ``"scaled"``: the first ``min(holdout, N // 2)`` inputs are never fitted; each round
            of ``redraw`` steps is kept only if it lowers the energy on them, sampled at the midpoints
            ``(i + ½) / n`` (0: no check).
        patience: ``"scaled"``: undone rounds in a row after which the solve stops.

    Returns:
        :class:`GeodesicResult`; its ``constant_speed`` path is evaluated on the held-out batch
        (``"scaled"`` with ``holdout > 0``), else on ``x[:batch_size]``.
    """
    check_divergence(kind)
    check_batch(x, "x")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if steps < 0 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need steps >= 0, batch_size >= 1 and lr > 0, got {steps}, {batch_size} and {lr}")
    for name, value, least in (("redraw", redraw, 0), ("holdout", holdout, 0), ("patience", patience, 1)):
        check_int(name, value, least)
    n = _segments(path, segments)
    history: list[dict] = []
    checks: list[dict] = []
    fixed = x[:batch_size]
    initial = None
    if optimizer == "scaled":
        held_out, pool = x[: min(holdout, len(x) // 2)], x[min(holdout, len(x) // 2) :]
        fixed = held_out if len(held_out) else pool[:batch_size]
    if path.basis.size > 2 and steps:
        params = [path.interior]
        bar = tqdm(range(steps), desc=f"geodesic ({kind})", disable=not progress, leave=False)
        if optimizer == "scaled":
            draw = None
            if redraw:

                def draw() -> tuple[Tensor, Tensor]:
                    index = torch.randperm(len(pool), generator=generator)[:batch_size].to(pool.device)
                    shift = 0.01 + 0.98 * float(torch.rand((), generator=generator, dtype=torch.float64))
                    samples = max(n - 1, 1)
                    return pool[index], (torch.arange(samples, dtype=torch.float64) + shift) / samples

            first = (pool[:batch_size], uniform_times(n)) if draw is None else draw()
            fit = _BatchEnergy(model, path, first[0], kind, first[1])
            midpoints = (torch.arange(n, dtype=torch.float64) + 0.5) / n
            check = _BatchEnergy(model, path, held_out, kind, midpoints) if len(held_out) else None
            initial = _scaled_descent(
                fit, steps, lr, history, bar, n, draw, redraw, check, checks, patience
            )
        elif optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
            for step in bar:
                index = torch.randperm(len(x), generator=generator)[:batch_size].to(x.device)
                opt.zero_grad(set_to_none=True)
                energy = path_energy(model, path, x[index], kind, n)
                energy.backward()
                opt.step()
                schedule.step()
                history.append({"step": step + 1, "energy": energy.item()})
                bar.set_postfix(energy=f"{energy.item():.4g}")
        else:
            opt = torch.optim.LBFGS(
                params, lr=lr, max_iter=steps, history_size=20, line_search_fn="strong_wolfe"
            )

            def closure() -> Tensor:
                opt.zero_grad(set_to_none=True)
                energy = path_energy(model, path, fixed, kind, n)
                energy.backward()
                history.append({"step": len(history) + 1, "energy": energy.item()})
                bar.update()
                return energy

            opt.step(closure)
        bar.close()
    return GeodesicResult(path, constant_speed(model, path, fixed, kind, n - 1), history, initial, checks)


@torch.no_grad()
def constant_speed(
    model: nn.Module,
    path: PinnedCurve,
    x: Tensor,
    kind: str = "kl",
    interior_points: int = 16,
    samples: int = 4,
) -> PinnedCurve:
    """Resample ``path`` as a polyline with ``interior_points`` interior points equally spaced in
    function space (segment lengths ``sqrt(D)`` on ``x: (N, *F)``).

    The curve is first sampled at ``samples · (interior_points + 1) + 1`` evenly spaced ``t``; the new
    points are linear interpolations between those samples at equal fractions of the total length.
    The samples are formed one at a time (memory ``O(interior_points · D)``, not ``O(n · D)``).
    """
    check_divergence(kind)
    check_batch(x, "x")
    n = samples * (interior_points + 1)
    times = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    call = weight_function(model)
    outputs = torch.stack([call(path.points(t[None])[0], x).reshape(len(x), -1) for t in times])
    lengths = output_divergence(outputs[:-1], outputs[1:], kind).clamp_min(0).sqrt().double()
    arc = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
    if arc[-1] <= 0:
        arc = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    targets = arc[-1] * torch.arange(1, interior_points + 1, dtype=torch.float64) / (interior_points + 1)
    piece = torch.searchsorted(arc, targets).clamp(1, n) - 1
    fraction = ((targets - arc[piece]) / (arc[piece + 1] - arc[piece]).clamp_min(1e-300)).to(path.start)
    interior = torch.empty(interior_points, path.dim, dtype=path.start.dtype, device=path.start.device)
    for i, (k, f) in enumerate(zip(piece.tolist(), fraction, strict=True)):
        left, right = path.points(times[[k, k + 1]])
        interior[i] = left + f * (right - left)
    return polyline(path.start, path.end, interior_points, interior)
