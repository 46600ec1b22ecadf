"""Task metrics on weight space, matrix-free (docs/concepts.md, "Paths of networks that keep their
function").

At weights ``w: (D,)`` and inputs ``x: (N, *F)`` with outputs ``z_x = f(x; w) ∈ R^C``:

* ``"euclidean"``: ``G = I``;
* ``"gauss-newton"``: the pullback of the Euclidean output metric, ``G = mean_x J_xᵀ J_x``;
* ``"fisher"``: the Fisher metric of softmax outputs, ``G = mean_x J_xᵀ (diag p_x − p_x p_xᵀ) J_x``.

A metric–vector product is one jvp (``J v``, forward mode by ``torch.autograd.forward_ad``, which
costs less than ``torch.func.jvp`` here), the output-space ``H``, and one vjp (``Jᵀ u``); the
vjp's graph is built once per :class:`TaskMetric` and reused. The D × D matrix is never
formed, except by :meth:`TaskMetric.dense` for tiny models in tests. Extreme eigenpairs come
from Lanczos (``scipy.sparse.linalg.eigsh``) on a ``LinearOperator``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor, nn
from torch.autograd import forward_ad

from .functional import call_with_vector, check_vector

__all__ = ["METRICS", "TaskMetric", "check_batch"]

METRICS = ("euclidean", "gauss-newton", "fisher")
DENSE_LIMIT = 4096


def check_batch(x: Tensor, name: str = "x", like: Tensor | None = None) -> Tensor:
    """Check that ``x`` is a non-empty batch ``(N, *F)`` (with the per-example shape of ``like``
    if given); returns ``x``."""
    if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a non-empty batch of inputs (N, ...) with N >= 1, got {shape}")
    if like is not None and x.shape[1:] != like.shape[1:]:
        raise ValueError(
            f"{name} has examples of shape {tuple(x.shape[1:])}, expected {tuple(like.shape[1:])}"
        )
    return x


class TaskMetric:
    """The metric ``G(w)`` of one model at fixed weights on a fixed batch, as products with vectors.

    Args:
        model: the network; its train/eval mode applies (use eval mode for BatchNorm).
        w: ``(D,)`` the point in weight space.
        x: ``(N, *F)`` inputs defining the metric (a minibatch gives an unbiased estimate of the
            full-data metric: see :meth:`minibatch`).
        kind: one of :data:`METRICS`.
        buffers: BatchNorm statistics etc. to use instead of the model's (see
            :func:`~geomanifold.weightspace.functional.call_with_vector`).
    """

    def __init__(
        self, model: nn.Module, w: Tensor, x: Tensor, kind: str = "fisher", buffers: dict | None = None
    ):
        if kind not in METRICS:
            raise ValueError(f"kind must be one of {', '.join(METRICS)}; got {kind!r}")
        self.model, self.kind = model, kind
        self.w = check_vector(model, w, "w").detach()
        self.x = check_batch(x, "x")
        self._function = lambda u: call_with_vector(model, u, self.x, buffers).reshape(len(self.x), -1)
        self._pullback = None
        self._probabilities: Tensor | None = None

    @classmethod
    def minibatch(
        cls,
        model: nn.Module,
        w: Tensor,
        x: Tensor,
        size: int,
        generator: torch.Generator | None = None,
        kind: str = "fisher",
        buffers: dict | None = None,
    ) -> TaskMetric:
        """The metric on ``size`` inputs drawn without replacement from ``x: (N, *F)``."""
        check_batch(x, "x")
        if not 1 <= size:
            raise ValueError(f"size must be >= 1, got {size}")
        index = torch.randperm(len(x), generator=generator)[: min(size, len(x))].to(x.device)
        return cls(model, w, x[index], kind, buffers)

    @property
    def dim(self) -> int:
        """``D``."""
        return self.w.numel()

    def _outputs_and_pullback(self):
        if self._pullback is None:
            outputs, self._pullback = torch.func.vjp(self._function, self.w)
            self._probabilities = outputs.detach().softmax(-1)
        return self._pullback

    def _output_metric(self, u: Tensor) -> Tensor:
        """``H u`` per example for output tangents ``u: (N, C)``."""
        if self.kind == "gauss-newton":
            return u
        p = self._probabilities
        return p * u - p * (p * u).sum(-1, keepdim=True)

    def output_tangent(self, v: Tensor) -> Tensor:
        """``J v``: output change per example ``(N, C)`` for a weight direction ``v: (D,)``."""
        with forward_ad.dual_level():
            outputs = self._function(forward_ad.make_dual(self.w, v.to(self.w)))
            return forward_ad.unpack_dual(outputs).tangent

    def matvec(self, v: Tensor) -> Tensor:
        """``G v`` for ``v: (D,)`` → ``(D,)`` (one jvp and one vjp)."""
        if self.kind == "euclidean":
            return v.to(self.w).clone()
        pullback = self._outputs_and_pullback()
        (gv,) = pullback(self._output_metric(self.output_tangent(v)) / len(self.x))
        return gv

    def quadratic(self, v: Tensor) -> Tensor:
        """``vᵀ G v`` for ``v: (D,)`` → scalar (one jvp)."""
        if self.kind == "euclidean":
            return v.to(self.w).pow(2).sum()
        self._outputs_and_pullback()
        u = self.output_tangent(v)
        return (u * self._output_metric(u)).sum() / len(self.x)

    def linear_operator(self) -> LinearOperator:
        """``G`` as a float64 ``scipy.sparse.linalg.LinearOperator`` of shape ``(D, D)``."""

        def apply(v: np.ndarray) -> np.ndarray:
            vector = torch.as_tensor(np.ascontiguousarray(v).reshape(-1), device=self.w.device)
            with torch.no_grad():
                return self.matvec(vector.to(self.w.dtype)).double().cpu().numpy()

        return LinearOperator((self.dim, self.dim), matvec=apply, dtype=np.float64)

    def eigenpairs(
        self, k: int = 6, which: str = "LA", tol: float = 1e-6, seed: int = 0
    ) -> tuple[Tensor, Tensor]:
        """The ``k`` largest (``which="LA"``) or smallest (``"SA"``) eigenpairs by Lanczos.

        Returns:
            eigenvalues ``(k,)`` in descending order and orthonormal eigenvectors ``(D, k)`` (columns),
            float64 on the device of ``w``.
        """
        if which not in ("LA", "SA"):
            raise ValueError(f"which must be 'LA' (largest) or 'SA' (smallest), got {which!r}")
        if not 1 <= k < self.dim:
            raise ValueError(f"k must be in [1, D - 1] = [1, {self.dim - 1}], got {k}")
        start = np.random.default_rng(seed).standard_normal(self.dim)
        values, vectors = eigsh(self.linear_operator(), k=k, which=which, tol=tol, v0=start)
        order = np.argsort(values)[::-1]
        device = self.w.device
        return torch.as_tensor(values[order].copy(), device=device), torch.as_tensor(
            vectors[:, order].copy(), device=device
        )

    def dense(self) -> Tensor:
        """The full ``(D, D)`` matrix ``mean_x J_xᵀ H_x J_x`` from the explicit Jacobian; for tiny
        models in tests only (``D <= 4096``)."""
        if self.dim > DENSE_LIMIT:
            raise ValueError(f"dense() is for tiny models (D <= {DENSE_LIMIT}); this one has D = {self.dim}")
        if self.kind == "euclidean":
            return torch.eye(self.dim, dtype=self.w.dtype, device=self.w.device)
        jacobian = torch.func.jacrev(self._function)(self.w)  # (N, C, D)
        outputs = self._function(self.w).detach()
        if self.kind == "gauss-newton":
            h = torch.eye(outputs.shape[-1], dtype=outputs.dtype, device=outputs.device).expand(
                len(outputs), -1, -1
            )
        else:
            p = outputs.softmax(-1)
            h = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        return torch.einsum("nci,ncd,ndj->ij", jacobian, h, jacobian) / len(outputs)
