"""Issue 23's verdicts: every claim of ``rules.yaml`` decided on the kept claims runs by the rule
written before them. ``python -m experiments.fashion_mnist.verdicts [--kept DIR] [--out FILE]``
writes ``claims.json`` and, beside it, ``verdicts.md`` (``claims_section.render``).

A rule is a list of conditions; each condition here is one or more *parts* (one test each), and
each part ends ``held``, ``failed`` (its opposite established at p < 0.05) or ``neither``. How each
kind of part tests its opposite (rules.yaml's header: "a condition's opposite established (the
opposite test at p < 0.05)"):

- ``collapsed(X)``: held when mean uniform_projector > collapse.uniform_above (conf/report.yaml)
  and mean align < 0.1 (where align was measured: the random encoder never trains and has none,
  which is why conf/report.yaml reads L_uniform alone). Opposite (not collapsed) established: a
  one-sample one-sided t-test that mean uniform_projector < the threshold, or mean align > 0.1,
  at p < 0.05. ``not collapsed(X)`` is the mirror: held when the point rule says not collapsed,
  failed when both of collapsed's inequalities are established at p < 0.05.
- ``below(A, B, m)``: held when Welch's one-sided test of mean(A) < mean(B) has p < 0.05; failed
  when the reverse one-sided test (mean(A) > mean(B)) has p < 0.05. ``not below(A, B, m)`` (a
  "not significantly better") is held when below's p ≥ 0.05 and failed when below holds: it is
  never "neither".
- ``same(A, B, m, d)``: held when TOST has both one-sided Welch p < 0.05 (diff > −d and diff < d);
  failed when non-equivalence is established: diff > d or diff < −d at p < 0.05 (one-sided Welch).
- A per-seed threshold ("in each seed …", "in at least 2 of 3 seeds", "in [0.67, 1.5]"): held
  when the per-seed values meet it as stated; failed when a one-sample one-sided t-test on the
  per-seed values puts their mean on the wrong side of the threshold at p < 0.05.
- Spearman (c6): held when ρ > 0 with exact one-sided permutation p < 0.05 (7 points: every
  ordering enumerated); failed when ρ < 0 with the exact "less" p < 0.05.
- Theorem 5.1: held when, for every seed and series, the pair is bitwise equal or max |diff| <
  the least per-epoch 3-seed std; failed when the one-sample test of (max |diff| − that std) > 0
  over the seeds has p < 0.05.

Accuracy parts carry their protocol (``linear_acc``: standardised features; ``linear_acc_literal``:
the paper's raw features); the claim's verdict needs both, and ``by_protocol`` says what each alone gives.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import OmegaConf
from scipy import stats as scipy_stats

from raft_lightning.files import write_atomically
from raft_lightning.report.cli import DEFAULT_CONFIG
from raft_lightning.report.rows import Run, load_runs
from raft_lightning.report.stats import describe, one_sample, welch_one_sided

ROOT = Path(__file__).resolve().parents[2]
RULES = Path(__file__).with_name("rules.yaml")
KEPT = ROOT / "results" / "fashion_mnist" / "claims"
OUT = ROOT / "results" / "fashion_mnist" / "claims.json"
SEEDS = (0, 1, 2)  # rules.yaml: "a row is one setting over seeds 0, 1, 2"
ALPHA = 0.05
HELD, FAILED, NEITHER = "held", "failed", "neither"
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
PROTOCOLS = ("linear_acc", "linear_acc_literal")
# rules.yaml's margins; accuracies are stored as fractions, so 1.5 points is 0.015.
MARGINS = {"linear_acc": 0.015, "linear_acc_literal": 0.015, "knn_acc": 0.015, "uniform_projector": 0.15, "align": 0.02}
ALIGN_BELOW = 0.1  # rules.yaml's collapse rule: mean align < 0.1
DENSE_STEPS = 500  # c3: "steps 1..500", the dense steps.csv rows (global steps 0..499)
EPOCH_STEPS = 390  # c3's phase length unit: the paper's epoch of 390 steps
C3_RISE, C3_RECOVERY = 0.1, 0.3
C7_WINDOWS = ((31, 60), (61, 100))
C7_RANGE = (0.67, 1.5)
T51_SERIES = ("train/loss", "train/uniform", "val/knn_acc")
BETAS = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0)


def collapse_threshold() -> float:
    return float(OmegaConf.load(DEFAULT_CONFIG).collapse.uniform_above)


# ---------------------------------------------------------------------------------------------
# Rows: the kept runs of one setting, by seed.


@dataclass
class Sel:
    """One row of a rule: the ``ok`` runs of ``sweep`` whose summary matches ``match``, by seed."""

    name: str
    sweep: str
    match: dict[str, Any]
    runs: dict[int, Run] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(s in self.runs for s in SEEDS)

    def values(self, key: str) -> list[float]:
        """summary[key] per seed, in seed order (seeds whose run lacks it left out)."""
        return [float(self.runs[s].summary[key]) for s in SEEDS if self.runs[s].summary.get(key) is not None]


def _matches(summary: dict[str, Any], match: dict[str, Any]) -> bool:
    for key, want in match.items():
        have = summary.get(key)
        if isinstance(want, float):
            if not isinstance(have, (int, float)) or float(have) != want:
                return False
        elif have != want:
            return False
    return True


class Kept:
    """The kept runs, read once per sweep through ``report.rows.load_runs``."""

    def __init__(self, kept: Path) -> None:
        self.kept, self._runs = Path(kept), {}

    def runs(self, sweep: str) -> list[Run]:
        if sweep not in self._runs:
            folder = self.kept / sweep / "runs"
            self._runs[sweep] = load_runs(folder) if folder.is_dir() else []
        return self._runs[sweep]

    def select(self, name: str, sweep: str, **match: Any) -> Sel:
        sel = Sel(name, sweep, match)
        found = [r for r in self.runs(sweep) if r.summary.get("status") == "ok" and _matches(r.summary, match)]
        for run in found:
            seed = run.summary.get("seed")
            if seed in sel.runs:
                sel.problems.append(f"{name}: two ok runs of seed {seed} ({sel.runs[seed].path.name}, {run.path.name})")
            elif seed in SEEDS:
                sel.runs[seed] = run
        groups = {r.group for r in sel.runs.values()}
        if len(groups) > 1:  # the same summary settings but another config: not one row
            sel.problems.append(f"{name}: its runs differ in config (report.rows grouping), not one setting")
        return sel


# ---------------------------------------------------------------------------------------------
# Primitives. Each returns a part: {"test", "outcome", numbers…, "settle" when neither}.


def _num(x: float | None) -> float | None:
    return None if x is None else float(x)


def _stat(values: list[float]) -> dict[str, Any]:
    s = describe(values)
    return {"values": list(s.values), "mean": s.mean, "ci95": s.ci95}


def _sig(test: Any) -> bool:
    return test.p is not None and test.p < ALPHA


def _test(test: Any) -> dict[str, Any]:
    return {"estimate": test.estimate, "t": _num(test.t), "df": _num(test.df), "p": _num(test.p)}


def _incomplete(test: str, sel: Sel, key: str) -> dict[str, Any] | None:
    n = len(sel.values(key))
    if n == len(SEEDS):
        return None
    return {
        "test": test,
        "outcome": NEITHER,
        "note": f"{key} measured in {n} of {len(SEEDS)} runs of {sel.name}",
        "settle": f"runs of {sel.name} that record {key}",
    }


def collapsed(sel: Sel, negate: bool = False) -> dict[str, Any]:
    """rules.yaml's collapsed(row) (``negate``: not collapsed(row)); see the module's docstring."""
    threshold = collapse_threshold()
    test = f"{'not ' if negate else ''}collapsed({sel.name})"
    if (missing := _incomplete(test, sel, "uniform_projector")) is not None:
        return missing
    u = sel.values("uniform_projector")
    a = sel.values("align")
    a = a if len(a) == len(SEEDS) else []  # align unmeasured (the random encoder): L_uniform alone
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
    if negate:  # "not significantly below": a failed below test is what holds it
        part["outcome"] = FAILED if _sig(less) else HELD
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
        part["settle"] = f"more seeds: {sum(meets)} of {len(values)} meet it; the opposite's p = {_fmt_p(opposite.p)}"
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


# ---------------------------------------------------------------------------------------------
# Curves: c3 (steps.csv), c7 (metrics.csv), Theorem 5.1 (metrics.csv of paired runs).


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


# ---------------------------------------------------------------------------------------------
# The claims. Each: its rows, and a function giving one list of parts per condition of the yaml.

Rows = dict[str, Sel]


def _protocols(make: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """An accuracy part under both linear protocols, and kNN beside them (reported, not counted)."""
    knn = make("knn_acc") | {"counts": False}
    return [make(p) for p in PROTOCOLS] + [knn]


def c1(k: Kept) -> tuple[list[Sel], Callable[[Rows], list[list[dict]]]]:
    rows = [k.select("byol_np", "table1", variant="byol_np"), k.select("random", "table1", variant="random")]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [collapsed(r["byol_np"])],
            [collapsed(r["random"], negate=True)],
            _protocols(lambda m: below(r["byol_np"], r["random"], m)),
        ]

    return rows, conditions


def c2(k: Kept) -> tuple[list[Sel], Callable]:
    names = ("byol_mlp_bn", "byol_mlp", "byol_lp", "byol_lpi")
    rows = [k.select(n, "table1", variant=n) for n in names]

    def conditions(r: Rows) -> list[list[dict]]:
        others = [r[n] for n in names[1:]]
        return [
            [collapsed(r[n], negate=True) for n in names],
            [p for x in others for p in _protocols(lambda m, x=x: same(x, r["byol_mlp_bn"], m, MARGINS[m]))],
        ]

    def behaviour(r: Rows) -> list[dict]:
        return [same(r[n], r["byol_mlp_bn"], "uniform_projector", MARGINS["uniform_projector"]) for n in names[1:]]

    conditions.behaviour = behaviour  # type: ignore[attr-defined]
    return rows, conditions


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
            collapse_threshold(),
            "above",
            need=2,
        )
        if None in recovery:
            third = {
                "test": "recovery",
                "outcome": NEITHER,
                "note": "monitor/uniform_projector missing at the epoch of the maximum",
                "settle": "runs whose metrics.csv holds the monitor at that epoch",
            }
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


def c4(k: Kept) -> tuple[list[Sel], Callable]:
    names = ("mlp", "lp", "lpi", "np")
    rows = [k.select(f"{m}_{x}", "table1", variant=f"{m}_{x}") for m in ("byol_prime", "byol") for x in names]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [collapsed(r["byol_prime_np"])],
            [
                p
                for x in names[:3]
                for p in _protocols(lambda m, x=x: same(r[f"byol_prime_{x}"], r[f"byol_{x}"], m, MARGINS[m]))
            ],
        ]

    return rows, conditions


def c5(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select(n, "table1", variant=n) for n in ("raft_lp", "byol_lp", "raft_np", "random")]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [
                collapsed(r["raft_lp"], negate=True),
                *_protocols(lambda m: same(r["raft_lp"], r["byol_lp"], m, MARGINS[m])),
            ],
            [collapsed(r["raft_np"], negate=True)],
            _protocols(lambda m: below(r["random"], r["raft_np"], m, negate=True)),
        ]

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

    def ratios(sel: Sel) -> list[dict[str, Any]]:
        out = []
        for s in SEEDS:
            points = series(sel.runs[s], "monitor/uniform_projector")
            early, late = (slope(points, lo, hi) for lo, hi in C7_WINDOWS)
            ok = early not in (None, 0.0) and late is not None
            out.append({"seed": s, "early_slope": early, "late_slope": late, "ratio": late / early if ok else None})
        return out

    def conditions(r: Rows) -> list[list[dict]]:
        lp, mlp = ratios(r["byol_lp"]), ratios(r["byol_mlp"])
        lp_r = [x["ratio"] for x in lp]
        if None in lp_r:
            first = {
                "test": "ratio in [0.67, 1.5]",
                "outcome": NEITHER,
                "note": "a slope could not be fitted",
                "settle": "metrics.csv with monitor/uniform_projector over epochs 31-100",
            }
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
                first["settle"] = f"more seeds: {sum(inside)} of 3 inside, the opposite not established"
        logs = [[abs(math.log(x["ratio"])) if x["ratio"] and x["ratio"] > 0 else None for x in rs] for rs in (lp, mlp)]
        if any(None in ls for ls in logs):
            second = {
                "test": "below(|log ratio| lp, |log ratio| mlp)",
                "outcome": NEITHER,
                "note": "a ratio ≤ 0 (the slope changed sign) has no |log ratio|",
                "settle": "not by these runs: the rule's measure is undefined for them",
                "lp": lp,
                "mlp": mlp,
            }
        else:
            second = _below_values("below(|log ratio| byol_lp, |log ratio| byol_mlp)", logs[0], logs[1])
            second["byol_mlp_runs"] = mlp
        return [[first], [second]]

    return rows, conditions


def c8(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select(n, "table1", variant=n) for n in ("tanbyol_lp", "byol_lp")]

    def conditions(r: Rows) -> list[list[dict]]:
        a, b = r["tanbyol_lp"], r["byol_lp"]
        return [
            [collapsed(a, negate=True)],
            [
                *_protocols(lambda m: same(a, b, m, MARGINS[m])),
                same(a, b, "uniform_projector", MARGINS["uniform_projector"]),
            ],
        ]

    return rows, conditions


def fig5a(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [
        k.select(f"byol_prime/none β={b:g}", "fig5a", objective="byol_prime", predictor="none", beta=b) for b in BETAS
    ]
    return rows, lambda r: [[collapsed(r[s.name]) for s in rows]]


def tangential(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [
        k.select("tangential byol_prime_lp", "tangential", variant="byol_prime_lp", negate_init=False, tangential=True),
        k.select("tangential raft_lp", "tangential", variant="raft_lp", negate_init=False, tangential=True),
        k.select("tanbyol_lp", "table1", variant="tanbyol_lp"),
    ]
    return rows, lambda r: [[collapsed(r[s.name], negate=True) for s in rows]]


def fig3a(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select("supervised", "table1", variant="supervised"), k.select("byol_mlp", "table1", variant="byol_mlp")]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [collapsed(r["supervised"], negate=True)],
            [below(r["supervised"], r["byol_mlp"], "uniform_projector", negate=True, shift=-0.15)],
        ]

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


CLAIMS: dict[str, Callable[[Kept], tuple[list[Sel], Callable]]] = {
    "c1_byol_np_collapses_below_random": c1,
    "c2_predictor_form_changes_little": c2,
    "c3_lpi_initial_collapse_then_recovery": c3,
    "c4_byol_prime_like_byol": c4,
    "c5_raft": c5,
    "c6_table3_beta": c6,
    "c7_constant_rate_linear_predictor": c7,
    "c8_tanbyol_lp_like_byol_lp": c8,
    "fig5a_byol_prime_np_beta": fig5a,
    "tangential_none_collapse": tangential,
    "fig3a_supervised_uniformity": fig3a,
    "theorem51_training_scale": theorem51,
}


# ---------------------------------------------------------------------------------------------
# Verdicts.


def combine(parts: list[dict[str, Any]]) -> str:
    """A condition from its counted parts: failed if any failed, held if all held, else neither."""
    outcomes = [p["outcome"] for p in parts if p.get("counts", True)]
    return FAILED if FAILED in outcomes else HELD if all(o == HELD for o in outcomes) else NEITHER


def verdict(conditions: list[dict[str, Any]], protocol: str | None = None) -> str:
    """rules.yaml's header, over the conditions (with ``protocol``: only that accuracy protocol's parts)."""
    outcomes = []
    for c in conditions:
        parts = [p for p in c["parts"] if protocol is None or p.get("protocol") in (None, protocol)]
        outcomes.append(combine(parts))
    if FAILED in outcomes:
        return NOT_REPRODUCED
    return REPRODUCED if all(o == HELD for o in outcomes) else INCONCLUSIVE


def decide_claim(k: Kept, claim: str, rule: dict[str, Any]) -> dict[str, Any]:
    rows, conditions = CLAIMS[claim](k)
    out: dict[str, Any] = {"paper": rule["paper"], "rows": rule["rows"], "rule": rule["reproduced_if"]}
    n, ok = len(rows) * len(SEEDS), sum(s.ok for s in rows)
    problems = [p for s in rows for p in s.problems]
    out["runs"] = {s.name: {"sweep": s.sweep, "match": s.match, "ok_seeds": sorted(s.runs)} for s in rows}
    if ok < n or problems:
        out["verdict"] = (
            f"not decided: runs missing ({ok} of {n} ok)" if ok < n else "not decided: " + "; ".join(problems)
        )
        return out
    r = {s.name: s for s in rows}
    try:
        parts = conditions(r)
    except ValueError as e:  # a record the rule needs is not in the runs (e.g. no dense steps.csv)
        out["verdict"] = f"not decided: {e}"
        return out
    if len(parts) != len(rule["reproduced_if"]):
        raise AssertionError(f"{claim}: {len(parts)} conditions decided, rules.yaml has {len(rule['reproduced_if'])}")
    out["conditions"] = [
        {"rule": text, "parts": ps, "outcome": combine(ps)} for text, ps in zip(rule["reproduced_if"], parts)
    ]
    out["verdict"] = verdict(out["conditions"])
    if any(p.get("protocol") for c in out["conditions"] for p in c["parts"]):
        out["by_protocol"] = {p: verdict(out["conditions"], p) for p in PROTOCOLS}
    if out["verdict"] == INCONCLUSIVE:
        out["would_settle"] = [
            f"{c['rule']}: " + "; ".join(p["settle"] for p in c["parts"] if p["outcome"] == NEITHER and "settle" in p)
            for c in out["conditions"]
            if c["outcome"] == NEITHER
        ]
    for extra, key in (("behaviour", "behaviour_part"), ("phase", "phase_length"), ("mirrored", "mirrored_pair")):
        if hasattr(conditions, extra):
            out[key] = {
                "rule": rule.get(key, "reported, not part of the verdict"),
                "numbers": getattr(conditions, extra)(r),
            }
    return out


def load_rules(path: Path = RULES) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())["claims"]


def decide(kept: Path, rules: Path = RULES) -> dict[str, Any]:
    """Every claim of ``rules`` decided on the runs kept under ``kept`` (keep.py's layout)."""
    k = Kept(kept)
    claims = load_rules(rules)
    unknown = sorted(set(claims) ^ set(CLAIMS))
    if unknown:
        raise ValueError(f"claims without a decider or rule: {', '.join(unknown)}")
    return {claim: decide_claim(k, claim, rule) for claim, rule in claims.items()}


def clean(value: Any) -> Any:
    """JSON-safe: a non-finite float becomes its name ("nan", "inf"), tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(decided: dict[str, Any]) -> str:
    return json.dumps(clean(decided), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    from experiments.fashion_mnist.claims_section import render

    parser = argparse.ArgumentParser(
        prog="python -m experiments.fashion_mnist.verdicts", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--kept", type=Path, default=KEPT, help="the kept claims runs (default: results/fashion_mnist/claims)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="claims.json to write; verdicts.md is written beside it")
    args = parser.parse_args(argv)
    if not args.kept.is_dir():
        print(f"--kept={args.kept}: not a folder (expected keep.py's results/fashion_mnist/claims)", file=sys.stderr)
        return 2
    text = dumps(decide(args.kept))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out, text)
    write_atomically(args.out.with_name("verdicts.md"), render(json.loads(text)))
    for claim, d in json.loads(text).items():
        print(f"{claim}: {d['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
