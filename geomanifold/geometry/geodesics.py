"""Geodesics in a chart: exponential map, logarithm, parallel transport
(do Carmo 1976, §4-4 and §4-6; Lee 2018, ch. 4-6).

The geodesic equation ``s''^k + Γ^k_ij s'^i s'^j = 0`` and the transport equation
``w'^k + Γ^k_ij s'^i w^j = 0`` are integrated by a fixed-step explicit 8th-order Runge–Kutta method
(Dormand–Prince) over ``t ∈ [0, 1]``, batched over
points. The logarithm solves ``exp(s0, v) = s1`` by Newton shooting (central-difference
Jacobian, backtracking), trying every wrap-around of the periodic coordinates; where shooting
from the straight chart line fails it restarts from the minimiser of the discrete path energy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from scipy.integrate import DOP853
from torch import Tensor

from ..chart import Periodic

if TYPE_CHECKING:
    from .manifold import EmbeddedManifold

__all__ = ["exp", "log", "trajectory", "transport"]

State = tuple[Tensor, ...]


# Butcher tableau of Dormand–Prince's 8th-order method, as tabulated by scipy.integrate.DOP853.
_A: list[list[float]] = DOP853.A.tolist()
_B: list[float] = DOP853.B.tolist()


def _integrate_ode(rhs: Callable[[State], State], state: State, steps: int, record_every: int = 0):
    """Integrate ``y' = rhs(y)`` over ``[0, 1]`` in ``steps`` fixed steps of an explicit 8th-order
    Runge–Kutta method; returns the end state and the states recorded every ``record_every`` steps.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    h = 1.0 / steps
    recorded = [state] if record_every else []
    for n in range(steps):
        stages: list[State] = []
        for row in _A:
            y = state
            for coeff, k in zip(row, stages, strict=False):
                if coeff:
                    y = tuple(yi + (h * coeff) * ki for yi, ki in zip(y, k, strict=True))
            stages.append(rhs(y))
        for coeff, k in zip(_B, stages, strict=True):
            if coeff:
                state = tuple(yi + (h * coeff) * ki for yi, ki in zip(state, k, strict=True))
        if record_every and (n + 1) % record_every == 0:
            recorded.append(state)
    return state, recorded


def _acceleration(gamma: Tensor, v: Tensor, w: Tensor) -> Tensor:
    return -torch.einsum("...kij,...i,...j->...k", gamma, v, w)


def _geodesic_rhs(manifold: EmbeddedManifold) -> Callable[[State], State]:
    def rhs(state: State) -> State:
        s, v = state
        return v, _acceleration(manifold.christoffel_field(s), v, v)

    return rhs


def _integrate(manifold: EmbeddedManifold, s: Tensor, v: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """End point of the geodesic and whether it stayed in the chart: ``(..., m)``, ``(...)``."""
    inside = manifold.chart.contains(s)
    rhs = _geodesic_rhs(manifold)

    def tracking_rhs(state: State) -> State:
        nonlocal inside
        inside = inside & manifold.chart.contains(state[0])
        return rhs(state)

    (end, _), _ = _integrate_ode(tracking_rhs, (s, v), steps)
    return end, inside & manifold.chart.contains(end) & torch.isfinite(end).all(-1)


def _left_chart_error(s: Tensor, v: Tensor, inside: Tensor, manifold: EmbeddedManifold) -> ValueError:
    where = (~inside).nonzero()[0].tolist()
    return ValueError(
        f"the geodesic from s = {s[tuple(where)].tolist()} along v = {v[tuple(where)].tolist()} "
        f"leaves the chart ({manifold.chart.describe()}) or meets a singular point; shorten v"
    )


def exp(manifold: EmbeddedManifold, s: Tensor, v: Tensor, steps: int) -> Tensor:
    """``γ(1)`` for ``γ(0) = s``, ``γ'(0) = v``; ``(..., m)`` with periodic coordinates wrapped."""
    s, v = torch.broadcast_tensors(s, v)
    end, inside = _integrate(manifold, s, v, steps)
    if not inside.all():
        raise _left_chart_error(s, v, inside, manifold)
    return manifold.chart.wrap(end)


def trajectory(manifold: EmbeddedManifold, s: Tensor, v: Tensor, times: int, steps: int) -> Tensor:
    """``γ(t)`` at ``times`` evenly spaced ``t``: ``(times, ..., m)``, not wrapped."""
    if times < 2:
        raise ValueError(f"times must be at least 2, got {times}")
    s, v = torch.broadcast_tensors(s, v)
    per = max(1, -(-steps // (times - 1)))
    _, recorded = _integrate_ode(_geodesic_rhs(manifold), (s, v), per * (times - 1), record_every=per)
    path = torch.stack([state[0] for state in recorded])
    inside = manifold.chart.contains(path).all(0)
    if not inside.all():
        raise _left_chart_error(s, v, inside, manifold)
    return path


def transport(manifold: EmbeddedManifold, s: Tensor, v: Tensor, w: Tensor, steps: int) -> Tensor:
    """Parallel transport of ``w`` along ``exp(s, t v)``: chart components at the end ``(..., m)``."""
    s, v, w = torch.broadcast_tensors(s, v, w)

    def rhs(state: State) -> State:
        x, xv, xw = state
        gamma = manifold.christoffel_field(x)
        return xv, _acceleration(gamma, xv, xv), _acceleration(gamma, xv, xw)

    _, recorded = _integrate_ode(rhs, (s, v, w), steps, record_every=1)
    inside = manifold.chart.contains(torch.stack([state[0] for state in recorded])).all(0)
    if not inside.all():
        raise _left_chart_error(s, v, inside, manifold)
    return recorded[-1][2]


# --------------------------------------------------------------------------- logarithm
def _residual(end: Tensor, target: Tensor) -> Tensor:
    return (end - target).abs().amax(-1) / (1 + target.abs().amax(-1))


def _shoot(
    manifold: EmbeddedManifold,
    s0: Tensor,
    target: Tensor,
    v: Tensor,
    steps: int,
    tol: float,
    max_iter: int,
    candidates: int = 1,
) -> tuple[Tensor, Tensor]:
    """Newton on ``exp(s0, v) = target`` for ``(N, m)`` batches; returns ``v`` and convergence.

    One batched integration per iteration evaluates ``v`` and the ``2m`` central-difference probes
    of the Jacobian. A step that does not reduce the residual is halved (up to 3 times), then the
    point is given up. The batch may hold ``candidates`` alternative targets per pair, laid out as
    ``(candidates, N / candidates)``: a candidate whose current length ``|v|_g`` exceeds 1.5 times
    that of a converged candidate of the same pair is given up too (branch and bound). The loop
    ends when every point has converged or been given up.
    """
    n, m = s0.shape
    metric = manifold.metric(s0)
    eye = torch.eye(m, dtype=s0.dtype, device=s0.device)
    converged = torch.zeros(n, dtype=torch.bool, device=s0.device)
    failed = torch.zeros_like(converged)
    best_err = torch.full((n,), float("inf"), dtype=s0.dtype, device=s0.device)
    v_prev, dv, halvings = (
        v,
        torch.zeros_like(v),
        torch.zeros(n, dtype=torch.long, device=s0.device),
    )
    for _ in range(max_iter):
        h = 1e-6 * (1 + v.abs().amax(-1, keepdim=True))
        probes = torch.cat([v] + [v + h * e for e in eye] + [v - h * e for e in eye])
        ends, inside = _integrate(manifold, s0.repeat(2 * m + 1, 1), probes, steps)
        ends = ends.view(2 * m + 1, n, m)
        err = _residual(ends[0], target)
        converged = converged | ((err < tol) & inside[:n] & ~failed)
        worse = ~(err < best_err) & ~converged & ~failed
        halvings = torch.where(worse, halvings + 1, torch.zeros_like(halvings))
        length = torch.einsum("ni,nij,nj->n", v, metric, v).sqrt().view(candidates, -1)
        best_length = length.masked_fill(~converged.view(candidates, -1), float("inf")).amin(0)
        failed = failed | (halvings > 3) | (~converged & (length > 1.5 * best_length).reshape(-1))
        active = ~converged & ~failed
        if not active.any():
            break
        jac = ((ends[1 : m + 1] - ends[m + 1 :]) / (2 * h)).permute(1, 2, 0)  # (n, m, m) [.., k, i]
        newton, info = torch.linalg.solve_ex(jac, (target - ends[0]).unsqueeze(-1))
        newton = torch.where((info == 0)[:, None], newton.squeeze(-1), torch.zeros_like(v))
        improved = active & ~worse
        v_prev = torch.where(improved[:, None], v, v_prev)
        best_err = torch.where(improved, err, best_err)
        dv = torch.where(improved[:, None], newton, dv / 2)
        v = torch.where(active[:, None], v_prev + dv, v)
    return v, converged


def _energy_initial_velocity(
    manifold: EmbeddedManifold, s0: Tensor, s1: Tensor, nodes: int = 24, iters: int = 100
) -> Tensor:
    """Initial velocity of the minimiser of ``n Σ |phi(p_{i+1}) − phi(p_i)|²`` over polylines."""
    t = torch.linspace(0, 1, nodes + 1, dtype=s0.dtype, device=s0.device)[1:-1, None, None]
    interior = (s0 + t * (s1 - s0)).detach().requires_grad_(True)
    optimizer = torch.optim.LBFGS([interior], max_iter=iters, line_search_fn="strong_wolfe")

    def energy() -> Tensor:
        optimizer.zero_grad()
        path = torch.cat([s0[None], interior, s1[None]])
        x = manifold.phi(path)
        value = nodes * ((x[1:] - x[:-1]) ** 2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(energy)
    p = torch.cat([s0[None], interior.detach()[:2]])
    return nodes * (-3 * p[0] + 4 * p[1] - p[2]) / 2


def log(
    manifold: EmbeddedManifold,
    s0: Tensor,
    s1: Tensor,
    steps: int,
    tol: float = 1e-11,
    max_iter: int = 12,
) -> Tensor:
    """Initial velocity of the shortest geodesic ``s0 -> s1``: ``(..., m)``."""
    s0, s1 = torch.broadcast_tensors(s0, s1)
    shape, m = s0.shape, s0.shape[-1]
    s0, s1 = s0.reshape(-1, m), s1.reshape(-1, m)
    chart = manifold.chart
    ends = s0 + chart.wrapped_difference(s0, s1)
    # each periodic coordinate: the short way round (wrapped difference) or the long way round
    periodic = torch.tensor(chart.periodic, device=s0.device)
    periods = torch.tensor(
        [c.period if isinstance(c, Periodic) else 0.0 for c in chart.coordinates],
        dtype=s0.dtype,
        device=s0.device,
    )
    flips = torch.tensor(list(itertools.product((0.0, 1.0), repeat=int(periodic.sum()))), dtype=s0.dtype)
    long_way = torch.zeros(len(flips), m, dtype=s0.dtype, device=s0.device)
    long_way[:, periodic] = flips.to(s0.device)
    delta = ends - s0
    targets = (ends[None] - long_way[:, None] * torch.sign(delta + (delta == 0)) * periods).reshape(-1, m)
    n_cand, n = len(long_way), len(s0)
    starts = s0.repeat(n_cand, 1)
    v, ok = _shoot(manifold, starts, targets, targets - starts, steps, tol, max_iter, n_cand)
    # restart from the path-energy minimiser for pairs where no candidate converged
    retry = ~ok.view(n_cand, len(s0)).any(0).repeat(n_cand) & ~ok
    if retry.any():
        guess = _energy_initial_velocity(manifold, starts[retry], targets[retry])
        v_retry, ok_retry = _shoot(manifold, starts[retry], targets[retry], guess, steps, tol, max_iter)
        v[retry], ok[retry] = v_retry, ok_retry
    g = manifold.metric(starts)
    lengths = torch.einsum("ni,nij,nj->n", v, g, v).masked_fill(~ok, float("inf")).view(n_cand, n)
    shortest, best = lengths.min(0)
    if not torch.isfinite(shortest).all():
        bad = (~torch.isfinite(shortest)).nonzero()[0].item()
        raise RuntimeError(
            f"log: no geodesic inside the chart found from s0 = {s0[bad].tolist()} to "
            f"s1 = {s1[bad].tolist()}; try more steps or points closer together"
        )
    v = v.view(n_cand, n, m)[best, torch.arange(n)]
    return v.reshape(shape)
