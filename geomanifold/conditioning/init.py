"""Initial control points ``P: (K, *S)`` for a parameter tensor ``W: S`` (docs/concepts.md, conditioning).

- ``"copy"``: ``P_k = c_k W`` with ``c`` the coefficients of the constant function,
  ``Σ_k c_k φ_k(s) = 1``, so ``W(s) = W`` at every ``s``: the manifold starts as the plain
  network. ``c = G⁻¹ ∫φ dμ`` (the projection of 1 onto the span of the basis): all ones for a
  partition of unity (line, B-splines, Bernstein), ``(1, 0, …, 0)`` for Fourier and monomials.
- ``"independent"``: each ``P_k`` is a fresh draw of the layer's own ``reset_parameters()``
  (or ``_reset_parameters()``); for a module without one (a hand-written layer), a draw at the
  parameter's own scale: ``mean(W) + std(W) · ε`` with ``ε ~ N(0, I)`` (a constant tensor, such as
  a zero bias, stays constant).
- ``noise > 0`` adds ``noise · rms(W) · ε_k`` with ``ε_k ~ N(0, I)`` to every control point.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..bases import Basis

__all__ = ["INITS", "constant_coefficients", "initial_control_points"]

INITS = ("copy", "independent")


def constant_coefficients(basis: Basis) -> Tensor:
    """``c`` with ``Σ_k c_k φ_k ≡ 1``, shape ``(K,)``, float64.

    Raises:
        ValueError: the constant function is not in the span of the basis.
    """
    mean = basis.mean()
    c = basis.gram_inverse() @ mean
    residual = 1.0 - float(mean @ c)  # ∫ (1 − cᵀφ)² dμ
    if residual > 1e-10:
        raise ValueError(
            f"init='copy' needs a basis that can represent constant functions; {basis!r} cannot "
            f"(squared residual {residual:.3g}); use init='independent' or add a constant"
        )
    return c


def initial_control_points(
    layer: nn.Module,
    names: Sequence[str],
    basis: Basis,
    init: str,
    noise: float,
    generator: torch.Generator | None,
) -> dict[str, Tensor]:
    """Control points ``(K, *S)`` for each named parameter of ``layer`` (dotted names)."""
    if init == "copy":
        c = constant_coefficients(basis)
        points = {}
        for name in names:
            w = layer.get_parameter(name).detach()
            points[name] = c.to(w).reshape(-1, *[1] * w.ndim) * w
    else:
        draws = [_fresh(layer, names) for _ in range(basis.size)]
        points = {name: torch.stack([draw[name] for draw in draws]) for name in names}
    if noise > 0:
        for name, p in points.items():
            rms = layer.get_parameter(name).detach().pow(2).mean().sqrt()
            eps = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device)
            points[name] = p + noise * rms * eps
    return points


def _fresh(layer: nn.Module, names: Sequence[str]) -> dict[str, Tensor]:
    """The named parameters of a re-initialised copy of ``layer``."""
    fresh = copy.deepcopy(layer)
    owners = {name.rpartition(".")[0] for name in names}
    for path in owners:
        owner = fresh.get_submodule(path)
        reset = getattr(owner, "reset_parameters", None) or getattr(owner, "_reset_parameters", None)
        if reset is not None:
            reset()
            continue
        with torch.no_grad():
            for leaf, p in owner.named_parameters(recurse=False):
                if f"{path}.{leaf}".removeprefix(".") in names:
                    spread = p.std() if p.numel() > 1 else p.new_zeros(())
                    p.copy_(p.mean() + spread * torch.randn_like(p))
    return {name: fresh.get_parameter(name).detach() for name in names}
