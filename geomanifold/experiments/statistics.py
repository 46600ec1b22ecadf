"""Summary statistics over seeds: the mean and the half-width of its Student-t interval, per
group of rows (:func:`summarise_over_seeds`), paired differences between methods run on the same
seeds and splits (:func:`paired_difference`, :func:`paired_comparisons`), and the outputs shared
by the experiments that repeat over seeds (:func:`write_seed_outputs`). :func:`mean_interval` and
:func:`summarise_over_seeds` live in :mod:`geomanifold.summary`, below plotting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scipy import stats

from ..io import write_csv, write_json
from ..summary import mean_interval, summarise_over_seeds

__all__ = [
    "mean_interval",
    "paired_comparisons",
    "paired_difference",
    "summarise_over_seeds",
    "write_seed_outputs",
]


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Paired comparison of ``a`` and ``b`` (one value each per seed and split, same order).

    Returns:
        ``{"n", "mean", "ci", "low", "high", "p_wilcoxon", "wins"}``: the number of pairs ``n``,
        the mean of ``d = a − b`` with ``mean ± ci`` its two-sided t-interval
        (:func:`mean_interval`), the two-sided Wilcoxon signed-rank p-value of ``d``
        (``scipy.stats.wilcoxon``; NaN when every ``d`` is 0 or ``n < 2``) and how many ``d > 0``.

    Raises:
        ValueError: ``a`` and ``b`` of different lengths.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need the same length, got {len(a)} and {len(b)}")
    d = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    mean, half = mean_interval(d, confidence)
    p = math.nan
    if len(d) >= 2 and any(v != 0 for v in d):
        p = float(stats.wilcoxon(d).pvalue)
    return {
        "n": len(d),
        "mean": mean,
        "ci": half,
        "low": mean - half,
        "high": mean + half,
        "p_wilcoxon": p,
        "wins": sum(v > 0 for v in d),
    }


def paired_comparisons(
    runs: Sequence[dict], reference: str, metrics: Sequence[str], keys: Sequence[str] = ("split", "seed")
) -> list[dict]:
    """``reference`` minus every other method, paired on ``keys`` (e.g. split and seed), per metric.

    Only the keys both methods have a value for are paired. Returns rows ``{"reference",
    "method", "metric", **paired_difference(...)}``; none when ``reference`` has no runs.
    """

    def values(method: str, metric: str) -> dict[tuple, float]:
        return {
            tuple(r.get(k) for k in keys): r[metric]
            for r in runs
            if r["method"] == method and r.get(metric) is not None and not math.isnan(r[metric])
        }

    rows = []
    methods = list(dict.fromkeys(r["method"] for r in runs))
    if reference not in methods:
        return rows
    for method in methods:
        if method == reference:
            continue
        for metric in metrics:
            mine, theirs = values(reference, metric), values(method, metric)
            common = [k for k in mine if k in theirs]
            if common:
                difference = paired_difference([mine[k] for k in common], [theirs[k] for k in common])
                rows.append({"reference": reference, "method": method, "metric": metric, **difference})
    return rows


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
