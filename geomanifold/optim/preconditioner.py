"""The natural-gradient preconditioner for any ``torch.optim`` optimizer (docs/conditioning.md).

Between ``backward()`` and the optimizer's ``step()``,
:meth:`NaturalGradientPreconditioner.precondition_` replaces every ``P.grad`` of its groups by
``M⁻¹ P.grad`` (``(G⁻¹ ⊗ I) P.grad`` for control points)::

    loss.backward()
    preconditioner.precondition_()
    optimizer.step()

The wrapped optimizer then sees natural gradients and does what it does with any gradient:
``torch.optim.SGD`` takes the natural step (with its weight decay added *after* the mixing, i.e.
the natural gradient of ``λ/2 ∫ ||W(s)||² dμ`` under the chart metric, unlike
:class:`~geomanifold.optim.sgd.NaturalGradientSGD`); ``torch.optim.Adam`` keeps per-entry
moments of ``r = M⁻¹ g``, which rescales the K control points separately and partly undoes the
mixing (see :class:`~geomanifold.optim.adam.NaturalGradientAdam` for the variant that keeps it).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from .groups import (
    load_metric_states,
    metric_states,
    natural_gradients_,
    observe_contexts,
    resolve_metric,
    split_control_points,
)

__all__ = ["NaturalGradientPreconditioner"]


class NaturalGradientPreconditioner:
    """Rewrites gradients in place as natural gradients: ``P.grad ← M⁻¹ P.grad``.

    Args:
        params: control-point param groups ``{"params": [...], "basis": basis, "metric": ...}``
            (see :mod:`geomanifold.optim.groups`), or plain parameters (left untouched). The
            optimizer that takes the step may group the same parameters any way it likes.
        metric: default metric of the groups with a basis (``"chart"``).

    Attributes:
        param_groups: the groups, each ``"metric"`` resolved to a ``Metric`` or ``None``.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], metric: object = "chart"):
        groups = list(params)
        if not groups:
            raise ValueError("params is empty; give the control-point param groups to precondition")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.default_metric = metric
        self.param_groups: list[dict] = []
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (same keys as the constructor's groups); marked control points given
        without a basis are found (:func:`~geomanifold.optim.groups.split_control_points`)."""
        for part in split_control_points(param_group):
            params = part["params"]
            group = {
                "metric": self.default_metric,
                **part,
                "params": [params] if isinstance(params, Tensor) else list(params),
            }
            group["metric"] = resolve_metric(group, len(self.param_groups))
            self.param_groups.append(group)

    @torch.no_grad()
    def precondition_(self) -> None:
        """Replace ``P.grad`` by ``M⁻¹ P.grad`` for every parameter with a gradient."""
        for group in self.param_groups:
            natural_gradients_(group)

    def observe(self, s) -> None:
        """Record the contexts ``s: (..., m)`` of the current batch for ``"empirical"`` metrics."""
        observe_contexts(self.param_groups, s)

    def state_dict(self) -> dict:
        """``{"metric_states": [...]}``: tensors and numbers only."""
        return {"metric_states": metric_states(self.param_groups)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict` (same groups, same metrics)."""
        load_metric_states(self.param_groups, state_dict["metric_states"])
