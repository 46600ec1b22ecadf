"""The sub-commands of the ``geomanifold`` console script, one module each.

A command module defines ``NAME`` (the sub-command), ``ORDER`` (its position in ``--help``) and
``register(commands)``, which adds its sub-parser to argparse's sub-parsers object and sets
``handler=run`` with ``run(args) -> exit status``. :func:`command_modules` finds every module
here, so adding a command is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["command_modules"]


def command_modules() -> list[ModuleType]:
    """Every module of this package that defines ``register``, sorted by ``ORDER`` then name."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            found.append(module)
    return sorted(found, key=lambda module: (getattr(module, "ORDER", 100), module.NAME))
