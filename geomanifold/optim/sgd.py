"""Natural-gradient SGD: the volume-constrained step as a torch optimizer (Benjamin et al. 2025)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from .groups import ManifoldGroupsMixin, check_nonnegative, natural_gradients_

__all__ = ["NaturalGradientSGD"]


class NaturalGradientSGD(ManifoldGroupsMixin, torch.optim.Optimizer):
    """SGD whose direction is the natural gradient ``M⁻¹ g`` of each group's metric.

    Per parameter ``P`` of a group with metric ``M`` (``G ⊗ I`` for control points, see
    :mod:`geomanifold.optim.groups` for the choices), in this order::

        g ← ∇_P L + λ P                  weight decay on the Euclidean gradient, before M⁻¹
        g ← M⁻¹ g                        (G⁻¹ ⊗ I) g: mixes the K control points along dim 0
        b ← g at the first step, else μ b + (1 − τ) g
        d ← g + μ b if nesterov else b   (d = g without momentum)
        P ← P − η d

    Groups without a metric (no basis, or ``metric="none"``) take exactly the
    ``torch.optim.SGD`` step, and so does ``K = 1`` with the chart metric of a constant basis.
    The step equals ``geoopt.optim.RiemannianSGD`` on ``ControlPointManifold`` parameters (which
    also adds the decay before ``egrad2rgrad``) except for geoopt's first momentum step, see
    :mod:`geomanifold.optim.geoopt_bridge`. Decay before the mixing makes ``λ P`` the natural
    gradient of ``λ/2 Σ_k ||P_k||²``; decay after the mixing would instead be that of
    ``λ/2 ∫ ||W(s)||² dμ`` under the chart metric.

    Like geoopt's optimizers, ``step()`` works on each ``.grad`` in place (it ends holding the
    direction ``d``), so no ``K × D`` temporaries are allocated.

    Args:
        params: parameters or param groups; control-point groups carry ``"basis"`` and optionally
            ``"metric"`` (and may override any argument below).
        lr: learning rate ``η >= 0``.
        momentum: ``μ >= 0``.
        dampening: ``τ``.
        weight_decay: ``λ >= 0``.
        nesterov: Nesterov momentum (needs ``μ > 0`` and ``τ = 0``).
        metric: default metric of the groups with a basis (``"chart"``).

    Call :meth:`observe` with each batch's contexts when a group uses ``"empirical"``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        metric: object = "chart",
    ):
        check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "metric": metric,
        }
        super().__init__(params, defaults)

    def step_group(self, group: dict, grads: list[Tensor | None]) -> None:
        """The SGD update of one group from its Euclidean gradients (weight decay added)."""
        momentum, dampening = group["momentum"], group["dampening"]
        for p, d in zip(group["params"], natural_gradients_(group), strict=True):
            if d is None:
                continue
            if momentum:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = d.clone()
                else:
                    state["momentum_buffer"].mul_(momentum).add_(d, alpha=1 - dampening)
                buffer = state["momentum_buffer"]
                d = d.add_(buffer, alpha=momentum) if group["nesterov"] else buffer
            p.add_(d, alpha=-group["lr"])
