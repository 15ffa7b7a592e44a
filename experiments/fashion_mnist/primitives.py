"""The primitives of issue 23's decision rules (rules.yaml's header): a row of kept runs
(``Sel``, ``Kept``), collapsed, below, same (TOST), per-seed thresholds, exact Spearman, the
step-level rise and the slopes; each returns its numbers and ``held`` / ``failed`` / ``neither``.
How each tests its opposite: ``verdicts.py``'s docstring. The claims themselves: ``verdicts.py``."""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from experiments.fashion_mnist.selection import (
    ALIGN_BELOW,
    ALPHA,
    DENSE_STEPS,
    EPOCH_STEPS,
    FAILED,
    HELD,
    NEITHER,
    PROTOCOLS,
    SEEDS,
    UNIFORM_ABOVE,
    Sel,
    _incomplete,
    _sig,
    _stat,
    _test,
)
from raft_lightning.report.rows import Run
from raft_lightning.report.stats import one_sample, welch_one_sided


def collapsed(sel: Sel, negate: bool = False) -> dict[str, Any]:
    """rules.yaml's collapsed(row) (``negate``: not collapsed(row)); see the module's docstring."""
    threshold = UNIFORM_ABOVE
    test = f"{'not ' if negate else ''}collapsed({sel.name})"
    if (missing := _incomplete(test, sel, "uniform_projector")) is not None:
        return missing
    u = sel.values("uniform_projector")
    a = sel.values("align")  # none: the random encoder never trains, and is judged on L_uniform alone
    if a and (missing := _incomplete(test, sel, "align")) is not None:
        return missing  # measured in some seeds only: the rule counts every seed, so no row drops it
    point = statistics.fmean(u) > threshold and (not a or statistics.fmean(a) < ALIGN_BELOW)
    u_above, u_below = one_sample(u, threshold, "greater"), one_sample(u, threshold, "less")
    a_below = one_sample(a, ALIGN_BELOW, "less") if a else None
    a_above = one_sample(a, ALIGN_BELOW, "greater") if a else None
    established_collapsed = _sig(u_above) and (a_below is None or _sig(a_below))
    established_not = _sig(u_below) or (a_above is not None and _sig(a_above))
    part: dict[str, Any] = {
        "test": test,
        "uniform_projector": _stat(u) | {"threshold": threshold},
        "align": (_stat(a) | {"threshold": ALIGN_BELOW}) if a else "not measured: judged on uniform_projector alone",
        "collapsed_by_point_rule": point,
        "tests": {
            "uniform_projector > threshold": _test(u_above),
            "uniform_projector < threshold": _test(u_below),
            **({"align < 0.1": _test(a_below), "align > 0.1": _test(a_above)} if a else {}),
        },
    }
    holds, fails = (not point, established_collapsed) if negate else (point, established_not)
    part["outcome"] = HELD if holds else FAILED if fails else NEITHER
    if part["outcome"] == NEITHER:
        part["settle"] = "more seeds: the mean is on the rule's other side but not significantly"
    return part


def _computed(test: Any) -> bool:
    return test.p is not None and math.isfinite(test.p)


def below(a: Sel, b: Sel, key: str, negate: bool = False, shift: float = 0.0) -> dict[str, Any]:
    """below(A, B, m): one-sided Welch mean(A) − mean(B) < ``shift`` (the rules' ``B − 0.15``
    is shift −0.15); ``negate``: not below(A, B, m)."""
    name = f"below({a.name}, {b.name}{f' {shift:+g}' if shift else ''}, {key})"
    test = f"not {name}" if negate else name
    for sel in (a, b):
        if (missing := _incomplete(test, sel, key)) is not None:
            return missing
    va, vb = a.values(key), b.values(key)
    less, greater = welch_one_sided(va, vb, "less", shift), welch_one_sided(va, vb, "greater", shift)
    part: dict[str, Any] = {
        "test": test,
        "metric": key,
        a.name: _stat(va),
        b.name: _stat(vb),
        "difference": statistics.fmean(va) - statistics.fmean(vb),
        "shift": shift,
        "below (A − B < shift)": _test(less),
        "opposite (A − B > shift)": _test(greater),
    }
    if key in PROTOCOLS:
        part["protocol"] = key
    if negate:  # "not significantly below": a failed below test is what holds it; no test holds nothing
        part["outcome"] = FAILED if _sig(less) else HELD if _computed(less) else NEITHER
        if part["outcome"] == NEITHER:
            part["settle"] = "runs whose values vary: Welch's test has no p-value for these"
    else:
        part["outcome"] = HELD if _sig(less) else FAILED if _sig(greater) else NEITHER
        if part["outcome"] == NEITHER:
            part["settle"] = (
                f"more seeds: one-sided p = {_fmt_p(less.p)} for below, {_fmt_p(greater.p)} for the reverse"
            )
    return part


def same(a: Sel, b: Sel, key: str, margin: float) -> dict[str, Any]:
    """same(A, B, m, d): TOST at 0.05 with margin ±d; failed when |diff| > d is established."""
    test = f"same({a.name}, {b.name}, {key}, ±{margin:g})"
    for sel in (a, b):
        if (missing := _incomplete(test, sel, key)) is not None:
            return missing
    va, vb = a.values(key), b.values(key)
    lower, upper = welch_one_sided(va, vb, "greater", -margin), welch_one_sided(va, vb, "less", margin)
    out_up, out_down = welch_one_sided(va, vb, "greater", margin), welch_one_sided(va, vb, "less", -margin)
    held = _sig(lower) and _sig(upper)
    failed = _sig(out_up) or _sig(out_down)
    part: dict[str, Any] = {
        "test": test,
        "metric": key,
        "margin": margin,
        a.name: _stat(va),
        b.name: _stat(vb),
        "difference": statistics.fmean(va) - statistics.fmean(vb),
        "tost": {"diff > −d": _test(lower), "diff < +d": _test(upper)},
        "opposite": {"diff > +d": _test(out_up), "diff < −d": _test(out_down)},
        "outcome": HELD if held else FAILED if failed else NEITHER,
    }
    if key in PROTOCOLS:
        part["protocol"] = key
    if part["outcome"] == NEITHER:
        worst = max((t.p for t in (lower, upper) if t.p is not None), default=None)
        part["settle"] = f"more seeds: TOST p = {_fmt_p(worst)} (needs < 0.05); non-equivalence not established either"
    return part


def threshold(test: str, values: list[float], bound: float, side: str, need: int | None = None) -> dict[str, Any]:
    """A per-seed threshold: held when ``need`` (default: every) of the per-seed ``values`` are
    > ``bound`` (``side="above"``) or < it ("below"); failed when the one-sample one-sided test
    puts their mean on the other side at p < 0.05."""
    need = len(SEEDS) if need is None else need
    meets = [v > bound if side == "above" else v < bound for v in values]
    opposite = one_sample(values, bound, "less" if side == "above" else "greater")
    part = {
        "test": test,
        "per_seed": values,
        "bound": bound,
        "side": side,
        "seeds_meeting": sum(meets),
        "needed": need,
        "opposite (mean on the other side)": _test(opposite),
        "outcome": HELD if len(values) == len(SEEDS) and sum(meets) >= need else FAILED if _sig(opposite) else NEITHER,
    }
    if part["outcome"] == NEITHER:
        # More seeds cannot make it hold where fewer than ``need`` of the rule's seeds meet it:
        # they could only establish the opposite.
        part["settle"] = (
            f"cannot hold ({sum(meets)} of {len(values)} meet it, {need} needed); more seeds could establish "
            f"the opposite, whose p is {_fmt_p(opposite.p)} now"
        )
    return part


def spearman_exact(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Spearman's ρ and its exact one-sided p-values (ρ ≥ observed, ρ ≤ observed) over every
    ordering of y's ranks: 7 points give 5 040, so no approximation is needed."""
    rx, ry = scipy_stats.rankdata(x), scipy_stats.rankdata(y)
    orderings = np.array(list(itertools.permutations(ry)))
    cx = rx - rx.mean()
    cy = orderings - orderings.mean(axis=1, keepdims=True)
    rhos = cy @ cx / (np.linalg.norm(cx) * np.linalg.norm(cy, axis=1))
    observed = float(np.corrcoef(rx, ry)[0, 1])
    eps = 1e-12  # ties of ρ across orderings are equal up to round-off
    greater = float(np.mean(rhos >= observed - eps))
    less = float(np.mean(rhos <= observed + eps))
    return observed, greater, less


def increases(rows: list[Sel], xs: list[float], key: str) -> dict[str, Any]:
    """c6: mean ``key`` increases with x (Spearman ρ > 0, exact one-sided p < 0.05)."""
    test = f"Spearman ρ(beta, mean {key}) > 0"
    for sel in rows:
        if (missing := _incomplete(test, sel, key)) is not None:
            return missing
    means = [statistics.fmean(sel.values(key)) for sel in rows]
    rho, p_greater, p_less = spearman_exact(xs, means)
    part = {
        "test": test,
        "x": xs,
        "means": means,
        "rho": rho,
        "p_greater": p_greater,
        "p_less": p_less,
        "outcome": HELD if rho > 0 and p_greater < ALPHA else FAILED if rho < 0 and p_less < ALPHA else NEITHER,
    }
    if part["outcome"] == NEITHER:
        part["settle"] = (
            f"not settled by these runs: exact p = {_fmt_p(p_greater)} with 7 betas (more betas, not seeds)"
        )
    return part


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def rise(run: Run) -> dict[str, Any]:
    """c3 for one run: step-1 value, maximum over steps 1..500 (global steps 0..499, the dense
    rows) of train_step/uniform, the rise, the step and epoch of the maximum."""
    dense = [r for r in run.steps if r["step"] < DENSE_STEPS and "uniform" in r]
    if not dense or dense[0]["step"] != 0:
        raise ValueError(f"{run.path.name}: steps.csv has no dense train_step/uniform from step 1")
    top = max(dense, key=lambda r: r["uniform"])
    return {
        "first": dense[0]["uniform"],
        "max": top["uniform"],
        "rise": top["uniform"] - dense[0]["uniform"],
        "max_step": int(top["step"]) + 1,  # 1-based, as the rule counts steps
        "max_epoch": int(top["epoch"]),
        "phase_epochs_of_390": (int(top["step"]) + 1) / EPOCH_STEPS,
    }


def series(run: Run, key: str) -> dict[int, float]:
    return {int(e["epoch"]): e[key] for e in run.epochs if key in e}


def slope(points: dict[int, float], lo: int, hi: int) -> float | None:
    xs = [e for e in sorted(points) if lo <= e <= hi]
    if len(xs) < 2:
        return None
    return statistics.linear_regression([float(x) for x in xs], [points[x] for x in xs])[0]


def _below_values(test: str, a: list[float], b: list[float]) -> dict[str, Any]:
    """below() on per-seed derived values (c3's rises, c7's |log ratio|)."""
    less, greater = welch_one_sided(a, b, "less"), welch_one_sided(a, b, "greater")
    part = {
        "test": test,
        "A": _stat(a),
        "B": _stat(b),
        "below (A < B)": _test(less),
        "opposite (A > B)": _test(greater),
        "outcome": HELD if _sig(less) else FAILED if _sig(greater) else NEITHER,
    }
    if part["outcome"] == NEITHER:
        part["settle"] = f"more seeds: one-sided p = {_fmt_p(less.p)}"
    return part
