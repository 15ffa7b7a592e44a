"""The claims about curves and trajectories (claim 3's first steps, claim 6's trend over β,
claim 7's rates, Theorem 5.1 over whole runs): each returns its rows and its rule's conditions."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from experiments.fashion_mnist.primitives import (
    _below_values,
    _fmt_p,
    collapsed,
    increases,
    rise,
    series,
    slope,
    threshold,
)
from experiments.fashion_mnist.selection import (
    BETAS,
    C3_RECOVERY,
    C3_RISE,
    C7_RANGE,
    C7_WINDOWS,
    FAILED,
    HELD,
    NEITHER,
    SEEDS,
    T51_SERIES,
    UNIFORM_ABOVE,
    Kept,
    Rows,
    Sel,
    _sig,
    _test,
    undecided,
)
from raft_lightning.report.stats import one_sample


def c3(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select("byol_lpi", "claim3", variant="byol_lpi"), k.select("byol_lp", "claim3", variant="byol_lp")]

    def conditions(r: Rows) -> list[list[dict]]:
        lpi = [rise(r["byol_lpi"].runs[s]) for s in SEEDS]
        lp = [rise(r["byol_lp"].runs[s]) for s in SEEDS]
        recovery = []
        for s, info in zip(SEEDS, lpi):
            run = r["byol_lpi"].runs[s]
            at_max = series(run, "monitor/uniform_projector").get(info["max_epoch"])
            final = run.summary.get("uniform_projector")
            recovery.append(None if at_max is None or final is None else at_max - final)
        first = threshold(
            "rise of byol_lpi's train_step/uniform over steps 1..500 > 0.1, every seed",
            [x["rise"] for x in lpi],
            C3_RISE,
            "above",
        )
        first["runs"] = lpi
        second = threshold(
            "byol_lpi's maximum > collapse threshold in at least 2 of 3 seeds",
            [x["max"] for x in lpi],
            UNIFORM_ABOVE,
            "above",
            need=2,
        )
        if None in recovery:
            third = undecided(
                "recovery",
                "monitor/uniform_projector missing at the epoch of the maximum",
                "runs whose metrics.csv holds the monitor at that epoch",
            )
        else:
            third = threshold(
                "epoch-of-maximum uniform_projector − final uniform_projector > 0.3, every seed",
                recovery,
                C3_RECOVERY,
                "above",
            )
        fourth = _below_values("below(rise_lp, rise_lpi)", [x["rise"] for x in lp], [x["rise"] for x in lpi])
        fourth["byol_lp_runs"] = lp
        return [[first], [second], [third], [fourth]]

    def phase(r: Rows) -> dict[str, Any]:
        lpi = [rise(r["byol_lpi"].runs[s]) for s in SEEDS]
        return {"max_step": [x["max_step"] for x in lpi], "epochs_of_390": [x["phase_epochs_of_390"] for x in lpi]}

    conditions.phase = phase  # type: ignore[attr-defined]
    return rows, conditions


def c6(k: Kept) -> tuple[list[Sel], Callable]:
    none = [k.select(f"raft/none β={b:g}", "table3", objective="raft", predictor="none", beta=b) for b in BETAS]
    linear = [k.select(f"raft/linear β={b:g}", "table3", objective="raft", predictor="linear", beta=b) for b in BETAS]

    def conditions(r: Rows) -> list[list[dict]]:
        n = [r[s.name] for s in none]
        return [
            [collapsed(n[0])] + [collapsed(s, negate=True) for b, s in zip(BETAS, n) if b >= 1],
            [increases(n, list(BETAS), "align")],
            [collapsed(r[s.name], negate=True) for s in linear],
        ]

    return none + linear, conditions


def c7(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select("byol_lp", "long", variant="byol_lp"), k.select("byol_mlp", "long", variant="byol_mlp")]

    def rate_change(early: float | None, late: float | None) -> float | None:
        """|late − early| / (|late| + |early|) = tanh(|log(late/early)|/2): 0 at a constant rate,
        ordered as |log ratio| for a positive ratio, 1 where the slope changed sign (rules.yaml's
        amendment: |log ratio| has no value there)."""
        if early is None or late is None or abs(early) + abs(late) == 0:
            return None
        return abs(late - early) / (abs(late) + abs(early))

    def ratios(sel: Sel) -> list[dict[str, Any]]:
        out = []
        for s in SEEDS:
            points = series(sel.runs[s], "monitor/uniform_projector")
            early, late = (slope(points, lo, hi) for lo, hi in C7_WINDOWS)
            ok = early not in (None, 0.0) and late is not None
            ratio = late / early if ok else None
            out.append({"seed": s, "early_slope": early, "late_slope": late, "ratio": ratio})
            out[-1]["rate_change"] = rate_change(early, late)
        return out

    def conditions(r: Rows) -> list[list[dict]]:
        lp, mlp = ratios(r["byol_lp"]), ratios(r["byol_mlp"])
        lp_r = [x["ratio"] for x in lp]
        if None in lp_r:
            first = undecided(
                "ratio in [0.67, 1.5]",
                "a slope could not be fitted",
                "metrics.csv with monitor/uniform_projector over epochs 31-100",
            )
        else:
            lo, hi = C7_RANGE
            inside = [lo <= x <= hi for x in lp_r]
            below_lo, above_hi = one_sample(lp_r, lo, "less"), one_sample(lp_r, hi, "greater")
            first = {
                "test": "byol_lp's late/early slope ratio in [0.67, 1.5], every seed",
                "per_seed": lp,
                "seeds_inside": sum(inside),
                "opposite: mean ratio < 0.67": _test(below_lo),
                "opposite: mean ratio > 1.5": _test(above_hi),
                "outcome": HELD if all(inside) else FAILED if _sig(below_lo) or _sig(above_hi) else NEITHER,
            }
            if first["outcome"] == NEITHER:
                first["settle"] = (  # every seed must be inside: more seeds could only establish the opposite
                    f"cannot hold ({sum(inside)} of 3 inside, every one needed); more seeds could establish the "
                    f"opposite, a mean ratio outside [{lo}, {hi}] (p {_fmt_p(below_lo.p)} below, "
                    f"{_fmt_p(above_hi.p)} above now)"
                )
        changes = [[x["rate_change"] for x in rs] for rs in (lp, mlp)]
        if any(None in cs for cs in changes):
            second = undecided(
                "below(rate change lp, rate change mlp)",
                "a slope could not be fitted, or both slopes are 0",
                "metrics.csv with monitor/uniform_projector over epochs 31-100",
                lp=lp,
                mlp=mlp,
            )
        else:
            second = _below_values("below(rate change byol_lp, rate change byol_mlp)", changes[0], changes[1])
            second["byol_mlp_runs"] = mlp
        return [[first], [second]]

    return rows, conditions


def _pair(k: Kept, byol_negated: bool) -> list[Sel]:
    tag = "−W" if byol_negated else "W"
    other = "W" if byol_negated else "−W"
    return [
        k.select(
            f"byol_prime_lp from {tag}",
            "tangential",
            variant="byol_prime_lp",
            negate_init=byol_negated,
            tangential=True,
        ),
        k.select(
            f"raft_lp from {other}", "tangential", variant="raft_lp", negate_init=not byol_negated, tangential=True
        ),
    ]


def compare_pair(bp: Sel, raft: Sel) -> dict[str, Any]:
    """Theorem 5.1 over a whole run: per seed and series, the largest per-epoch |diff| of the two
    runs against the least per-epoch std over seeds of either row. train/loss is compared as
    docs/theory.md does: L_BYOL′ against L_RAFT + 4β, the constant the correspondence carries."""
    detail: dict[str, Any] = {}
    held_all, failed_any = True, False
    for key in T51_SERIES:
        per_seed, stds = [], []
        for sel in (bp, raft):
            curves = [series(sel.runs[s], key) for s in SEEDS]
            common = sorted(set.intersection(*(set(c) for c in curves)))
            stds += [statistics.stdev([c[e] for c in curves]) for e in common]
        spread = min(stds) if stds else None
        margins = []
        for s in SEEDS:
            a, b = series(bp.runs[s], key), series(raft.runs[s], key)
            beta = float(raft.runs[s].summary.get("beta") or 0.0)
            offset = 4 * beta if key == "train/loss" else 0.0
            epochs = sorted(set(a) & set(b))
            diffs = [abs(a[e] - (b[e] + offset)) for e in epochs]
            bitwise = bool(epochs) and all(a[e] == b[e] + offset for e in epochs) and set(a) == set(b)
            worst = max(diffs) if diffs else None
            within = bitwise or (worst is not None and spread is not None and worst < spread)
            held_all &= within
            margins.append(None if worst is None or spread is None else worst - spread)
            per_seed.append({"seed": s, "epochs": len(epochs), "bitwise": bitwise, "max_abs_diff": worst})
        test = one_sample([m for m in margins if m is not None], 0.0, "greater") if None not in margins else None
        failed = test is not None and _sig(test)
        failed_any |= failed
        detail[key] = {
            "per_seed": per_seed,
            "min_seed_std": spread,
            "opposite (max|diff| − std > 0)": _test(test) if test else None,
        }
    detail["outcome"] = HELD if held_all else FAILED if failed_any else NEITHER
    if detail["outcome"] == NEITHER:
        detail["settle"] = "more seeds: some pair differs by more than the seed spread, not significantly over seeds"
    return detail


def theorem51(k: Kept) -> tuple[list[Sel], Callable]:
    rows = _pair(k, byol_negated=False)

    def conditions(r: Rows) -> list[list[dict]]:
        part = compare_pair(r[rows[0].name], r[rows[1].name])
        part["test"] = f"{rows[0].name} vs {rows[1].name}, every seed"
        return [[part]]

    def mirrored(r: Rows) -> dict[str, Any]:
        pair = _pair(k, byol_negated=True)
        if any(s.ok < len(SEEDS) for s in pair):
            return {"note": f"runs missing ({sum(s.ok for s in pair)} of {2 * len(SEEDS)} ok)"}
        return compare_pair(*pair) | {"test": f"{pair[0].name} vs {pair[1].name}, every seed"}

    conditions.mirrored = mirrored  # type: ignore[attr-defined]
    return rows, conditions
