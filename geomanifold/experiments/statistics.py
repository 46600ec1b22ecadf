"""Summary statistics over seeds: the mean and the half-width of its Student-t interval, per
group of rows (:func:`summarise_over_seeds`), paired differences between methods run on the same
seeds and splits (:func:`paired_difference`, :func:`paired_comparisons`), and the outputs shared
by the experiments that repeat over seeds (:func:`write_seed_outputs`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scipy import stats

from ..io import write_csv, write_json

__all__ = [
    "mean_interval",
    "paired_comparisons",
    "paired_difference",
    "summarise_over_seeds",
    "write_seed_outputs",
]


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
