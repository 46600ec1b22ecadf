"""Headless plotting helpers (matplotlib, Agg canvas, PNG output)."""

from .figures import new_figure, save_png
from .surfaces import (
    diverging_norm,
    occluded,
    plot_chart_field,
    plot_chart_paths,
    plot_surface_field,
    plot_surface_paths,
    split_at_wraps,
)

__all__ = [
    "diverging_norm",
    "new_figure",
    "occluded",
    "plot_chart_field",
    "plot_chart_paths",
    "plot_surface_field",
    "plot_surface_paths",
    "save_png",
    "split_at_wraps",
]
