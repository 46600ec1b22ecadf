"""Every command's ``--help``, a parse of its arguments and a bad option value run without loading
torch, scipy or matplotlib (the parsers take their choices and defaults from
:mod:`geomanifold.settings`), and the names there are the ones the experiments implement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from geomanifold.commands import command_infos
from geomanifold.experiments.datasets import DATA_SETS
from geomanifold.experiments.tasks import TASKS
from geomanifold.settings import DATA_SET_NAMES, MANIFOLDS, TASK_NAMES

ROOT = Path(__file__).resolve().parents[1]

BAD_VALUES = {  # a command line with one bad option value -> the option its error names
    ("connect", "--align", "sideways"): "--align",
    ("train", "--arch", "transformer"): "--arch",
    ("condition", "--task", "blur"): "--task",
    ("compare", "--methods", "manifold,magic"): "--methods",
    ("instability", "--optimizer", "rmsprop"): "--optimizer",
    ("continual", "--task-split", "colours"): "--task-split",
    ("sparsify", "--sparsities", "1.5"): "--sparsities",
}

# one process for everything: each step reports its exit status and what it printed
SCRIPT = """
import contextlib, io, json, sys
from geomanifold.cli import build_parser, main
from geomanifold.commands import command_infos

def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = f"SystemExit({exit_.code!r})"  # main should have turned it into a status
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}

report = {"help": {}, "parsed": {}, "bad": []}
for command in command_infos():
    report["help"][command.name] = run([command.name, "--help"])
    argv = [command.name, *getattr(command.load(), "SMOKE_ARGS", [])]
    report["parsed"][command.name] = build_parser(argv).parse_args(argv).command
for argv in json.loads(sys.argv[1]):
    report["bad"].append(run(argv))
report["version"] = run(["--version"])
report["heavy"] = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "scipy", "matplotlib"})
print(json.dumps(report))
"""


def test_help_parsing_and_bad_values_do_not_load_torch_scipy_or_matplotlib():
    bad = [list(argv) for argv in BAD_VALUES]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(bad)], capture_output=True, text=True, timeout=120,
        cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    names = [command.name for command in command_infos()]
    assert sorted(report["help"]) == sorted(names)
    for name, run in report["help"].items():
        assert run["status"] == 0, (name, run)
        assert run["stdout"].startswith(f"usage: geomanifold {name}"), (name, run["stdout"][:200])
    assert report["parsed"] == {name: name for name in names}
    for (argv, option), run in zip(BAD_VALUES.items(), report["bad"], strict=True):
        assert run["status"] == 2, (argv, run)
        last = run["stderr"].strip().splitlines()[-1]
        assert last.startswith(f"geomanifold {argv[0]}: error: argument {option}"), (argv, last)
        assert repr(argv[-1]) in last or argv[-1] in last, (argv, last)
    assert report["version"]["status"] == 0 and report["version"]["stdout"].startswith("geomanifold ")
    assert report["heavy"] == []


def test_settings_name_what_the_experiments_implement():
    assert tuple(DATA_SETS) == DATA_SET_NAMES
    assert tuple(TASKS) == TASK_NAMES
    for task in TASKS.values():
        assert {task.manifold, task.misspecified} <= set(MANIFOLDS), task.name
