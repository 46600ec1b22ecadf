"""Summary statistics over seeds: the mean and the half-width of its Student-t interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats

__all__ = ["mean_interval"]


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
