"""Griffe extension for the API reference: docstring conventions that griffe does not read.

* Sphinx cross-reference roles (``:class:`~geomanifold.geometry.Torus```) would print verbatim in
  Markdown; each becomes an inline code span: ``~a.b.C`` gives ``C`` (the tilde keeps the last
  name), ``a.b.C`` stays whole.
* Several parameters documented on one line, ``a, b: description`` (as Napoleon allows), become
  one entry per name with the same description, so that each is matched to the signature.
* An ``Example::`` header followed by an indented literal block (Napoleon's convention) becomes a
  Google ``Examples:`` section holding a fenced Python block, so it renders as an example with
  highlighted code instead of a paragraph ending in "::".
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")
PARAMETER_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Other Parameters|Keyword Args):\s*$")
SHARED_ENTRY = re.compile(r"^(\s+)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+):(.*)$")
LITERAL_EXAMPLE = re.compile(r"^(\s*)Examples?::\s*$")


def _as_code(match: re.Match) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_shared_parameters(text: str) -> str:
    """Rewrite ``a, b: description`` entries of parameter sections as one entry per name."""
    lines = text.splitlines()
    out: list[str] = []
    i, section = 0, None  # section: indentation of the current parameter section's header
    while i < len(lines):
        line = lines[i]
        header = PARAMETER_SECTION.match(line)
        if header:
            section = len(header.group(1))
        elif line.strip() and section is not None and _indent(line) <= section:
            section = None
        shared = SHARED_ENTRY.match(line) if section is not None else None
        if shared is None:
            out.append(line)
            i += 1
            continue
        indent, names, rest = shared.groups()
        block = [rest]
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            block.append("\n" + lines[i])
            i += 1
        for name in re.split(r"\s*,\s*", names):
            out.append(f"{indent}{name}:{''.join(block)}")
    return "\n".join(out)


def fence_literal_examples(text: str) -> str:
    """Rewrite ``Example::`` + indented block as ``Examples:`` + a fenced ``python`` block."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        header = LITERAL_EXAMPLE.match(lines[i])
        if header is None:
            out.append(lines[i])
            i += 1
            continue
        indent = len(header.group(1))
        block = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        code = [line for line in block if line.strip()]
        inner = " " * min((_indent(line) for line in code), default=indent + 4)
        out.append(f"{header.group(1)}Examples:")
        out.append(f"{inner}```python")
        out.extend(line for line in block if line.strip() or out[-1] != f"{inner}```python")
        out.append(f"{inner}```")
        if i < len(lines):
            out.append("")
    return "\n".join(out)


class DocstringConventions(griffe.Extension):
    """Apply both rewrites to every docstring before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            text = ROLE.sub(_as_code, obj.docstring.value)
            obj.docstring.value = fence_literal_examples(split_shared_parameters(text))
