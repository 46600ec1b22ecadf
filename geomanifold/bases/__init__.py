"""Bases ``φ(s)`` of the context for linear-basis weight manifolds (docs/bases.md)."""

from .basis import Basis, SingularGramError
from .bspline import Bernstein, BSpline, Line
from .combine import Sum, TensorProduct
from .fourier import Fourier
from .function import FunctionBasis
from .polynomial import Monomial

__all__ = [
    "BSpline",
    "Basis",
    "Bernstein",
    "Fourier",
    "FunctionBasis",
    "Line",
    "Monomial",
    "SingularGramError",
    "Sum",
    "TensorProduct",
]
