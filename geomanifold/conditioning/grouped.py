"""The fallback for layers that are not linear in their weights (docs/conditioning.md).

Two exact per-example kernels:

- ``"grouped"``: examples are grouped by distinct coefficient rows ``φ(s_i)``; each group runs the
  original layer once through :func:`torch.func.functional_call` with ``W(s) = Σ_k φ_k(s) P_k``
  and the outputs are put back in batch order. Correct for any layer whose examples are
  independent; the cost grows with the number of distinct contexts (one call each), so it suits
  discrete contexts.
- ``"vmap"``: per-example weights ``W(s_i)`` and :func:`torch.func.vmap` over the examples of
  ``functional_call`` (one vectorised call), for continuous contexts; the layer's forward must
  be vmap-able (no data-dependent Python control flow, no ``.item()``).

``"auto"`` takes ``"vmap"`` for PyTorch's own layers (``torch.nn``) when the batch has more than
:data:`GROUPS_BEFORE_VMAP` distinct contexts, ``"grouped"`` otherwise (force ``"vmap"`` per layer
for a hand-written one through ``WeightManifold(strategy=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils._pytree import tree_flatten, tree_unflatten

from .layer import ManifoldLayer, UnsupportedLayerError

__all__ = ["GROUPS_BEFORE_VMAP", "BatchDims", "GroupedLayer"]

GROUPS_BEFORE_VMAP = 4
"""Distinct contexts in a batch above which ``"auto"`` vectorises a ``torch.nn`` layer."""


@dataclass(frozen=True)
class BatchDims:
    """Where the batch dimension is in a layer's tensor arguments and outputs.

    Attributes:
        args: one dim for every positional tensor argument, or one entry per position
            (None: passed whole to every group; positions past the tuple are passed whole).
        kwargs: dim per keyword argument; tensors of keywords not listed are passed whole.
        outputs: one dim for every output tensor, or one entry per element of a tuple output
            (it applies to every tensor nested in that element).
    """

    args: int | tuple[int | None, ...] = 0
    kwargs: Mapping[str, int] = field(default_factory=dict)
    outputs: int | tuple[int, ...] = 0

    @classmethod
    def default(cls, module: nn.Module, dim: int | None = None) -> BatchDims | None:
        """RNNs (hidden states on dim 1) and ``nn.MultiheadAttention`` (``key_padding_mask`` and
        attention weights on dim 0) by their ``batch_first``; other modules ``dim`` for every
        argument and output (None: not known before the call)."""
        d = 1 if getattr(module, "batch_first", True) is False else 0
        if isinstance(module, nn.RNNBase):
            return cls(args=(d, 1), outputs=(d, 1))
        if isinstance(module, nn.MultiheadAttention):
            return cls(args=(d, d, d), kwargs={"key_padding_mask": 0}, outputs=(d, 0))
        return None if dim is None else cls(args=dim, outputs=dim)


class GroupedLayer(ManifoldLayer):
    """Any other layer with parameters (its whole subtree is one unit).

    Args:
        batch_dims: where its inputs and outputs carry the batch; default
            :meth:`BatchDims.default`, else the batch dim of the first tensor argument (declared,
            tracked or inferred, :mod:`~geomanifold.conditioning.layout`) for all of them.

    An argument with size 1 on its batch dim is broadcast: every group sees it whole.

    A layer that couples the examples of a batch (a BatchNorm in training mode inside it) is
    refused under per-example contexts: grouping would normalise each context group on its own,
    which is not the same model.
    """

    def __init__(self, layer: nn.Module, names, context, name: str, batch_dims: BatchDims | None = None):
        super().__init__(layer, names, context, name)
        self.batch_dims = batch_dims or BatchDims.default(layer)
        self.strategy = "auto"
        # torch.func.vmap has no batching rule for the fused recurrent kernels
        self.vmappable = not any(isinstance(m, nn.RNNBase) for m in layer.modules())
        if not self.vmappable:
            self.STRATEGIES = ("auto", "grouped")

    STRATEGIES: tuple[str, ...] = ("auto", "grouped", "vmap")

    def _dims(self, batch: int, args: tuple) -> BatchDims:
        if self.batch_dims is not None:
            return self.batch_dims
        first = next((a for a in args if isinstance(a, Tensor)), None)
        if first is None:
            raise UnsupportedLayerError(
                f"layer {self.name!r} ({type(self.layer).__name__}) has no tensor argument to split "
                "by context; give its BatchDims in WeightManifold(batch_dims={name: BatchDims(...)})"
            )
        return BatchDims.default(self.layer, self.batch_dim(first, batch, range(first.ndim)))

    def forward_per_example(self, coefficients: Tensor, *args, **kwargs):
        batch = coefficients.shape[0]
        dims = self._dims(batch, args)
        groups, inverse = torch.unique(coefficients.detach(), dim=0, return_inverse=True)
        if len(groups) > 1 and self.training:
            coupled = [type(m).__name__ for m in self.layer.modules() if isinstance(m, _BatchNorm)]
            if coupled:
                raise UnsupportedLayerError(
                    f"layer {self.name!r} ({type(self.layer).__name__}) couples examples through "
                    f"{coupled[0]} in training mode; under per-example contexts use a shared s "
                    "of shape (m,), eval mode, or put the BatchNorm outside the layer"
                )
        strategy = self.strategy
        if strategy == "auto":
            native = type(self.layer).__module__.startswith("torch.nn") and self.vmappable
            strategy = "vmap" if native and len(groups) > GROUPS_BEFORE_VMAP else "grouped"
        self.note(strategy, next((a for a in args if isinstance(a, Tensor)), coefficients))
        if strategy == "vmap":
            merged = self._vmapped(coefficients, dims, args, kwargs)
            self.track(merged, dims.outputs)
            return merged
        outputs, order = [], []
        for g in range(len(groups)):
            index = (inverse == g).nonzero().squeeze(1)
            group_args = tuple(
                self._select(arg, _arg_dim(dims, i), index, batch, f"argument {i}")
                for i, arg in enumerate(args)
            )
            group_kwargs = {
                key: self._select(value, dims.kwargs.get(key), index, batch, f"argument {key!r}")
                for key, value in kwargs.items()
            }
            weights = self.weights_at(coefficients[index[0]])  # differentiable in s as well
            outputs.append(functional_call(self.layer, weights, group_args, group_kwargs))
            order.append(index)
        inverse_order = torch.cat(order).argsort()
        if isinstance(dims.outputs, int):
            merged = _merge(outputs, dims.outputs, inverse_order)
        else:
            merged = _rebuild(
                outputs[0],
                [_merge([out[j] for out in outputs], d, inverse_order) for j, d in enumerate(dims.outputs)],
            )
        self.track(merged, dims.outputs)
        return merged

    def _vmapped(self, coefficients: Tensor, dims: BatchDims, args: tuple, kwargs: dict) -> Any:
        """``functional_call`` at ``W(s_i)`` vectorised over the examples by ``vmap``."""
        batch = coefficients.shape[0]
        args = tuple(
            self._select(a, _arg_dim(dims, i), None, batch, f"argument {i}") for i, a in enumerate(args)
        )
        kwargs = {
            k: self._select(v, dims.kwargs.get(k), None, batch, f"argument {k!r}") for k, v in kwargs.items()
        }
        arg_dims = tuple(_dims_like(a, _arg_dim(dims, i)) for i, a in enumerate(args))
        kwarg_dims = {k: _dims_like(v, dims.kwargs.get(k)) for k, v in kwargs.items()}
        structure: dict[str, Any] = {}

        def one(weights, example_args, example_kwargs):
            example_args = _unsqueeze(example_args, arg_dims)
            example_kwargs = _unsqueeze(example_kwargs, kwarg_dims)
            out = functional_call(self.layer, weights, example_args, example_kwargs)
            leaves, structure["spec"] = tree_flatten(out)
            structure["leaves"] = leaves
            out_dims = _output_leaf_dims(out, dims.outputs)
            structure["dims"] = out_dims
            return [
                leaf.squeeze(d) for leaf, d in zip(leaves, out_dims, strict=True) if isinstance(leaf, Tensor)
            ]

        stacked = iter(
            vmap(one, in_dims=(0, arg_dims, kwarg_dims))(self.weights_at(coefficients), args, kwargs)
        )
        leaves = [
            next(stacked).movedim(0, d) if isinstance(leaf, Tensor) else leaf
            for leaf, d in zip(structure["leaves"], structure["dims"], strict=True)
        ]
        return tree_unflatten(leaves, structure["spec"])

    def _select(self, value: Any, dim: int | None, index: Tensor | None, batch: int, what: str) -> Any:
        """The rows ``index`` (None: all) of every tensor in ``value`` along ``dim``, inputs
        broadcast over the batch expanded (``dim`` None: ``value`` whole)."""
        if dim is None:
            return value

        def take(t: Tensor) -> Tensor:
            if t.ndim > dim and t.shape[dim] == 1 != batch:  # broadcast over the batch
                t = t.expand(*t.shape[:dim], batch, *t.shape[dim + 1 :])
            if t.ndim <= dim or t.shape[dim] != batch:
                raise ValueError(
                    f"{what} of layer {self.name!r} ({type(self.layer).__name__}) has shape "
                    f"{tuple(t.shape)}, expected {batch} examples along dim {dim}; give its "
                    "BatchDims in WeightManifold(batch_dims={name: BatchDims(...)})"
                )
            return t if index is None else t.index_select(dim, index)

        return _map(take, value)


def _dims_like(value: Any, dim: int | None) -> Any:
    """A ``vmap`` ``in_dims`` tree for ``value``: ``dim`` at every tensor, None elsewhere."""
    if isinstance(value, Tensor):
        return dim
    if isinstance(value, tuple | list):
        return _rebuild(value, [_dims_like(item, dim) for item in value])
    if isinstance(value, dict):
        return {key: _dims_like(item, dim) for key, item in value.items()}
    return None


def _unsqueeze(tree: Any, dims: Any) -> Any:
    """Put back the batch dim of size 1 that ``vmap`` removed, where ``dims`` has one."""
    if isinstance(tree, Tensor):
        return tree if dims is None else tree.unsqueeze(dims)
    if isinstance(tree, tuple | list):
        return _rebuild(tree, [_unsqueeze(item, d) for item, d in zip(tree, dims, strict=True)])
    if isinstance(tree, dict):
        return {key: _unsqueeze(item, dims[key]) for key, item in tree.items()}
    return tree


def _output_leaf_dims(out: Any, outputs: int | tuple[int, ...]) -> list[int]:
    """The batch dim of every leaf of ``tree_flatten(out)``."""
    if isinstance(outputs, int):
        return [outputs] * len(tree_flatten(out)[0])
    return [d for item, d in zip(out, outputs, strict=True) for _ in tree_flatten(item)[0]]


def _arg_dim(dims: BatchDims, position: int) -> int | None:
    if isinstance(dims.args, int):
        return dims.args
    return dims.args[position] if position < len(dims.args) else None


def _map(fn: Callable[[Tensor], Tensor], tree: Any) -> Any:
    """Apply ``fn`` to every tensor in nested tuples, lists and dicts."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, tuple | list):
        return _rebuild(tree, [_map(fn, item) for item in tree])
    if isinstance(tree, dict):
        return {key: _map(fn, value) for key, value in tree.items()}
    return tree


def _merge(trees: list[Any], dim: int, inverse_order: Tensor) -> Any:
    """Concatenate the groups' outputs along ``dim`` and restore the batch order."""
    first = trees[0]
    if isinstance(first, Tensor):
        return torch.cat(trees, dim).index_select(dim, inverse_order)
    if isinstance(first, tuple | list):
        return _rebuild(first, [_merge([t[j] for t in trees], dim, inverse_order) for j in range(len(first))])
    if isinstance(first, dict):
        return {key: _merge([t[key] for t in trees], dim, inverse_order) for key in first}
    return first


def _rebuild(like: tuple | list, items: list[Any]) -> tuple | list:
    """A sequence of the same type as ``like`` (tuple, list or named tuple) holding ``items``."""
    if hasattr(like, "_fields"):
        return type(like)(*items)
    return type(like)(items)
