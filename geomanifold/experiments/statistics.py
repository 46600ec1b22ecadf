"""Summary statistics over seeds: the mean and the half-width of its Student-t interval, per
group of rows (:func:`summarise_over_seeds`), and the outputs shared by the experiments that
repeat over seeds (:func:`write_seed_outputs`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scipy import stats

from ..io import write_csv, write_json

__all__ = ["mean_interval", "summarise_over_seeds", "write_seed_outputs"]


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """``(mean, h)`` with ``mean ± h`` the two-sided ``confidence`` t-interval of the mean,
    ``h = t_{(1+c)/2, n−1} · sd / √n`` (sample sd, ``n − 1`` degrees of freedom).

    ``None`` and NaN values are dropped; ``h`` is NaN for fewer than 2 values, both are NaN for none.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    n = len(kept)
    if n == 0:
        return math.nan, math.nan
    mean = sum(kept) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in kept) / (n - 1))
    return mean, float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)


def summarise_over_seeds(rows: Sequence[dict], keys: Sequence[str], fields: Sequence[str]) -> list[dict]:
    """One entry per distinct value of ``keys`` (in order of first appearance): those keys,
    ``seeds`` (the number of rows) and ``{field}_mean``, ``{field}_ci95`` (:func:`mean_interval`)
    for each of ``fields``."""
    summary = []
    for group in dict.fromkeys(tuple(r[k] for k in keys) for r in rows):
        chosen = [r for r in rows if tuple(r[k] for k in keys) == group]
        entry = {**dict(zip(keys, group, strict=True)), "seeds": len(chosen)}
        for field in fields:
            entry[f"{field}_mean"], entry[f"{field}_ci95"] = mean_interval([r[field] for r in chosen])
        summary.append(entry)
    return summary


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
