"""Facts about ``torch.nn`` module types that several layers rely on."""

from __future__ import annotations

from torch import nn

__all__ = ["ELEMENTWISE_MODULES"]

ELEMENTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.modules.dropout._DropoutNd,
    nn.ReLU,
    nn.ReLU6,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.Hardswish,
    nn.Softplus,
)
"""Modules that act on each entry of their input alone (activations, dropout, identity): the
output has the input's shape, layout and units, so a batch dimension or a hidden-unit permutation
passes through them unchanged."""
