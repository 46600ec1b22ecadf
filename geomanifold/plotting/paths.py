"""Figures of quantities along paths between two networks (``geomanifold connect``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from matplotlib.figure import Figure

from .figures import new_figure

__all__ = ["plot_along_paths"]

PANELS = (
    ("test_loss", "test loss"),
    ("test_accuracy", "test accuracy"),
    ("function_speed", "function-space speed"),
)


def plot_along_paths(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    panels: Sequence[tuple[str, str]] = PANELS,
    title: str = "",
) -> Figure:
    """One panel per ``(key, label)`` in ``panels``: each path's ``curves[name][key]`` against ``t``.

    Args:
        curves: ``{path name: evaluation}`` with ``"t": [T]`` and the panel keys (``[T]``, or
            ``[T − 1]`` values at segment midpoints such as ``"function_speed"``). Names ending in
            ``" (aligned)"`` are drawn dashed in the colour of the unaligned path of the same method.
    """
    fig = new_figure(4.0 * len(panels), 3.2)
    axes = fig.subplots(1, len(panels))
    axes = [axes] if len(panels) == 1 else list(axes)
    methods = list(dict.fromkeys(name.removesuffix(" (aligned)") for name in curves))
    colours = {method: f"C{i}" for i, method in enumerate(methods)}
    for ax, (key, label) in zip(axes, panels, strict=True):
        for name, curve in curves.items():
            t, values = curve["t"], curve[key]
            if len(values) == len(t) - 1:  # segment midpoints
                t = [(a + b) / 2 for a, b in pairwise(t)]
            aligned = name.endswith(" (aligned)")
            ax.plot(
                t,
                values,
                color=colours[name.removesuffix(" (aligned)")],
                lw=1.6,
                ls="--" if aligned else "-",
                label=name,
            )
        ax.set_xlabel("t")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
