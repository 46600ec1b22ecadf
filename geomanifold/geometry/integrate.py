"""Batched adaptive Runge–Kutta integration with Dormand–Prince's 8(5,3) pair.

The explicit 8th-order method of Dormand and Prince with its embedded 5th- and 3rd-order error
estimates and the step-size control of Hairer, Nørsett & Wanner, *Solving Ordinary Differential
Equations I* (2nd ed., 1993), §II.4 and §II.10 (the coefficients are those tabulated in
``scipy.integrate.DOP853``). Every trajectory of the batch has its own time and step size; one
step of the whole batch is a fixed number of tensor operations (12 right-hand sides on the
trajectories still running), so no Python work depends on the batch size. Trajectories can be
grouped (dimension 0 of the state): a group shares its step sizes, so that finite differences
between its members are smooth in their initial values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from scipy.integrate import DOP853
from torch import Tensor

__all__ = ["FAILED", "LEFT", "OK", "integrate"]

OK, LEFT, FAILED = 0, 1, 2  # status of a trajectory: done; left the valid region; step failed

_A = DOP853.A.tolist()
_B = DOP853.B.tolist()
_E3 = DOP853.E3.tolist()
_E5 = DOP853.E5.tolist()
_EXPONENT = -1.0 / 8.0
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0


def _combine(coefficients: list[float], stages: list[Tensor]) -> Tensor:
    """``Σ_i c_i k_i`` over the non-zero coefficients."""
    terms = [c * k for c, k in zip(coefficients, stages, strict=False) if c]
    return torch.stack(terms).sum(0) if len(terms) > 1 else terms[0]


def _rms(x: Tensor) -> Tensor:
    """Root mean square over the state, maximum over the group: ``(P, N, d) -> (N,)``."""
    return x.pow(2).mean(-1).sqrt().amax(0)


def _initial_step(rhs, y: Tensor, f: Tensor, scale: Tensor, span: Tensor) -> Tensor:
    """Starting step per trajectory (Hairer, Nørsett & Wanner, §II.4): ``(N,)``."""
    d0, d1 = _rms(y / scale), _rms(f / scale)
    h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1)
    h0 = torch.minimum(h0, span)
    f1 = rhs(y + h0[:, None] * f)
    d2 = _rms((f1 - f) / scale) / h0
    big = torch.maximum(d1, d2)
    # no second derivative measurable (a linear flow, e.g. a flat metric): no limit beyond 100 h0
    h1 = torch.where(big <= 1e-15, 100 * h0, (0.01 / big.clamp_min(1e-15)) ** -_EXPONENT)
    h1 = torch.where(torch.isfinite(h1), h1, h0)
    return torch.minimum(torch.minimum(100 * h0, h1), span)


def integrate(
    rhs: Callable[[Tensor], Tensor],
    y0: Tensor,
    times: Tensor,
    tol: Tensor,
    valid: Callable[[Tensor], Tensor] | None = None,
    max_steps: int = 10_000,
) -> tuple[Tensor, Tensor]:
    """Integrate ``y' = rhs(y)`` (autonomous) from ``times[0]``, recording ``y`` at every time.

    Args:
        rhs: batched right-hand side ``(P, n, d) -> (P, n, d)`` for any ``n``.
        y0: initial states ``(P, N, d)``: ``N`` groups of ``P`` trajectories.
        times: increasing times ``(T,)``, ``T >= 2``.
        tol: relative and absolute tolerance per group ``(N,)``; a step is accepted when the
            error estimate, scaled by ``tol · (1 + |y|)`` per component, has RMS at most 1.
        valid: optional ``(P, n, d) -> (P, n)`` bool; a group stops with status ``LEFT`` at the
            first accepted step where one of its states is not valid (e.g. leaves the chart).
        max_steps: bound on the number of steps of the batch.

    Returns:
        the states at ``times`` ``(T, P, N, d)`` (NaN where not reached) and the status per group
        ``(N,)``: ``OK``, ``LEFT``, or ``FAILED`` (non-finite values, step-size underflow, or
        more than ``max_steps`` steps).
    """
    _, n, _ = y0.shape
    out = torch.full((len(times), *y0.shape), float("nan"), dtype=y0.dtype, device=y0.device)
    out[0] = y0
    status = torch.full((n,), OK, dtype=torch.long, device=y0.device)
    y, f = y0.clone(), rhs(y0)
    t = torch.full((n,), float(times[0]), dtype=y0.dtype, device=y0.device)
    after = torch.ones(n, dtype=torch.long, device=y0.device)  # index of the next time to record
    span = float(times[-1] - times[0])
    h = _initial_step(rhs, y, f, tol[:, None] * (1 + y.abs()), torch.full_like(t, span))
    for _ in range(max_steps):
        rows = ((after < len(times)) & (status == OK)).nonzero().squeeze(1)
        if rows.numel() == 0:
            return out, status
        ya, fa, ta, ha, tola = y[:, rows], f[:, rows], t[rows], h[rows], tol[rows]
        target = times[after[rows]]
        clipped = ha >= target - ta
        hs = torch.where(clipped, target - ta, ha)
        step = hs[:, None]
        stages = [fa]
        for row in _A[1:]:
            stages.append(rhs(ya + step * _combine(row, stages)))
        y_new = ya + step * _combine(_B, stages)
        stages.append(rhs(y_new))
        scale = tola[:, None] * (1 + torch.maximum(ya.abs(), y_new.abs()))
        err5, err3 = _rms(_combine(_E5, stages) / scale) ** 2, _rms(_combine(_E3, stages) / scale) ** 2
        denominator = torch.sqrt(err5 + 0.01 * err3)
        err = torch.where(denominator > 0, hs * err5 / denominator.clamp_min(1e-300), torch.zeros_like(hs))
        finite = (
            torch.isfinite(err)
            & torch.isfinite(y_new).all(-1).all(0)
            & torch.isfinite(stages[-1]).all(-1).all(0)
        )
        accept = finite & (err <= 1)
        factor = (_SAFETY * err.clamp_min(1e-30) ** _EXPONENT).clamp(_MIN_FACTOR, _MAX_FACTOR)
        factor = torch.where(
            accept, factor, torch.where(finite, factor.clamp_max(1.0), torch.full_like(hs, _MIN_FACTOR))
        )
        h_next = torch.where(accept & clipped, torch.maximum(ha, hs * factor), hs * factor)
        stuck = ~accept & (hs <= 1e-12 * span)
        left = accept & ~valid(y_new).all(0) if valid is not None else torch.zeros_like(accept)
        reached = accept & clipped & ~left
        keep = accept[:, None]
        y[:, rows] = torch.where(keep, y_new, ya)
        f[:, rows] = torch.where(keep, stages[-1], fa)
        t[rows] = torch.where(accept, torch.where(clipped, target, ta + hs), ta)
        h[rows] = h_next
        done = rows[reached]
        out[after[done], :, done] = y_new[:, reached].transpose(0, 1)
        after[done] += 1
        status[rows] = torch.where(left, LEFT, torch.where(stuck, FAILED, status[rows]))
    status[(after < len(times)) & (status == OK)] = FAILED
    return out, status
