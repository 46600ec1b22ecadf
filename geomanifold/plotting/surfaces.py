"""Plots of surfaces in a chart: scalar fields as heat maps, paths drawn across periodic wraps,
and the surface itself in 3-D coloured by a field, with occlusion-aware curves on it.

Everything renders headless: figures are plain :class:`matplotlib.figure.Figure` objects on an Agg
canvas (no pyplot state, no display needed) and are written as PNG.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, TwoSlopeNorm

__all__ = [
    "diverging_norm",
    "occluded",
    "plot_chart_field",
    "plot_chart_paths",
    "plot_surface_field",
    "plot_surface_paths",
    "split_at_wraps",
]


def _outline(linewidth: float) -> list:
    """A white outline that keeps a line readable on any background colour."""
    return [patheffects.withStroke(linewidth=linewidth + 2.0, foreground="white"), patheffects.Normal()]


def diverging_norm(values: np.ndarray) -> Normalize:
    """A colour norm centred at 0 for a field of either sign (two linear slopes around 0)."""
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if low < 0 < high:
        return TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high)
    bound = max(abs(low), abs(high)) or 1.0
    return Normalize(vmin=-bound, vmax=bound)


def split_at_wraps(path: np.ndarray, periods: Sequence[float | None]) -> list[np.ndarray]:
    """Wrap an unwrapped chart path into the canonical chart and cut it where it crosses a seam.

    At each crossing the path is continued to the seam on both sides (by linear interpolation of
    the crossing step), so drawn segments end exactly at the chart border instead of jumping
    across the plot.

    Args:
        path: points ``(T, m)`` of a continuous (unwrapped) path.
        periods: per coordinate the period (canonical range ``[0, period)``) or None.

    Returns:
        pieces ``(T_i, m)``, each inside the canonical chart.
    """
    path = np.asarray(path, dtype=float)
    period = np.array([0.0 if p is None else float(p) for p in periods])
    periodic = period > 0
    sheet = np.where(periodic, np.floor(path / np.where(periodic, period, 1.0)), 0).astype(int)

    offset = sheet[0].copy()
    pieces: list[np.ndarray] = []
    current = [path[0] - offset * period]
    for t in range(1, len(path)):
        a, b = path[t - 1], path[t]
        # each seam crossed in this step: (fraction along the step, coordinate, direction)
        cuts = []
        for i in np.flatnonzero(sheet[t] != sheet[t - 1]):
            seam = max(sheet[t, i], sheet[t - 1, i]) * period[i]
            cuts.append(((seam - a[i]) / (b[i] - a[i]), i, int(np.sign(b[i] - a[i]))))
        cuts.sort()
        for frac, i, step in cuts:
            x = a + frac * (b - a)
            current.append(x - offset * period)
            pieces.append(np.array(current))
            offset[i] += step
            current = [x - offset * period]
        offset = sheet[t].copy()
        current.append(b - offset * period)
    pieces.append(np.array(current))
    return [piece for piece in pieces if len(piece) > 1]


def plot_chart_field(
    ax: Axes,
    u: np.ndarray,
    v: np.ndarray,
    values: np.ndarray,
    *,
    norm: Normalize | None = None,
    cmap: str = "RdBu_r",
    label: str = "",
    xlabel: str = "u",
    ylabel: str = "v",
):
    """Heat map of ``values[i, j]`` at ``(u[i], v[j])`` with a colour bar; returns the image."""
    norm = norm or diverging_norm(values)
    du, dv = (u[1] - u[0]) / 2, (v[1] - v[0]) / 2
    image = ax.imshow(
        values.T,
        origin="lower",
        extent=(u[0] - du, u[-1] + du, v[0] - dv, v[-1] + dv),
        cmap=cmap,
        norm=norm,
        aspect="auto",
        interpolation="bilinear",
    )
    ax.figure.colorbar(image, ax=ax, label=label, shrink=0.9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return image


def plot_chart_paths(
    ax: Axes,
    paths: Sequence[np.ndarray],
    periods: Sequence[float | None],
    colors: Sequence,
    *,
    start: np.ndarray | None = None,
    linewidth: float = 1.8,
) -> None:
    """Draw chart paths ``(T, 2)`` wrapped into the chart without lines across the seams."""
    for path, color in zip(paths, colors, strict=True):
        for piece in split_at_wraps(path, periods):
            ax.plot(
                piece[:, 0],
                piece[:, 1],
                color=color,
                lw=linewidth,
                solid_capstyle="round",
                path_effects=_outline(linewidth),
            )
    if start is not None:
        ax.plot(*start, marker="o", ms=7, mfc="white", mec="black", mew=1.5, zorder=5)


def plot_surface_field(
    ax,
    xyz: np.ndarray,
    values: np.ndarray,
    *,
    norm: Normalize,
    cmap: str = "RdBu_r",
    light: Sequence[float] = (-0.4, -0.6, 1.0),
    ambient: float = 0.72,
) -> None:
    """A parametrised surface ``xyz: (nu, nv, 3)`` on 3-D axes coloured by ``values``.

    ``values`` is ``(nu - 1, nv - 1)`` (one per face) or ``(nu, nv)``. Faces are lit mildly
    (``ambient`` plus a Lambert term toward ``light``) so the shape reads while the colours stay
    comparable with the colour bar.
    """
    colors = colormaps[cmap](norm(values))
    du = np.gradient(xyz, axis=0)
    dv = np.gradient(xyz, axis=1)
    normal = np.cross(du, dv)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-300
    direction = np.asarray(light, dtype=float) / np.linalg.norm(light)
    lambert = np.abs(normal @ direction)
    if values.shape != xyz.shape[:2]:  # one value per face: average the corner lighting
        lambert = (lambert[1:, 1:] + lambert[:-1, 1:] + lambert[1:, :-1] + lambert[:-1, :-1]) / 4
    colors[..., :3] *= (ambient + (1 - ambient) * lambert)[..., None]
    ax.plot_surface(
        xyz[..., 0],
        xyz[..., 1],
        xyz[..., 2],
        facecolors=colors,
        rstride=1,
        cstride=1,
        linewidth=0,
        antialiased=False,
        shade=False,
    )


def occluded(
    points: np.ndarray,
    inside: Callable[[np.ndarray], np.ndarray],
    toward_eye: np.ndarray,
    *,
    lift: float = 0.03,
    reach: float = 10.0,
    samples: int = 400,
) -> np.ndarray:
    """Whether surface points are hidden from an orthographic camera by a closed surface.

    A ray from each point (lifted by ``lift`` toward the eye) is marched toward the eye; the point
    is hidden when any sample lies inside the solid (``inside(xyz) -> bool``).
    """
    direction = np.asarray(toward_eye, dtype=float)
    direction = direction / np.linalg.norm(direction)
    steps = np.linspace(lift, reach, samples)
    rays = points[:, None, :] + steps[None, :, None] * direction
    return inside(rays.reshape(-1, 3)).reshape(len(points), samples).any(axis=1)


def plot_surface_paths(
    ax,
    paths: Sequence[np.ndarray],
    colors: Sequence,
    hidden: Sequence[np.ndarray],
    *,
    linewidth: float = 1.8,
) -> None:
    """Draw 3-D paths ``(T, 3)`` on a surface: visible parts solid, hidden parts faint and dashed."""
    for path, color, mask in zip(paths, colors, hidden, strict=True):
        for flag, style, alpha in ((False, "-", 1.0), (True, ":", 0.45)):
            segment = np.where((mask == flag)[:, None], path, np.nan)
            ax.plot(
                segment[:, 0],
                segment[:, 1],
                segment[:, 2],
                color=color,
                lw=linewidth if not flag else linewidth * 0.7,
                ls=style,
                alpha=alpha,
                zorder=10,
                path_effects=None if flag else _outline(linewidth),
            )
