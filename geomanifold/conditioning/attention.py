"""Multi-head attention with projections supplied by the caller (Vaswani et al. 2017, §3.2.2).

``nn.MultiheadAttention`` reads its projection weights directly inside
``torch.nn.functional.multi_head_attention_forward``, so a low-rank update of those weights cannot
reach it through a hook on a child module. :func:`attention_with_projections` computes the same
function as ``multi_head_attention_forward`` (same arguments, masks and dropout) with the input
and output projections given as callables, and :class:`AttentionUpdate` routes one module's calls
through it with an update added to chosen projection weights: a ``torch.overrides``
``TorchFunctionMode`` entered by a forward pre-hook of the module and left by its forward hook, so
the module's own ``forward`` (argument checks, ``batch_first``, mask conversion) runs unchanged and
the attention is computed once.

Shapes, sequence-first as in the functional form: ``query: (L, N, E)``, ``key, value: (S, N, E_k)``
(or unbatched ``(L, E)``, ``(S, E_k)``); ``key_padding_mask: (N, S)`` or ``(S,)``;
``attn_mask: (L, S)`` or ``(N·H, L, S)``; boolean masks are True where attention is not allowed,
float masks are added to the scores.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .layer import UnsupportedLayerError
from .layout import LayoutError

__all__ = [
    "PROJECTION_WEIGHTS", "AttentionUpdate", "InProjection", "OutProjection", "attention_with_projections",
]

PROJECTION_WEIGHTS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight")
"""The projection weights of ``nn.MultiheadAttention`` (packed, or separate for ``kdim, vdim != E``)."""

Update = Callable[[Tensor, slice], Tensor]
"""``(x: (T, N, fan_in), rows) -> (T, N, len(rows))``: rows ``rows`` of ``ΔW x`` for one weight."""

InProjection = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
"""``(query: (L, N, E), key: (S, N, E_k), value: (S, N, E_v)) -> (q, k, v)``, each ``(·, N, E)``."""
OutProjection = Callable[[Tensor], Tensor]
"""``(L, N, E) -> (L, N, E)``."""


def attention_with_projections(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_projection: InProjection,
    out_projection: OutProjection,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    training: bool,
    key_padding_mask: Tensor | None,
    need_weights: bool,
    attn_mask: Tensor | None,
    average_attn_weights: bool,
    is_causal: bool,
) -> tuple[Tensor, Tensor | None]:
    """``multi_head_attention_forward`` with the given projections (their biases included).

    Returns ``(output: (L, N, E), weights)``; ``weights`` is None unless ``need_weights``, then
    ``(N, L, S)`` averaged over heads or ``(N, H, L, S)`` (unbatched: without ``N``).
    """
    batched = query.dim() == 3
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    length, batch, embed = query.shape
    head = embed // num_heads
    dtype = query.dtype
    key_padding_mask = _additive(key_padding_mask, dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("is_causal needs attn_mask (the causal mask) too, as for nn.MultiheadAttention")
    causal_kernel = is_causal and key_padding_mask is None and not need_weights
    attn_mask = None if causal_kernel else _additive(attn_mask, dtype)
    q, k, v = in_projection(query, key, value)
    if bias_k is not None and bias_v is not None:  # one more key and value, attended by every query
        k = torch.cat([k, bias_k.expand(1, batch, embed)])
        v = torch.cat([v, bias_v.expand(1, batch, embed)])
        attn_mask, key_padding_mask = _pad(attn_mask), _pad(key_padding_mask)
    # (N, H, T, head)
    q, k, v = (t.reshape(t.shape[0], batch, num_heads, head).permute(1, 2, 0, 3) for t in (q, k, v))
    if add_zero_attn:  # a zero key and value
        k, v = (torch.cat([t, t.new_zeros(batch, num_heads, 1, head)], dim=2) for t in (k, v))
        attn_mask, key_padding_mask = _pad(attn_mask), _pad(key_padding_mask)
    sources = k.shape[2]
    if attn_mask is not None:
        attn_mask = attn_mask.reshape(-1, num_heads, length, sources) if attn_mask.dim() == 3 else attn_mask
    if key_padding_mask is not None:
        padding = key_padding_mask.reshape(batch, 1, 1, sources)
        attn_mask = padding if attn_mask is None else attn_mask + padding
    p = dropout_p if training else 0.0
    if need_weights:
        scores = (q * math.sqrt(1.0 / head)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = F.softmax(scores, dim=-1)
        if p > 0.0:
            weights = F.dropout(weights, p=p)
        out = weights @ v
        weights = weights.reshape(batch, num_heads, length, sources)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            weights = weights.squeeze(0)
    else:
        weights = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask, p, causal_kernel)
    out = out_projection(out.permute(2, 0, 1, 3).reshape(length, batch, embed))
    return (out if batched else out.squeeze(1)), weights


def _additive(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """A boolean mask (True: not allowed) as ``-inf`` scores; a float mask as it is."""
    if mask is None or mask.is_floating_point():
        return None if mask is None else mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(mask, float("-inf"))


def _pad(mask: Tensor | None) -> Tensor | None:
    """One more (allowed) source position."""
    return None if mask is None else F.pad(mask, (0, 1))


_SIGNATURE = inspect.signature(F.multi_head_attention_forward)


class AttentionUpdate(TorchFunctionMode):
    """``nn.MultiheadAttention`` at weights ``W + ΔW`` for some of its projection weights.

    Args:
        name: the module's qualified name, for messages.
        updates: ``{weight name in PROJECTION_WEIGHTS: Update}``; the update sees the inputs
            sequence-first, ``(T, N, fan_in)``, as the functional form does.

    :meth:`attach` registers the hooks on the module; while it runs, its call of
    ``multi_head_attention_forward`` goes to :func:`attention_with_projections` with
    ``W x + b + ΔW x`` for each updated weight. The inference fast path of the module is not
    taken while the mode is active (the mode counts as a ``__torch_function__`` override), nor
    that of an enclosing ``nn.TransformerEncoderLayer`` (it has hooks).
    """

    def __init__(self, name: str, updates: Mapping[str, Update]):
        super().__init__()
        unknown = set(updates) - set(PROJECTION_WEIGHTS)
        if unknown:
            raise ValueError(f"updates name {sorted(unknown)}; valid: {PROJECTION_WEIGHTS}")
        self.name, self.updates = name, dict(updates)
        self._entered = 0

    def attach(self, module: nn.Module) -> None:
        """Enter the mode before ``module``'s forward and leave it after (also on an error)."""
        module.register_forward_pre_hook(self.enter)
        module.register_forward_hook(self.leave, always_call=True)

    def enter(self, module: nn.Module, args: tuple) -> None:
        if any(isinstance(a, Tensor) and a.is_nested for a in args):
            raise LayoutError(
                f"layer {self.name!r} (MultiheadAttention) got a nested tensor (the inference path of "
                "nn.TransformerEncoder with a padding mask), which its updated projections do not take; "
                "valid: nn.TransformerEncoder(..., enable_nested_tensor=False)"
            )
        self.__enter__()
        self._entered += 1

    def leave(self, module: nn.Module, args: tuple, output) -> None:
        if self._entered:  # not when enter raised
            self._entered -= 1
            self.__exit__(None, None, None)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.multi_head_attention_forward:
            return func(*args, **kwargs)
        a = _SIGNATURE.bind(*args, **kwargs)
        a.apply_defaults()
        a = a.arguments
        if a["static_k"] is not None or a["static_v"] is not None:
            raise UnsupportedLayerError(
                f"layer {self.name!r} (MultiheadAttention) was called with static_k/static_v, which "
                "replace the projected keys and values; valid: no static keys and values"
            )
        return attention_with_projections(
            a["query"], a["key"], a["value"], a["num_heads"],
            self._in_projection(a), self._out_projection(a),
            a["bias_k"], a["bias_v"], a["add_zero_attn"], a["dropout_p"], a["training"],
            a["key_padding_mask"], a["need_weights"], a["attn_mask"], a["average_attn_weights"],
            a["is_causal"],
        )

    def _affine(self, x: Tensor, weight: Tensor, bias: Tensor | None, name: str, rows: slice) -> Tensor:
        """``W[rows] x + b[rows]``, plus ``ΔW[rows] x`` if ``name`` is updated."""
        y = F.linear(x, weight[rows], None if bias is None else bias[rows])
        update = self.updates.get(name)
        return y if update is None else y + update(x, rows)

    def _in_projection(self, a: dict) -> InProjection:
        embed, bias = a["embed_dim_to_check"], a["in_proj_bias"]
        third = [slice(i * embed, (i + 1) * embed) for i in range(3)]

        def separate(query: Tensor, key: Tensor, value: Tensor):
            names = ("q_proj_weight", "k_proj_weight", "v_proj_weight")
            return tuple(
                self._affine(x, a[n], None if bias is None else bias[r], n, slice(None))
                for x, n, r in zip((query, key, value), names, third, strict=True)
            )

        def packed(query: Tensor, key: Tensor, value: Tensor):
            weight = a["in_proj_weight"]
            if query is key and key is value:  # self-attention: one projection of the input
                return self._affine(query, weight, bias, "in_proj_weight", slice(None)).chunk(3, dim=-1)
            if key is value:  # encoder-decoder attention: one projection of the memory
                kv = self._affine(key, weight, bias, "in_proj_weight", slice(embed, 3 * embed))
                return (self._affine(query, weight, bias, "in_proj_weight", third[0]), *kv.chunk(2, dim=-1))
            return tuple(
                self._affine(x, weight, bias, "in_proj_weight", r)
                for x, r in zip((query, key, value), third, strict=True)
            )

        return separate if a["use_separate_proj_weight"] else packed

    def _out_projection(self, a: dict) -> OutProjection:
        weight, bias = a["out_proj_weight"], a["out_proj_bias"]
        return lambda x: self._affine(x, weight, bias, "out_proj.weight", slice(None))
