"""Permutation specs derived from a model by tracing it (``torch.fx``).

Every axis of every tensor in the traced graph is a product of *factors* ``(size, variable)``;
variables are merged (union–find) wherever two axes must carry the same permutation: the
input columns of a ``Linear``/``Conv`` and the features that feed them, both operands of a
residual addition, the channels of a norm layer and its affine parameters and statistics, a
``Flatten`` that puts channel-major blocks on one axis, the q/k/v/out projections of
``nn.MultiheadAttention`` (heads permuted as units, ``head_dim`` blocks moving together), an
embedding's columns. A layer's output units create a variable; the graph's inputs and outputs,
and every axis an operation does not provably treat unit by unit, are *fixed* (never permuted).
Operations the tracer does not know fix all their axes, so an unknown operation costs permutations
but never correctness; every result is still checked on a probe batch by
:func:`~geomanifold.weightspace.permutation_spec.permute_model`.

A ``GroupNorm`` with ``1 < G < C`` groups makes its channels' permutation group-respecting.
"""

from __future__ import annotations

import builtins
import copy
import math
import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..modules import ELEMENTWISE_MODULES
from .permutation_spec import PermutationSpec, SpecError

__all__ = ["trace_permutation_spec"]

FIXED = 0
Factor = tuple[int, int]
Axis = tuple[Factor, ...]

_POOLS = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
_UNARY_FUNCTIONS = {
    F.relu,
    torch.relu,
    F.relu6,
    F.gelu,
    F.silu,
    F.mish,
    F.hardswish,
    F.softplus,
    F.leaky_relu,
    F.elu,
    F.dropout,
    torch.sigmoid,
    torch.tanh,
    torch.abs,
    torch.neg,
    operator.neg,
    torch.exp,
}
_UNARY_METHODS = {
    "relu",
    "relu_",
    "sigmoid",
    "tanh",
    "contiguous",
    "clone",
    "float",
    "double",
    "half",
    "to",
    "type_as",
    "detach",
    "neg",
    "abs",
    "exp",
}
_BINARY = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.iadd,
    operator.isub,
    operator.imul,
    torch.add,
    torch.sub,
    torch.mul,
    torch.div,
    "add",
    "add_",
    "sub",
    "sub_",
    "mul",
    "mul_",
    "div",
    "div_",
}
_RESHAPES = {torch.flatten, torch.reshape, "flatten", "view", "reshape", "unflatten", "view_as", "reshape_as"}
_REDUCTIONS = {torch.mean, torch.sum, torch.amax, torch.amin, "mean", "sum", "amax", "amin"}
_SOFTMAX = {F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, "softmax", "log_softmax"}
_SHAPE_QUERIES = {"size", "dim", "numel", torch._assert}
_METADATA = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad"}


class _Variables:
    """Union–find over axis factors; variable 0 is ``FIXED``."""

    def __init__(self) -> None:
        self.parent = [FIXED]
        self.sizes = [0]
        self.labels: dict[int, tuple[int, str]] = {}  # root -> (creation order, permutation name)
        self.sites: dict[int, list[tuple[str, int]]] = {}
        self.groups: dict[int, set[int]] = {}
        self.created = 0

    def new(self, size: int) -> int:
        if size == 1:
            return FIXED
        self.parent.append(len(self.parent))
        self.sizes.append(size)
        return len(self.parent) - 1

    def find(self, v: int) -> int:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if b == FIXED or (a != FIXED and self.sizes[a] != self.sizes[b]):
            a, b = b, a
        if a != FIXED and self.sizes[a] != self.sizes[b]:
            self.union(a, FIXED)
            self.union(b, FIXED)
            return
        self.parent[b] = a
        if b in self.labels:
            label = self.labels.pop(b)
            self.labels[a] = min(label, self.labels.get(a, label))
        if b in self.sites:
            self.sites.setdefault(a, []).extend(self.sites.pop(b))
        if b in self.groups:
            self.groups.setdefault(a, set()).update(self.groups.pop(b))


def _fixed_axes(shape) -> tuple[Axis, ...]:
    return tuple(((int(s), FIXED),) for s in shape)


def _axis_size(axis: Axis) -> int:
    return math.prod(size for size, _ in axis)


class _Tracer:
    """Walks a traced graph once, merging the variables of axes that must share a permutation."""

    def __init__(self, graph_module: fx.GraphModule, shapes: dict[str, torch.Size]) -> None:
        self.gm = graph_module
        self.state_names = shapes
        self.v = _Variables()
        self.params: dict[str, tuple[Axis, ...]] = {}
        self.env: dict[fx.Node, object] = {}

    # --- axes -----------------------------------------------------------------------------
    def norm(self, axis: Axis) -> list[Factor]:
        """Roots, size-1 factors dropped, neighbouring fixed factors merged."""
        out: list[Factor] = []
        for size, var in axis:
            root = self.v.find(var)
            if size == 1:
                continue
            if root == FIXED and out and out[-1][1] == FIXED:
                out[-1] = (out[-1][0] * size, FIXED)
            else:
                out.append((size, root))
        return out

    def fix(self, value) -> None:
        if _is_tensor_value(value):
            for axis in value:
                for _, var in axis:
                    self.v.union(var, FIXED)
        elif isinstance(value, list | tuple):
            for item in value:
                self.fix(item)

    def fix_axis(self, axis: Axis) -> None:
        for _, var in axis:
            self.v.union(var, FIXED)

    def unify_axis(self, a: Axis, b: Axis) -> None:
        na, nb = self.norm(a), self.norm(b)
        if [s for s, _ in na] == [s for s, _ in nb]:
            for (_, x), (_, y) in zip(na, nb, strict=True):
                self.v.union(x, y)
        else:
            self.fix_axis(a)
            self.fix_axis(b)

    def param(self, name: str, axes: tuple[Axis, ...] | None = None) -> tuple[Axis, ...]:
        """The axes of state-dict tensor ``name`` (fresh variables, or ``axes``, on first use)."""
        if name not in self.params:
            if axes is None:
                axes = tuple(((int(s), self.v.new(int(s))),) for s in self.state_names[name])
            self.params[name] = axes
        elif axes is not None:
            for a, b in zip(self.params[name], axes, strict=True):
                self.unify_axis(a, b)
        return self.params[name]

    def create(self, axis: Axis, label: str, site: tuple[str, int] | None) -> None:
        """Mark the unit variable of ``axis`` (a layer's output units) as a permutation."""
        factors = [(s, var) for s, var in self.norm(axis) if var != FIXED]
        if len(factors) != 1:
            return
        root = factors[0][1]
        if root not in self.v.labels:
            self.v.labels[root] = (self.v.created, label)
            self.v.created += 1
        if site is not None:
            self.v.sites.setdefault(root, []).append(site)

    # --- graph ----------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.gm.graph.nodes:
            self.env[node] = self.node(node)

    def value(self, arg):
        if isinstance(arg, fx.Node):
            return self.env[arg]
        if isinstance(arg, list | tuple):
            return [self.value(a) for a in arg]
        return None

    def node(self, node: fx.Node):
        if node.op == "placeholder":
            return _meta_axes(node)
        if node.op == "get_attr":
            return self.param(node.target) if node.target in self.state_names else _meta_axes(node)
        if node.op == "output":
            self.fix(self.value(node.args))
            return None
        if node.op == "call_module":
            return self.module(node, self.gm.get_submodule(node.target))
        return self.function(node, node.target)

    def unknown(self, node: fx.Node):
        """Fix every axis the operation touches; its outputs are fixed."""
        self.fix(self.value(list(node.args) + list(node.kwargs.values())))
        return _meta_axes(node)

    def module(self, node: fx.Node, m: nn.Module):
        name = node.target
        x = self.value(node.args[0]) if node.args else None
        rule: Callable | None = None
        if isinstance(m, nn.Linear):
            rule = self.linear
        elif isinstance(m, nn.modules.conv._ConvNd) and not m.transposed:
            rule = self.conv
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and x is not None and len(x) >= 2:
            rule = self.batchnorm
        elif isinstance(m, nn.LayerNorm):
            rule = self.layernorm
        elif isinstance(m, nn.GroupNorm) and x is not None and len(x) >= 2:
            rule = self.groupnorm
        elif isinstance(m, nn.Embedding):
            rule = self.embedding
        elif isinstance(m, nn.MultiheadAttention):
            rule = self.attention
        elif isinstance(m, ELEMENTWISE_MODULES):
            return x
        elif isinstance(m, _POOLS) and x is not None and len(x) == len(_meta_shape(node)) >= 3:
            self.fix(x[2:])
            return (x[0], x[1], *_meta_axes(node)[2:])
        elif isinstance(m, nn.Flatten | nn.Unflatten):
            return self.reshape(node, x)
        elif isinstance(m, nn.Softmax | nn.LogSoftmax) and m.dim is not None:
            return self.softmax(x, m.dim)
        result = rule(node, m, name, x) if rule is not None and isinstance(x, tuple) else None
        if result is None:
            for pname, _ in list(m.named_parameters(recurse=True)) + list(m.named_buffers(recurse=True)):
                full = f"{name}.{pname}"
                if full in self.state_names:
                    self.fix(self.param(full))
            return self.unknown(node)
        return result

    def _tensor(self, m: nn.Module, name: str, attr: str, axes=None):
        tensor = getattr(m, attr, None)
        full = f"{name}.{attr}"
        return self.param(full, axes) if isinstance(tensor, Tensor) and full in self.state_names else None

    def linear(self, node, m, name, x):
        w = self.param(f"{name}.weight")
        self.unify_axis(w[1], x[-1])
        self.create(w[0], name, (name, len(x) - 1))
        bias = self._tensor(m, name, "bias")
        if bias is not None:
            self.unify_axis(bias[0], w[0])
        return (*x[:-1], w[0])

    def conv(self, node, m, name, x):
        w = self.param(f"{name}.weight")
        if len(x) != len(w):
            return None  # unbatched input
        self.fix(w[2:])
        self.fix(x[2:])
        if m.groups == 1:
            self.unify_axis(w[1], x[1])
            self.create(w[0], name, (name, 1))
        elif m.groups == m.in_channels == m.out_channels:
            self.unify_axis(w[0], x[1])  # depthwise: channel c reads channel c only
        else:
            self.fix(x)
            self.fix(w)
        bias = self._tensor(m, name, "bias")
        if bias is not None:
            self.unify_axis(bias[0], w[0])
        return (x[0], w[0], *_meta_axes(node)[2:])

    def batchnorm(self, node, m, name, x):
        for attr in ("weight", "bias", "running_mean", "running_var"):
            tensor = self._tensor(m, name, attr)
            if tensor is not None:
                self.unify_axis(tensor[0], x[1])
        return x

    def layernorm(self, node, m, name, x):
        k = len(m.normalized_shape)
        for attr in ("weight", "bias"):
            tensor = self._tensor(m, name, attr)
            if tensor is not None:
                for i in range(k):
                    self.unify_axis(tensor[i], x[len(x) - k + i])
        return x

    def groupnorm(self, node, m, name, x):
        for attr in ("weight", "bias"):
            tensor = self._tensor(m, name, attr)
            if tensor is not None:
                self.unify_axis(tensor[0], x[1])
        factors = self.norm(x[1])
        if 1 < m.num_groups < m.num_channels:
            if len(factors) == 1 and factors[0][1] != FIXED:
                self.v.groups.setdefault(factors[0][1], set()).add(m.num_groups)
            else:
                self.fix_axis(x[1])
        return x

    def embedding(self, node, m, name, x):
        w = self.param(f"{name}.weight")
        self.fix_axis(w[0])
        self.create(w[1], name, (name, len(x)))
        return (*x, w[1])

    def attention(self, node, m, name, x):
        if not m._qkv_same_embed_dim or m.in_proj_weight is None or m.bias_k is not None or m.add_zero_attn:
            return None
        inputs = [self.value(a) for a in node.args[:3]]
        inputs += [self.value(node.kwargs[k]) for k in ("key", "value") if k in node.kwargs]
        if len(inputs) != 3 or not all(isinstance(t, tuple) for t in inputs):
            return None
        query, key, value = inputs
        self.unify_axis(query[-1], key[-1])
        self.unify_axis(query[-1], value[-1])
        embed, heads = m.embed_dim, m.num_heads
        head = self.v.new(heads)
        packed = ((3, FIXED), (heads, head), (m.head_dim, FIXED))
        w = self.param(f"{name}.in_proj_weight", (packed, query[-1]))
        self.create(w[0], f"{name}:heads", None)
        self._tensor(m, name, "in_proj_bias", (packed,))
        out_units = ((embed, self.v.new(embed)),)
        self.param(f"{name}.out_proj.weight", (out_units, ((heads, head), (m.head_dim, FIXED))))
        if m.out_proj.bias is not None:
            self.param(f"{name}.out_proj.bias", (out_units,))
        self.create(out_units, name, (name, len(query) - 1))
        meta = node.meta.get("tensor_meta")
        weights = _meta_axes_of(meta[1]) if isinstance(meta, tuple | list) and len(meta) > 1 else None
        return [(*query[:-1], out_units), weights]

    # --- functions and methods ------------------------------------------------------------
    def function(self, node: fx.Node, target):
        args = node.args
        x = self.value(args[0]) if args else None
        if target in _SHAPE_QUERIES or (target is builtins.getattr and node.args[1] in _METADATA):
            return None
        if target is operator.getitem:
            if isinstance(x, list):
                index = args[1]
                return x[index] if isinstance(index, int) and -len(x) <= index < len(x) else None
            return self.index(node, x) if isinstance(x, tuple) else self.unknown(node)
        if not isinstance(x, tuple) and target not in (torch.cat, torch.concat) and target not in _BINARY:
            return self.unknown(node)
        if target in _UNARY_FUNCTIONS or target in _UNARY_METHODS:
            return x
        if target in _BINARY:
            return self.broadcast(node)
        if target in _RESHAPES:
            return self.reshape(node, x)
        if target in ("permute", torch.permute):
            dims = args[1] if len(args) == 2 and isinstance(args[1], list | tuple) else args[1:]
            dims = node.kwargs.get("dims", dims)
            return tuple(x[d] for d in dims) if len(dims) == len(x) else self.unknown(node)
        if target in ("transpose", torch.transpose, "swapaxes", "swapdims") and len(args) == 3:
            d0, d1 = args[1] % len(x), args[2] % len(x)
            axes = list(x)
            axes[d0], axes[d1] = axes[d1], axes[d0]
            return tuple(axes)
        if target in (torch.cat, torch.concat):
            return self.cat(node)
        if target in ("expand", "expand_as"):
            return self.expand(node, x)
        if target in _REDUCTIONS:
            return self.reduction(node, x)
        if target in _SOFTMAX:
            dim = node.kwargs.get("dim", args[1] if len(args) > 1 else None)
            return self.softmax(x, dim) if isinstance(dim, int) else self.unknown(node)
        if target is F.linear:
            return self.functional_linear(node, x)
        if target is F.layer_norm:
            return self.functional_layernorm(node, x)
        return self.unknown(node)

    def broadcast(self, node):
        shape = _meta_shape(node)
        if shape is None:
            return self.unknown(node)
        out: list[Axis | None] = [None] * len(shape)
        operands = [self.value(a) for a in [*node.args[:2], node.kwargs.get("other")]]
        for operand in operands:
            if not isinstance(operand, tuple):
                continue
            offset = len(shape) - len(operand)
            for j, axis in enumerate(operand):
                if _axis_size(axis) == shape[offset + j] and shape[offset + j] > 1:
                    if out[offset + j] is None:
                        out[offset + j] = axis
                    else:
                        self.unify_axis(out[offset + j], axis)
        return tuple(
            axis if axis is not None else ((int(s), FIXED),) for axis, s in zip(out, shape, strict=True)
        )

    def reshape(self, node, x):
        shape = _meta_shape(node)
        if shape is None or not isinstance(x, tuple):
            return self.unknown(node)
        pending = [f for axis in x for f in self.norm(axis)]
        out: list[Axis] = []
        for s in shape:
            axis: list[Factor] = []
            product = 1
            while product < s:
                if not pending:
                    return self.unknown(node)
                size, var = pending[0]
                if s % (product * size) == 0:
                    axis.append((size, var))
                    product *= size
                    pending.pop(0)
                    continue
                need = s // product
                if s % product or size % need:
                    return self.unknown(node)
                self.v.union(var, FIXED)
                axis.append((need, FIXED))
                pending[0] = (size // need, FIXED)
                product *= need
            out.append(tuple(axis) or ((int(s), FIXED),))
        if pending:
            return self.unknown(node)
        return tuple(out)

    def index(self, node, x):
        shape = _meta_shape(node)
        index = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
        if shape is None or any(
            isinstance(i, fx.Node) or not isinstance(i, int | slice | type(None) | type(...)) for i in index
        ):
            return self.unknown(node)
        given = sum(1 for i in index if i is not None and i is not Ellipsis)
        expanded = []
        for i in index:
            expanded += [slice(None)] * (len(x) - given) if i is Ellipsis else [i]
        out: list[Axis] = []
        d = 0
        for i in expanded:
            if i is None:
                out.append(((1, FIXED),))
                continue
            axis, d = x[d], d + 1
            if isinstance(i, slice) and i == slice(None):
                out.append(axis)
                continue
            self.fix_axis(axis)  # selecting units is not permutation-equivariant
            if isinstance(i, slice):
                out.append(((int(shape[len(out)]), FIXED),))
        out += list(x[d:])
        return tuple(out) if len(out) == len(shape) else self.unknown(node)

    def cat(self, node):
        tensors = [self.value(a) for a in node.args[0]] if isinstance(node.args[0], list | tuple) else []
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        shape = _meta_shape(node)
        if (
            not tensors
            or shape is None
            or not all(isinstance(t, tuple) and len(t) == len(shape) for t in tensors)
        ):
            return self.unknown(node)
        dim %= len(shape)
        for t in tensors:
            self.fix_axis(t[dim])
            for i in range(len(shape)):
                if i != dim:
                    self.unify_axis(tensors[0][i], t[i])
        out = list(tensors[0])
        out[dim] = ((int(shape[dim]), FIXED),)
        return tuple(out)

    def expand(self, node, x):
        shape = _meta_shape(node)
        if shape is None or len(shape) < len(x):
            return self.unknown(node)
        offset = len(shape) - len(x)
        out = list(_fixed_axes(shape))
        for j, axis in enumerate(x):
            if _axis_size(axis) == shape[offset + j]:
                out[offset + j] = axis
            else:
                self.fix_axis(axis)
        return tuple(out)

    def reduction(self, node, x):
        args = node.args
        dim = node.kwargs.get("dim", args[1] if len(args) > 1 else None)
        keepdim = node.kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        if dim is None or not isinstance(keepdim, bool):
            return self.unknown(node)
        dims = {d % len(x) for d in (dim if isinstance(dim, list | tuple) else (dim,))}
        out = []
        for i, axis in enumerate(x):
            if i in dims:
                self.fix_axis(axis)
                if keepdim:
                    out.append(((1, FIXED),))
            else:
                out.append(axis)
        return tuple(out) if len(out) == len(_meta_shape(node) or ()) else self.unknown(node)

    def softmax(self, x, dim):
        self.fix_axis(x[dim % len(x)])
        return x

    def functional_linear(self, node, x):
        w = self.value(node.args[1] if len(node.args) > 1 else node.kwargs.get("weight"))
        if not isinstance(w, tuple) or len(w) != 2:
            return self.unknown(node)
        self.unify_axis(w[1], x[-1])
        self.create(w[0], node.name, None)
        bias = self.value(node.args[2] if len(node.args) > 2 else node.kwargs.get("bias"))
        if isinstance(bias, tuple):
            self.unify_axis(bias[0], w[0])
        return (*x[:-1], w[0])

    def functional_layernorm(self, node, x):
        shape = node.args[1] if len(node.args) > 1 else node.kwargs.get("normalized_shape")
        k = len(shape) if isinstance(shape, list | tuple) else 1
        for i, key in ((2, "weight"), (3, "bias")):
            tensor = self.value(node.args[i] if len(node.args) > i else node.kwargs.get(key))
            if isinstance(tensor, tuple):
                for j in range(k):
                    self.unify_axis(tensor[j], x[len(x) - k + j])
        return x

    # --- the spec -------------------------------------------------------------------------
    def spec(self) -> PermutationSpec:
        while True:
            perms = {root: label for root, (_, label) in self.v.labels.items() if root != FIXED}
            axes: dict[str, tuple] = {}
            clash = None
            for name, tensor_axes in self.params.items():
                entries = []
                for axis in tensor_axes:
                    factors = self.norm(axis)
                    carried = [(i, s, var) for i, (s, var) in enumerate(factors) if var in perms]
                    if len(carried) > 1:
                        clash = carried[0][2]
                        break
                    if not carried:
                        entries.append(None)
                        continue
                    i, _, var = carried[0]
                    outer = math.prod(s for s, _ in factors[:i])
                    entries.append(perms[var] if outer == 1 else (perms[var], outer))
                if clash is not None:
                    break
                if any(e is not None for e in entries):
                    axes[name] = tuple(entries)
            conflicting = [root for root in perms if len(self.v.groups.get(root, ())) > 1]
            if clash is None and not conflicting:
                break
            for root in [clash] if clash is not None else conflicting:
                self.v.union(root, FIXED)
        return PermutationSpec(
            axes=axes,
            sizes={label: self.v.sizes[root] for root, label in perms.items()},
            groups={perms[root]: next(iter(g)) for root, g in self.v.groups.items() if root in perms and g},
            sites={perms[root]: tuple(s) for root, s in self.v.sites.items() if root in perms},
        )


def _is_tensor_value(value) -> bool:
    """Whether ``value`` is the axes of one tensor (a tuple of factor tuples), not a list of values."""
    return isinstance(value, tuple) and all(isinstance(axis, tuple) for axis in value)


def _meta_shape(node: fx.Node):
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _meta_axes_of(meta):
    if meta is None:
        return None
    if hasattr(meta, "shape"):
        return _fixed_axes(meta.shape)
    if isinstance(meta, list | tuple):
        return [_meta_axes_of(m) for m in meta]
    return None


def _meta_axes(node: fx.Node):
    return _meta_axes_of(node.meta.get("tensor_meta"))


def trace_permutation_spec(model: nn.Module, probe: Tensor) -> PermutationSpec:
    """The :class:`~geomanifold.weightspace.permutation_spec.PermutationSpec` of ``model``, derived
    by tracing it with ``torch.fx`` and running the trace on ``probe: (N, *F)`` for the shapes.

    Raises:
        SpecError: ``torch.fx`` cannot trace the model (e.g. control flow on tensor values; write its
            spec by hand), or the model fails on ``probe``.
    """
    replica = copy.deepcopy(model).eval()
    try:
        graph_module = fx.symbolic_trace(replica)
    except Exception as error:
        reason = (
            str(error).strip().split(". ")[0].splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise SpecError(
            f"model: torch.fx cannot trace {type(model).__name__} ({reason}); write its permutation "
            "spec by hand: PermutationSpec(axes={'layer.weight': ('P1', None), ...}) and pass spec="
        ) from None
    try:
        with torch.no_grad():
            ShapeProp(graph_module).propagate(probe)
    except Exception as error:
        raise SpecError(
            f"probe: {type(model).__name__} fails on inputs of shape {tuple(probe.shape)} ({error})"
        ) from None
    tracer = _Tracer(graph_module, {name: t.shape for name, t in model.state_dict().items()})
    tracer.run()
    return tracer.spec()
