"""Uncertainty over seeds: the Student-t 95 % confidence interval of a mean and Welch's t-test of
a difference of two means. With 3 seeds the t quantile is 4.30, not 1.96: an interval from the
normal quantile would be less than half as wide as the data allow."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple

from scipy import stats as scipy_stats

from raft_lightning.measures import ALIGN, KNN_ACC, MONITOR_PREFIX, PROBE_ACC, UNIFORM

LEVEL = 0.95
CURVES = (ALIGN, UNIFORM)  # the series the trajectory figures draw (Figures 4, 5)
# The series of the monitors' figures (report.training), with their panel names.
ACCURACY = ((KNN_ACC, "kNN acc"), (PROBE_ACC, "probe acc"))
RANK = (
    (MONITOR_PREFIX + "rank_backbone", "effective rank of h"),
    (MONITOR_PREFIX + "rank_projector", "effective rank of z"),
)
STEPS = (
    ("loss", "loss"),  # steps.csv columns: the short names (callbacks.CollapseMonitors)
    ("uniform", "L_uniform(f_θ)"),
    ("predictor_identity_distance", "‖W − I‖_F / √d"),
)
EPOCH_SERIES = CURVES + tuple(key for key, _ in ACCURACY + RANK)  # what the figures draw from metrics.csv
STEP_SERIES = tuple(key for key, _ in STEPS)  # and from steps.csv


class Stat(NamedTuple):
    """A metric of one row over its seeds. ``std`` (ddof = 1) and ``ci95`` (half-width of the
    95 % interval of the mean) are None for one value."""

    mean: float
    std: float | None
    n: int
    ci95: float | None
    values: tuple[float, ...]


def describe(values: Sequence[float]) -> Stat:
    """Mean, sample std, n, and t_{0.975, n−1} · std / √n; never raises on numbers a run's files
    may hold (``mean_std``: near the float maximum, inf, nan)."""
    values = tuple(float(v) for v in values)
    n = len(values)
    if n == 0:
        raise ValueError("describe needs at least one value")
    mean, std, _ = mean_std(values)
    if std is None:
        return Stat(mean, None, 1, None, values)
    return Stat(mean, std, n, float(scipy_stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * std / math.sqrt(n), values)


def mean_std(values: Sequence[float]) -> tuple[float, float | None, int]:
    """Mean and sample std (None for one value). Finite values near the float maximum (a crafted
    summary.json may hold 1.7e308) would overflow ``fsum``'s intermediate sums: they are averaged
    at a power-of-two scale instead, which is exact, so a mean of finite values is finite and a
    std too large for a float is ``inf``. A non-finite value (a diverged run's ``nan``) makes both
    ``nan``: no number describes it."""
    n = len(values)
    if not all(math.isfinite(v) for v in values):
        return math.nan, math.nan if n > 1 else None, n
    try:
        return statistics.fmean(values), statistics.stdev(values) if n > 1 else None, n
    except OverflowError:
        exponent = math.frexp(max(abs(v) for v in values))[1]
        scaled = [math.ldexp(v, -exponent) for v in values]
        mean = math.ldexp(statistics.fmean(scaled), exponent)
        if n == 1:
            return mean, None, n
        try:
            std = math.ldexp(statistics.stdev(scaled), exponent)
        except OverflowError:
            std = math.inf
        return mean, std, n


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


class OneSided(NamedTuple):
    """A one-sided t-test: the estimate (a mean difference less the tested value), t, df and p;
    t, df and p None when a side has one value or no value varies (no spread, no test)."""

    estimate: float
    t: float | None
    df: float | None
    p: float | None


def _one_sided(estimate: float, se2: float, df: float, alternative: str) -> OneSided:
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative={alternative!r}: expected less or greater")
    if not se2 > 0 or not math.isfinite(se2) or not math.isfinite(estimate):
        return OneSided(estimate, None, None, None)
    t = estimate / math.sqrt(se2)
    tail = scipy_stats.t.cdf if alternative == "less" else scipy_stats.t.sf
    return OneSided(estimate, t, df, float(tail(t, df)))


def welch_one_sided(a: Sequence[float], b: Sequence[float], alternative: str, shift: float = 0.0) -> OneSided:
    """Welch's test of H1: mean(a) − mean(b) < ``shift`` (``alternative="less"``) or > ``shift``
    ("greater"), with ``welch``'s standard error and Welch–Satterthwaite df; ``estimate`` is
    mean(a) − mean(b) − shift. TOST is two of these (shift −d "greater" and +d "less")."""
    sa, sb = describe(a), describe(b)
    estimate = sa.mean - sb.mean - shift
    if sa.n < 2 or sb.n < 2:
        return OneSided(estimate, None, None, None)
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    se2 = va + vb
    df = se2**2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1)) if se2 > 0 else math.nan
    return _one_sided(estimate, se2, df, alternative)


def one_sample(values: Sequence[float], mu: float, alternative: str) -> OneSided:
    """Student's one-sample test of H1: mean(values) < ``mu`` ("less") or > ``mu`` ("greater"),
    n − 1 df; ``estimate`` is mean − mu."""
    s = describe(values)
    if s.n < 2:
        return OneSided(s.mean - mu, None, None, None)
    return _one_sided(s.mean - mu, s.std**2 / s.n, s.n - 1, alternative)
