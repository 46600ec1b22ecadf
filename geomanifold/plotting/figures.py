"""Headless figures: a matplotlib :class:`~matplotlib.figure.Figure` on an Agg canvas (no pyplot
state, no display) and an atomic, byte-reproducible PNG writer."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import atomic_write

__all__ = ["new_figure", "save_png"]


def new_figure(width: float, height: float, dpi: int = 120) -> Figure:
    """A figure on an Agg canvas (headless; independent of the pyplot backend)."""
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically (parent folders created; no timestamp in the metadata, so
    the same figure gives the same bytes) and return the path."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return atomic_write(path, lambda stream: stream.write(buffer.getvalue()))
