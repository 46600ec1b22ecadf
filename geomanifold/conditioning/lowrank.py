"""Low-rank weight manifolds on a pretrained model: ``W(s) = W0 + Σ_k φ_k(s) U_k V_kᵀ``.

Each adapted weight keeps its pretrained value ``W0`` and gains K rank-``r`` control points kept
factored, ``U_k: (out, r)``, ``V_k: (fan_in, r)``: ``K r (out + fan_in)`` numbers instead of the
``K out fan_in`` of full control points (docs/concepts.md, "Low-rank weight manifolds"). The
model's layers are not rewritten: a forward hook on each adapted module adds

    Σ_k φ_k(s_i) U_k (V_kᵀ x_i)          (per example: ``φ(s): (B, K)``)

to the layer's own output ``W0 x + b``, so no ``U_k V_kᵀ`` is formed in the forward pass and the
extra cost per input vector is ``2 K r (out + fan_in)`` multiply-adds next to ``out · fan_in``.

Adapted layers are ``nn.Linear``, GPT-2-style ``Conv1D`` (``x @ weight + bias``, the weight
stored ``(in, out)``) and ``nn.Conv1d/2d/3d``, called as modules. A convolution kernel
``(out, in/groups, *kernel)`` is reshaped to the matrix ``(out, in/groups · ∏kernel)``; its update
is then exactly a convolution with the ``K r`` kernels ``V_k`` (same stride, padding, dilation,
padding mode and groups) followed by a 1×1 convolution with the ``U_k``. The projection weights of
``nn.MultiheadAttention`` (``in_proj_weight`` ``(3E, E)`` as one matrix, or ``q/k/v_proj_weight``,
and ``out_proj.weight``), which its forward reads directly, are adapted through
:class:`~.attention.AttentionUpdate`: the module's own forward runs and its attention is computed
once, with ``W x + b + Σ_k φ_k(s_i) U_k (V_kᵀ x)`` for each projection. The fused inference path of
``nn.TransformerEncoderLayer`` (which reads its weights directly) is not taken while forward hooks
are attached to the layer.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..arguments import check_int
from ..bases import Basis
from ..geometry.lowrank import LowRankManifold
from ..optim.groups import mark_own_groups
from ..optim.lowrank import FactorMetric
from .attention import PROJECTION_WEIGHTS, AttentionUpdate
from .coefficients import context_coefficients
from .layer import Context, UnsupportedLayerError
from .layout import LayoutError, check_batch_dim_argument, declared_batch_dims, infer_batch_dim
from .selection import Selector, parameter_aliases, parameter_filter

__all__ = ["LowRankFactors", "LowRankWeightManifold"]

_CONVOLUTIONS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


class LowRankFactors(nn.Module):
    """The factors of one adapted weight and the hook that adds their update to its layer's output.

    Attributes:
        U: ``(K, out, r)``.
        V: ``(K, fan_in, r)``, ``fan_in = in_features`` or ``in/groups · ∏kernel``.

    ``V`` is drawn ``N(0, 1/fan_in)`` and ``U`` starts at zero, so the manifold starts as the
    pretrained layer at every ``s`` (the usual low-rank adapter start).
    """

    def __init__(
        self, layer: nn.Module, path: str, leaf: str, size: int, rank: int, context: Context,
        batch_dim: int | None, generator: torch.Generator | None,
    ):
        super().__init__()
        weight = layer.get_parameter(leaf)
        self.transposed = _transposed(layer) and leaf == "weight"
        out, fan_in = _matrix(weight, self.transposed).shape
        self.parameter = _join(path, leaf)
        self.name = path if leaf == "weight" else self.parameter
        self.batch_dim, self._context = batch_dim, context
        self.weight_shape = tuple(weight.shape)
        self.convolution = isinstance(layer, tuple(_CONVOLUTIONS))
        self.groups = layer.groups if self.convolution else 1
        self._conv = next((f for cls, f in _CONVOLUTIONS.items() if isinstance(layer, cls)), None)
        factory = {"dtype": weight.dtype, "device": weight.device}
        self.U = nn.Parameter(torch.zeros(size, out, rank, **factory))
        v = torch.randn(size, fan_in, rank, generator=generator, dtype=weight.dtype)
        self.V = nn.Parameter(v.to(weight.device) / math.sqrt(fan_in))

    def update(self, coefficients: Tensor) -> Tensor:
        """``Σ_k c_k U_k V_kᵀ`` in the layer's weight shape, for one context ``c: (K,)``."""
        delta = torch.einsum("k,kor,kir->oi", coefficients, self.U, self.V)
        return delta.T if self.transposed else delta.reshape(self.weight_shape)

    def hook(self, module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        """Forward hook: ``output + Σ_k c_k U_k (V_kᵀ x)`` with the current coefficients."""
        return output + self.delta(module, args[0], self._context.coefficients(self.name))

    def delta(self, module: nn.Module, x: Tensor, coefficients: Tensor) -> Tensor:
        """The update ``Σ_k c_k U_k (V_kᵀ x)`` of the layer's output for its input ``x``.

        ``coefficients``: ``(K,)`` shared, or ``(B, K)`` one row per example along the batch
        dimension of ``x`` (0 for convolutions; for linear layers declared by ``batch_dim`` or
        ``batch_first``, else inferred from the shape, see :mod:`~.layout`).
        """
        batch_dim = self._batch_dim(module, x, coefficients.shape[0]) if coefficients.ndim == 2 else None
        if not self.convolution:
            return self.linear_delta(x, coefficients, batch_dim)
        size, out, rank = self.U.shape
        u = self._mixed_u(coefficients, slice(None))
        v = self.V.permute(0, 2, 1).reshape(size * rank, *self.weight_shape[1:])  # (K r, in/groups, ...)
        # the module's own convolution (padding mode included) with the K r kernels V_k, once per
        # group; then the U_k as a grouped 1×1 convolution
        z = module._conv_forward(x, v.repeat(self.groups, *([1] * (v.ndim - 1))), None)
        z = self._scale(z, coefficients, batch_dim, channel=1)
        spatial = (1,) * (len(self.weight_shape) - 2)
        return self._conv(z, u.reshape(out, size * rank, *spatial), groups=self.groups)

    def linear_delta(
        self, x: Tensor, coefficients: Tensor, batch_dim: int | None, rows: slice = slice(None)
    ) -> Tensor:
        """Rows ``rows`` of ``Σ_k c_k U_k V_kᵀ x`` for ``x: (..., fan_in)``: ``(..., len(rows))``;
        ``coefficients (B, K)`` are spread along ``batch_dim`` of ``x``."""
        size, _, rank = self.U.shape
        z = F.linear(x, self.V.permute(0, 2, 1).reshape(size * rank, -1))  # (..., K r)
        z = self._scale(z, coefficients, batch_dim, channel=-1)
        return F.linear(z, self._mixed_u(coefficients, rows))

    def sequence_first_delta(self, x: Tensor, rows: slice) -> Tensor:
        """Rows ``rows`` of the update with the current coefficients for an attention projection's
        input ``x: (T, N, fan_in)`` (sequences on dim 1, as ``multi_head_attention_forward`` sees
        them)."""
        coefficients = self._context.coefficients(self.name)
        if coefficients.ndim == 2 and x.shape[1] != coefficients.shape[0]:
            raise LayoutError(
                f"layer {self.name!r} (MultiheadAttention) got {x.shape[1]} sequences (inputs "
                f"(T, N, E) sequence-first, or (N, T, E) with batch_first=True) but s has "
                f"{coefficients.shape[0]} contexts; valid: one context per sequence, or s of shape (m,)"
            )
        return self.linear_delta(x, coefficients, batch_dim=1, rows=rows)

    def _mixed_u(self, coefficients: Tensor, rows: slice) -> Tensor:
        """``[c_1 U_1 … c_K U_K]`` (shared ``c``) or ``[U_1 … U_K]`` (per example), rows ``rows``:
        ``(out, K r)``."""
        u = self.U[:, rows]
        if coefficients.ndim == 1:
            u = u * coefficients[:, None, None].to(u)
        return u.permute(1, 0, 2).reshape(u.shape[1], -1)

    def _scale(self, z: Tensor, coefficients: Tensor, batch_dim: int | None, channel: int) -> Tensor:
        """``z`` with channel ``(g, k, j)`` of example ``i`` times ``c_ik`` (per-example
        coefficients; ``z`` as it is for shared ones)."""
        if coefficients.ndim == 1:
            return z
        rank = self.U.shape[2]
        scale = coefficients.to(z.dtype).repeat_interleave(rank, dim=1).repeat(1, self.groups)
        shape = [1] * z.ndim
        shape[batch_dim], shape[channel] = scale.shape
        return z * scale.reshape(shape)

    def _batch_dim(self, module: nn.Module, x: Tensor, batch: int) -> int:
        """Where the ``batch`` examples are in ``x`` (size ``batch``, or 1: broadcast)."""
        layer = f"{self.name or '<model>'!r} ({type(module).__name__})"
        if x.is_nested:
            raise LayoutError(
                f"layer {layer} got a nested tensor (the inference path of nn.TransformerEncoder "
                "with a padding mask), which has no batch dimension for per-example contexts; valid: "
                "nn.TransformerEncoder(..., enable_nested_tensor=False) or s of shape (m,)"
            )
        if self.convolution and x.ndim != len(self.weight_shape):
            raise LayoutError(
                f"layer {layer} got an unbatched input of shape {tuple(x.shape)} but s has {batch} "
                "contexts; valid: (N, C, ...) inputs, or s of shape (m,) shared by the batch"
            )
        known, candidates = (0, range(1)) if self.convolution else (self.batch_dim, range(x.ndim - 1))
        try:
            return infer_batch_dim(x, batch, candidates, known, layer)
        except LayoutError as error:
            raise LayoutError(str(error).replace("WeightManifold(", "LowRankWeightManifold(")) from None


class LowRankWeightManifold(nn.Module):
    """A pretrained model whose Linear and Conv weights trace ``W0 + Σ_k φ_k(s) U_k V_kᵀ``.

    Args:
        model: any ``nn.Module``; deep-copied, the original is left unchanged.
        basis: ``φ`` with ``K = basis.size`` functions of ``m = basis.dim`` coordinates.
        rank: ``r``, an int with ``1 <= r <= min(out, fan_in)`` of every adapted layer.
        include: which weights to adapt (default: the ``weight`` of every ``nn.Linear``,
            ``Conv1D`` and ``nn.Conv1d/2d/3d`` except those inside ``nn.MultiheadAttention``); see
            :mod:`geomanifold.conditioning.selection`. Every selected parameter must be such a
            weight.
        exclude: weights left as they are.
        batch_dim: where the batch is in the inputs of the adapted linear layers, for models that
            do not say it: an int for the whole model or ``{module name: dim}``, as for
            :class:`WeightManifold`. Without it, modules with ``batch_first`` (transformer layers)
            declare theirs and other layers infer it from the shape (refused where ambiguous,
            e.g. ``(T, B, E)`` with ``T == B``). Convolutions take the batch on dimension 0.
        train_base: keep the pretrained parameters trainable (default: frozen, only the factors
            train).
        generator: random generator for ``V``.

    Example::

        lr = LowRankWeightManifold(vit, Fourier(1), rank=8)
        loss = F.cross_entropy(lr(x, s), y)  # s: (B, 1) one context per example, or (1,)
        optimizer = NaturalGradientSGD(lr.param_groups(), lr=0.1)
        plain = lr.export(torch.tensor([0.3]))  # the pretrained architecture at s = 0.3

    Raises:
        ValueError: bad ``rank`` or ``batch_dim``, or nothing selected.
        UnsupportedLayerError: a selected parameter is not the weight of a Linear or Conv module
            called as a module.
    """

    def __init__(
        self,
        model: nn.Module,
        basis: Basis,
        rank: int,
        include: Selector | None = None,
        exclude: Selector | None = None,
        batch_dim: int | Mapping[str, int] | None = None,
        train_base: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a geomanifold.bases.Basis, got {type(basis).__name__}")
        check_int("rank", rank, 1)
        self.model = copy.deepcopy(model)
        declared = declared_batch_dims(self.model, check_batch_dim_argument(self.model, batch_dim))
        self.basis, self.rank = basis, rank
        self._context = Context()
        self._frozen: list[str] = []
        if not train_base:
            for name, p in self.model.named_parameters():
                if p.requires_grad:
                    p.requires_grad_(False)
                    self._frozen.append(name)
        self.factors = nn.ModuleDict()
        attention: dict[str, dict[str, LowRankFactors]] = {}
        for path, leaf, attention_path in _adapted_weights(self.model, include, exclude):
            layer = self.model.get_submodule(path)
            weight = layer.get_parameter(leaf)
            out, fan_in = _matrix(weight, _transposed(layer) and leaf == "weight").shape
            if rank > min(out, fan_in):
                raise ValueError(
                    f"rank must be <= min(out, fan_in) = {min(out, fan_in)} for layer "
                    f"{(path or '<model>') if leaf == 'weight' else _join(path, leaf)!r} "
                    f"(weight {tuple(weight.shape)}), "
                    f"got {rank}; lower rank or exclude the layer"
                )
            factors = LowRankFactors(
                layer, path, leaf, basis.size, rank, self._context, declared[path], generator
            )
            self.factors[_key(factors.name)] = factors
            if attention_path is None:
                layer.register_forward_hook(factors.hook)
            else:  # the attention's own projection weights, or the weight of its out_proj child
                relative = _join(path, leaf)[len(attention_path) + 1 if attention_path else 0 :]
                attention.setdefault(attention_path, {})[relative] = factors
        self._attention = []
        for path, updates in attention.items():
            mode = AttentionUpdate(path, {leaf: f.sequence_first_delta for leaf, f in updates.items()})
            mode.attach(self.model.get_submodule(path))
            self._attention.append(mode)
        mark_own_groups(self.factor_parameters(), type(self).__name__)

    def forward(self, x, s, *args, **kwargs):
        """The model at context ``s``: ``(m,)`` shared by the batch or ``(B, m)`` one per example
        (see ``batch_dim``); other arguments go to the model."""
        with self._context.use(self._coefficients(s)):
            return self.model(x, *args, **kwargs)

    def _coefficients(self, s, single: bool = False) -> Tensor:
        """``φ(s)`` in the factors' dtype: ``(m,) -> (K,)``, ``(B, m) -> (B, K)``. A floating ``s``
        of another dtype (e.g. bfloat16 under autocast) is cast to the factors' dtype first."""
        reference = next(iter(self.factors.values())).U
        return context_coefficients(self.basis, s, reference, single, cast=True)

    def named_factors(self) -> Iterator[tuple[str, LowRankFactors]]:
        """``(name, factors)`` in model order: the adapted layer's qualified name, or for the
        projection weights that ``nn.MultiheadAttention`` owns itself the weight's qualified name
        (e.g. ``"encoder.self_attn.in_proj_weight"``); ``factors.parameter`` is the weight's name."""
        for factors in self.factors.values():
            yield factors.name, factors

    def factor_parameters(self) -> list[nn.Parameter]:
        """``[U, V]`` of every adapted layer, in that order (the layout :class:`FactorMetric` reads)."""
        return [p for factors in self.factors.values() for p in (factors.U, factors.V)]

    def param_groups(self, damping: float = 1e-3, gram: Tensor | None = None) -> list[dict]:
        """Optimizer groups: the factors with their :class:`~geomanifold.optim.FactorMetric`
        (the natural gradient of docs/concepts.md, "Low-rank weight manifolds") and, if any, the
        trainable pretrained parameters (plain gradient: the metric of ``W0`` is the identity).

        Args:
            damping: relative damping of the factor metric.
            gram: ``(K, K)`` measure of contexts (default the basis Gram ``∫ φ φᵀ dμ``).
        """
        metric = FactorMetric(self.basis.gram() if gram is None else gram, damping)
        groups: list[dict] = [{"params": self.factor_parameters(), "metric": metric}]
        base = [p for p in self.model.parameters() if p.requires_grad]
        if base:
            groups.append({"params": base})
        return groups

    def geometry(self, dtype: torch.dtype | None = torch.float64) -> LowRankManifold:
        """The manifold ``s ↦ (W0 + Σ_k φ_k(s) U_k V_kᵀ)`` of all adapted weights, flattened and
        concatenated, with its geometry from the factors' Gram matrices.

        Args:
            dtype: a detached snapshot of the weights in this dtype (default float64, for
                accurate geometry); ``None`` uses the live parameters (differentiable in them).
        """
        layers = []
        for _, f in self.named_factors():
            triple = (_matrix(self.model.get_parameter(f.parameter), f.transposed), f.U, f.V)
            layers.append(triple if dtype is None else tuple(t.detach().to(dtype) for t in triple))
        return LowRankManifold(self.basis, layers)

    def extra_parameters(self) -> int:
        """Numbers in the factors: ``Σ K r (out + fan_in)`` over adapted layers."""
        return sum(p.numel() for p in self.factor_parameters())

    @torch.no_grad()
    def export(self, s) -> nn.Module:
        """A plain copy of the model with ``W0 + Σ_k φ_k(s) U_k V_kᵀ`` loaded, ``s: (m,)``; its
        outputs equal ``self(x, s)``; its parameters are all trainable (as before freezing)."""
        coefficients = self._coefficients(s, single=True)
        owners = {*self.factors.values(), *self._attention}
        memo: dict[int, object] = {id(f): f for f in owners}  # hooks' owners are not copied
        for _, factors in self.named_factors():
            weight = self.model.get_parameter(factors.parameter)
            memo[id(weight)] = nn.Parameter(weight + factors.update(coefficients).to(weight))
        plain = copy.deepcopy(self.model, memo)
        for m in plain.modules():
            for hooks in (m._forward_pre_hooks, m._forward_hooks, m._forward_hooks_always_called):
                for key in [k for k, hook in hooks.items() if getattr(hook, "__self__", None) in owners]:
                    del hooks[key]
        for name in self._frozen:
            plain.get_parameter(name).requires_grad_(True)
        return plain

    def extra_repr(self) -> str:
        return f"basis={self.basis!r}, rank={self.rank}, layers={len(self.factors)}"


def _transposed(module: nn.Module) -> bool:
    """A GPT-2-style ``Conv1D``: ``x @ weight + bias`` with ``weight: (in, out)``, recognised by its
    class name as common language-model libraries recognise it."""
    weight = getattr(module, "weight", None)
    return type(module).__name__ == "Conv1D" and isinstance(weight, Tensor) and weight.ndim == 2


def _matrix(weight: Tensor, transposed: bool) -> Tensor:
    """A weight as the matrix ``(out, fan_in)`` that ``U Vᵀ`` updates."""
    return weight.T if transposed else weight.reshape(weight.shape[0], -1)


def _join(path: str, leaf: str) -> str:
    return f"{path}.{leaf}" if path else leaf


def _key(path: str) -> str:
    """A module-dict key for a qualified name (dots are not allowed in keys)."""
    return path.replace(".", "-") or "-"


def _adapted_weights(
    model: nn.Module, include: Selector | None, exclude: Selector | None
) -> list[tuple[str, str, str | None]]:
    """``(module path, weight attribute, enclosing nn.MultiheadAttention path or None)`` of every
    adapted weight, after checking each choice."""
    selected = parameter_filter(include, exclude)
    supported = (*_CONVOLUTIONS, nn.Linear)
    attention_of = {}  # qualified weight name -> the nn.MultiheadAttention that reads it
    for path, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            owned = dict(module.named_parameters())
            attention_of.update({_join(path, leaf): path for leaf in PROJECTION_WEIGHTS if leaf in owned})
    names_of = parameter_aliases(model)
    chosen = []
    for name, p in model.named_parameters():
        path, _, leaf = name.rpartition(".")
        owner = model.get_submodule(path)
        linear_like = isinstance(owner, supported) or _transposed(owner)
        fits = name in attention_of or (leaf == "weight" and linear_like)
        if include is None and not fits:
            continue
        if not selected(name, owner):
            continue
        if not fits:
            raise UnsupportedLayerError(
                f"parameter {name!r} is {'the ' + leaf if leaf != 'weight' else 'a weight'} of "
                f"{type(owner).__name__} ({p.ndim}-D); valid: the 2-D weight of an nn.Linear or a Conv1D "
                "(x @ weight) or the kernel of an nn.Conv1d/2d/3d (reshaped to (out, in/groups·∏kernel)) "
                "called as a module, or a projection weight of an nn.MultiheadAttention "
                f"({', '.join(PROJECTION_WEIGHTS)})"
            )
        if len(names_of[id(p)]) > 1:
            raise UnsupportedLayerError(
                f"parameter {name!r} is tied to {names_of[id(p)][1:]}; its update would reach only "
                "one of the modules that share it; valid: exclude it or untie it"
            )
        chosen.append((path, leaf, attention_of.get(name)))
    if not chosen:
        raise ValueError(
            f"no layer selected (include={include!r}, exclude={exclude!r}); valid: a selection "
            "matching the weight of at least one nn.Linear, Conv1D, nn.Conv1d/2d/3d or the projection "
            "weights of an nn.MultiheadAttention"
        )
    return chosen

