"""The geometry tour: built-in surfaces against their closed forms, and the torus's curvature.

Everything here is computed by the generic machinery (forward-mode jets of ``phi``, then
``m × m`` algebra) and compared with the closed forms (do Carmo 1976, §2-5, §3-3):

* a table of metric entries, volume element and Gaussian curvature at a few chart points of the
  sphere, the torus in R³, the flat torus in R⁴ and a saddle graph, each next to its closed form
  and the absolute error, plus total areas and curve lengths by quadrature over the chart;
* a figure of the torus's Gaussian curvature over the chart (heat map) and on the surface in 3-D,
  with geodesics from one point in several directions drawn on both.

Outputs (in ``out``): ``geometry_table.json``, ``geometry_table.csv``, ``torus_curvature.png``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from torch import Tensor
from tqdm.auto import tqdm

from .. import plotting
from ..geometry import Circle, EmbeddedManifold, FlatTorus, Graph, Helix, Sphere, Torus
from ..io import write_csv, write_json

__all__ = [
    "TABLE_FIELDS",
    "Surface",
    "builtin_surfaces",
    "format_table",
    "run",
    "surface_rows",
    "torus_curvature_figure",
    "torus_geodesics",
    "total_rows",
    "write_table",
]

TWO_PI = 2 * math.pi
TABLE_FIELDS = ("manifold", "quantity", "s0", "s1", "computed", "closed_form", "abs_error")
# distinct on the red-white-blue curvature map (drawn with a white outline)
PATH_COLORS = ("#000000", "#ffd400", "#1b9e77", "#7b3294", "#ff7f00", "#00c4ff", "#8c510a", "#e7298a")
QUANTITIES = ("g_11", "g_12", "g_22", "volume_element", "gaussian_curvature")


@dataclass(frozen=True)
class Surface:
    """A built-in surface, how to sample chart points on it, and its closed forms.

    ``closed(s)`` maps chart points ``(N, 2)`` to ``{quantity: (N,)}`` for :data:`QUANTITIES`.
    """

    name: str
    manifold: EmbeddedManifold
    low: tuple[float, float]
    high: tuple[float, float]
    closed: Callable[[Tensor], dict[str, Tensor]]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` chart points uniform in the box ``[low, high]`` (float64)."""
        low = torch.tensor(self.low, dtype=torch.float64)
        high = torch.tensor(self.high, dtype=torch.float64)
        return low + (high - low) * torch.rand(n, 2, generator=generator, dtype=torch.float64)


def _sphere_closed(r: float) -> Callable[[Tensor], dict[str, Tensor]]:
    def closed(s: Tensor) -> dict[str, Tensor]:
        theta = s[:, 0]
        return {
            "g_11": torch.full_like(theta, r**2),
            "g_12": torch.zeros_like(theta),
            "g_22": (r * torch.sin(theta)) ** 2,
            "volume_element": r**2 * torch.sin(theta),
            "gaussian_curvature": torch.full_like(theta, 1 / r**2),
        }

    return closed


def _torus_closed(big: float, r: float) -> Callable[[Tensor], dict[str, Tensor]]:
    def closed(s: Tensor) -> dict[str, Tensor]:
        ring = big + r * torch.cos(s[:, 1])
        return {
            "g_11": ring**2,
            "g_12": torch.zeros_like(ring),
            "g_22": torch.full_like(ring, r**2),
            "volume_element": r * ring,
            "gaussian_curvature": torch.cos(s[:, 1]) / (r * ring),
        }

    return closed


def _flat_torus_closed(s: Tensor) -> dict[str, Tensor]:
    one, zero = torch.ones_like(s[:, 0]), torch.zeros_like(s[:, 0])
    return {"g_11": one, "g_12": zero, "g_22": one, "volume_element": one, "gaussian_curvature": zero}


def _saddle(s: Tensor) -> Tensor:
    return 0.5 * (s[..., 0] ** 2 - s[..., 1] ** 2)


def _saddle_closed(s: Tensor) -> dict[str, Tensor]:
    """Monge patch of ``z = (x² − y²)/2``: ``f_x = x``, ``f_y = −y``, ``f_xx = 1``, ``f_yy = −1``."""
    x, y = s[:, 0], s[:, 1]
    w = 1 + x**2 + y**2  # 1 + |∇f|² = det g
    return {
        "g_11": 1 + x**2,
        "g_12": -x * y,
        "g_22": 1 + y**2,
        "volume_element": w.sqrt(),
        "gaussian_curvature": -1 / w**2,  # (f_xx f_yy − f_xy²) / (1 + |∇f|²)²
    }


def builtin_surfaces() -> list[Surface]:
    """Sphere (r = 2), torus (R = 2, r = 1), flat torus in R⁴, saddle graph ``z = (x² − y²)/2``."""
    return [
        Surface("sphere r=2", Sphere(2.0), (0.3, 0.0), (math.pi - 0.3, TWO_PI), _sphere_closed(2.0)),
        Surface("torus R=2 r=1", Torus(2.0, 1.0), (0.0, 0.0), (TWO_PI, TWO_PI), _torus_closed(2.0, 1.0)),
        Surface("flat torus R^4", FlatTorus(), (0.0, 0.0), (TWO_PI, TWO_PI), _flat_torus_closed),
        Surface("graph z=(x^2-y^2)/2", Graph(_saddle), (-1.0, -1.0), (1.0, 1.0), _saddle_closed),
    ]


def _row(manifold: str, quantity: str, s, computed: float, closed: float) -> dict:
    s0, s1 = (None, None) if s is None else (float(s[0]), float(s[1]))
    return {
        "manifold": manifold,
        "quantity": quantity,
        "s0": s0,
        "s1": s1,
        "computed": float(computed),
        "closed_form": float(closed),
        "abs_error": abs(float(computed) - float(closed)),
    }


def surface_rows(surface: Surface, s: Tensor) -> list[dict]:
    """Table rows for ``surface`` at chart points ``s: (N, 2)``, from one jet evaluation."""
    local = surface.manifold.local_geometry(s, 2)
    g = local.metric
    computed = {
        "g_11": g[:, 0, 0],
        "g_12": g[:, 0, 1],
        "g_22": g[:, 1, 1],
        "volume_element": local.volume_element,
        "gaussian_curvature": local.gaussian_curvature,
    }
    closed = surface.closed(s)
    return [
        _row(surface.name, q, s[n].tolist(), computed[q][n].item(), closed[q][n].item())
        for n in range(len(s))
        for q in QUANTITIES
    ]


def total_rows(quadrature_points: int = 64) -> list[dict]:
    """Total area / length by quadrature over the chart against the closed forms."""
    helix = Helix(radius=1.0, pitch=0.5, turns=2.0)
    cases = [
        ("sphere r=2", "area", Sphere(2.0), 4 * math.pi * 2.0**2),
        ("torus R=2 r=1", "area", Torus(2.0, 1.0), 4 * math.pi**2 * 2.0 * 1.0),
        ("flat torus R^4", "area", FlatTorus(), 4 * math.pi**2),
        ("circle r=1.5", "length", Circle(1.5), TWO_PI * 1.5),
        ("helix r=1 c=0.5, 2 turns", "length", helix, 2 * TWO_PI * math.hypot(1.0, 0.5)),
    ]
    return [
        _row(name, quantity, None, manifold.volume(quadrature_points).item(), closed)
        for name, quantity, manifold, closed in cases
    ]


def write_table(rows: list[dict], out: Path) -> tuple[Path, Path]:
    """Write ``geometry_table.json`` and ``geometry_table.csv`` into ``out`` (atomically, through
    :mod:`geomanifold.io`; empty CSV cells for the totals' missing chart points)."""
    json_path, csv_path = out / "geometry_table.json", out / "geometry_table.csv"
    payload = {
        "description": (
            "Induced metric g_ij, volume element sqrt(det g) and Gaussian curvature K of built-in "
            "surfaces at chart points (s0, s1), computed by forward-mode jets of phi, next to the "
            "closed forms (do Carmo 1976, §2-5, §3-3); rows without a point are totals by quadrature."
        ),
        "dtype": "float64",
        "max_abs_error": max(row["abs_error"] for row in rows),
        "rows": rows,
    }
    write_json(json_path, payload)
    write_csv(csv_path, rows, TABLE_FIELDS)
    return json_path, csv_path


def format_table(rows: list[dict]) -> str:
    """The table as aligned text."""
    header = (
        f"{'manifold':<26} {'quantity':<19} {'chart point':>17} "
        f"{'computed':>22} {'closed form':>22} {'abs error':>9}"
    )
    lines = [header, "-" * len(header)]
    previous = None
    for row in rows:
        name = row["manifold"] if row["manifold"] != previous else ""
        previous = row["manifold"]
        point = "" if row["s0"] is None else f"({row['s0']:+.3f}, {row['s1']:+.3f})"
        lines.append(
            f"{name:<26} {row['quantity']:<19} {point:>17} {row['computed']:>22.15g} "
            f"{row['closed_form']:>22.15g} {row['abs_error']:>9.1e}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- torus figure
def torus_geodesics(
    torus: Torus, start: tuple[float, float], count: int = 8, length: float = 5.0, times: int = 17
) -> np.ndarray:
    """Unit-speed geodesics of ``length`` from ``start`` in ``count`` evenly spread directions.

    One batched integration (``torus.geodesic``) gives ``times`` exact samples per geodesic; for
    drawing they are refined to 400 samples by a cubic spline (the geodesics are smooth and the
    samples are close, so the spline is far below a pixel off the integrated path).

    Returns:
        unwrapped chart paths ``(count, 400, 2)``.
    """
    s0 = torch.tensor(start, dtype=torch.float64)
    angles = torch.arange(count, dtype=torch.float64) * (TWO_PI / count) + math.pi / count
    g = torus.metric(s0)
    # orthonormal frame of the diagonal metric: unit vectors e_u / sqrt(g_11), e_v / sqrt(g_22)
    v = length * torch.stack([torch.cos(angles) / g[0, 0].sqrt(), torch.sin(angles) / g[1, 1].sqrt()], -1)
    path = torus.geodesic(s0, v, times=times).numpy()  # (times, count, 2)
    t = np.linspace(0.0, 1.0, times)
    fine = np.linspace(0.0, 1.0, 400)
    return np.moveaxis(CubicSpline(t, path, axis=0)(fine), 0, 1)


def _pi_ticks(axis) -> None:
    ticks = np.arange(5) * math.pi / 2
    axis.set_ticks(ticks, ["0", "π/2", "π", "3π/2", "2π"])


def torus_curvature_figure(
    torus: Torus,
    paths: np.ndarray,
    start: tuple[float, float],
    path: Path,
    grid: int = 180,
    elev: float = 32.0,
    azim: float = -75.0,
) -> Path:
    """Heat map of ``K(u, v)`` with geodesics, and the torus in 3-D coloured by ``K``."""
    # chart heat map on cell centres, so the image covers exactly [0, 2π]²
    centres = (np.arange(grid) + 0.5) * TWO_PI / grid
    uu, vv = np.meshgrid(centres, centres, indexing="ij")
    s = torch.as_tensor(np.stack([uu, vv], -1))
    curvature = torus.gaussian_curvature(s).numpy()
    norm = plotting.diverging_norm(curvature)
    colors = [PATH_COLORS[i % len(PATH_COLORS)] for i in range(len(paths))]

    fig = plotting.new_figure(13.5, 5.6)
    ax = fig.add_subplot(1, 2, 1)
    plotting.plot_chart_field(
        ax,
        centres,
        centres,
        curvature,
        norm=norm,
        label="Gaussian curvature K",
        xlabel="u (around the central axis)",
        ylabel="v (around the tube)",
    )
    contour = ax.contour(
        centres, centres, curvature.T, levels=[0.0], colors="k", linewidths=0.8, linestyles="--"
    )
    ax.clabel(contour, fmt={0.0: "K = 0"}, fontsize=8)
    plotting.plot_chart_paths(ax, list(paths), [TWO_PI, TWO_PI], colors, start=np.asarray(start))
    ax.set_xlim(0, TWO_PI)
    ax.set_ylim(0, TWO_PI)
    _pi_ticks(ax.xaxis)
    _pi_ticks(ax.yaxis)
    ax.set_title(
        f"Torus R={torus.R:g}, r={torus.r:g}: K = cos v / (r (R + r cos v)) over the chart\n"
        f"{len(paths)} unit-speed geodesics of length {_path_length(torus, paths[0]):.2f} from one point"
    )

    # 3-D panel: the surface coloured by K, geodesics drawn where visible (ray-marched occlusion)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d", computed_zorder=False)
    ax3.set_proj_type("ortho")
    nu, nv = 121, 73
    su = np.linspace(0, TWO_PI, nu)
    sv = np.linspace(0, TWO_PI, nv)
    mesh = torch.as_tensor(np.stack(np.meshgrid(su, sv, indexing="ij"), -1))
    xyz = torus.point(mesh).numpy()
    centre_u, centre_v = (su[1:] + su[:-1]) / 2, (sv[1:] + sv[:-1]) / 2
    cells = torch.as_tensor(np.stack(np.meshgrid(centre_u, centre_v, indexing="ij"), -1))
    plotting.plot_surface_field(ax3, xyz, torus.gaussian_curvature(cells).numpy(), norm=norm)

    eye = np.array(
        [
            math.cos(math.radians(elev)) * math.cos(math.radians(azim)),
            math.cos(math.radians(elev)) * math.sin(math.radians(azim)),
            math.sin(math.radians(elev)),
        ]
    )

    def inside(p: np.ndarray) -> np.ndarray:
        return (np.hypot(p[:, 0], p[:, 1]) - torus.R) ** 2 + p[:, 2] ** 2 < torus.r**2

    curves = [torus.point(torch.as_tensor(p)).numpy() for p in paths]
    hidden = [plotting.occluded(c, inside, eye) for c in curves]
    plotting.plot_surface_paths(ax3, curves, colors, hidden)
    p0 = torus.point(torch.tensor(start, dtype=torch.float64)).numpy()
    ax3.plot(*p0[:, None], marker="o", ms=7, mfc="white", mec="black", mew=1.5, zorder=11)
    extent = torus.R + torus.r
    ax3.set_xlim(-extent, extent)
    ax3.set_ylim(-extent, extent)
    ax3.set_zlim(-torus.r, torus.r)
    ax3.set_box_aspect((1, 1, torus.r / extent), zoom=1.3)
    ax3.view_init(elev=elev, azim=azim)
    ax3.set_axis_off()
    ax3.set_title("The same torus in R³, coloured by K\n(dotted: geodesic behind the surface)")
    plotting.save_png(fig, path)
    return path


def _path_length(torus: Torus, path: np.ndarray) -> float:
    xyz = torus.point(torch.as_tensor(path)).numpy()
    return float(np.linalg.norm(np.diff(xyz, axis=0), axis=1).sum())


# --------------------------------------------------------------------------- the tour
def run(out: str | Path, points: int = 4, seed: int = 0, progress: bool = True, echo=print) -> dict:
    """Run the tour: compute and print the table, write it, draw the torus figure.

    Args:
        out: output folder (created).
        points: chart points per surface in the table.
        seed: seed of the chart points.
        progress: show a tqdm progress bar.
        echo: where the printed table goes (``print`` by default).

    Returns:
        a summary: output file names (in ``out``), the number of rows, the largest absolute error.
    """
    if not (isinstance(points, int) and points >= 1):
        raise ValueError(f"points must be a positive integer, got {points!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    surfaces = builtin_surfaces()
    torus = Torus(2.0, 1.0)
    start = (3 * math.pi / 2, math.pi / 4)

    rows: list[dict] = []
    with tqdm(total=len(surfaces) + 3, desc="geometry tour", unit="step", disable=not progress) as bar:
        for surface in surfaces:
            bar.set_postfix_str(surface.name)
            rows.extend(surface_rows(surface, surface.sample(points, generator)))
            bar.update()
        bar.set_postfix_str("areas and lengths")
        rows.extend(total_rows())
        bar.update()
        bar.set_postfix_str("geodesics")
        paths = torus_geodesics(torus, start)
        bar.update()
        bar.set_postfix_str("figure")
        figure = torus_curvature_figure(torus, paths, start, out / "torus_curvature.png")
        bar.update()

    json_path, csv_path = write_table(rows, out)
    max_error = max(row["abs_error"] for row in rows)
    echo(format_table(rows))
    echo(f"largest absolute error against the closed forms: {max_error:.2e}")
    return {
        "table_json": json_path.name,
        "table_csv": csv_path.name,
        "figure": figure.name,
        "rows": len(rows),
        "max_abs_error": max_error,
    }
