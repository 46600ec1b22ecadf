"""The sub-commands of the ``geomanifold`` console script, one module each.

A command module defines the literals ``NAME`` (the sub-command), ``ORDER`` (its position in
``--help``) and ``HELP`` (its line in ``--help``), and ``register(commands)``, which adds its
sub-parser to argparse's sub-parsers object and sets ``handler=run`` with
``run(args) -> exit status``. :func:`command_infos` reads the three literals from the source
without importing anything, so ``geomanifold --help`` and a usage error start without torch; the
CLI imports only the module of the command that runs. Adding a command is adding a file.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["CommandInfo", "command_infos", "command_modules"]


@dataclass(frozen=True)
class CommandInfo:
    """A command as ``--help`` lists it, and the module that implements it."""

    name: str
    order: int
    help: str
    module: str  # dotted module name

    def load(self) -> ModuleType:
        """Import the command's module (with its torch and experiment imports)."""
        return importlib.import_module(self.module)


def _literals(source: str) -> dict[str, object]:
    """The module-level ``NAME = <literal>`` assignments of a module's source."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def command_infos() -> list[CommandInfo]:
    """Every command module of this package (one with ``NAME``, ``ORDER`` and ``HELP`` literals and
    a ``register`` function), sorted by ``ORDER`` then name, found without importing them."""
    infos = []
    for info in pkgutil.iter_modules(__path__):
        source = (Path(__path__[0]) / f"{info.name}.py").read_text(encoding="utf-8")
        values = _literals(source)
        if "def register(" in source and {"NAME", "HELP"} <= values.keys():
            infos.append(
                CommandInfo(
                    str(values["NAME"]), int(values.get("ORDER", 100)), str(values["HELP"]),
                    f"{__name__}.{info.name}",
                )
            )
    return sorted(infos, key=lambda command: (command.order, command.name))


def command_modules() -> list[ModuleType]:
    """Every command module, imported, in :func:`command_infos` order."""
    return [command.load() for command in command_infos()]
