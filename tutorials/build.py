"""Execute the tutorials into notebooks for the documentation site.

Each tutorial is a jupytext percent-format script ``tutorials/NN_name.py``. This converts it to a
notebook, runs every cell in a fresh Python kernel and writes the executed notebook to
``docs/tutorials/NN_name.ipynb``, which mkdocs-jupyter renders without running it again. Any cell
that raises stops the build with a non-zero exit status.

Links between tutorials are written ``[tutorial 2](02_name.ipynb)`` so that they work in Jupyter;
mkdocs does not rewrite links inside notebooks, so the site's copies point at the rendered pages,
``02_name.html`` (the site is built with ``.html`` page URLs).

Usage::

    python tutorials/build.py                 # all tutorials, small size (as the docs build runs them)
    python tutorials/build.py --full 01       # tutorials whose name starts with 01, full size
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMALL_SWITCH = "GEOMANIFOLD_TUTORIAL_SMALL"
NOTEBOOK_LINK = re.compile(r"\]\((\d\d_\w+)\.ipynb(#[\w-]+)?\)")


def tutorials(prefixes: list[str]) -> list[Path]:
    """The tutorial scripts ``NN_*.py`` whose names start with any of ``prefixes`` (all if none)."""
    found = sorted(HERE.glob("[0-9][0-9]_*.py"))
    chosen = [p for p in found if not prefixes or any(p.stem.startswith(x) for x in prefixes)]
    if not chosen:
        names = ", ".join(p.stem for p in found)
        raise SystemExit(f"build.py: error: no tutorial matches {prefixes}; valid: {names}")
    return chosen


def link_rendered_pages(notebook: nbformat.NotebookNode) -> None:
    """In place: markdown links ``](NN_name.ipynb)`` become ``](NN_name.html)``, the site's pages."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(lambda m: f"]({m[1]}.html{m[2] or ''})", cell.source)


def execute(script: Path, out: Path, timeout: int) -> float:
    """Convert ``script`` to a notebook, run it in a fresh kernel, write it to ``out``; seconds taken."""
    notebook = jupytext.read(script)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started = time.perf_counter()
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    link_rendered_pages(notebook)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out)
    return time.perf_counter() - started


def _run_one(job: tuple[Path, Path, int]) -> tuple[str, float, str]:
    script, out, timeout = job
    try:
        return script.stem, execute(script, out, timeout), ""
    except CellExecutionError as error:
        return script.stem, 0.0, str(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="name prefixes of the tutorials to run (default: all)")
    parser.add_argument("--full", action="store_true", help=f"full size (default: {SMALL_SWITCH}=1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "tutorials", help="output folder")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    parser.add_argument("--jobs", type=int, default=1, help="tutorials executed at the same time")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")

    # the kernels inherit this environment: size switch, one thread each
    os.environ[SMALL_SWITCH] = "0" if args.full else "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures shown inline
    # tqdm.auto falls back to its text bar in a kernel without ipywidgets; its warning says so
    os.environ["PYTHONWARNINGS"] = "ignore:IProgress not found"
    jobs = [(script, args.out / f"{script.stem}.ipynb", args.timeout) for script in tutorials(args.names)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_run_one, jobs))
    failed = [(name, message) for name, _, message in results if message]
    for name, seconds, message in results:
        print(f"{name}: {'FAILED' if message else f'{seconds:.1f} s'}")
    for name, message in failed:
        print(f"\n{name} failed:\n{message}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
