"""Turn any torch model into a weight-manifold model ``W(s) = Σ_k φ_k(s) P_k``
(Benjamin et al. 2025, arXiv 2505.22994; docs/concepts.md, conditioning).

The converter deep-copies the model, replaces each selected parameter ``W: S`` by control points
``P: (K, *S)`` (same name, same owner module) and swaps the smallest module that uses them for a
:class:`~geomanifold.conditioning.layer.ManifoldLayer`:

- ``nn.Linear``, ``nn.Conv1d/2d/3d``: :class:`~.decomposed.StackedKernelLayer`;
- the affine part of BatchNorm, InstanceNorm, GroupNorm, LayerNorm, RMSNorm:
  :class:`~.decomposed.AffineNormLayer`;
- any other module that owns a selected parameter: its whole subtree becomes one
  :class:`~.grouped.GroupedLayer` (its forward may read its children's parameters directly, as
  ``nn.MultiheadAttention`` does, so the children are not swapped); except, in a module with a
  declared batch dim ``d`` (``batch_dim=``), parameters of its own with size 1 on dim ``d`` (a class
  token ``(1, 1, E)``, a position embedding ``(1, T, E)``), which are taken to broadcast over the
  batch: they get the value ``W(s_i)`` stacked along ``d`` (through
  :func:`torch.func.functional_call` on the model) and the module's children are walked into;
- modules without parameters of their own are walked into.

The model's forward is not touched; ``WeightManifold.forward`` hands ``φ(s)`` to the swapped
layers. Parameter names in ``state_dict`` gain a ``.layer`` segment at each swapped module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.parameter import is_lazy

from ..bases import Basis
from ..bases.basis import combine
from ..optim.groups import mark_control_points
from .coefficients import context_coefficients
from .decomposed import StackedKernelLayer, decomposition
from .grouped import BatchDims, GroupedLayer
from .init import INITS, initial_control_points
from .layer import Context, ManifoldLayer, UnsupportedLayerError
from .layout import LayoutTracker, batch_first, check_batch_dim_argument, declared_batch_dims
from .selection import Selector, parameter_aliases, parameter_filter

__all__ = ["WeightManifold"]


class WeightManifold(nn.Module):
    """A model whose selected parameters trace a manifold ``W(s)`` over the basis' chart.

    Args:
        model: any ``nn.Module``; it is deep-copied, the original is left unchanged.
        basis: ``φ`` with ``K = basis.size`` functions of ``m = basis.dim`` coordinates.
        include: which parameters live on the manifold (default all); see
            :mod:`geomanifold.conditioning.selection`.
        exclude: which parameters stay shared, e.g. ``exclude=nn.LayerNorm`` keeps the
            norm layers shared, ``exclude="*.bias"`` the biases.
        init: ``"copy"`` (the manifold starts as the plain network at every ``s``) or
            ``"independent"`` (each control point re-drawn by the layer's ``reset_parameters``);
            see :mod:`geomanifold.conditioning.init`.
        noise: relative noise ``noise · rms(W)`` added to every control point.
        generator: random generator for the noise.
        batch_dims: :class:`BatchDims` by qualified module name, for grouped-fallback layers
            whose arguments carry the batch on different dims.
        batch_dim: where the batch is in the layers' inputs, for models that do not say it
            through ``batch_first``: an int for the whole model or ``{module name: dim}`` for a
            module and everything in it (see :mod:`~geomanifold.conditioning.layout`; needed
            only where it cannot be inferred, which raises a one-line error naming the layer).
        strategy: the per-example kernel: ``"auto"`` (from the shapes), ``"stacked"`` or
            ``"weights"`` for Linear and Conv layers (:class:`StackedKernelLayer`), ``"grouped"``
            or ``"vmap"`` for the others (:class:`GroupedLayer`); one for all the layers it
            applies to, or ``{layer name: strategy}``; see :meth:`plan`.

    Example::

        wm = WeightManifold(net, Line(), exclude=nn.BatchNorm2d)  # BatchNorm shared
        loss = F.cross_entropy(wm(x, s), y)  # s: (B, 1), one context per example
        optimizer = torch.optim.SGD(wm.param_groups(), lr=0.1)
        deployed = wm.export(torch.tensor([0.3]))  # a plain copy of net at s = 0.3

    Raises:
        ValueError: no parameter selected; bad ``init``, ``noise`` or ``batch_dims``.
        UnsupportedLayerError: a selected parameter is tied to another name, lazy, or not
            floating point.
    """

    def __init__(
        self,
        model: nn.Module,
        basis: Basis,
        include: Selector | None = None,
        exclude: Selector | None = None,
        init: str = "copy",
        noise: float = 0.0,
        generator: torch.Generator | None = None,
        batch_dims: Mapping[str, BatchDims] | None = None,
        batch_dim: int | Mapping[str, int] | None = None,
        strategy: str | Mapping[str, str] = "auto",
    ):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a geomanifold.bases.Basis, got {type(basis).__name__}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if not (isinstance(noise, int | float) and 0 <= noise < float("inf")):
            raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
        model = copy.deepcopy(model)
        chosen = _chosen_parameters(model, include, exclude)
        stated = check_batch_dim_argument(model, batch_dim)
        declared = declared_batch_dims(model, stated)
        plan, loose = _plan(model, "", chosen, declared, _under(set(stated)))
        batch_dims = dict(batch_dims or {})
        grouped = [path for path, _, _, cls in plan if cls is GroupedLayer]
        unknown = sorted(set(batch_dims) - set(grouped))
        if unknown:
            raise ValueError(f"batch_dims names {unknown}, not grouped-fallback layers; valid: {grouped}")
        self.basis = basis
        self._context = Context()
        self._loose: dict[str, int] = {}  # broadcast parameters: name in self.model -> batch dim
        for path, module, names in loose:
            for name in names:
                self._loose[f"{path}.{name}" if path else name] = _broadcast_dim(module, name, declared[path])
            _replace_by_control_points(module, names, basis, init, noise, generator)
        swapped = _under({path for path, *_ in plan})
        sources = {  # modules whose outputs have a known layout (manifold layers track their own)
            m: BatchDims.default(m, declared[path]).outputs
            for path, m in model.named_modules()
            if batch_first(m) is not None and not swapped(path)
        }
        for path, module, names, cls in plan:
            _replace_by_control_points(module, names, basis, init, noise, generator)
            extra = {"batch_dims": batch_dims.get(path)} if cls is GroupedLayer else {}
            unit = cls(module, names, self._context, path, **extra)
            unit.declared_batch_dim = declared[path]
            if not path:
                model = unit
            else:
                parent, _, leaf = path.rpartition(".")
                setattr(model.get_submodule(parent), leaf, unit)
        self.model = model
        self._set_strategies(strategy)
        self._context.tracker = LayoutTracker(sources)

    def _set_strategies(self, strategy: str | Mapping[str, str]) -> None:
        layers = {m.name: m for m in self.model.modules() if isinstance(m, StackedKernelLayer | GroupedLayer)}
        if isinstance(strategy, str):
            valid = ("auto", *StackedKernelLayer.STRATEGIES[1:], *GroupedLayer.STRATEGIES[1:])
            if strategy not in valid:
                raise ValueError(f"strategy must be one of {valid}, got {strategy!r}")
            strategy = {name: strategy for name, m in layers.items() if strategy in m.STRATEGIES}
        for name, value in strategy.items():
            if name not in layers:
                raise ValueError(
                    f"strategy names {name!r}, not a Linear, Conv or grouped layer on the manifold; "
                    f"valid: {sorted(layers)}"
                )
            if value not in layers[name].STRATEGIES:
                kind = type(layers[name].layer).__name__
                raise ValueError(
                    f"strategy of {name!r} ({kind}) must be one of {layers[name].STRATEGIES}, got {value!r}"
                )
            layers[name].strategy = value

    def plan(self, x=None, s=None, *args, **kwargs) -> list[dict]:
        """Each manifold layer and how it computes per-example outputs.

        Without inputs: ``{"layer", "type", "strategy"}`` per layer as configured (``"auto"``,
        ``"stacked"``, ``"weights"``, ``"affine"``, ``"grouped"``, ``"vmap"``, ``"broadcast"`` for
        a parameter broadcast over the batch). With an input ``x`` and contexts ``s: (B, m)``
        (and the model's other arguments): the kernel each layer used on that input, with the
        input's shape, from one forward pass without gradients.
        """
        if x is None:
            rows = [{"layer": name, "type": "Parameter", "strategy": "broadcast"} for name in self._loose]
            for m in self.model.modules():
                if isinstance(m, ManifoldLayer):
                    strategy = getattr(m, "strategy", "affine")
                    rows.append({"layer": m.name, "type": type(m.layer).__name__, "strategy": strategy})
            return rows
        with torch.no_grad(), self._context.recording() as rows:
            self(x, s, *args, **kwargs)
        return rows

    def forward(self, x, s, *args, **kwargs):
        """The model at context ``s``: ``(m,)`` shared by the batch (fast path) or ``(B, m)``
        one per example (dim 0 of the layers' inputs); other arguments go to the model.
        """
        return self.forward_with_coefficients(x, self._coefficients(s), *args, **kwargs)

    def forward_with_coefficients(self, x, coefficients: Tensor, *args, **kwargs):
        """The model with weights ``Σ_k c_k P_k`` for given coefficients instead of ``φ(s)``.

        ``coefficients``: ``(K,)`` shared by the batch or ``(B, K)`` one row per example (e.g. the
        learned softmax coefficients of an SCN-style hypernetwork). The fused inference fast path
        of ``nn.MultiheadAttention`` and ``nn.Transformer*`` layers reads their weights directly,
        so it is switched off during this call (:func:`_set_fastpath`).
        """
        fastpath = torch.backends.mha.get_fastpath_enabled()
        _set_fastpath(False)
        per_example = coefficients.ndim == 2 and coefficients.shape[0] > 1
        try:
            with self._context.use(coefficients), self._context.tracker.active(per_example):
                if not self._loose:
                    return self.model(x, *args, **kwargs)
                values = {name: self._broadcast_value(name, coefficients) for name in self._loose}
                return functional_call(self.model, values, (x, *args), kwargs)
        finally:
            _set_fastpath(fastpath)

    def _broadcast_value(self, name: str, coefficients: Tensor) -> Tensor:
        """``W(s)`` of a broadcast parameter: ``S``, or ``(B, K)`` coefficients -> ``S`` with
        ``W(s_i)`` stacked along its batch dim (of size 1 in ``S``)."""
        points = self.model.get_parameter(name)
        if coefficients.ndim == 1:
            return combine(coefficients, points)
        dim = self._loose[name]
        return combine(coefficients, points.squeeze(dim + 1)).movedim(0, dim)

    def _coefficients(self, s, single: bool = False) -> Tensor:
        """``φ(s)`` in the parameters' dtype and device: ``(m,) -> (K,)``, ``(B, m) -> (B, K)``."""
        _, reference = next(self.named_control_points())
        return context_coefficients(self.basis, s, reference, single)

    def named_control_points(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Control points ``(K, *S)`` with their names in :meth:`named_parameters`."""
        for name in self._loose:
            yield f"model.{name}", self.model.get_parameter(name)
        for path, module in self.model.named_modules():
            if isinstance(module, ManifoldLayer):
                prefix = ".".join(filter(None, ("model", path, "layer")))
                for name, points in module.control_points():
                    yield f"{prefix}.{name}", points

    def named_parameters(self, *args, **kwargs) -> Iterator[tuple[str, nn.Parameter]]:
        """As ``nn.Module``'s; the control points are first marked with the basis, so the natural
        optimizers given ``wm.parameters()`` find them (same steps as :meth:`param_groups`)."""
        mark_control_points(self.control_points(), self.basis)
        return super().named_parameters(*args, **kwargs)

    def control_points(self) -> list[nn.Parameter]:
        """All control-point tensors, each ``(K, *S)``; the whole network's ``K × K`` Gram is
        ``Σ_t P_t P_tᵀ`` over them (flattened to ``(K, |S|)``)."""
        return [points for _, points in self.named_control_points()]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that are the same at every ``s``."""
        manifold = {id(p) for p in self.control_points()}
        return [p for p in self.parameters() if id(p) not in manifold]

    def param_groups(self) -> list[dict]:
        """Optimizer groups: ``{"params": control points, "basis": basis}`` (every tensor has
        leading dimension ``K``; its gradient is mixed by ``G⁻¹`` along dim 0, docs/conditioning.md)
        and, if any, ``{"params": shared parameters}``."""
        groups: list[dict] = [{"params": self.control_points(), "basis": self.basis}]
        shared = self.shared_parameters()
        if shared:
            groups.append({"params": shared})
        return groups

    def parameters_at(self, s) -> dict[str, Tensor]:
        """Every parameter of the original model by its original name, at one context
        ``s: (m,)``; manifold ones are ``W(s)`` (differentiable in ``P``). Usable with
        ``torch.func.functional_call`` on the original model."""
        coefficients = self._coefficients(s, single=True)
        loose = {id(self.model.get_parameter(name)) for name in self._loose}
        return dict(_original_parameters(self.model, "", coefficients, loose))

    @torch.no_grad()
    def export(self, s) -> nn.Module:
        """A plain copy of the original architecture with ``W(s)`` loaded, ``s: (m,)``.

        Its outputs equal ``self(x, s)``. Buffers (e.g. BatchNorm running statistics) are
        copied as they are; calibrate them at ``s`` first if needed (:func:`calibrate_batchnorm`).
        """
        coefficients = self._coefficients(s, single=True)
        memo: dict[int, object] = {}
        for name in self._loose:
            points = self.model.get_parameter(name)
            memo[id(points)] = nn.Parameter(combine(coefficients, points), points.requires_grad)
        for module in self.model.modules():
            if isinstance(module, ManifoldLayer):
                for name, w in module.weights_at(coefficients).items():
                    points = module.layer.get_parameter(name)
                    memo[id(points)] = nn.Parameter(w.clone(), points.requires_grad)
                # deepcopy then substitutes the plain layer (with W(s)) for the swapped one
                memo[id(module)] = copy.deepcopy(module.layer, memo)
        return copy.deepcopy(self.model, memo)

    def extra_repr(self) -> str:
        return f"basis={self.basis!r}, control_points={len(self.control_points())}"


def _chosen_parameters(model: nn.Module, include, exclude) -> list[str]:
    """Names of the selected parameters, in model order, after checking they can be selected."""
    selected = parameter_filter(include, exclude)
    names_of = parameter_aliases(model)
    if not names_of:
        raise ValueError("model has no parameters; valid: a model with at least one parameter")
    chosen = []
    for name, p in model.named_parameters():
        if not selected(name, model.get_submodule(name.rpartition(".")[0])):
            continue
        if is_lazy(p):
            raise UnsupportedLayerError(
                f"parameter {name!r} is lazy (uninitialized); run one forward pass first"
            )
        if not p.is_floating_point():
            raise UnsupportedLayerError(f"parameter {name!r} has dtype {p.dtype}; valid: floating point")
        if len(names_of[id(p)]) > 1:
            raise UnsupportedLayerError(
                f"parameter {name!r} is tied to {names_of[id(p)][1:]}; tied parameters cannot get "
                "separate control points; exclude them or untie them"
            )
        chosen.append(name)
    if not chosen:
        examples = ", ".join(repr(n) for n in list(dict(model.named_parameters()))[:3])
        raise ValueError(
            f"no parameters selected: include={include!r}, exclude={exclude!r} match none of "
            f"the model's parameters ({examples}, ...)"
        )
    return chosen


def _plan(module: nn.Module, path: str, chosen: list[str], declared: dict, substitutes) -> tuple[list, list]:
    """``[(path, module, relative names, layer class)]`` for each module to swap, and
    ``[(path, module, names)]`` of broadcast parameters, in model order."""
    prefix = f"{path}." if path else ""
    names = [name[len(prefix) :] for name in chosen if name.startswith(prefix)]
    if not names:
        return [], []
    cls, loose = decomposition(module), []
    if cls is None or not set(names) <= {"weight", "bias"}:
        own = [n for n in names if "." not in n]
        if (
            own
            and substitutes(path)
            and all(_broadcast_dim(module, n, declared[path]) is not None for n in own)
        ):
            cls, loose = None, [(path, module, own)]
        else:
            cls, loose = (GroupedLayer if own else None), []
    if cls is not None:
        return [(path, module, names, cls)], []
    units = []
    for child, submodule in module.named_children():
        child_units, child_loose = _plan(submodule, prefix + child, chosen, declared, substitutes)
        units += child_units
        loose += child_loose
    return units, loose


def _under(roots: set[str]):
    """``path -> bool``: the module at ``path`` is one of ``roots`` or inside one."""
    return lambda path: any(not r or path == r or path.startswith(f"{r}.") for r in roots)


def _broadcast_dim(module: nn.Module, name: str, declared: int | None) -> int | None:
    """The declared batch dim if the parameter has size 1 there (it broadcasts over the batch)."""
    shape = module.get_parameter(name).shape
    return declared if declared is not None and declared < len(shape) and shape[declared] == 1 else None


def _replace_by_control_points(module: nn.Module, names, basis, init, noise, generator) -> None:
    """Each named parameter ``S`` of ``module`` becomes control points ``(K, *S)``, same name."""
    points = initial_control_points(module, names, basis, init, noise, generator)
    for name, value in points.items():
        owner_path, _, leaf = name.rpartition(".")
        requires_grad = module.get_parameter(name).requires_grad
        setattr(module.get_submodule(owner_path), leaf, nn.Parameter(value, requires_grad))


def _original_parameters(module: nn.Module, prefix: str, coefficients: Tensor, loose: set[int]):
    """``(original name, tensor)`` pairs; ``W(s)`` in place of control points (``loose``: ids of
    the broadcast parameters' control points)."""
    if isinstance(module, ManifoldLayer):
        weights = module.weights_at(coefficients)
        for name, p in module.layer.named_parameters():
            yield prefix + name, weights.get(name, p)
        return
    for name, p in module.named_parameters(recurse=False):
        yield prefix + name, combine(coefficients, p) if id(p) in loose else p
    for child, submodule in module.named_children():
        yield from _original_parameters(submodule, f"{prefix}{child}.", coefficients, loose)


def _set_fastpath(enabled: bool) -> None:
    """``torch.backends.mha.set_fastpath_enabled(enabled)``, written as the assignment of the module
    flag that function makes: ``torch.compile`` traces the assignment (restored on exit like any
    side effect) but breaks the graph at the call of the setter."""
    if hasattr(torch.backends.mha, "_is_fastpath_enabled"):
        torch.backends.mha._is_fastpath_enabled = enabled
    else:  # a PyTorch that keeps the flag elsewhere
        torch.backends.mha.set_fastpath_enabled(enabled)
