"""Linear-basis manifolds ``phi(s) = Σ_k φ_k(s) P_k`` and their ``K × K`` fast path
(docs/concepts.md, "Computing it without D × D matrices").

Every derivative of ``phi`` is ``A(s) P`` with ``A`` the basis jet ``(n, K)``, so every inner product
is ``A Q Aᵀ`` with the control-point Gram ``Q = P Pᵀ`` (``K × K``). After one ``O(K² D)`` pass to
form ``Q``, the intrinsic geometry at any point costs ``O(K²)``, independent of ``D``. ``Q`` is
cached while the control points are unchanged (their version counters), with autograd on or off:
when the control points require grad, the cached ``Q`` enters the graph through
:class:`_CachedGram`, whose backward ``dL/dP_t = (G + Gᵀ) P_t`` is the only other ``O(K² D)`` pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..bases.basis import Basis
from ..jets import multi_index_position
from .manifold import EmbeddedManifold

__all__ = ["LinearBasisManifold"]


class _CachedGram(torch.autograd.Function):
    """``Q = Σ_t P_t P_tᵀ`` from a cached value, differentiable in the control points ``P_t``."""

    @staticmethod
    def forward(ctx, gram: Tensor, *flat: Tensor) -> Tensor:
        ctx.save_for_backward(*flat)
        return gram.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        sym = grad + grad.T
        return (None, *(sym @ p for p in ctx.saved_tensors))


class LinearBasisManifold(EmbeddedManifold):
    """``phi(s) = Σ_k φ_k(s) P_k`` over control points.

    Args:
        basis: the basis ``φ`` (gives the chart and ``m``).
        control_points: one tensor ``(K, ...)`` or a sequence of tensors each ``(K, ...)`` (e.g. the
            control points of every weight tensor of a network); ``phi(s)`` is their flattened
            concatenation, ``D = Σ_t numel(P_t) / K``.
        trainable: register plain tensors as parameters that require grad (default: they stay
            plain tensors, held as buffers). Tensors that already are parameters stay parameters.
    """

    def __init__(self, basis: Basis, control_points: Tensor | Sequence[Tensor], trainable: bool = False):
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a geomanifold Basis, got {type(basis).__name__}")
        if not isinstance(trainable, bool):
            raise TypeError(f"trainable must be True or False, got {trainable!r}")
        self.dim = basis.dim
        super().__init__(basis.chart)
        self.basis = basis
        tensors = [control_points] if isinstance(control_points, Tensor) else list(control_points)
        if not tensors:
            raise ValueError("control_points must hold at least one tensor of shape (K, ...)")
        ref = tensors[0]
        for i, p in enumerate(tensors):
            if not isinstance(p, Tensor) or p.ndim < 1 or p.shape[0] != basis.size:
                shape = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
                raise ValueError(
                    f"control_points[{i}] must have shape (K={basis.size}, ...) for this basis, got {shape}"
                )
            if p.dtype != ref.dtype or p.device != ref.device:
                raise ValueError(
                    f"control_points[{i}] is {p.dtype} on {p.device} but control_points[0] is "
                    f"{ref.dtype} on {ref.device}; all must match"
                )
        self._names = [f"control_point_{i}" for i in range(len(tensors))]
        for name, p in zip(self._names, tensors, strict=True):
            if trainable or isinstance(p, nn.Parameter):
                self.register_parameter(name, p if isinstance(p, nn.Parameter) else nn.Parameter(p))
            else:
                self.register_buffer(name, p)
        self._gram_cache: tuple[tuple, Tensor] | None = None

    @property
    def control_points(self) -> list[Tensor]:
        """The control-point tensors ``P_t``, each ``(K, ...)``, in the order given."""
        return [getattr(self, name) for name in self._names]

    def _flat(self) -> list[Tensor]:
        return [p.reshape(self.basis.size, -1) for p in self.control_points]

    def control_gram(self) -> Tensor:
        """``Q = Σ_t P_t P_tᵀ``: ``(K, K)``; one ``O(K² D)`` pass, then cached until a control point
        changes (in place or replaced), whether or not autograd tracks the control points."""
        points = self.control_points
        key = tuple((id(p), p.data_ptr(), p._version) for p in points)
        if self._gram_cache is None or self._gram_cache[0] != key:
            with torch.no_grad():
                self._gram_cache = (key, sum(p @ p.T for p in self._flat()))
        gram = self._gram_cache[1]
        if torch.is_grad_enabled() and any(p.requires_grad for p in points):
            return _CachedGram.apply(gram, *self._flat())
        return gram

    def phi(self, s: Tensor) -> Tensor:
        weights = self.basis.partial(s, (0,) * self.dim)
        return torch.cat([weights @ p for p in self._flat()], dim=-1)

    def jet(self, s: Tensor, order: int) -> Tensor:
        """``A(s) P``: ``(..., n, D)`` (costs ``O(D)`` per point; only extrinsic quantities need it)."""
        coeffs = self.basis.jet(s, order)
        return torch.cat([coeffs @ p for p in self._flat()], dim=-1)

    def acceleration_terms(self, s: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """``g = A₁ Q A₁ᵀ`` and ``b = A₁ Q (Σ_ij v^i v^j A_ij)ᵀ`` from the basis jet ``A`` and the
        cached Gram ``Q``: ``O(K²)`` per point whatever ``D`` is."""
        m = self.dim
        coeffs = self.basis.jet(s, 2)
        pos = multi_index_position(m, 2)
        second = torch.stack(
            [
                torch.stack([coeffs[..., pos[tuple(sorted((i, j)))], :] for j in range(m)], -2)
                for i in range(m)
            ],
            -3,
        )
        first = coeffs[..., 1 : m + 1, :]
        along = torch.einsum("...i,...j,...ijk->...k", v, v, second)
        weighted = first @ self.control_gram()
        return weighted @ first.transpose(-1, -2), (weighted @ along.unsqueeze(-1)).squeeze(-1)

    def squared_chords(self, path: Tensor) -> Tensor:
        """``Δa Q Δaᵀ`` with ``Δa`` the differences of basis values along ``path: (n + 1, ..., m)``:
        ``(n, ...)``, ``O(K²)`` per point whatever ``D`` is."""
        weights = self.basis.partial(path, (0,) * self.dim)
        steps = weights[1:] - weights[:-1]
        return ((steps @ self.control_gram()) * steps).sum(-1)

    def jet_gram(self, s: Tensor, order: int) -> Tensor:
        """``A(s) Q A(s)ᵀ``: ``(..., n, n)``, ``O(K²)`` per point after forming ``Q``."""
        coeffs = self.basis.jet(s, order)
        return coeffs @ self.control_gram() @ coeffs.transpose(-1, -2)
