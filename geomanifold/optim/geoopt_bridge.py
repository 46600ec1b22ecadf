"""geoopt bridge: control points as points of a flat manifold with the metric ``G ⊗ I``.

A control-point tensor ``P: (K, *S)`` lives in ``R^{K×D}`` with the constant metric of the
volume constraint (Benjamin et al. 2025): ``⟨u, v⟩ = Σ_kl G_kl ⟨u_k, v_l⟩ = ∫ ⟨ΔW_u(s), ΔW_v(s)⟩ dμ``
(chart metric). It is flat, so the exponential map is ``x + u``, transport is the identity and
both projections are the identity; :class:`ControlPointManifold` implements these, with
``egrad2rgrad = G⁻¹ ⊗ I`` and a fibre-wise ``component_inner`` (one value per weight coordinate,
the ``G``-inner product of its K entries), which is what ``geoopt.optim.RiemannianAdam`` uses
for its second moment. ``G`` and ``G⁻¹`` are kept as their diagonals where they are diagonal,
as :class:`~geomanifold.optim.sgd.NaturalGradientSGD` keeps them (:func:`~.metric.compact`).

Equivalences (tested):

- ``geoopt.optim.RiemannianSGD`` = :class:`~geomanifold.optim.sgd.NaturalGradientSGD`, with or
  without momentum, except at geoopt's first momentum step: geoopt 0.5.1 starts the buffer at the
  raw Euclidean gradient and then also accumulates, ``b₁ = μ ∇L + (1 − τ) G⁻¹(∇L + λP)``, where
  torch's SGD (and ours) has ``b₁ = G⁻¹(∇L + λP)``. Seeding geoopt's state with a zero buffer
  (``optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)``) gives identical steps for
  ``τ = 0``.
- ``geoopt.optim.RiemannianAdam`` = :class:`~geomanifold.optim.adam.NaturalGradientAdam`.

The manifold holds a fixed ``G``; for metrics that change (``"empirical"``, ``"volume"``) call
``manifold.set_metric_(metric.matrix(params))`` before each step.

Retraction in place. ``RiemannianSGD.step`` and ``RiemannianAdam.step`` take
``new_point = retr(point, u)`` (or ``retr_transp(point, u, buffer)``) and at once
``point.copy_(new_point)`` (and ``buffer.copy_(new_buffer)``), reading nothing in between. When
called from those two steps (recognised by the caller's code object), the retraction adds ``u``
into the parameter in place and returns it, and the transport returns the buffer itself: the
copies are then copies of a tensor onto itself, which ``Tensor.copy_`` skips. Any other caller
(``ManifoldTensor.retr``, line searches, samplers, user code) gets the out-of-place ``x + u``.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable

import geoopt
import torch
from torch import Tensor, nn

from ..bases.basis import spd_inverse
from .groups import resolve_metric
from .metric import KroneckerMetric, compact, fibre_inner, mix, mix_

__all__ = ["ControlPointManifold", "to_manifold_parameters"]

_COPYING_STEPS = frozenset(
    inspect.unwrap(optimizer.step).__code__
    for optimizer in (geoopt.optim.RiemannianSGD, geoopt.optim.RiemannianAdam)
)
"""The geoopt optimizer steps that copy the retracted point straight back into the parameter."""


def _called_by_copying_step() -> bool:
    """Whether the caller of the retraction is one of :data:`_COPYING_STEPS`."""
    return sys._getframe(2).f_code in _COPYING_STEPS


class ControlPointManifold(geoopt.Manifold):
    """``R^{K×D}`` with the metric ``G ⊗ I``; points and tangent vectors are ``(K, *S)`` tensors.

    Args:
        metric: SPD ``G: (K, K)``; the attributes ``metric`` and ``metric_inverse`` hold ``G``
            and ``G⁻¹`` as ``(K,)`` diagonals where they are diagonal, else ``(K, K)``.
    """

    name = "ControlPoints"
    ndim = 1
    reversible = True

    def __init__(self, metric: Tensor):
        super().__init__()
        self.size = metric.shape[0]
        self.register_buffer("metric", torch.empty(0))
        self.register_buffer("metric_inverse", torch.empty(0))
        self.set_metric_(metric)

    def set_metric_(self, metric: Tensor) -> None:
        """Replace ``G`` (same ``K``); raises ``ValueError`` if it is not SPD."""
        if metric.shape != (self.size, self.size):
            raise ValueError(f"metric must have shape ({self.size}, {self.size}), got {tuple(metric.shape)}")
        self.metric = compact(metric).clone()
        self.metric_inverse = compact(spd_inverse(metric.detach(), "metric"))

    def _check_shape(self, shape: tuple[int, ...], name: str) -> tuple[bool, str | None]:
        if len(shape) >= 1 and shape[0] == self.size:
            return True, None
        return (
            False,
            f"{name} must have shape ({self.size}, ...) for K={self.size}, got {tuple(shape)}",
        )

    def _check_point_on_manifold(self, x: Tensor, *, atol=1e-5, rtol=1e-5) -> tuple[bool, None]:
        return True, None

    def _check_vector_on_tangent(self, x: Tensor, u: Tensor, *, atol=1e-5, rtol=1e-5) -> tuple[bool, None]:
        return True, None

    def inner(self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False) -> Tensor:
        """``Σ_kl G_kl ⟨u_k, v_l⟩``: a scalar (shape ``(1,)*ndim`` with ``keepdim``)."""
        total = self.component_inner(x, u, v).sum()
        return total.reshape((1,) * x.ndim) if keepdim else total

    def component_inner(self, x: Tensor, u: Tensor, v: Tensor | None = None) -> Tensor:
        """Fibre-wise ``Σ_kl G_kl u_{k,d} v_{l,d}``: ``(1, *S)``; ``v = None`` means ``u`` (≥ 0)."""
        if v is None:
            return fibre_inner(self.metric, u, u).clamp_min_(0)
        return fibre_inner(self.metric, u, v)

    def egrad2rgrad(self, x: Tensor, u: Tensor) -> Tensor:
        """``(G⁻¹ ⊗ I) u``; written into ``u`` when ``u`` is ``x.grad`` (as geoopt's optimizers pass
        it: they overwrite the gradient anyway, as the natural optimizers do), else a new tensor."""
        if u is x.grad:
            return mix_(self.metric_inverse, u)
        return mix(self.metric_inverse, u)

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        return u

    def projx(self, x: Tensor) -> Tensor:
        return x

    def retr(self, x: Tensor, u: Tensor) -> Tensor:
        """``x + u``; in place in ``x`` inside geoopt's SGD and Adam steps (see the module doc)."""
        return x.add_(u) if _called_by_copying_step() else x + u

    def retr_transp(self, x: Tensor, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """``(x + u, v)`` (flat: transport is the identity); ``x`` updated in place and ``v``
        itself returned inside geoopt's SGD and Adam steps (see the module doc)."""
        if _called_by_copying_step():
            return x.add_(u), v
        return x + u, v.clone()

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return x + u

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return y - x

    def transp(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        return v

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        """``sqrt(Σ_kl G_kl ⟨Δ_k, Δ_l⟩)``, ``Δ = y − x``; chart metric: ``sqrt(∫ ||ΔW||² dμ)``."""
        return self.inner(x, y - x, keepdim=keepdim).sqrt()

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _replace_parameter(module: nn.Module, old: Tensor, new: nn.Parameter, where: str) -> None:
    found = False
    for owner in module.modules():
        for name, p in owner._parameters.items():
            if p is old:
                owner._parameters[name] = new
                found = True
    if not found:
        raise ValueError(f"{where} is not a parameter of module")


def to_manifold_parameters(
    module: nn.Module, param_groups: Iterable[dict], metric: object = "chart"
) -> list[dict]:
    """Replace the control points of ``param_groups`` in ``module`` by ``geoopt.ManifoldParameter``.

    Each group with a ``K × K`` metric (see :mod:`geomanifold.optim.groups`; default ``metric``)
    gets one :class:`ControlPointManifold` holding its current ``G``, shared by its parameters;
    every control point is replaced in ``module`` (all places it is registered) by a
    ``ManifoldParameter`` on the same storage. Plain groups are returned unchanged.

    Returns:
        Groups for a geoopt optimizer: the new parameters, plus ``"manifold"`` and the resolved
        ``"metric"`` for manifold groups (to refresh a changing ``G`` with ``set_metric_``).

    Raises:
        TypeError: a group's metric is not ``K × K`` (e.g. a ``JacobianMetric``).
        ValueError: a control point is not a parameter of ``module``.
    """
    out = []
    for i, group in enumerate(param_groups):
        group = {"metric": metric, **group, "params": list(group["params"])}
        resolved = resolve_metric(group, i)
        if resolved is None:
            out.append({k: v for k, v in group.items() if k != "metric"})
            continue
        if not isinstance(resolved, KroneckerMetric):
            raise TypeError(f"metric of param group {i} must have a K x K matrix, got {resolved!r}")
        manifold = ControlPointManifold(resolved.matrix(group["params"]))
        params = []
        for j, p in enumerate(group["params"]):
            new = geoopt.ManifoldParameter(p, manifold=manifold, requires_grad=p.requires_grad)
            _replace_parameter(module, p, new, f"params[{j}] of param group {i}")
            params.append(new)
        out.append({**group, "params": params, "metric": resolved, "manifold": manifold})
    return out
