"""The package's layers (docs/architecture.md): no upward import, no import cycle, every unit
placed; and the console script's help starts without torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geomanifold"


def layers() -> dict[str, int]:
    """``{unit: layer}`` from the table of docs/architecture.md (the one place it is written)."""
    found = {}
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for number, units in re.findall(r"^\| (\d+) \| ([^|]+) \|", text, re.M):
        for unit in re.findall(r"`(\w+)`", units):
            assert unit not in found, f"{unit} is in two layers of docs/architecture.md"
            found[unit] = int(number)
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _unit(module: str) -> str:
    """``geomanifold.weightspace.paths`` -> ``weightspace``; the package root -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path) -> list[tuple[str, list[str], int, bool]]:
    """``(imported module, names, line, at module level)`` for every import of a geomanifold
    module in ``module``'s source (``if TYPE_CHECKING`` blocks left out)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set()
    stack = list(tree.body)
    while stack:  # statements that run on import: the body, and the bodies of top-level if/try
        node = stack.pop()
        if _type_checking_only(node):
            continue
        top.add(id(node))
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                stack.extend(getattr(node, field, []))
    skipped = {id(n) for node in ast.walk(tree) if _type_checking_only(node) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            target, names = "", []
            for alias in node.names:
                if alias.name.split(".")[0] == "geomanifold":
                    found.append((alias.name, [], node.lineno, id(node) in top))
            continue
        else:
            continue
        if target.split(".")[0] == "geomanifold":
            found.append((target, names, node.lineno, id(node) in top))
    return found


def _resolved(target: str, names: list[str]) -> list[str]:
    """The modules an import loads: ``from X import sub`` loads ``X.sub`` when that is a module."""
    submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in MODULES]
    return submodules or [target]


def test_every_unit_has_a_layer():
    placed = layers()
    units = {_unit(module) for module in MODULES} - {""}
    missing = sorted(units - set(placed))
    assert not missing, f"place {missing} in the layer table of docs/architecture.md"


def test_no_upward_import():
    placed = layers()
    upward = []
    for module, path in MODULES.items():
        source = _unit(module)
        if not source:
            continue
        for target, names, line, _ in _imports(module, path):
            for loaded in _resolved(target, names):
                unit = _unit(loaded)
                if not unit:  # the package root: only its own __version__
                    if set(names) - {"__version__"}:
                        where = f"{path.relative_to(ROOT)}:{line}"
                        upward.append(f"{where} imports {names} from the package root")
                elif unit != source and placed[unit] > placed[source]:
                    upward.append(
                        f"{path.relative_to(ROOT)}:{line}: {source} (layer {placed[source]}) imports "
                        f"{loaded} (layer {placed[unit]})"
                    )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a list of nodes, first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_at_load_time():
    graph = {
        module: {
            loaded
            for target, names, _, at_top in _imports(module, path)
            if at_top
            for loaded in _resolved(target, names)
            if loaded != module
        }
        for module, path in MODULES.items()
    }
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("argv", [["--help"], ["no-such-command"], []])
def test_help_and_usage_errors_do_not_load_torch(argv):
    """``geomanifold --help`` and a usage error import no command module and not torch."""
    code = (
        "import sys\n"
        "from geomanifold.cli import main\n"
        f"status = main({argv!r})\n"
        "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('geomanifold.commands.'))\n"
        "print(status, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    status, heavy = result.stdout.strip().splitlines()[-1].split(" ", 1)  # after the help text
    assert status == ("0" if argv == ["--help"] else "2")
    assert heavy == "[]", heavy
