"""geomstats' ``log`` on the polar sphere, for the side-by-side row of ``bench_geometry.py --geodesics``.

Run by a separate interpreter where geomstats imports (geomstats 2.8.0 needs NumPy < 2); it
imports neither torch nor geomanifold. Create that environment with::

    python3.11 -m venv GSENV && GSENV/bin/pip install "numpy<2" autograd geomstats==2.8.0

Input: JSON ``{"s0": [[θ, φ], ...], "s1": [[θ, φ], ...]}`` (polar-chart pairs) from the file
given as the first argument, or from stdin. The problem is the one geomanifold solves: the sphere
known only through its immersion ``φ(θ, φ) = (sin θ cos φ, sin θ sin φ, cos θ)``, a geomstats
``ImmersedSet`` with its default ``PullbackMetric``. Its log is ``LogShootingSolver`` (one
L-BFGS-B problem for the whole batch over the flattened initial velocities, minimising the summed
squared chart distance between ``exp(v)`` and the target, gradient by autograd through the
integrator) and its exp ``ExpODESolver`` with 100 explicit Euler steps. Timed on the first
``--subset`` pairs: that default; the same with one problem per pair (``flatten=False``); and
one problem over all pairs with ``--rk4-steps`` classical Runge-Kutta steps. For context, the
closed form ``Hypersphere(2).metric.log`` (not a solver) on all pairs in R³.

geomstats does not wrap the periodic φ: its target is the chart point itself. Each target is
given as ``φ1 + 2πk`` within π of ``φ0``, the end of the short great-circle arc (the most
favourable choice for geomstats). Distances are the pullback norm of the log at the base point,
errors are against the great-circle distance. Output: one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time

os.environ.setdefault("GEOMSTATS_BACKEND", "autograd")

import geomstats.backend as gs
import numpy as np
from geomstats.geometry.base import ImmersedSet
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.hypersphere import Hypersphere
from geomstats.numerics.geodesic import ExpODESolver, LogShootingSolver
from geomstats.numerics.ivp import GSIVPIntegrator
from geomstats.numerics.optimization import ScipyMinimize


class PolarSphere(ImmersedSet):
    """Unit sphere in R³ given by its polar-chart immersion (θ, φ) ↦ (sin θ cos φ, sin θ sin φ, cos θ)."""

    def __init__(self):
        super().__init__(dim=2)

    def _define_embedding_space(self):
        return Euclidean(dim=3)

    def immersion(self, point):
        theta, phi = point[..., 0], point[..., 1]
        return gs.stack([gs.sin(theta) * gs.cos(phi), gs.sin(theta) * gs.sin(phi), gs.cos(theta)], axis=-1)


def embed(s: np.ndarray) -> np.ndarray:
    """Points of the unit sphere in R³ from polar-chart points ``s: (n, 2)``."""
    theta, phi = s[:, 0], s[:, 1]
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)


class RecordingMinimize(ScipyMinimize):
    """geomstats' default optimizer (L-BFGS-B, autodiff gradient), keeping every result."""

    def __init__(self):
        super().__init__(autodiff_jac=True)
        self.results = []

    def minimize(self, *args, **kwargs):
        result = super().minimize(*args, **kwargs)
        self.results.append(result)
        return result


def shooting(
    sphere: PolarSphere, step_type: str, n_steps: int, s0: np.ndarray, s1: np.ndarray, exact, flatten: bool
) -> dict:
    """Time ``sphere.metric.log(s1, s0)`` with geomstats' shooting solver and the given exp integrator:
    one optimisation over all pairs (``flatten``, geomstats' default) or one per pair."""
    optimizer = RecordingMinimize()
    sphere.metric.log_solver = LogShootingSolver(sphere, optimizer=optimizer, flatten=flatten)
    sphere.metric.exp_solver = ExpODESolver(
        sphere, integrator=GSIVPIntegrator(n_steps=n_steps, step_type=step_type)
    )
    start, cpu = time.perf_counter(), time.process_time()
    velocity = sphere.metric.log(s1, s0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    distance = np.asarray(sphere.metric.norm(velocity, s0))
    residual = np.linalg.norm(np.asarray(sphere.metric.exp(velocity, s0)) - s1, axis=-1)
    rel = np.abs(distance - exact) / exact
    return {
        "exp": f"{n_steps} {step_type} steps",
        "problems": "one optimisation over all pairs" if flatten else "one optimisation per pair",
        "pairs": len(s0),
        "wall": wall,
        "cpu": cpu,
        "per_pair": wall / len(s0),
        "cpu_per_pair": cpu / len(s0),
        "max_rel": float(rel.max()),
        "median_rel": float(np.median(rel)),
        "max_residual": float(residual.max()),
        "iterations": sum(int(r.nit) for r in optimizer.results),
        "evaluations": sum(int(r.nfev) for r in optimizer.results),
        "success": all(bool(r.success) for r in optimizer.results),
        "message": "; ".join(sorted({str(r.message) for r in optimizer.results})),
    }


def closed_form(s0: np.ndarray, s1: np.ndarray, exact: np.ndarray, repeats: int = 5) -> dict:
    """Time ``Hypersphere(2).metric.log`` (closed form) on all pairs in R³, fastest of ``repeats``."""
    metric = Hypersphere(2).metric
    x0, x1 = embed(s0), embed(s1)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        velocity = metric.log(x1, x0)
        times.append(time.perf_counter() - start)
    rel = np.abs(np.linalg.norm(velocity, axis=-1) - exact) / exact
    return {
        "pairs": len(s0),
        "wall": min(times),
        "per_pair": min(times) / len(s0),
        "max_rel": float(rel.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="?", default=None, help="JSON file of pairs (default: stdin)")
    # about a minute per pair with either integrator on one core
    parser.add_argument(
        "--subset", type=int, default=2, help="pairs timed with the shooting solver (default 2)"
    )
    parser.add_argument(
        "--rk4-steps", type=int, default=20, help="rk4 steps of the finer exp (default 20; 0: skip)"
    )
    args = parser.parse_args(argv)
    if args.subset < 1:
        parser.error(f"--subset must be a positive number of pairs, got {args.subset}")
    logging.disable(logging.WARNING)  # geomstats logs scipy's message; it is reported in the output
    data = json.load(open(args.pairs) if args.pairs else sys.stdin)
    s0, s1 = np.asarray(data["s0"], dtype=float), np.asarray(data["s1"], dtype=float)
    if s0.ndim != 2 or s0.shape[-1] != 2 or s0.shape != s1.shape:
        parser.error(
            f"pairs: s0 and s1 must both be lists of [θ, φ] of one length, got {s0.shape} and {s1.shape}"
        )
    exact = np.arccos(np.clip((embed(s0) * embed(s1)).sum(-1), -1.0, 1.0))
    # the end of the short arc in the chart: φ1 + 2πk within π of φ0
    target = s1.copy()
    target[:, 1] = s0[:, 1] + np.remainder(s1[:, 1] - s0[:, 1] + math.pi, 2 * math.pi) - math.pi
    n = min(args.subset, len(s0))
    sphere = PolarSphere()
    out = {
        "geomstats": __import__("geomstats").__version__,
        "backend": os.environ["GEOMSTATS_BACKEND"],
        "numpy": np.__version__,
        "closed_form": closed_form(s0, s1, exact),
        "default": shooting(sphere, "euler", 100, s0[:n], target[:n], exact[:n], flatten=True),
        "per_pair_problems": shooting(sphere, "euler", 100, s0[:n], target[:n], exact[:n], flatten=False),
    }
    if args.rk4_steps > 0:
        out["rk4"] = shooting(sphere, "rk4", args.rk4_steps, s0[:n], target[:n], exact[:n], flatten=True)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
