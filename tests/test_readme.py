"""The README's code runs as written: each Python block alone, in a fresh namespace (so a block
that leans on names from the one above fails), and its shell block names real Makefile targets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
SHELL_BLOCKS = re.findall(r"^```bash\n(.*?)^```", README, re.S | re.M)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_the_readme_has_its_examples():
    assert len(PYTHON_BLOCKS) >= 3 and SHELL_BLOCKS


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_alone(index, restore_threads):
    code = compile(PYTHON_BLOCKS[index], f"README.md python block {index + 1}", "exec")
    exec(code, {"__name__": "__main__"})


def test_shell_block_names_makefile_targets():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    commands = [line.split("#")[0].split() for block in SHELL_BLOCKS for line in block.splitlines()]
    named = [words[1] for words in commands if words[:1] == ["make"]]
    assert named and set(named) <= targets, set(named) - targets


def test_relative_links_name_files_of_the_repository():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert local and [link for link in local if not (ROOT / link).exists()] == []
