"""Start-up time of the ``geomanifold`` console script: ``--help``, a usage error, every command's
``--help`` and a bad option value, against the interpreter alone and ``import torch`` measured in
the same run.

Each variant is a fresh ``python -c`` process, timed round-robin (so load affects all alike); the
best of ``--repeats`` is kept, since on a loaded machine only the fastest run approaches the
idle time. ``--other-tree DIR`` adds the same command lines run from another checkout (e.g. the
main branch before a change), for a before/after in one run.

    python benchmarks/bench_cli_start.py --repeats 7 --other-tree ../main
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from geomanifold.commands import command_infos  # reads the command files, imports none

HERE = Path(__file__).resolve().parents[1]

MAIN = "from geomanifold.cli import main; main({argv!r})"
COMMANDS = {
    "python -c pass": "pass",
    "import torch": "import torch",
    "geomanifold --help": MAIN.format(argv=["--help"]),
    "geomanifold bogus (usage error)": MAIN.format(argv=["bogus"]),
    **{
        f"geomanifold {command.name} --help": MAIN.format(argv=[command.name, "--help"])
        for command in command_infos()
    },
    "geomanifold connect --align sideways": MAIN.format(argv=["connect", "--align", "sideways"]),
}
REFERENCES = ("python -c pass", "import torch")  # the same in every tree


def seconds(code: str, tree: Path) -> float:
    """Wall time of one ``python -c code`` with ``tree`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--other-tree", type=Path, default=None, help="another checkout to time alongside")
    args = parser.parse_args()
    runs = {name: (code, HERE) for name, code in COMMANDS.items()}
    if args.other_tree is not None:
        for name, code in COMMANDS.items():
            if name not in REFERENCES:
                runs[f"{name} [{args.other_tree.name}]"] = (code, args.other_tree.resolve())
    best = {name: float("inf") for name in runs}
    for _ in range(args.repeats):
        for name, (code, tree) in runs.items():
            best[name] = min(best[name], seconds(code, tree))
    reference = best["import torch"]
    print(f"best of {args.repeats} runs (load average {os.getloadavg()[0]:.1f}); ratio to `import torch`")
    for name, value in best.items():
        print(f"  {name:<52} {value:7.3f} s  {value / reference:6.2f}×")


if __name__ == "__main__":
    main()
