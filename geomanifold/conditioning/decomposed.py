"""The basis-point decomposition for layers that are linear in their weights (docs/concepts.md, conditioning).

``W(s_i) x_i + b(s_i) = Σ_k φ_k(s_i) (W_k x_i + b_k)``: one call of the layer with the K kernels
stacked along the output dimension, then a contraction with the ``(B, K)`` coefficients. No
per-example weights are formed; the cost is about K plain calls.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..bases.basis import combine
from .layer import ManifoldLayer
from .layout import to_front

__all__ = ["AffineNormLayer", "StackedKernelLayer", "decomposition"]


class StackedKernelLayer(ManifoldLayer):
    """``nn.Linear`` or ``nn.Conv1d/2d/3d`` (any stride, padding, dilation, groups, padding mode).

    Two exact per-example kernels, chosen per call from the shapes (``strategy="auto"``) or forced:

    - ``"stacked"``: control points ``(K, out, in/groups, *kernel)`` are stacked to
      ``(K·out, in/groups, *kernel)`` group-major (each group keeps its own ``K·out/groups``
      output channels), the layer runs once and the output ``(B, groups, K, …)`` is contracted
      with ``φ: (B, K)``. Cost ≈ ``K·P·|W|`` per example (``P`` output positions: tokens or pixels).
    - ``"weights"``: per-example weights ``W_i = Σ_k φ_ik P_k: (B, out, in/groups, *kernel)``, then
      one batched matmul (Linear) or one convolution with ``B·groups`` groups. Cost ≈
      ``(K + P + P₀)·|W|`` per example and ``B·|W|`` memory, where ``P₀`` (measured:
      :data:`PER_EXAMPLE_MATMUL_OVERHEAD` for Linear, :data:`PER_EXAMPLE_CONV_OVERHEAD` for
      convolutions) is the fixed cost of one small per-example kernel in output positions.

    ``"auto"`` takes ``"weights"`` when ``K + P + P₀ < K·P``: convolutions with many output
    pixels, Linear layers applied to many tokens, more so at large K; ``"stacked"`` for one vector
    per example (an MLP) and small feature maps. A
    shared bias is added after the contraction; a bias on the manifold alone (shared weight) is
    added as ``φ b``.
    """

    STRATEGIES = ("auto", "stacked", "weights")

    def __init__(self, layer: nn.Module, names, context, name: str):
        super().__init__(layer, names, context, name)
        self.channel_last = isinstance(layer, nn.Linear)
        self.groups = 1 if self.channel_last else layer.groups
        self.min_ndim = 2 if self.channel_last else len(layer.kernel_size) + 2
        self.strategy = "auto"

    def _call(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.channel_last:
            return F.linear(x, weight, bias)
        return self.layer._conv_forward(x, weight, bias)

    def _stack(self, points: Tensor) -> Tensor:
        """``(K, out, *rest) -> (K·out, *rest)``, group-major."""
        k, out, rest = points.shape[0], points.shape[1], points.shape[2:]
        grouped = points.reshape(k, self.groups, out // self.groups, *rest).transpose(0, 1)
        return grouped.reshape(k * out, *rest)

    def _contract(self, y: Tensor, coefficients: Tensor) -> Tensor:
        """``y_i = Σ_k φ_ik y_ik``: ``(B, …, K·out, …) -> (B, …, out, …)``."""
        batch, k = coefficients.shape
        row = coefficients[:, None, None, :]
        if self.channel_last:
            out = y.shape[-1] // k
            return torch.matmul(row, y.reshape(batch, -1, k, out)).reshape(*y.shape[:-1], out)
        out = y.shape[1] // k
        mixed = torch.matmul(row, y.reshape(batch, self.groups, k, -1))
        return mixed.reshape(batch, out, *y.shape[2:])

    def _along_channels(self, values: Tensor, ndim: int) -> Tensor:
        """Broadcast ``(C,)`` or ``(B, C)`` against an output with ``ndim`` dimensions."""
        if self.channel_last:
            return values if values.ndim == 1 else values.reshape(values.shape[0], *[1] * (ndim - 2), -1)
        return values.reshape(*values.shape, *[1] * (ndim - 2))

    def choose(self, x: Tensor, k: int) -> str:
        """The kernel for input ``x`` (batch first) and ``K = k``: the forced one, or by cost."""
        if self.strategy != "auto":
            return self.strategy
        if self.channel_last:
            positions = x.numel() // max(x.shape[0] * x.shape[-1], 1)
            overhead = PER_EXAMPLE_MATMUL_OVERHEAD
        else:
            positions = x[0, 0].numel() // math.prod(_tuple(self.layer.stride, x.ndim - 2))
            overhead = PER_EXAMPLE_CONV_OVERHEAD
        return "weights" if k + positions + overhead < k * positions else "stacked"

    def _call_weights(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The layer with one weight per example: ``x: (B, …)``, ``weight: (B, out, …)``,
        ``bias: (B, out)`` or None."""
        batch = x.shape[0]
        if self.channel_last:
            flat = x.reshape(batch, -1, x.shape[-1])
            wt = weight.transpose(1, 2)
            y = torch.bmm(flat, wt) if bias is None else torch.baddbmm(bias[:, None, :], flat, wt)
            return y.reshape(*x.shape[:-1], -1)
        layer = self.layer
        padding = layer.padding
        if layer.padding_mode != "zeros":
            x = F.pad(x, layer._reversed_padding_repeated_twice, mode=layer.padding_mode)
            padding = 0
        conv = (F.conv1d, F.conv2d, F.conv3d)[x.ndim - 3]
        y = conv(
            x.reshape(1, -1, *x.shape[2:]),
            weight.reshape(-1, *weight.shape[2:]),
            None if bias is None else bias.reshape(-1),
            layer.stride,
            padding,
            layer.dilation,
            batch * layer.groups,
        )
        return y.reshape(batch, -1, *y.shape[2:])

    def forward_shared(self, coefficients: Tensor, x: Tensor) -> Tensor:
        weights = self.weights_at(coefficients)
        weight = weights["weight"] if "weight" in weights else self.layer.weight
        bias = weights["bias"] if "bias" in weights else self.layer.bias
        return self._call(x, weight, bias)

    def forward_per_example(self, coefficients: Tensor, x: Tensor) -> Tensor:
        batch = coefficients.shape[0]
        if self.channel_last:
            dim = self.batch_dim(x, batch, range(x.ndim - 1))
        else:
            dim = self.check_batch(x, coefficients, self.min_ndim)
        x = to_front(x, dim, batch)
        y = self._per_example(coefficients, x).movedim(0, dim)
        self.track(y, dim)
        return y

    def _per_example(self, coefficients: Tensor, x: Tensor) -> Tensor:
        weight, bias = self.layer.weight, self.layer.bias
        if "weight" not in self.names:
            self.note("stacked", x)
            y = self._call(x, weight, None)
            return y + self._along_channels(combine(coefficients, bias), y.ndim)
        strategy = self.choose(x, coefficients.shape[1])
        self.note(strategy, x)
        if strategy == "weights":
            if "bias" in self.names:
                bias = combine(coefficients, bias)
            elif bias is not None:
                bias = bias.expand(x.shape[0], -1)
            return self._call_weights(x, combine(coefficients, weight), bias)
        stacked_bias = self._stack(bias) if "bias" in self.names else None
        y = self._contract(self._call(x, self._stack(weight), stacked_bias), coefficients)
        if bias is not None and "bias" not in self.names:
            y = y + self._along_channels(bias, y.ndim)
        return y


PER_EXAMPLE_CONV_OVERHEAD = 256
"""``P₀`` of convolutions, in output positions. Measured on CPU for a 3×3 convolution at batch
64, K = 3 (forward and backward, against the plain layer): per-example weights cost 0.97×, 2.3×,
4.7× and 12.9× the plain layer at 1024, 256, 64 and 16 output pixels, about ``1 + 256/P``."""

PER_EXAMPLE_MATMUL_OVERHEAD = 100
"""``P₀`` of Linear layers, in tokens. Measured on CPU for Linear(256, 1024) at batch 16, K = 3:
per-example weights cost 11.8×, 2.5× and 1.4× the plain layer at 16, 65 and 256 tokens, about
``1 + 100/P``."""


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


class AffineNormLayer(ManifoldLayer):
    """The affine part of BatchNorm, InstanceNorm, GroupNorm, LayerNorm and RMSNorm.

    ``y_i = x̂_i ⊙ γ(s_i) + β(s_i)`` with ``γ(s_i) = Σ_k φ_ik γ_k``: the layer's own forward
    computes the normalisation ``x̂`` (its affine parameters set to None) once for the whole
    batch. BatchNorm in training mode therefore normalises with the statistics of the whole
    mixed-context batch and updates one set of running statistics shared by all contexts; see
    :func:`~geomanifold.conditioning.calibrate_batchnorm` for evaluation at a given ``s``.
    """

    def __init__(self, layer: nn.Module, names, context, name: str):
        super().__init__(layer, names, context, name)
        self.trailing = isinstance(layer, nn.LayerNorm | nn.RMSNorm)

    def _align(self, values: Tensor, per_example: bool, ndim: int) -> Tensor:
        """Broadcast an affine parameter ``S`` (or ``(B, *S)``) against ``x̂`` of ``ndim`` dims."""
        if not self.trailing:  # S = (C,) acts on dim 1
            return values.reshape(*values.shape, *[1] * (ndim - 2))
        if not per_example:  # S = normalized_shape acts on the trailing dims
            return values
        return values.reshape(values.shape[0], *[1] * (ndim - values.ndim), *values.shape[1:])

    def forward_per_example(self, coefficients: Tensor, x: Tensor) -> Tensor:
        batch = coefficients.shape[0]
        if self.trailing:
            dim = self.batch_dim(x, batch, range(x.ndim - len(self.layer.normalized_shape)))
        else:
            dim = self.check_batch(x, coefficients)
        self.note("affine", x)
        y = self._affine(coefficients, to_front(x, dim, batch)).movedim(0, dim)
        self.track(y, dim)
        return y

    def _affine(self, coefficients: Tensor, x: Tensor) -> Tensor:
        affine = {
            name: getattr(self.layer, name)
            for name in ("weight", "bias")
            if getattr(self.layer, name, None) is not None
        }
        y = functional_call(self.layer, dict.fromkeys(affine), (x,))
        for name, value in affine.items():
            on_manifold = name in self.names
            value = self._align(combine(coefficients, value) if on_manifold else value, on_manifold, y.ndim)
            y = y * value if name == "weight" else y + value
        return y


_STACKED = {nn.Linear.forward, nn.Conv1d.forward, nn.Conv2d.forward, nn.Conv3d.forward}
_NORMS = {
    cls.forward
    for cls in (_BatchNorm, nn.SyncBatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm, nn.RMSNorm)
}


def decomposition(module: nn.Module) -> type[ManifoldLayer] | None:
    """The decomposed layer class for ``module``, or None (then the grouped fallback applies).

    Recognised by the ``forward`` method, so subclasses that do not override it qualify and
    those that do fall back.
    """
    forward = type(module).forward
    if forward in _STACKED:
        return StackedKernelLayer
    if forward in _NORMS:
        return AffineNormLayer
    return None
