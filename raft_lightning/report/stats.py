"""Numbers over seeds, for the tables and the figures: a mean ± sample std that never raises,
whatever finite numbers a run's files hold, and a row's per-epoch curve without the epochs
where a run's value is not finite."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from raft_lightning.measures import ALIGN, UNIFORM

CURVES = (ALIGN, UNIFORM)  # the series the trajectory figures draw (Figures 4, 5)

Stat = tuple[float, float | None, int]  # mean, sample std (None for one value), n


def mean_std(values: Sequence[float]) -> Stat:
    """Mean and sample std (None for one value) over ``values``. Finite values near the float
    maximum (a crafted summary.json may hold 1.7e308) would overflow ``fsum``'s intermediate sums:
    they are averaged at a power-of-two scale instead, which is exact, so a mean of finite values
    is finite and a std too large for a float is ``inf``. A non-finite value (a diverged run's
    ``nan``) makes both ``nan``: no number describes it."""
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


def curve(series: Sequence[Sequence[float]]) -> tuple[list[int], list[float], list[float], int]:
    """Per-epoch mean and sample std (0 for one seed) over the seeds' ``series`` (epochs every
    seed reached), and how many epochs were left out because a seed's value there is not finite
    (inf, nan: a run that diverged; the mean of such a point is no number to draw)."""
    series = [s for s in series if s]
    if not series:
        return [], [], [], 0
    epochs, means, stds, dropped = [], [], [], 0
    for i in range(min(len(s) for s in series)):
        values = [s[i] for s in series]
        if not all(math.isfinite(v) for v in values):
            dropped += 1
            continue
        mean, std, _ = mean_std(values)
        epochs.append(i + 1)
        means.append(mean)
        stds.append(std or 0.0)
    return epochs, means, stds, dropped


def runs_curve(runs: Sequence[Any], key: str) -> tuple[list[int], list[float], list[float], int]:
    """``curve`` of the ``key`` series of ``runs`` (each with its ``epochs`` rows of metrics.csv)."""
    return curve([[e[key] for e in run.epochs if key in e] for run in runs])
