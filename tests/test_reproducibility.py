"""The same seed gives byte-identical files from every CLI command on CPU.

Each command module that defines ``SMOKE_ARGS`` (a complete run in seconds) is run twice in
process, into two folders, and every file the runs write must match byte for byte; only
``timing.json`` (wall times) may differ.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geomanifold.cli import main
from geomanifold.commands import command_modules

TIMING_FILE = "timing.json"
SMOKE_COMMANDS = [module for module in command_modules() if hasattr(module, "SMOKE_ARGS")]


def written_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path, except :data:`TIMING_FILE`."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != TIMING_FILE
    }


@pytest.fixture
def keep_threads():
    """Commands may apply ``--threads``; give the test process its setting back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_smoke_commands_found():
    assert "demo" in [module.NAME for module in SMOKE_COMMANDS]
    for module in SMOKE_COMMANDS:
        assert isinstance(module.SMOKE_ARGS, list) and all(isinstance(a, str) for a in module.SMOKE_ARGS)
        assert "--out" not in module.SMOKE_ARGS, module.NAME


@pytest.mark.parametrize("module", SMOKE_COMMANDS, ids=lambda module: module.NAME)
def test_two_runs_with_the_same_seed_write_identical_files(module, tmp_path, keep_threads, capsys):
    args = list(module.SMOKE_ARGS)
    if "--no-progress" not in args:
        args.append("--no-progress")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        status = main([module.NAME, "--out", str(out), *args])
        assert status == 0, capsys.readouterr().err
        runs.append(written_files(out))
    first, second = runs
    assert first, f"{module.NAME} {' '.join(args)} wrote no files"
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"{module.NAME}: files differ between two runs with the same seed: {differing}"


def test_the_check_detects_a_difference(tmp_path):
    """The comparison is byte-exact and ignores only timing.json."""
    for name, value in (("a", b"1.0"), ("b", b"1.0000001")):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "result.json").write_bytes(value)
        (tmp_path / name / TIMING_FILE).write_bytes(value)
    first, second = written_files(tmp_path / "a"), written_files(tmp_path / "b")
    assert list(first) == ["sub/result.json"]
    assert first != second
