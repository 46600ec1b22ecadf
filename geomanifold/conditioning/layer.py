"""A layer whose parameters are control points, and the context channel that feeds it ``φ(s)``.

The converter (:class:`~geomanifold.conditioning.WeightManifold`) replaces each selected
parameter of shape ``S`` by control points ``P`` of shape ``(K, *S)`` under the same name in the
original module, and swaps that module for a :class:`ManifoldLayer` around it. The model's own
``forward`` is left untouched: during ``WeightManifold.forward`` every layer reads the
coefficient matrix ``φ(s)`` from a shared :class:`Context`, so ``W(s) = Σ_k φ_k(s) P_k``
(Benjamin et al. 2025, arXiv 2505.22994) without the user rewriting any layer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn
from torch.func import functional_call

from ..bases.basis import combine
from .layout import LayoutError, LayoutTracker, infer_batch_dim

__all__ = ["Context", "ManifoldLayer", "UnsupportedLayerError"]


class UnsupportedLayerError(TypeError):
    """A layer or parameter that cannot be put on a weight manifold (or not this way)."""


class Context:
    """The coefficients ``φ(s)`` of the forward pass in progress: ``(K,)`` shared by the whole
    batch, or ``(B, K)`` one row per example. One instance is shared by all layers of a model."""

    def __init__(self) -> None:
        self._coefficients: Tensor | None = None
        self.tracker = LayoutTracker({})
        self._plan: list[dict] | None = None

    @contextmanager
    def use(self, coefficients: Tensor) -> Iterator[None]:
        """Make ``coefficients`` current for the duration of the ``with`` block."""
        previous, self._coefficients = self._coefficients, coefficients
        try:
            yield
        finally:
            self._coefficients = previous

    @contextmanager
    def recording(self) -> Iterator[list[dict]]:
        """Collect :meth:`note` rows (the plan) inside the ``with`` block."""
        previous, self._plan = self._plan, []
        try:
            yield self._plan
        finally:
            self._plan = previous

    def note(self, layer: str, kind: str, strategy: str, shape: tuple[int, ...]) -> None:
        """Add a plan row if recording."""
        if self._plan is not None:
            self._plan.append({"layer": layer, "type": kind, "strategy": strategy, "input": shape})

    def coefficients(self, layer: str) -> Tensor:
        """The current coefficients; ``layer`` names the caller in the error raised if none."""
        if self._coefficients is None:
            raise RuntimeError(
                f"manifold layer {layer!r} was called without a context; call the "
                "WeightManifold as wm(x, s) rather than its inner model"
            )
        return self._coefficients


class ManifoldLayer(nn.Module, ABC):
    """One unit of a weight-manifold model: an original module plus the context it reads.

    Args:
        layer: the original module; each name in ``names`` is already a control-point parameter
            of shape ``(K, *S)`` (the original tensor had shape ``S``).
        names: dotted names, relative to ``layer``, of its control points; its other parameters
            stay shared across contexts.
        context: the channel that provides ``φ(s)``.
        name: the unit's qualified name in the model, for error messages.

    With shared coefficients ``(K,)`` the forward calls :meth:`forward_shared` (the fast path,
    cost ≈ one plain call), with per-example coefficients ``(B, K)``
    :meth:`forward_per_example` of the subclass.
    """

    def __init__(self, layer: nn.Module, names: Sequence[str], context: Context, name: str):
        super().__init__()
        self.layer = layer
        self.names = tuple(names)
        self.name = name or "<model>"
        self._context = context
        self.declared_batch_dim: int | None = None  # set by the converter (see .layout)

    def control_points(self) -> Iterator[tuple[str, nn.Parameter]]:
        """``(name relative to layer, control points (K, *S))`` pairs."""
        for name in self.names:
            yield name, self.layer.get_parameter(name)

    def weights_at(self, coefficients: Tensor) -> dict[str, Tensor]:
        """``W = φ P`` for each control-point tensor: ``(K,) -> S`` or ``(G, K) -> (G, *S)``."""
        return {name: combine(coefficients, points) for name, points in self.control_points()}

    def forward(self, *args, **kwargs):
        coefficients = self._context.coefficients(self.name)
        if coefficients.ndim == 1:
            return self.forward_shared(coefficients, *args, **kwargs)
        if coefficients.shape[0] == 1:  # one example: its context is shared by the whole input
            return self.forward_shared(coefficients[0], *args, **kwargs)
        return self.forward_per_example(coefficients, *args, **kwargs)

    def forward_shared(self, coefficients: Tensor, *args, **kwargs):
        """The whole batch at one context: ``W(s)`` built once, the layer called functionally."""
        return functional_call(self.layer, self.weights_at(coefficients), args, kwargs)

    @abstractmethod
    def forward_per_example(self, coefficients: Tensor, *args, **kwargs):
        """The output with example ``i`` computed at ``W(s_i)``; ``coefficients: (B, K)``."""

    def batch_dim(
        self, x: Tensor, batch: int, candidates: range, fixed: bool = False, argument: str = "input"
    ) -> int:
        """The dim of ``x`` holding the ``batch`` examples (or 1, broadcast), among ``candidates``:
        dim 0 if ``fixed`` (convolutions, channel norms), else declared, tracked or inferred
        (:mod:`~geomanifold.conditioning.layout`)."""
        known = 0 if fixed else self.declared_batch_dim
        if known is None:
            known = self._context.tracker.dim_of(x)
        return infer_batch_dim(
            x, batch, candidates, known, f"{self.name!r} ({type(self.layer).__name__})", argument
        )

    def note(self, strategy: str, x: Tensor) -> None:
        """Record the kernel used on input ``x`` when a plan is being recorded."""
        self._context.note(self.name, type(self.layer).__name__, strategy, tuple(x.shape))

    def track(self, output, dims) -> None:
        """Record the batch dim(s) of this layer's output for the layers that read it."""
        self._context.tracker.track(output, dims)

    def check_batch(self, x: Tensor, coefficients: Tensor, min_ndim: int = 2) -> int:
        """For layers whose batch is dim 0 by definition (``(N, C, ...)``): raise unless ``x`` has
        at least ``min_ndim`` dims and ``B`` examples (or 1, broadcast) on dim 0; returns 0."""
        batch = coefficients.shape[0]
        if x.ndim >= min_ndim:
            return self.batch_dim(x, batch, range(1), fixed=True)
        raise LayoutError(
            f"layer {self.name!r} ({type(self.layer).__name__}) got an input of shape "
            f"{tuple(x.shape)} but s has {batch} contexts; valid: a batched input with "
            f"{batch} examples along dim 0, or s of shape (m,) shared by the batch"
        )

    def __getattr__(self, name: str):
        """Hyper-parameters and shared parameters of the wrapped layer read through (``eps``,
        ``out_features``, ...), for model code that inspects its children; reading a
        control-point tensor this way is an error, since its value exists only at a context."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            layer = self.__dict__.get("_modules", {}).get("layer")
            if layer is None:
                raise
        if name in self.__dict__.get("names", ()):
            raise AttributeError(
                f"{name!r} of layer {self.name!r} is on the weight manifold (control points "
                f"{tuple(layer.get_parameter(name).shape)}) and has a value only at a context; "
                "valid: call the layer, or read WeightManifold.parameters_at(s)"
            )
        return getattr(layer, name)

    def extra_repr(self) -> str:
        return f"control_points={list(self.names)}"
