"""Which parameters of a model live on the weight manifold (the rest stay shared across contexts).

A *selector* is matched against each parameter's full dotted name (``"encoder.0.weight"``) and
the module that owns it directly:

- a string: an :func:`fnmatch.fnmatch` pattern on the name (``"*.bias"``, ``"head.*"``);
- a module class or tuple of classes: the owner is an instance (``nn.LayerNorm``);
- a callable ``(name, owner) -> bool``;
- a list or tuple mixing the above: any of them matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatch

from torch import nn

__all__ = ["Selector", "parameter_aliases", "parameter_filter"]

Selector = str | type | Callable[[str, nn.Module], bool] | Sequence["Selector"]


def parameter_filter(include: Selector | None, exclude: Selector | None) -> Callable[[str, nn.Module], bool]:
    """``(name, owner) -> bool``: matched by ``include`` (all if None) and not by ``exclude``."""
    _check(include, "include")
    _check(exclude, "exclude")

    def selected(name: str, owner: nn.Module) -> bool:
        chosen = include is None or _matches(include, name, owner)
        return chosen and not (exclude is not None and _matches(exclude, name, owner))

    return selected


def parameter_aliases(model: nn.Module) -> dict[int, list[str]]:
    """Every name under which each parameter (by ``id``) appears in ``model``, in model order: more
    than one name means the parameter is tied (shared by several modules)."""
    names: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    return names


def _matches(selector: Selector, name: str, owner: nn.Module) -> bool:
    if isinstance(selector, str):
        return fnmatch(name, selector)
    if isinstance(selector, type):
        return isinstance(owner, selector)
    if callable(selector):
        return bool(selector(name, owner))
    return any(_matches(item, name, owner) for item in selector)


def _check(selector: Selector | None, argument: str) -> None:
    if selector is None or isinstance(selector, str | type) or callable(selector):
        return
    if isinstance(selector, Sequence):
        for item in selector:
            _check(item, argument)
        return
    raise TypeError(
        f"{argument} must be a name pattern, a module class, a callable (name, module) -> bool "
        f"or a list of these; got {type(selector).__name__}"
    )
