"""Where the batch is in each layer's inputs under per-example contexts ``s: (B, m)``.

A layer on the weight manifold computes example ``i`` at ``W(s_i)``, so it must know which
dimension of its input indexes the examples. The answer, per layer, in this order:

1. **declared**: ``WeightManifold(batch_dim=...)``, an int for the whole model or
   ``{module name: dim}`` for a module and everything inside it; otherwise the nearest enclosing
   module (or the layer itself) with a ``batch_first`` attribute (``nn.Transformer*``,
   ``nn.MultiheadAttention``, RNNs): dim 0 if it is True, dim 1 if it is False. The most deeply
   nested declaration wins.
2. **tracked**: the input is the very tensor that a layer with a known layout returned (another
   manifold layer, a module with ``batch_first``, or a dropout, activation or identity module
   passing such a tensor on), so it carries that layer's batch dimension.
3. **inferred** from the shape: exactly one of the dimensions that can hold the batch (all but the
   feature dimensions) has size ``B``; or none has and dim 0 has size 1 (an input broadcast over
   the batch, such as position ids of shape ``(1, T)``).

Convolutions and channel norms (BatchNorm, GroupNorm, InstanceNorm) take ``(N, C, ...)`` by
definition, so their batch is dim 0. An input with size 1 on the batch dimension is broadcast: every
example sees it. When none of the rules decides (``(T, B, E)`` with ``T == B`` and no declaration),
:class:`LayoutError` names the layer and the argument to set.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..modules import ELEMENTWISE_MODULES

__all__ = [
    "LayoutError",
    "LayoutTracker",
    "batch_first",
    "declared_batch_dims",
    "infer_batch_dim",
    "to_front",
]



class LayoutError(ValueError):
    """The batch dimension of a layer's input cannot be determined, or contradicts the contexts."""


def check_batch_dim_argument(model: nn.Module, batch_dim) -> dict[str, int]:
    """``batch_dim`` as ``{module name: dim}`` (``""`` is the whole model), after checking it."""
    if batch_dim is None:
        return {}
    entries = batch_dim if isinstance(batch_dim, Mapping) else {"": batch_dim}
    modules = dict(model.named_modules())
    for name, dim in entries.items():
        if name not in modules:
            raise ValueError(
                f"batch_dim names {name!r}, not a module of the model; valid: names of model.named_modules()"
            )
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            raise ValueError(
                f"batch_dim must be an int >= 0 or {{module name: int >= 0}}, got {dim!r} for {name!r}"
            )
    return dict(entries)


def batch_first(module: nn.Module) -> bool | None:
    """The module's own ``batch_first`` (transformer layers and stacks: their attention's)."""
    if isinstance(module, nn.TransformerEncoder | nn.TransformerDecoder):
        module = module.layers[0]
    if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
        module = module.self_attn
    own = getattr(module, "batch_first", None)
    return own if isinstance(own, bool) else None


def declared_batch_dims(model: nn.Module, batch_dim: Mapping[str, int]) -> dict[str, int | None]:
    """The declared batch dim of every module by qualified name (None: not declared)."""
    declared: dict[str, int | None] = {}
    for path, module in model.named_modules():
        parent = declared.get(path.rpartition(".")[0]) if path else None
        own = batch_first(module)
        dim = parent if own is None else (0 if own else 1)
        declared[path] = batch_dim.get(path, dim)
    return declared


def infer_batch_dim(
    x: Tensor, batch: int, candidates: range, known: int | None, layer: str, argument: str = "input"
) -> int:
    """The batch dim of ``x`` (size ``batch`` or 1) among ``candidates`` (see the module doc).

    Args:
        known: the declared or tracked dim, if any.
        layer: ``"'name' (Class)"`` for messages.

    Raises:
        LayoutError: the shape contradicts ``known``, or no rule decides.
    """
    shape = tuple(x.shape)
    if known is not None:
        if known in candidates and shape[known] in (batch, 1):
            return known
        raise LayoutError(
            f"{argument} of layer {layer} has shape {shape} but its batch is on dim {known} and s has "
            f"{batch} contexts; valid: {batch} examples (or 1, broadcast) along dim {known}, or s of "
            "shape (m,) shared by the batch"
        )
    sized = [d for d in candidates if shape[d] == batch]
    leading_one = 0 in candidates and shape[0] == 1
    if sized == [0] or (len(sized) == 1 and not leading_one):
        return sized[0]
    if not sized and leading_one:
        return 0
    if not sized:
        raise LayoutError(
            f"the {argument} {shape} of layer {layer} has no dim with the {batch} examples of s; valid: "
            "s with one row per example, or s of shape (m,) shared by the batch"
        )
    raise LayoutError(
        f"cannot tell the batch dim of the {argument} {shape} of layer {layer}: {batch} contexts match "
        f"dims {sized}; set WeightManifold(batch_dim=...) to the dim for the whole model or "
        "{module name: dim}"
    )


def to_front(x: Tensor, dim: int, batch: int) -> Tensor:
    """``x`` with its batch (size ``batch``, or 1 broadcast to ``batch``) moved to dim 0."""
    x = x.movedim(dim, 0)
    return x.expand(batch, *x.shape[1:]) if x.shape[0] != batch else x


class LayoutTracker:
    """The batch dims of the tensors returned during one per-example forward pass (held by weak
    reference, so tracking keeps no activation alive; a reused id is told apart by identity)."""

    def __init__(self, sources: Mapping[nn.Module, object]):
        """``sources``: modules with a declared layout and their output dims (an int, or one per
        element of a tuple output)."""
        self._sources = {id(module): dims for module, dims in sources.items()}
        self._dims: dict[int, tuple[weakref.ref, int]] | None = None

    @contextmanager
    def active(self, enabled: bool = True) -> Iterator[None]:
        """Track tensors (through a global module forward hook) inside the ``with`` block."""
        if not enabled:
            yield
            return
        previous, self._dims = self._dims, {}
        handle = torch.nn.modules.module.register_module_forward_hook(self._hook)
        try:
            yield
        finally:
            handle.remove()
            self._dims = previous

    def dim_of(self, x: object) -> int | None:
        if self._dims is None or not isinstance(x, Tensor):
            return None
        entry = self._dims.get(id(x))
        return entry[1] if entry is not None and entry[0]() is x else None

    def track(self, output: object, dims: object) -> None:
        """Record ``output``'s batch dim(s): ``dims`` an int, or one entry per tuple element."""
        if self._dims is None:
            return
        if isinstance(output, Tensor) and isinstance(dims, int):
            self._dims[id(output)] = (weakref.ref(output), dims)
        elif isinstance(output, tuple | list) and isinstance(dims, tuple):
            for item, dim in zip(output, dims, strict=False):
                self.track(item, dim)

    def _hook(self, module: nn.Module, args: tuple, output: object) -> None:
        dims = self._sources.get(id(module))
        if dims is not None:
            self.track(output, dims)
        elif isinstance(module, ELEMENTWISE_MODULES) and args:
            dim = self.dim_of(args[0])
            if dim is not None and isinstance(output, Tensor) and output.ndim == args[0].ndim:
                self.track(output, dim)
