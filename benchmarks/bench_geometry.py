"""Benchmark of the geometry core (docs/geometry.md). Prints tables of timings and ratios; never asserts.

1. Curvature field of a 2-D linear-basis manifold ``phi(s) = Σ_k φ_k(s) P_k`` (tensor torus basis
   ``TensorProduct(Fourier(1), Fourier(1))``, K = 9, random float64 control points ``P: (9, D)``)
   for D in {10^3, 10^5, 10^6, 10^7}:

   * the pass over P: forming the ``K × K`` Gram ``Q = P Pᵀ`` (``control_gram()``), once per P;
   * the per-point work with the cached Q: ``local_geometry`` at 10^4 points, then Gaussian and
     scalar curvature (``O(K²)`` per point, so it should be flat in D);
   * the generic forward-mode path (nested jvps of ``phi``, then inner products of D-vectors,
     ``EmbeddedManifold.jet_gram``) on a wrapper that only has ``phi``, on fewer points at large D
     (its memory grows like points × D), reported per point; and the agreement of both paths.

   Targets: per-point work flat in D; 10^4 points at D = 10^7 in under 1 s after the pass over P.

2. Batched Gaussian curvature of the torus in R³ (generic path) at 10^3 points, time per point.
   Target: under 50 µs per point on 2 cores.

3. Geodesics (``--geodesics``, one thread by default for this part): the first call of the
   process (lazy imports, reported apart); one right-hand side of the geodesic equation for four
   surfaces, with and without ``geomanifold.jets.ScalarArithmetic``; distances of ``--pairs``
   random pairs on the flat torus (closed form: the wrapped Euclidean distance) and on the polar
   sphere with θ in [0.3, π − 0.3] (the great circle), all pairs in one certified batch; pairs
   that cannot be certified are counted with their reasons, never compared. geomstats side by side
   with ``--geomstats-python PATH``, an interpreter where geomstats 2.8 imports (it needs NumPy < 2;
   ``benchmarks/geomstats_log.py`` runs there): its shooting ``log`` on the first
   ``--geomstats-pairs`` sphere pairs against certified geomanifold on the same pairs (skipped,
   saying how to create the interpreter, without the option). A linear-basis
   manifold (K = 9) at D in {10^3, 10^5, 10^7}: the pass over P, then ``log`` per geodesic
   (target: flat in D). ``pairwise_distance`` of ``--pairwise`` flat-torus points.
   Targets: 1000 pairs within 1e-10 relative in ≤ 2 s; ≥ 100× faster than geomstats;
   200-point pairwise distances in ≤ 10 s. ``--compile inductor`` times the random pairs with
   ``compile_geodesics`` (the compile and a first call on 2 pairs reported apart). Part 3 reports
   wall and CPU time: on a loaded machine the CPU time of the one thread is the closer estimate
   of the time on an idle one.

All timings: ``torch.set_num_threads(2)`` (override with ``--threads``), one warm-up, median of
repeats. Usage: ``python benchmarks/bench_geometry.py [--quick] [--threads N] [--geodesics [--pairs N]
[--surfaces torus sphere] [--geomstats-python PATH]]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
import unittest.mock
from collections import Counter
from collections.abc import Callable, Iterator

import torch

import geomanifold as gm
from geomanifold.bases import Fourier, TensorProduct
from geomanifold.geometry import geodesics
from geomanifold.geometry import manifold as manifold_module

# the generic path holds about this many float64 numbers per point and ambient dimension
# (replicated points of the nested jvps, primal and tangents, the stacked jet)
GENERIC_FLOATS_PER_POINT_AND_DIM = 24
GENERIC_MEMORY_BYTES = 2.5e8


class PhiOnly(gm.EmbeddedManifold):
    """The same immersion as a linear-basis manifold, seen through ``phi`` alone (generic path)."""

    dim = 2

    def __init__(self, manifold: gm.LinearBasisManifold):
        super().__init__(manifold.chart)
        self.inner = manifold

    def phi(self, s: torch.Tensor) -> torch.Tensor:
        return self.inner.phi(s)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, object]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls; and its result.

    The fastest repeat is kept in ``BEST[-1]`` (the least disturbed by other processes).
    """
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    BEST.append(min(times))
    return statistics.median(times), result


BEST: list[float] = []


def curvatures(manifold: gm.EmbeddedManifold, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    local = manifold.local_geometry(s, 2)
    return local.gaussian_curvature, local.scalar_curvature


def generic_curvatures(manifold: PhiOnly, s: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([curvatures(manifold, chunk)[0] for chunk in s.split(batch)])


def linear_basis_rows(dims: list[int], points: int, repeats: int, seed: int) -> list[dict]:
    basis = TensorProduct(Fourier(1), Fourier(1))
    generator = torch.Generator().manual_seed(seed)
    s = torch.rand(points, 2, generator=generator, dtype=torch.float64)
    rows = []
    for dim in dims:
        control = torch.randn(basis.size, dim, generator=generator, dtype=torch.float64)

        # the pass over P: a fresh manifold each time, so nothing is cached
        pass_time, gram = timed(lambda c=control: gm.LinearBasisManifold(basis, c).control_gram(), repeats)
        manifold = gm.LinearBasisManifold(basis, control)
        manifold.control_gram()  # cached from here on

        fast_time, (gauss, scalar) = timed(lambda m=manifold: curvatures(m, s), max(repeats, 11), warmup=2)
        fast_best = BEST[-1]

        # generic forward-mode path on as many points as memory and time allow
        batch = max(1, int(GENERIC_MEMORY_BYTES / (8 * GENERIC_FLOATS_PER_POINT_AND_DIM * dim)))
        generic_points = min(points, max(4, int(2e7 / dim)), 50 * batch)
        generic = PhiOnly(manifold)
        sub = s[:generic_points]
        generic_time, generic_gauss = timed(
            lambda g=generic, x=sub, b=batch: generic_curvatures(g, x, b),
            repeats=1 if dim >= 10**6 else repeats,
        )
        reference = gauss[:generic_points]
        floor = 1e-6 * reference.abs().max()
        rel = ((generic_gauss - reference).abs() / reference.abs().clamp_min(floor)).max().item()
        gram_rel = ((gram - manifold.control_gram()).abs().max() / gram.abs().max()).item()
        rows.append(
            {
                "D": dim,
                "pass": pass_time,
                "fast_total": fast_time,
                "fast_per_point": fast_time / points,
                "fast_best": fast_best,
                "generic_points": generic_points,
                "generic_batch": batch,
                "generic_per_point": generic_time / generic_points,
                "rel_diff": rel,
                "scalar_is_2K": ((scalar - 2 * gauss).abs().max() / gauss.abs().max()).item(),
                "gram_rel": gram_rel,
            }
        )
        print(
            f"  D = {dim:>9,}: pass {pass_time:8.4f} s, fast {fast_time:7.4f} s / {points} pts, "
            f"generic {generic_time / generic_points * 1e6:12.1f} µs/pt on {generic_points} pts",
            flush=True,
        )
        del control, manifold, generic, gram
        gc.collect()
    return rows


def torus_row(points: int, repeats: int, seed: int) -> dict:
    torus = gm.Torus(2.0, 1.0)
    generator = torch.Generator().manual_seed(seed)
    s = 2 * torch.pi * torch.rand(points, 2, generator=generator, dtype=torch.float64)
    elapsed, curvature = timed(lambda: torus.gaussian_curvature(s), repeats, warmup=2)
    best = BEST[-1]
    closed = torch.cos(s[:, 1]) / (1.0 * (2.0 + torch.cos(s[:, 1])))
    return {
        "points": points,
        "total": elapsed,
        "per_point": elapsed / points,
        "best_per_point": best / points,
        "max_abs_error": (curvature - closed).abs().max().item(),
    }


def report(rows: list[dict], torus: dict, points: int, threads: int) -> None:
    base = rows[0]["fast_best"]
    print()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores visible, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads (requested {threads}); load average now "
        f"{os.getloadavg()[0]:.1f} (other processes compete for the cores when > 0)"
    )
    print()
    print("1. Curvature field of a linear-basis torus manifold, K = 9, float64")
    print(f"   fast path: local_geometry + Gaussian + scalar curvature at {points} points, cached Q")
    print()
    header = (
        f"{'D':>10} | {'pass over P':>11} | {'fast: all pts':>13} | {'fast/pt':>8} | {'best/pt':>8} | "
        f"{'best vs D=1e3':>13} | "
        f"{'generic/pt':>11} | {'generic pts':>11} | {'generic/fast':>12} | {'max rel diff':>12}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['D']:>10.0e} | {row['pass']:>9.4f} s | {row['fast_total']:>11.4f} s | "
            f"{row['fast_per_point'] * 1e6:>5.2f} µs | {row['fast_best'] / points * 1e6:>5.2f} µs | "
            f"{row['fast_best'] / base:>12.2f}x | "
            f"{row['generic_per_point'] * 1e6:>8.0f} µs | {row['generic_points']:>11} | "
            f"{row['generic_per_point'] / row['fast_per_point']:>11.0f}x | {row['rel_diff']:>12.1e}"
        )
    per_point = [row["fast_per_point"] for row in rows]
    best = [row["fast_best"] for row in rows]
    last = rows[-1]
    print()
    print(
        f"   per-point work, slowest / fastest over D: {max(best) / min(best):.2f}x on best repeats, "
        f"{max(per_point) / min(per_point):.2f}x on medians (target: flat in D, about 1x)"
    )
    print(
        f"   {points} points at D = {last['D']:.0e} after the pass over P: {last['fast_total']:.3f} s "
        f"(target < 1 s: {'met' if last['fast_total'] < 1 else 'NOT met'}); "
        f"with the pass: {last['fast_total'] + last['pass']:.3f} s"
    )
    print(f"   scalar curvature = 2K to {max(r['scalar_is_2K'] for r in rows):.1e} (relative)")
    print()
    print("2. Gaussian curvature of the torus in R^3 (generic forward-mode path)")
    print(
        f"   {torus['points']} points: {torus['total'] * 1e3:.2f} ms, "
        f"{torus['per_point'] * 1e6:.1f} µs/point median, {torus['best_per_point'] * 1e6:.1f} µs/point best "
        f"(target < 50 µs/point: median {'met' if torus['per_point'] < 50e-6 else 'NOT met'}, "
        f"best {'met' if torus['best_per_point'] < 50e-6 else 'NOT met'}); "
        f"max |K - closed form| = {torus['max_abs_error']:.1e}"
    )


def _pairs(kind: str, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(2, count, 2, generator=generator, dtype=torch.float64)
    if kind == "sphere":
        u[..., 0] = 0.3 + (math.pi - 0.6) * u[..., 0]
        u[..., 1] = 2 * math.pi * u[..., 1]
    else:
        u = 2 * math.pi * u
    return u[0], u[1]


def _closed_form(kind: str, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
    if kind == "sphere":
        sphere = gm.Sphere(1.0)
        return torch.arccos((sphere.point(s0) * sphere.point(s1)).sum(-1).clamp(-1, 1))
    return (torch.remainder(s1 - s0 + math.pi, 2 * math.pi) - math.pi).norm(dim=-1)


def geodesic_pairs(
    kind: str, count: int, seed: int, backend: str | None = None, first: int | None = None
) -> dict:
    """Certified distances of ``count`` random pairs (or the ``first`` of them) in one batch, against
    the closed form; with ``backend``, after ``compile_geodesics(backend)`` and a first call on 2 pairs
    (timed apart)."""
    manifold = gm.Sphere(1.0) if kind == "sphere" else gm.FlatTorus()
    compile_wall = float("nan")  # wall: inductor compiles in worker processes
    if backend is not None:
        start = time.perf_counter()
        manifold.compile_geodesics(backend).shortest_geodesics(*_pairs(kind, 2, seed + 1))
        compile_wall = time.perf_counter() - start
    s0, s1 = _pairs(kind, count, seed)
    s0, s1 = s0[:first], s1[:first]
    with counted_right_hand_sides(manifold) as solve_calls:
        start, cpu = time.perf_counter(), time.process_time()
        result = manifold.shortest_geodesics(s0, s1)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    exact = _closed_form(kind, s0, s1)
    ok = result.converged
    floor, calls = certification_floor(manifold, s0[ok], result.velocity[ok], result.tol)
    rel = ((result.length - exact).abs() / exact)[ok]
    reasons = Counter(reason.split(";")[0][:70] for reason in result.reasons.values())
    return {
        "kind": kind,
        "pairs": len(s0),
        "time": elapsed,
        "cpu": cpu,
        "compile_wall": compile_wall,
        "certified": int(ok.sum()),
        "max_rel": rel.max().item() if ok.any() else float("nan"),
        "max_residual": result.residual[ok].max().item() if ok.any() else float("nan"),
        "reasons": dict(reasons),
        "calls": solve_calls[0],
        "floor": floor,
        "floor_calls": calls,
    }


def certification_floor(manifold: gm.EmbeddedManifold, s: torch.Tensor, v: torch.Tensor, tol: float):
    """CPU seconds and right-hand sides of one integration of the returned geodesics and their
    ``m`` Jacobian probes at the final tolerance ``tol / 100``: the least work any Newton shooting
    must do once more to certify answers it was handed (a Newton iteration from an unverified
    point needs at least two such integrations)."""
    m = s.shape[-1]
    probes = torch.stack([v] + [v + 1e-7 * e for e in torch.eye(m, dtype=v.dtype)])
    times = torch.tensor([0.0, 1.0], dtype=s.dtype)
    with counted_right_hand_sides(manifold) as calls:
        cpu = time.process_time()
        geodesics._integrate_geodesics(manifold, s.expand_as(probes), probes, times, tol / 100)
        return time.process_time() - cpu, calls[0]


@contextlib.contextmanager
def counted_right_hand_sides(manifold: gm.EmbeddedManifold) -> Iterator[list[int]]:
    """Count the calls of ``manifold.geodesic_acceleration`` (one per right-hand side of the
    geodesic equation) while in the block: yields a one-element list holding the count."""
    calls = [0]
    acceleration = manifold.geodesic_acceleration

    def counted(s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return acceleration(s, v)

    manifold.geodesic_acceleration = counted
    try:
        yield calls
    finally:
        del manifold.geodesic_acceleration


GEOMSTATS_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "geomstats_log.py")
GEOMSTATS_SETUP = 'python3.11 -m venv GSENV && GSENV/bin/pip install "numpy<2" autograd geomstats==2.8.0'


def _geomstats_env() -> dict:
    """Environment of the geomstats interpreter: autograd backend, one BLAS thread, no PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(
        GEOMSTATS_BACKEND="autograd", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"
    )
    return env


def check_geomstats_python(path: str) -> str | None:
    """One line saying why ``--geomstats-python path`` is unusable, or None when geomstats imports there."""
    valid = f"an interpreter where geomstats imports on the autograd backend (create one: {GEOMSTATS_SETUP})"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return f"--geomstats-python: {path!r} is not an executable file; give {valid}"
    probe = subprocess.run(
        [path, "-c", "import geomstats.geometry.hypersphere"],
        env=_geomstats_env(),
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"--geomstats-python: geomstats does not import with {path!r} ({last}); give {valid}"
    return None


def geomstats_log(python: str | None, count: int, subset: int, seed: int, sphere_row: dict | None) -> str:
    """geomstats' ``log`` (``benchmarks/geomstats_log.py`` run by ``python``) on the first ``subset``
    of the sphere pairs, side by side with certified ``shortest_geodesics`` on the same pairs."""
    if python is None:
        return f"geomstats: skipped (give --geomstats-python PATH; create it: {GEOMSTATS_SETUP})"
    s0, s1 = _pairs("sphere", count, seed)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as pairs:
        json.dump({"s0": s0.tolist(), "s1": s1.tolist()}, pairs)
        pairs.flush()
        done = subprocess.run(
            [python, GEOMSTATS_SCRIPT, pairs.name, "--subset", str(subset)],
            env=_geomstats_env(),
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        return f"geomstats: the script failed ({(done.stderr.strip().splitlines() or ['no message'])[-1]})"
    theirs = json.loads(done.stdout)
    n = theirs["default"]["pairs"]
    ours = geodesic_pairs("sphere", count, seed, first=n)
    ours_per_pair = ours["time"] / n
    lines = [
        f"geomstats {theirs['geomstats']} ({theirs['backend']}, numpy {theirs['numpy']}), ImmersedSet "
        f"sphere with its PullbackMetric, log = LogShootingSolver (L-BFGS-B), on the first {n} pairs:"
    ]
    for key in ("default", "per_pair_problems", "rk4"):
        if key not in theirs:
            continue
        row = theirs[key]
        line = (
            f"     exp with {row['exp']}, {row['problems']}: {row['per_pair']:.2f} s per pair wall "
            f"({row['cpu_per_pair']:.2f} s CPU), "
            f"max relative error {row['max_rel']:.1e}, endpoint residual {row['max_residual']:.1e}, "
            f"{row['iterations']} iterations, {row['evaluations']} evaluations ({row['message']}); "
            f"geomanifold on the same {n} pairs {ours_per_pair * 1e3:.1f} ms per pair "
            f"({row['per_pair'] / ours_per_pair:.0f}x, max relative error {ours['max_rel']:.1e}, "
            f"{ours['certified']}/{n} certified)"
        )
        if sphere_row is not None:
            batch = sphere_row["time"] / sphere_row["pairs"]
            line += (
                f", in the {sphere_row['pairs']}-pair batch {batch * 1e3:.1f} ms per pair "
                f"({row['per_pair'] / batch:.0f}x, max relative error {sphere_row['max_rel']:.1e})"
            )
        lines.append(line)
    closed = theirs["closed_form"]
    lines.append(
        f"     for context, the closed form Hypersphere(2).metric.log (not a solver) on all "
        f"{closed['pairs']} pairs in R^3: {closed['per_pair'] * 1e6:.1f} µs per pair, "
        f"max relative error {closed['max_rel']:.1e}"
    )
    return "\n".join(lines)


def linear_basis_geodesics(dims: list[int], count: int, seed: int) -> list[dict]:
    """Pass over P, then certified ``log`` of ``count`` pairs: per-geodesic cost against D."""
    basis = TensorProduct(Fourier(1), Fourier(1))
    generator = torch.Generator().manual_seed(seed)
    s0 = 0.25 * torch.rand(count, 2, generator=generator, dtype=torch.float64)
    s1 = s0 + 0.1 * torch.rand(count, 2, generator=generator, dtype=torch.float64)
    rows = []
    for dim in dims:
        control = torch.randn(basis.size, dim, generator=generator, dtype=torch.float64)
        manifold = gm.LinearBasisManifold(basis, control)
        start = time.perf_counter()
        manifold.control_gram()
        pass_time = time.perf_counter() - start
        cpu = time.process_time()
        result = manifold.shortest_geodesics(s0, s1)
        rows.append(
            {
                "D": dim,
                "pass": pass_time,
                "per_geodesic": (time.process_time() - cpu) / count,
                "certified": int(result.converged.sum()),
            }
        )
        print(
            f"  D = {dim:>9,}: pass over P {pass_time:.3f} s wall, "
            f"log {rows[-1]['per_geodesic'] * 1e3:.1f} ms CPU per geodesic "
            f"({rows[-1]['certified']}/{count} certified)",
            flush=True,
        )
        del control, manifold
        gc.collect()
    return rows


def pairwise_row(points: int, seed: int) -> dict:
    flat = gm.FlatTorus()
    s, _ = _pairs("torus", points, seed)
    start, cpu = time.perf_counter(), time.process_time()
    matrix = flat.pairwise_distance(s)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    exact = _closed_form("torus", s[:, None], s[None])
    return {"points": points, "time": elapsed, "cpu": cpu, "max_abs": (matrix - exact).abs().max().item()}


def first_call(seed: int) -> float:
    """CPU time of the process's first certified ``log`` (2 sphere pairs): lazy imports and
    torch's first-use set-up, paid once per process and excluded from the rows below."""
    s0, s1 = _pairs("sphere", 2, seed)
    cpu = time.process_time()
    gm.Sphere(1.0).shortest_geodesics(s0, s1)
    return time.process_time() - cpu


def without_scalar_arithmetic():
    """Within this block ``acceleration_terms`` runs its nested jvp without ``ScalarArithmetic``
    (the mode replaced by a no-op context): the reference of the right-hand side rows."""
    return unittest.mock.patch.object(manifold_module, "ScalarArithmetic", contextlib.nullcontext)


def right_hand_side_rows(seed: int, repeats: int = 15) -> None:
    """Cost of one geodesic right-hand side (``acceleration_terms``), fastest of ``repeats``, against
    the same nested jvp without ``ScalarArithmetic`` in the same run (values compared bitwise)."""
    generator = torch.Generator().manual_seed(seed)
    surfaces = [
        ("polar sphere", gm.Sphere(1.0)),
        ("stereographic sphere", gm.Sphere(1.0, chart="stereographic")),
        ("torus of revolution", gm.Torus()),
        ("flat torus", gm.FlatTorus()),
    ]
    for name, manifold in surfaces:
        for points in (10, 1000):
            s = 0.5 + torch.rand(points, 2, generator=generator, dtype=torch.float64)
            v = torch.randn(points, 2, generator=generator, dtype=torch.float64)
            _right_hand_side_row(name, manifold, s, v, repeats)


def _right_hand_side_row(name: str, manifold: gm.EmbeddedManifold, s, v, repeats: int) -> None:
    with without_scalar_arithmetic():
        plain = timed(lambda: manifold.acceleration_terms(s, v), repeats)[1]
    best_plain = BEST[-1]
    routed = timed(lambda: manifold.acceleration_terms(s, v), repeats)[1]
    best_routed = BEST[-1]
    same = all(torch.equal(a, b) for a, b in zip(plain, routed, strict=True))
    print(
        f"   right-hand side, {name}, {len(s)} points: {best_routed * 1e3:.2f} ms "
        f"(plain nested jvp {best_plain * 1e3:.2f} ms, {best_plain / best_routed:.1f}x; "
        f"{'identical' if same else 'DIFFERENT'} values)",
        flush=True,
    )


def geodesic_report(args: argparse.Namespace) -> None:
    print(f"\n3. Geodesics, {torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}")
    print(f"   first call in this process (2 sphere pairs, warm-up): {first_call(args.seed):.2f} s CPU")
    right_hand_side_rows(args.seed)
    sphere_row = None
    for kind in args.surfaces:
        row = geodesic_pairs(kind, args.pairs, args.seed, args.compile)
        if kind == "sphere" and args.compile is None:
            sphere_row = row
        name = "flat torus" if kind == "torus" else "polar sphere, θ in [0.3, π − 0.3]"
        if args.compile:
            first = row["compile_wall"]
            name += f", compiled ({args.compile}; compile and first call on 2 pairs {first:.1f} s wall)"
        print(
            f"   {name}: {row['pairs']} pairs in {row['time']:.2f} s wall, {row['cpu']:.2f} s CPU "
            f"(target ≤ 2 s for 1000), {row['calls']} right-hand sides; "
            f"{row['certified']} certified, max relative error {row['max_rel']:.1e} "
            f"(target 1e-10), max residual {row['max_residual']:.1e}; "
            f"one integration of the answers and their probes at the final tolerance (the least "
            f"work left to any shooting handed them): {row['floor']:.2f} s CPU, "
            f"{row['floor_calls']} right-hand sides; "
            f"not certified: {row['reasons'] or 'none'}",
            flush=True,
        )
    print(
        f"   {geomstats_log(args.geomstats_python, args.pairs, args.geomstats_pairs, args.seed, sphere_row)}"
    )
    if args.surfaces != ["torus", "sphere"]:
        return
    print("   linear-basis manifold K = 9, certified log of 10 pairs:")
    rows = linear_basis_geodesics([10**3, 10**5, 10**7], 10, args.seed)
    per = [row["per_geodesic"] for row in rows]
    print(f"   per geodesic, slowest / fastest over D: {max(per) / min(per):.2f}x (target: flat in D)")
    row = pairwise_row(args.pairwise, args.seed)
    print(
        f"   pairwise_distance of {row['points']} flat-torus points: {row['time']:.2f} s wall, "
        f"{row['cpu']:.2f} s CPU (target ≤ 10 s for 200), max |error| {row['max_abs']:.1e}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run: D up to 10^5, 10^3 points")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, quick 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--geodesics", action="store_true", help="run only part 3, the geodesics")
    parser.add_argument("--pairs", type=int, default=1000, help="random pairs per surface in part 3")
    parser.add_argument("--pairwise", type=int, default=200, help="points for pairwise_distance in part 3")
    parser.add_argument(
        "--surfaces",
        nargs="+",
        choices=["torus", "sphere"],
        default=["torus", "sphere"],
        help="surfaces of the random pairs in part 3 (both, the default, also runs the linear-basis "
        "and pairwise rows)",
    )
    parser.add_argument("--geodesic-threads", type=int, default=1, help="torch threads in part 3 (default 1)")
    parser.add_argument(
        "--compile",
        choices=["inductor", "aot_eager"],
        default=None,
        help="part 3: random pairs with compile_geodesics(BACKEND) (compile time reported apart)",
    )
    parser.add_argument(
        "--geomstats-python",
        default=None,
        metavar="PATH",
        help="part 3: an interpreter where geomstats 2.8 imports (NumPy < 2), to time its log side by side",
    )
    parser.add_argument(
        "--geomstats-pairs",
        type=int,
        default=2,
        help="sphere pairs given to geomstats' solver (default 2, ~1 min each)",
    )
    args = parser.parse_args(argv)
    if args.geomstats_pairs < 1:
        parser.error(f"--geomstats-pairs must be a positive number of pairs, got {args.geomstats_pairs}")
    if args.geomstats_python is not None and (problem := check_geomstats_python(args.geomstats_python)):
        parser.error(problem)
    if args.geodesics:
        torch.set_num_threads(args.geodesic_threads)
        started = time.perf_counter()
        geodesic_report(args)
        print(f"\n(benchmark wall time {time.perf_counter() - started:.0f} s)")
        return 0
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 5)
    dims = [10**3, 10**5] if args.quick else [10**3, 10**5, 10**6, 10**7]
    points = 10**3 if args.quick else 10**4

    started = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(f"linear-basis manifold, {points} points, D in {dims}:")
    # as when the figures in docs/benchmarks.md were measured (Q is cached either way)
    with torch.no_grad():
        rows = linear_basis_rows(dims, points, repeats, args.seed)
        torus = torus_row(10**3, max(repeats, 20), args.seed)
    report(rows, torus, points, args.threads)
    print(f"\n(benchmark wall time {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
