"""Summary statistics over seeds: the mean and the half-width of its Student-t interval
(:func:`mean_interval`), per group of rows (:func:`summarise_over_seeds`), and their one-line
form for printed summaries (:func:`format_mean_interval`).

Pure functions of numbers, below every layer that reports or plots them (Student, 1908; any
statistics text, e.g. Wasserman, *All of Statistics*, §6.3)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats

__all__ = ["format_mean_interval", "mean_interval", "summarise_over_seeds"]


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


def format_mean_interval(mean: float, half_width: float, digits: int = 4) -> str:
    """``"0.9123 ± 0.0040"``, or ``"0.9123 (1 seed)"`` when there is no interval (``h`` NaN:
    fewer than two values), or ``"n/a"`` when there is no mean either."""
    if math.isnan(mean):
        return "n/a"
    if math.isnan(half_width):
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {half_width:.{digits}f}"
