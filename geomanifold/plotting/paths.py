"""Figures of quantities along paths between two networks (``geomanifold connect``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from matplotlib.figure import Figure

from .figures import new_figure

__all__ = ["PANELS", "SQUARED_SPEED_LABEL", "plot_along_paths"]

# (key, panel title, y-axis label with units)
PANELS = (
    ("test_loss", "test loss", "cross-entropy (nats per example)"),
    ("test_accuracy", "test accuracy", "fraction of test examples correct"),
    ("function_speed", "function-space speed", "sqrt(2 KL) per unit t  (KL in nats)"),
)
SQUARED_SPEED_LABEL = "sqrt(mean squared logit change) per unit t"
T_LABEL = "t: position along the path (0 = network A, 1 = network B)"


def plot_along_paths(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    panels: Sequence[tuple[str, str, str]] = PANELS,
    title: str = "",
) -> Figure:
    """One panel per ``(key, title, y label)`` in ``panels``: each path's ``curves[name][key]``
    against ``t``, the path's parameter (``γ(0)`` is network A, ``γ(1)`` network B).

    The default speed label is for the KL divergence; for ``kind="squared"`` replace the last
    panel's label with :data:`SQUARED_SPEED_LABEL`.

    Args:
        curves: ``{path name: evaluation}`` with ``"t": [T]`` and the panel keys (``[T]``, or
            ``[T − 1]`` values at segment midpoints such as ``"function_speed"``). Names ending in
            ``" (aligned)"`` are drawn dashed in the colour of the unaligned path of the same method.
    """
    fig = new_figure(4.4 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels))
    axes = [axes] if len(panels) == 1 else list(axes)
    methods = list(dict.fromkeys(name.removesuffix(" (aligned)") for name in curves))
    colours = {method: f"C{i}" for i, method in enumerate(methods)}
    for ax, (key, label, ylabel) in zip(axes, panels, strict=True):
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
        ax.set_xlabel(T_LABEL, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
