"""Experiments behind ``geomanifold demo``: each is a module with a ``run(out, ...)`` function."""

from . import geometry_tour

__all__ = ["geometry_tour"]
