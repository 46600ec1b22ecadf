"""The outputs shared by the experiments that repeat over seeds (:func:`write_seed_outputs`);
the statistics themselves (:func:`mean_interval`, :func:`summarise_over_seeds`) live in
:mod:`geomanifold.summary`, below the plotting layer, and are re-exported here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..io import write_csv, write_json
from ..summary import mean_interval, summarise_over_seeds

__all__ = ["mean_interval", "summarise_over_seeds", "write_seed_outputs"]


def write_seed_outputs(
    out: Path,
    name: str,
    settings: Any,
    seeds: Sequence[int],
    rows: list[dict],
    summary: list[dict],
    path_rows: list[dict],
) -> dict:
    """Write ``{name}.json`` (settings with the seeds, rows, summary), ``{name}.csv`` (the rows),
    ``{name}_summary.csv`` and ``{name}_path.csv`` into ``out``.

    Returns:
        ``{"settings", "rows", "summary"}`` as written to ``{name}.json``.
    """
    result = {"settings": {**asdict(settings), "seeds": list(seeds)}, "rows": rows, "summary": summary}
    write_json(out / f"{name}.json", result)
    write_csv(out / f"{name}.csv", rows)
    write_csv(out / f"{name}_summary.csv", summary)
    write_csv(out / f"{name}_path.csv", path_rows)
    return result
