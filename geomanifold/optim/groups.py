"""Weight-manifold param groups: which metric each group carries, and its natural gradient.

A param group ``{"params": [P, ...], "basis": basis}`` holds control points ``P: (K, *S)`` of
``W(s) = Σ_k φ_k(s) P_k`` with ``K = basis.size`` (docs/conditioning.md). Its ``"metric"`` entry picks
``G`` of the natural step ``ΔP = −η (G⁻¹ ⊗ I) ∇_P L``:

- ``"chart"`` (default): the basis Gram matrix :class:`~.metric.ChartMetric`;
- ``"empirical"``: :class:`~.metric.EmpiricalMetric` (ridge 1e-3), fed by ``observe(s)``;
- ``"volume"``: :class:`~.volume.VolumeMetric`, recomputed from ``P`` at every step;
- ``"none"`` or ``None``: the plain gradient (for ablations);
- an SPD ``(K, K)`` tensor: :class:`~.metric.FixedMetric`;
- any :class:`~.metric.Metric` object, e.g. a :class:`~.jacobian.JacobianMetric` for a
  parameterisation not linear in ``P`` (then no basis is needed).

A group without a basis is an ordinary group (plain gradient) unless its metric is a tensor or a
``Metric`` object. Resolution replaces the entry by the ``Metric`` (or ``None``) it names.

Control points carry their basis (:func:`mark_control_points`, done by ``WeightManifold``), so
plain parameters such as ``wm.parameters()`` are split into the same groups as
``wm.param_groups()`` (:func:`split_control_points`) and take the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from ..bases.basis import Basis
from .metric import ChartMetric, EmpiricalMetric, FixedMetric, Metric, check_control_points
from .volume import VolumeMetric

__all__ = [
    "METRIC_NAMES",
    "ManifoldGroupsMixin",
    "add_weight_decay_",
    "check_nonnegative",
    "load_metric_states",
    "mark_control_points",
    "mark_own_groups",
    "metric_states",
    "natural_gradients_",
    "observe_contexts",
    "resolve_metric",
    "split_control_points",
]

METRIC_NAMES = ("chart", "empirical", "volume", "none")
_BUILDERS = {"chart": ChartMetric, "empirical": EmpiricalMetric, "volume": VolumeMetric}


_BASIS_ATTRIBUTE = "_control_point_basis"
_OWN_GROUPS_ATTRIBUTE = "_natural_gradient_owner"


def mark_control_points(params: Iterable[Tensor], basis: Basis) -> None:
    """Record on each control-point tensor ``(K, *S)`` the basis that mixes it."""
    for p in params:
        setattr(p, _BASIS_ATTRIBUTE, basis)


def mark_own_groups(params: Iterable[Tensor], owner: str) -> None:
    """Record that ``params`` take their natural gradient only from their ``owner``'s
    ``param_groups()`` (low-rank factors, whose metric reads them in pairs): given in a plain group,
    :func:`split_control_points` refuses them instead of taking plain gradient steps."""
    for p in params:
        setattr(p, _OWN_GROUPS_ATTRIBUTE, owner)


def split_control_points(group: dict) -> list[dict]:
    """A param group given without ``"basis"`` or ``"metric"``: its marked control points moved to
    one group per basis (with the group's other options), the rest left as a plain group."""
    if "basis" in group or "metric" in group:
        return [group]
    params = [group["params"]] if isinstance(group["params"], Tensor) else list(group["params"])
    by_basis: dict[int, dict] = {}
    plain = []
    for p in params:
        owner = getattr(p, _OWN_GROUPS_ATTRIBUTE, None)
        if owner is not None:
            raise ValueError(
                f"params include the factors of a {owner}, whose natural gradient needs their "
                f"metric: pass {owner}.param_groups() instead of .parameters()"
            )
        basis = getattr(p, _BASIS_ATTRIBUTE, None)
        if basis is None:
            plain.append(p)
        else:
            by_basis.setdefault(id(basis), {**group, "params": [], "basis": basis})["params"].append(p)
    if not by_basis:
        return [group]
    return [*by_basis.values(), *([{**group, "params": plain}] if plain else [])]


def resolve_metric(group: dict, index: int) -> Metric | None:
    """The metric of param group number ``index`` from its ``"basis"`` and ``"metric"`` entries.

    Raises:
        TypeError: ``basis`` is not a :class:`~geomanifold.bases.Basis`, or ``metric`` has an
            unsupported type.
        ValueError: unknown metric name, non-SPD metric tensor, or a parameter whose leading
            dimension is not ``K``.
    """
    basis, spec = group.get("basis"), group.get("metric", "chart")
    if basis is not None and not isinstance(basis, Basis):
        raise TypeError(f"basis of param group {index} must be a geomanifold Basis, got {basis!r}")
    if spec is None or isinstance(spec, Metric):
        metric = spec
    elif isinstance(spec, Tensor):
        metric = FixedMetric(spec)
    elif isinstance(spec, str):
        if spec not in METRIC_NAMES:
            raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)}, got {spec!r}")
        metric = _BUILDERS[spec](basis) if spec != "none" and basis is not None else None
    else:
        raise TypeError(
            f"metric must be a name ({', '.join(METRIC_NAMES)}), a (K, K) tensor or a Metric, "
            f"got {type(spec).__name__}"
        )
    if basis is not None:
        check_control_points(group["params"], basis.size, index)
    if metric is not None:
        metric.check(group["params"], index)
    return metric


def add_weight_decay_(group: dict, weight_decay: float) -> list[Tensor | None]:
    """In place: ``P.grad ← P.grad + λ P`` (the Euclidean gradient, before any metric acts).

    Returns:
        The group's ``.grad`` tensors (``None`` where a parameter has no gradient).
    """
    grads = [p.grad for p in group["params"]]
    if weight_decay:
        for p, g in zip(group["params"], grads, strict=True):
            if g is not None:
                g.add_(p, alpha=weight_decay)
    return grads


def natural_gradients_(group: dict) -> list[Tensor | None]:
    """In place: ``P.grad ← M⁻¹ P.grad`` for the group's metric ``M`` (no-op without a metric).

    Returns:
        The group's ``.grad`` tensors (``None`` where a parameter has no gradient).
    """
    grads = [p.grad for p in group["params"]]
    if group["metric"] is not None:
        group["metric"].solve_(group["params"], grads)
    return grads


def observe_contexts(groups: Iterable[dict], s) -> None:
    """Feed contexts ``s: (..., m)`` to every distinct :class:`EmpiricalMetric` of ``groups``."""
    metrics = {id(g["metric"]): g["metric"] for g in groups if isinstance(g["metric"], EmpiricalMetric)}
    with torch.no_grad():
        for metric in metrics.values():
            metric.observe(s)


def metric_states(groups: Iterable[dict]) -> list[dict]:
    """The state of each group's metric (``{}`` for plain groups), for ``state_dict``."""
    return [{} if g["metric"] is None else g["metric"].state_dict() for g in groups]


def load_metric_states(groups: Iterable[dict], states: Iterable[dict]) -> None:
    """Restore :func:`metric_states` into the metrics of ``groups``."""
    for group, state in zip(groups, states, strict=True):
        if group["metric"] is not None:
            group["metric"].load_state_dict(state)


class ManifoldGroupsMixin:
    """Param-group handling of the natural-gradient ``torch.optim.Optimizer`` subclasses.

    Resolves each group's metric when the group is added (:func:`resolve_metric`), takes the
    step (:meth:`step`: the closure, then per group the weight decay ``g ← ∇L + λP`` and the
    subclass' ``step_group(group, grads)``), feeds contexts
    to empirical metrics (:meth:`observe`), and keeps ``state_dict()`` free of Python objects:
    bases and metrics stay with the optimizer (its constructor defines them); the state dict
    holds only the metrics' state under ``"metric_states"``, so it loads with
    ``torch.load(..., weights_only=True)``.
    """

    param_groups: list[dict]

    def add_param_group(self, param_group: dict) -> None:
        for group in split_control_points(param_group):
            super().add_param_group(group)
            index = len(self.param_groups) - 1
            self.param_groups[index]["metric"] = resolve_metric(self.param_groups[index], index)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step for every parameter with a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self.step_group(group, add_weight_decay_(group, group["weight_decay"]))
        return loss

    def step_group(self, group: dict, grads: list[Tensor | None]) -> None:
        """Update the parameters of ``group`` from its gradients ``grads`` (the ``.grad`` tensors,
        weight decay added; None where a parameter has none)."""
        raise NotImplementedError

    def observe(self, s) -> None:
        """Record the contexts ``s: (..., m)`` of the current batch for ``"empirical"`` metrics."""
        observe_contexts(self.param_groups, s)

    def state_dict(self) -> dict:
        state = super().state_dict()
        for packed in state["param_groups"]:
            packed.pop("basis", None)
            packed.pop("metric")
        state["metric_states"] = metric_states(self.param_groups)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        config = [{k: g[k] for k in ("basis", "metric") if k in g} for g in self.param_groups]
        super().load_state_dict(state_dict)
        for group, entries in zip(self.param_groups, config, strict=True):
            group.update(entries)
        load_metric_states(self.param_groups, state_dict["metric_states"])


def check_nonnegative(**values: float) -> None:
    """Raise a one-line ``ValueError`` naming the first hyper-parameter that is negative or NaN."""
    for name, value in values.items():
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"{name} must be >= 0, got {value}")
