"""Geodesics in a chart: exponential map, certified logarithm, distances, parallel transport.

The geodesic equation ``s''^k + Γ^k_ij s'^i s'^j = 0`` and the transport equation
``w'^k + Γ^k_ij s'^i w^j = 0`` (do Carmo, *Riemannian Geometry*, §2.3 and §3.2) are integrated over
``t ∈ [0, 1]`` by the adaptive Dormand–Prince 8(5,3) method of :mod:`.integrate`, all points in one
batch.

The logarithm solves ``exp(s0, v) = s1`` by Newton shooting, for all pairs at once, with periodic
coordinates compared modulo their period (``φ`` and ``φ + 2π`` are one point). Each pair is shot
from several candidate starts, one towards every wrap-around of ``s1`` (both ways round each
periodic coordinate): the initial velocity of a polyline that minimises a discrete path energy
(close to a geodesic, so a few Newton iterations suffice). The Jacobian ``∂ exp / ∂ v`` comes from
forward differences integrated in the same step-size group; a rejected Newton step is retried at
four successive halvings in one integration. Every candidate is first shot to the residual
``LOOSE_RESIDUAL`` (integrated at local tolerance 1e-6 times the residual, down to 1e-8); only the
candidates within ``CONTENDER_MARGIN`` of the shortest of their pair are then refined to ``tol``
(integrated at ``tol / 100``), since a batch costs as much as its slowest trajectory at the
tightest tolerance. A pair is *certified* when a candidate's endpoint residual
``|exp(s0, v) − s1|_g / |v|_g`` is at most ``tol``, the geodesic has not passed a conjugate point
(``det ∂ exp / ∂ v > 0``) and the shortest such geodesic is no longer than the straight chart
line between the points (a curve that joins them, so an upper bound on the distance). Pairs with
no such geodesic after the first round are shot once more, during the refinement, towards the
nearest candidate from a more converged energy minimiser of their own; pairs that still fail are
reported with the reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..chart import Periodic
from .integrate import LEFT, OK, integrate

if TYPE_CHECKING:
    from .manifold import EmbeddedManifold

__all__ = ["GeodesicError", "ShortestGeodesics", "exp", "shortest_geodesics", "trajectory", "transport"]

MAX_ITER = 30  # Newton iterations of the shooting
MAX_HALVINGS = 10  # halvings of a Newton step that does not reduce the residual
BACKTRACK_TRIALS = 4  # halvings tried in one integration after a rejected Newton step
ODE_TOL_FLOOR = 1e-14  # below this the integrator's own rounding dominates in float64
LINE_NODES = 24  # Gauss–Legendre nodes for the length of a straight chart line
LINE_MARGIN = 1e-6  # relative slack when comparing a geodesic's length with that of a chart line
PRUNE = 1.5  # a candidate longer than this times a converged one of its pair is given up
PRUNE_LINE = 3.0  # ... or longer than this times the shortest chart line of its pair
STALL = 4  # Newton iterations without halving the residual after which a candidate is given up
LOOSE_RESIDUAL = 1e-6  # every candidate is shot to this residual first ...
CONTENDER_MARGIN = 1e-3  # ... and refined to tol if this close to the shortest of its pair
ENERGY_NODES = 24  # polyline nodes of the discrete-energy initial guess


class GeodesicError(ValueError):
    """No geodesic with the requested properties was found inside the chart."""


def check_tolerance(tol, name: str = "tol") -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 < tol < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {tol!r}")
    return float(tol)


def _geodesic_rhs(manifold: EmbeddedManifold):
    m = manifold.dim

    def rhs(y: Tensor) -> Tensor:
        s, v = y[..., :m], y[..., m:]
        return torch.cat([v, manifold.geodesic_acceleration(s, v)], dim=-1)

    return rhs


def _inside(manifold: EmbeddedManifold):
    m = manifold.dim
    return lambda y: manifold.chart.contains(y[..., :m])


def _integrate_geodesics(
    manifold: EmbeddedManifold, s: Tensor, v: Tensor, times: Tensor, tol: float | Tensor
) -> tuple[Tensor, Tensor]:
    """Geodesics from ``s, v: (P, N, m)``: states ``(T, P, N, 2m)`` at ``times`` and status ``(N,)``."""
    tol = torch.as_tensor(tol, dtype=s.dtype, device=s.device).expand(s.shape[1])
    y0 = torch.cat([s, v], dim=-1)
    return integrate(_geodesic_rhs(manifold), y0, times, tol, _inside(manifold))


def _times(count: int, like: Tensor) -> Tensor:
    return torch.linspace(0, 1, count, dtype=like.dtype, device=like.device)


def _left_chart_error(manifold: EmbeddedManifold, s: Tensor, v: Tensor, status: Tensor) -> GeodesicError:
    i = int((status != OK).nonzero()[0])
    why = (
        f"leaves the chart ({manifold.chart.describe()}) or meets a singular point; shorten v"
        if status[i] == LEFT
        else "could not be integrated (the metric is singular or the step size vanished there)"
    )
    return GeodesicError(f"the geodesic from s = {s[i].tolist()} along v = {v[i].tolist()} {why}")


def trajectory(manifold: EmbeddedManifold, s: Tensor, v: Tensor, times: int, tol: float) -> Tensor:
    """``γ(t)`` at ``times`` evenly spaced ``t ∈ [0, 1]``: ``(times, ..., m)``, not wrapped."""
    if isinstance(times, bool) or not isinstance(times, int) or times < 2:
        raise ValueError(f"times must be an integer >= 2, got {times!r}")
    tol = check_tolerance(tol)
    s, v = torch.broadcast_tensors(s, v)
    shape, m = s.shape, s.shape[-1]
    flat_s, flat_v = s.reshape(1, -1, m), v.reshape(1, -1, m)
    states, status = _integrate_geodesics(manifold, flat_s, flat_v, _times(times, s), tol)
    if (status != OK).any():
        raise _left_chart_error(manifold, flat_s[0], flat_v[0], status)
    return states[:, 0, :, :m].reshape(times, *shape)


def exp(manifold: EmbeddedManifold, s: Tensor, v: Tensor, tol: float) -> Tensor:
    """``γ(1)`` for ``γ(0) = s``, ``γ'(0) = v``: ``(..., m)`` with periodic coordinates wrapped."""
    return manifold.chart.wrap(trajectory(manifold, s, v, 2, tol)[-1])


def transport(manifold: EmbeddedManifold, s: Tensor, v: Tensor, w: Tensor, tol: float) -> Tensor:
    """Parallel transport of ``w`` along ``exp(s, t v)``: chart components at the end ``(..., m)``."""
    tol = check_tolerance(tol)
    s, v, w = torch.broadcast_tensors(s, v, w)
    shape, m = s.shape, s.shape[-1]
    y0 = torch.cat([s, v, w], dim=-1).reshape(1, -1, 3 * m)

    def rhs(y: Tensor) -> Tensor:
        x, xv, xw = y[..., :m], y[..., m : 2 * m], y[..., 2 * m :]
        gamma = manifold.christoffel_field(x)
        turn = lambda w: torch.einsum("...kij,...i,...j->...k", gamma, xv, w)  # noqa: E731
        return torch.cat([xv, -turn(xv), -turn(xw)], dim=-1)

    tolerance = torch.full((y0.shape[1],), tol, dtype=s.dtype, device=s.device)
    states, status = integrate(rhs, y0, _times(2, s), tolerance, _inside(manifold))
    if (status != OK).any():
        raise _left_chart_error(manifold, s.reshape(-1, m), v.reshape(-1, m), status)
    return states[-1, 0, :, 2 * m :].reshape(shape)


# --------------------------------------------------------------------------- logarithm
@dataclass
class ShortestGeodesics:
    """Result of :meth:`EmbeddedManifold.shortest_geodesics` for pairs ``s0, s1: (..., m)``.

    Attributes:
        velocity: initial velocity ``log(s0, s1)`` of the shortest geodesic found ``(..., m)``;
            NaN where ``converged`` is false.
        length: its length ``|v|_g(s0)``, the distance ``(...)``; NaN where not converged.
        residual: endpoint residual ``|exp(s0, v) − s1|_g(s1) / |v|_g(s0)`` of the returned
            geodesic ``(...)`` (below ``tol`` where converged).
        converged: which pairs are certified ``(...)`` bool.
        tol: the residual tolerance asked for.
        candidates: how many candidate targets were tried per pair (wrap-arounds).
        reasons: why each failed pair failed, by flat index into ``(...)``.
    """

    start: Tensor
    end: Tensor
    velocity: Tensor
    length: Tensor
    residual: Tensor
    converged: Tensor
    tol: float
    candidates: int
    reasons: dict[int, str] = field(default_factory=dict)

    def raise_if_failed(self, what: str) -> None:
        """Raise :class:`GeodesicError` naming the first pair that is not certified."""
        if bool(self.converged.all()):
            return
        flat = int((~self.converged.reshape(-1)).nonzero()[0])
        index = np.unravel_index(flat, tuple(self.converged.shape)) if self.converged.ndim else ()
        m = self.start.shape[-1]
        s0 = self.start.reshape(-1, m)[flat].tolist()
        s1 = self.end.reshape(-1, m)[flat].tolist()
        where = f" (pair {tuple(int(i) for i in index)})" if index else ""
        raise GeodesicError(
            f"{what}: no shortest geodesic certified from s0 = {s0} to s1 = {s1}{where}: {self.reasons[flat]}"
        )


def _quadratic(v: Tensor, g: Tensor, w: Tensor | None = None) -> Tensor:
    return torch.einsum("...i,...ij,...j->...", v, g, v if w is None else w)


def _norm(v: Tensor, g: Tensor) -> Tensor:
    return _quadratic(v, g).clamp_min(0).sqrt()


def _metric(manifold: EmbeddedManifold, s: Tensor) -> Tensor:
    """The metric at unchecked points ``s: (..., m)``."""
    m = manifold.dim
    gram = manifold.jet_gram(s, 1)
    return gram[..., 1 : m + 1, 1 : m + 1]


def chart_line_length(manifold: EmbeddedManifold, start: Tensor, delta: Tensor) -> Tensor:
    """Length of the chart segment ``start + t delta``, ``t ∈ [0, 1]`` (Gauss–Legendre): ``(...)``."""
    nodes, weights = np.polynomial.legendre.leggauss(LINE_NODES)
    t = torch.as_tensor((nodes + 1) / 2, dtype=start.dtype, device=start.device)
    w = torch.as_tensor(weights / 2, dtype=start.dtype, device=start.device)
    points = start + t.view(-1, *[1] * start.ndim) * delta
    return torch.einsum("q,q...->...", w, _norm(delta.expand_as(points), _metric(manifold, points)))


def _tile(x: Tensor, groups: int) -> Tensor:
    """``x: (n, ...)`` repeated for ``groups`` groups of rows: ``(groups · n, ...)``."""
    return x.expand(groups, *x.shape).reshape(-1, *x.shape[1:])


def _candidates(manifold: EmbeddedManifold, s0: Tensor, s1: Tensor) -> Tensor:
    """Chart displacements to every wrap-around of ``s1`` (short and long way round each periodic
    coordinate): ``(C, N, m)``, ``C = 2^(number of periodic coordinates)``."""
    chart = manifold.chart
    delta = chart.wrapped_difference(s0, s1)
    periods = [c.period if isinstance(c, Periodic) else 0.0 for c in chart.coordinates]
    flips = itertools.product(*[(0.0, 1.0) if p else (0.0,) for p in periods])
    long_way = torch.tensor(list(flips), dtype=s0.dtype, device=s0.device) * torch.tensor(
        periods, dtype=s0.dtype, device=s0.device
    )
    direction = torch.where(delta >= 0, 1.0, -1.0).to(s0.dtype)
    return delta[None] - long_way[:, None] * direction


@dataclass
class _Shots:
    velocity: Tensor
    residual: Tensor
    converged: Tensor
    left: Tensor  # some trajectory of this row left the chart
    beyond_conjugate: Tensor  # det(∂ exp / ∂ v) < 0 at the returned v: past a conjugate point

    def take(self, rows: Tensor) -> _Shots:
        """The same fields for ``rows`` only."""
        return _Shots(*(getattr(self, f.name)[rows] for f in fields(self)))

    def lengths(self, g0: Tensor) -> Tensor:
        """``|v|_g(s0)`` of the converged rows, ``inf`` elsewhere: ``(M,)``."""
        return _norm(self.velocity.nan_to_num(), g0).masked_fill(~self.converged, float("inf"))


def _residual(miss: Tensor, target: Tensor, g1: Tensor, length: Tensor) -> Tensor:
    """``|miss|_g(s1) / |v|_g(s0)`` for the chart displacement ``miss`` from the end to the target."""
    floor = 1e-6 * torch.diagonal(g1, dim1=-2, dim2=-1).mean(-1).sqrt() * (1 + target.abs().amax(-1))
    return _norm(miss, g1) / torch.maximum(length, floor)


def _shoot(
    manifold: EmbeddedManifold,
    s0: Tensor,
    target: Tensor,
    v: Tensor,
    g0: Tensor,
    g1: Tensor,
    bound: Tensor,
    groups: int,
    tol: float,
    max_iter: int,
    active: Tensor | None = None,
    residual: Tensor | None = None,
) -> _Shots:
    """Damped Newton on ``exp(s0, v) = target`` for ``(M, m)`` rows laid out ``(groups, M / groups)``.

    Only the ``active`` rows (all by default) are shot; ``residual`` is their known residual at
    ``v`` (it sets the first integration's tolerance), if any.

    Each iteration integrates, for the rows still running, ``v`` and its ``m`` forward-difference
    probes in one step-size group. A Newton step that does not reduce the residual is halved (up to
    ``MAX_HALVINGS`` times) before the row is given up; after a rejected step the next iteration
    tries ``BACKTRACK_TRIALS`` successive halvings in the same integration and keeps the longest
    that reduces the residual (one right-hand side of a wider batch costs about the same, so this
    saves whole integrations). A row longer than ``PRUNE`` times a converged row of its pair (or,
    before any has converged, than the pair's shortest starting ``v``), or ``PRUNE_LINE`` times the
    pair's shortest chart line, has its step halved until it is not, without integrating, or is
    given up (branch and bound); so is a row whose residual has not halved in ``STALL`` iterations.
    """
    rows, m = s0.shape
    device, dtype = s0.device, s0.dtype
    final = max(tol * 1e-2, ODE_TOL_FLOOR)
    eye = torch.eye(m, dtype=dtype, device=device)
    fractions = 0.5 ** torch.arange(BACKTRACK_TRIALS, dtype=dtype, device=device)
    active = torch.ones(rows, dtype=torch.bool, device=device) if active is None else active
    v = torch.where(active[:, None], v, torch.zeros_like(v))
    base = v.clone()
    base_err = torch.full((rows,), float("inf"), dtype=dtype, device=device) if residual is None else residual
    base_err = base_err.masked_fill(~active, float("inf"))
    step = torch.zeros_like(v)
    fresh = torch.ones(rows, dtype=torch.bool, device=device)  # accept v whatever its residual
    back = torch.zeros_like(fresh)  # the last step was rejected: try several halvings at once
    halvings = torch.zeros(rows, dtype=torch.long, device=device)
    converged = torch.zeros(rows, dtype=torch.bool, device=device)
    failed, left = ~active, torch.zeros_like(converged)
    det = torch.full((rows,), float("nan"), dtype=dtype, device=device)
    mark = torch.full((rows,), float("inf"), dtype=dtype, device=device)  # residual at last progress
    since = torch.zeros(rows, dtype=torch.long, device=device)  # iterations since then
    start = _norm(v, g0).masked_fill(~active, float("inf")).view(groups, -1).amin(0)
    for iteration in range(max_iter + 1):
        lengths = _norm(v, g0)
        best = lengths.masked_fill(~converged, float("inf")).view(groups, -1).amin(0)
        limit = torch.minimum(PRUNE * (start if iteration == 0 else best), PRUNE_LINE * bound).repeat(groups)
        failed |= ~converged & (since >= STALL)
        for _ in range(MAX_HALVINGS + 1):
            over = ~converged & ~failed & (lengths > limit)
            failed |= over & fresh  # the point to evaluate is itself too long: give the row up
            shorten = over & ~fresh  # a Newton step made it too long: halve the step
            if not shorten.any():
                break
            halvings += shorten
            step[shorten] /= 2
            v[shorten] = base[shorten] + step[shorten]
            failed |= halvings > MAX_HALVINGS
            lengths = _norm(v, g0)
        run = (~converged & ~failed).nonzero().squeeze(1)
        if run.numel() == 0 or iteration == max_iter:
            break
        # trial points (R, L): v, then for rows after a rejected step base + step / 2^j
        trials = torch.where(back[run], BACKTRACK_TRIALS, 1)
        present = torch.arange(BACKTRACK_TRIALS, device=device) < trials[:, None]
        owner, column = present.nonzero(as_tuple=True)
        points = base[run, None] + step[run, None] * fractions[:, None]
        points[:, 0] = v[run]
        flat = torch.full(present.shape, -1, dtype=torch.long, device=device)
        flat[owner, column] = torch.arange(len(owner), device=device)
        vt, rt = points[owner, column], run[owner]
        h = 1e-7 * (1 + vt.abs().amax(-1, keepdim=True))
        probes = torch.stack([vt] + [vt + h * e for e in eye])
        ode_tol = (1e-6 * base_err[rt]).clamp(min=final, max=1e-6)
        states, status = _integrate_geodesics(
            manifold, s0[rt].expand_as(probes), probes, _times(2, s0), ode_tol
        )
        left[rt[status == LEFT]] = True
        miss = manifold.chart.wrapped_difference(states[-1, :, :, :m], target[rt])  # (m + 1, n, m)
        err = _residual(miss[0], target[rt], g1[rt], _norm(vt, g0[rt]))
        err = err.masked_fill(status != OK, float("inf"))
        acceptable = ((err < base_err[rt]) | fresh[rt]) & (status == OK)
        # per row the longest trial step that is acceptable, else the last one tried
        first = torch.full(present.shape, BACKTRACK_TRIALS, dtype=torch.long, device=device)
        first[owner, column] = torch.where(acceptable, column, BACKTRACK_TRIALS)
        first = first.amin(1)
        accept = first < BACKTRACK_TRIALS
        chosen = flat[torch.arange(len(run), device=device), torch.where(accept, first, trials - 1)]
        vr, err, ode_tol = vt[chosen], err[chosen], ode_tol[chosen]
        ends, miss = states[-1, :, chosen, :m], miss[0, chosen]
        done = accept & (err <= tol) & (ode_tol <= final)
        base[run] = torch.where(accept[:, None], vr, base[run])
        base_err[run] = torch.where(accept, err, base_err[run])
        converged[run] |= done
        progress = accept & (err < mark[run] / 2)
        mark[run] = torch.where(progress, err, mark[run])
        since[run] = torch.where(progress, torch.zeros_like(since[run]), since[run] + 1)
        # accepted, not done: a Newton step from here, or (residual below tol, but integrated
        # loosely) a fresh evaluation at the final tolerance
        newton = accept & ~done
        jac = ((ends[1:] - ends[:1]) / h[chosen]).permute(1, 2, 0)  # (n, m, m): [row, k, i] = ∂ end_k / ∂ v_i
        solved, info = torch.linalg.solve_ex(jac, miss.unsqueeze(-1))
        usable = (info == 0) & torch.isfinite(solved).all(-2).squeeze(-1)
        new_step = torch.where(usable[:, None], solved.squeeze(-1), torch.zeros_like(vr))
        with_step = newton & usable & (err > tol)
        det[run] = torch.where(accept, torch.linalg.det(jac), det[run])
        halvings[run] = torch.where(accept, torch.zeros_like(halvings[run]), halvings[run] + trials)
        shrink = torch.where(accept, 1.0, 0.5**trials).to(dtype)[:, None]  # past the last step tried
        step[run] = torch.where(with_step[:, None], new_step, step[run] * shrink)
        failed[run] |= (newton & ~usable & (err > tol)) | (halvings[run] > MAX_HALVINGS)
        fresh[run] = newton & ~with_step
        back[run] = ~accept
        v[run] = torch.where((with_step | ~accept)[:, None], base[run] + step[run], vr)
    # a geodesic past a conjugate point is not minimising: det(∂ exp / ∂ v) starts at t^m > 0 and
    # changes sign at each conjugate point of odd multiplicity (do Carmo, ch. 5 and 11)
    beyond = det < 0
    v = torch.where((converged & ~beyond)[:, None], base, torch.full_like(base, float("nan")))
    return _Shots(v, base_err, converged & ~beyond, left, beyond)


def _energy_initial_velocity(
    manifold: EmbeddedManifold, s0: Tensor, s1: Tensor, nodes: int = ENERGY_NODES, iters: int = 100
) -> Tensor:
    """Initial velocity of the minimiser of ``n Σ |phi(p_{i+1}) − phi(p_i)|²`` over polylines
    ``(N, m)`` (all pairs in one L-BFGS problem; the energy is a sum over pairs)."""
    t = torch.linspace(0, 1, nodes + 1, dtype=s0.dtype, device=s0.device)[1:-1, None, None]
    interior = (s0 + t * (s1 - s0)).detach().requires_grad_(True)
    optimizer = torch.optim.LBFGS([interior], max_iter=iters, line_search_fn="strong_wolfe")
    # relative to the straight line's energy, so that L-BFGS's stopping tolerances are scale-free
    scale = manifold.squared_chords(torch.cat([s0[None], interior.detach(), s1[None]])).sum()
    scale = scale.clamp_min(torch.finfo(s0.dtype).tiny)

    def energy() -> Tensor:
        optimizer.zero_grad()
        path = torch.cat([s0[None], interior, s1[None]])
        value = manifold.squared_chords(path).sum() / scale
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(energy)
    p = torch.cat([s0[None], interior.detach()[:2]])
    return nodes * (-3 * p[0] + 4 * p[1] - p[2]) / 2


def _reason(
    manifold: EmbeddedManifold, shots: _Shots, length: Tensor, bound: Tensor, tol: float, max_iter: int
):
    """What went wrong for one pair, from its candidates' outcomes, as one line."""
    facts = []
    if torch.isfinite(length) and length > bound * (1 + LINE_MARGIN):
        facts.append(
            f"the geodesics found (shortest {length.item():.6g}) are longer than the straight chart line "
            f"({bound.item():.6g}), so none of them is the shortest"
        )
    if shots.beyond_conjugate.any():
        facts.append("geodesics found pass a conjugate point, so they are not the shortest")
    if shots.left.any():
        facts.append(
            f"geodesics tried leave the chart ({manifold.chart.describe()}) or meet a singular point"
        )
    open_rows = ~shots.converged & ~shots.beyond_conjugate
    if open_rows.any():
        residual = shots.residual[open_rows].min().item()
        facts.append(
            f"shooting did not reach the endpoint residual tol = {tol:g} within {max_iter} Newton "
            f"iterations (best residual {residual:.1e}; a candidate whose residual has not halved in "
            f"{STALL} iterations is given up)"
        )
    advice = []
    if shots.left.any() or shots.beyond_conjugate.any():
        advice.append("if the shortest geodesic leaves this chart, use another chart")
    if open_rows.any() or not advice:
        advice.append(
            "shooting converges poorly between nearly conjugate points (e.g. nearly antipodal ones) and "
            "near the chart's edge: use another chart, a larger tol or points closer together"
        )
    return "; ".join(facts + advice)


def shortest_geodesics(
    manifold: EmbeddedManifold, s0: Tensor, s1: Tensor, tol: float, max_iter: int
) -> ShortestGeodesics:
    """Shortest certified geodesics for every pair ``s0, s1: (..., m)`` (see the module docstring)."""
    tol = check_tolerance(tol)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    s0, s1 = torch.broadcast_tensors(s0, s1)
    shape, m = s0.shape[:-1], s0.shape[-1]
    start, end = s0, s1
    s0, s1 = s0.reshape(-1, m), s1.reshape(-1, m)
    n = len(s0)
    delta = _candidates(manifold, s0, s1)  # (C, n, m)
    groups = wraps = len(delta)
    lines = chart_line_length(manifold, s0.expand_as(delta), delta)  # (C, n)
    bound = lines.amin(0)
    g0, g1 = _metric(manifold, s0), _metric(manifold, s1)
    targets = s0 + delta
    guess = _energy_initial_velocity(manifold, _tile(s0, groups), targets.reshape(-1, m))
    loose_tol = max(tol, LOOSE_RESIDUAL)
    shots = _shoot(
        manifold,
        _tile(s0, groups),
        targets.reshape(-1, m),
        guess,
        _tile(g0, groups),
        _tile(g1, groups),
        bound,
        groups,
        loose_tol,
        max_iter,
    )
    loose = shots.lengths(_tile(g0, groups))
    shortest = loose.view(groups, n).amin(0)
    # pairs without a geodesic that can be certified are shot once more, towards the nearest
    # candidate, from a more converged energy minimiser of their own (one more group of rows) ...
    retry = ~(shortest <= bound * (1 + LINE_MARGIN))
    # ... while the candidates that may be the shortest are refined from ``loose_tol`` to ``tol``
    refine = shots.converged & (loose <= shortest.repeat(groups) * (1 + CONTENDER_MARGIN))
    refine &= tol < loose_tol
    nearest = targets[lines.argmin(0), torch.arange(n)]
    extra = torch.zeros_like(s0)
    if retry.any():
        extra[retry] = _energy_initial_velocity(manifold, s0[retry], nearest[retry], iters=300)
    nothing = torch.zeros(n, dtype=torch.bool, device=s0.device)
    shots = _Shots(
        torch.cat([shots.velocity, torch.full_like(extra, float("nan"))]),
        torch.cat([shots.residual, torch.full_like(bound, float("inf"))]),
        torch.cat([shots.converged & (tol >= loose_tol), nothing]),
        torch.cat([shots.left, nothing]),
        torch.cat([shots.beyond_conjugate, nothing]),
    )
    groups += 1
    active = torch.cat([refine, retry])
    if active.any():
        second = _shoot(
            manifold,
            _tile(s0, groups),
            torch.cat([targets.reshape(-1, m), nearest]),
            torch.cat([shots.velocity[:-n].nan_to_num(), extra]),
            _tile(g0, groups),
            _tile(g1, groups),
            bound,
            groups,
            tol,
            max_iter,
            active=active,
            residual=shots.residual,
        )
        shots = _Shots(
            torch.where(active[:, None], second.velocity, shots.velocity),
            torch.where(active, second.residual, shots.residual),
            torch.where(active, second.converged, shots.converged),
            shots.left | second.left,
            shots.beyond_conjugate | second.beyond_conjugate,
        )
    length, best = shots.lengths(_tile(g0, groups)).view(groups, n).min(0)
    pick = lambda x: x.view(groups, n, *x.shape[1:])[best, torch.arange(n)]  # noqa: E731
    velocity, residual = pick(shots.velocity), pick(shots.residual)
    certified = torch.isfinite(length) & (length <= bound * (1 + LINE_MARGIN))
    reasons = {}
    for i in (~certified).nonzero().squeeze(1).tolist():
        pair = shots.take(torch.arange(groups, device=s0.device) * n + i)
        reasons[i] = _reason(manifold, pair, length[i], bound[i], tol, max_iter)
    nan = torch.tensor(float("nan"), dtype=s0.dtype, device=s0.device)
    velocity = torch.where(certified[:, None], velocity, nan)
    return ShortestGeodesics(
        start=start,
        end=end,
        velocity=velocity.reshape(*shape, m),
        length=torch.where(certified, length, nan).reshape(shape),
        residual=residual.reshape(shape),
        converged=certified.reshape(shape),
        tol=tol,
        candidates=wraps,
        reasons=reasons,
    )
