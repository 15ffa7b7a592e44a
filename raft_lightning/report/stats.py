"""Uncertainty over seeds: the Student-t 95 % confidence interval of a mean and Welch's t-test of
a difference of two means. With 3 seeds the t quantile is 4.30, not 1.96: an interval from the
normal quantile would be less than half as wide as the data allow."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple

from scipy import stats as scipy_stats

LEVEL = 0.95


class Stat(NamedTuple):
    """A metric of one row over its seeds. ``std`` (ddof = 1) and ``ci95`` (half-width of the
    95 % interval of the mean) are None for one value."""

    mean: float
    std: float | None
    n: int
    ci95: float | None
    values: tuple[float, ...]


def describe(values: Sequence[float]) -> Stat:
    """Mean, sample std, n, and t_{0.975, n−1} · std / √n."""
    values = tuple(float(v) for v in values)
    n = len(values)
    if n == 0:
        raise ValueError("describe needs at least one value")
    mean = statistics.fmean(values)
    if n == 1:
        return Stat(mean, None, 1, None, values)
    std = statistics.stdev(values)
    return Stat(mean, std, n, float(scipy_stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * std / math.sqrt(n), values)


class Difference(NamedTuple):
    """A − B with the half-width of its 95 % interval, Welch's degrees of freedom and two-sided
    p-value; the last three None when either side has one value or neither varies."""

    diff: float
    ci95: float | None
    df: float | None
    p: float | None


def welch(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Welch's t-test of mean(a) − mean(b): se² = s_a²/n_a + s_b²/n_b, and the
    Welch–Satterthwaite df = se⁴ / ((s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1))."""
    sa, sb = describe(a), describe(b)
    diff = sa.mean - sb.mean
    if sa.n < 2 or sb.n < 2:
        return Difference(diff, None, None, None)
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    se2 = va + vb
    if se2 == 0:
        return Difference(diff, None, None, None)
    df = se2**2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    t = diff / math.sqrt(se2)
    p = float(2 * scipy_stats.t.sf(abs(t), df))
    return Difference(diff, float(scipy_stats.t.ppf(0.5 + LEVEL / 2, df)) * math.sqrt(se2), df, p)
