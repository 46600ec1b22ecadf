"""Griffe extension for the API reference: docstring conventions that griffe does not read.

* Sphinx cross-reference roles (``:class:`~geomanifold.geometry.Torus```) would print verbatim in
  Markdown; each becomes an inline code span: ``~a.b.C`` gives ``C`` (the tilde keeps the last
  name), ``a.b.C`` stays whole.
* Several parameters documented on one line, ``a, b: description`` (as Napoleon allows), become
  one entry per name with the same description, so that each is matched to the signature.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")
PARAMETER_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Other Parameters|Keyword Args):\s*$")
SHARED_ENTRY = re.compile(r"^(\s+)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+):(.*)$")


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


class DocstringConventions(griffe.Extension):
    """Apply both rewrites to every docstring before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = split_shared_parameters(ROLE.sub(_as_code, obj.docstring.value))
