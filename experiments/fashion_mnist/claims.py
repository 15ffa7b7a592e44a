"""The numbers that decide the eight claims of issue 14 (``claims.md``), computed from the committed
run records only. The verdicts are the README's; this file gives each the figures it rests on:
means ± sample std over seeds, and for trends the per-epoch curves reduced to a few numbers
(where a curve peaks, a straight-line fit's slope and R²)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

from raft_lightning.report.cli import DEFAULT_CONFIG
from raft_lightning.report.rows import Row, Run, aggregate, load_runs

NOT_YET = "not published yet: its sweep has not finished"
# "After an initial phase" (claim 7): line fits start at this epoch, the first third of a 30-epoch run left out.
FIT_FROM = 11


def pm(row: Row, name: str, scale: float = 1.0, digits: int = 3) -> str:
    """The row's mean ± sample std of ``name`` over its seeds (the report's, ``Row.stats``) × ``scale``."""
    mean, std = row.stats[name].mean, row.stats[name].std
    return f"{mean * scale:.{digits}f}" + (f" ± {std * scale:.{digits}f}" if std is not None else "")


def per_seed(row: Row, name: str) -> list[float]:
    return [
        r.summary[name] for r in sorted(row.runs, key=lambda r: r.summary["seed"]) if r.summary.get(name) is not None
    ]


def curve(run: Run, name: str) -> list[tuple[int, float]]:
    return [(int(e["epoch"]), e[name]) for e in run.epochs if name in e]


def mean_curve(row: Row, name: str) -> list[tuple[int, float]]:
    """The per-epoch mean over the row's seeds (epochs every seed has)."""
    curves = [dict(curve(r, name)) for r in row.runs]
    epochs = sorted(set.intersection(*(set(c) for c in curves)))
    return [(e, statistics.fmean(c[e] for c in curves)) for e in epochs]


def line_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope (per epoch) and R² of ``points``."""
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    total = sum((y - mean) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys))
    return slope, 1.0 - residual / total if total else 1.0


class Table:
    """The rows of one results folder, by variant (Table 1) or by (predictor, β) (Table 3)."""

    def __init__(self, folder: Path, name: Callable[[Row], object]) -> None:
        cfg = OmegaConf.load(DEFAULT_CONFIG)
        runs = load_runs(folder) if folder.is_dir() else []
        self.rows = {name(r): r for r in aggregate(runs, cfg.collapse, cfg.objective_order)}

    def __getitem__(self, key: object) -> Row:
        return self.rows[key]


def variant(row: Row) -> str:
    return row.runs[0].summary["variant"]


def metrics(row: Row) -> str:
    """L_align, L_uniform, linear and kNN accuracy (%) of a row, mean ± std over its seeds."""
    return (
        f"L_align {pm(row, 'align')}, L_uniform {pm(row, 'uniform')}, "
        f"linear {pm(row, 'linear_acc', 100, 2)} %, kNN {pm(row, 'knn_acc', 100, 2)} %"
        + (", collapsed" if row.collapsed else "")
    )


def uniformity_path(run_or_row: Run | Row) -> str:
    """Where L_uniform starts, how far it worsens (its maximum) and when, and where it ends."""
    points = (
        mean_curve(run_or_row, "train/uniform") if isinstance(run_or_row, Row) else curve(run_or_row, "train/uniform")
    )
    worst_epoch, worst = max(points, key=lambda p: p[1])
    best_epoch, best = min(points, key=lambda p: p[1])
    return (
        f"L_uniform epoch 1 {points[0][1]:.3f}, worst {worst:.3f} at epoch {worst_epoch}, "
        f"best {best:.3f} at epoch {best_epoch}, last {points[-1][1]:.3f}"
    )


def loss_start(row_or_run: Row | Run) -> str:
    points = mean_curve(row_or_run, "train/loss") if isinstance(row_or_run, Row) else curve(row_or_run, "train/loss")
    return f"train loss epoch 1 {points[0][1]:.4f}, epoch 2 {points[1][1]:.4f}, min {min(y for _, y in points):.4f}"


def fit(points: list[tuple[int, float]], start: int = FIT_FROM) -> str:
    slope, r2 = line_fit([p for p in points if p[0] >= start])
    return f"slope {slope:+.4f}/epoch, R² {r2:.3f} (epochs {start}–{points[-1][0]})"


def run_gap(a: Run, b: Run, name: str) -> float:
    """The largest |a − b| of a per-epoch metric over the epochs both runs have."""
    ours, theirs = dict(curve(a, name)), dict(curve(b, name))  # by epoch, not by position in the file
    return max(abs(ours[e] - theirs[e]) for e in ours.keys() & theirs.keys())


def largest_gap(a: Row, b: Row, name: str) -> float:
    """``run_gap`` between the runs of two rows with the same seed (seeds both have), the largest."""
    by_seed = {r.summary["seed"]: r for r in b.runs}
    return max(run_gap(run, by_seed[run.summary["seed"]], name) for run in a.runs if run.summary["seed"] in by_seed)


def long_lpi(run: Run | None, short: Row) -> list[str]:
    if run is None:
        return [f"- byol_lpi, 100 epochs (7 800 steps), seed 0: {NOT_YET}"]
    accuracy = f"linear {run.summary['linear_acc'] * 100:.2f} %, kNN {run.summary['knn_acc'] * 100:.2f} %"
    # The same configuration but max_epochs (no schedule depends on it): its first 30 epochs are Table 1's seed 0 run.
    same = next(r for r in short.runs if r.summary["seed"] == run.summary["seed"])
    names = ["train/loss", "train/uniform", "val/knn_acc"]
    gaps = ", ".join(f"{name} {run_gap(run, same, name):.3g}" for name in names)
    uniform = curve(run, "train/uniform")
    turn = max(range(len(uniform)), key=lambda i: uniform[i][1])  # where it stops worsening
    rises = [b - a for (_, a), (_, b) in zip(uniform[turn:], uniform[turn + 1 :])]
    return [
        f"- byol_lpi, 100 epochs (7 800 steps), seed 0: {loss_start(run)}; {uniformity_path(run)}; {accuracy}",
        f"- after epoch {uniform[turn][0]}, L_uniform rises (worsens) from one epoch to the next "
        f"{sum(r > 0 for r in rises)} times in {len(rises)}, by at most {max(rises):.4f}",
        f"- its first 30 epochs against Table 1's byol_lpi seed 0, largest per-epoch |difference|: {gaps}",
    ]


def claims(results: Path) -> str:
    t1 = Table(results / "table1" / "runs", variant)
    # Table 3 and the long BYOL-LPI run are published when their sweeps finish (the collect step).
    t3 = Table(results / "table3" / "runs", lambda r: (r.setting["predictor"], r.setting["beta"]))
    long_runs = load_runs(results / "byol_lpi_long" / "runs")
    long_run = long_runs[0] if long_runs else None
    random = t1["random"]
    out = [
        "# The numbers behind the README's claim-by-claim verdicts",
        "",
        "Written by `python -m experiments.fashion_mnist` from the run records under `table1/runs`,",
        "`table3/runs` and `byol_lpi_long/runs`; `tests/test_results.py` recomputes it. Accuracies in %,",
        "mean ± sample std over seeds; L_align and L_uniform are each run's mean over its last 10 epochs",
        "(the tables' columns); curves are the per-epoch training means in `metrics.csv`, averaged over seeds.",
        "",
        "## 1. BYOL-NP collapses, below the random encoder",
        "",
        f"- byol_np: {metrics(t1['byol_np'])}",
        f"- random: linear {pm(random, 'linear_acc', 100, 2)} %, kNN {pm(random, 'knn_acc', 100, 2)} %",
        f"- byol_np linear per seed: {', '.join(f'{v * 100:.2f}' for v in per_seed(t1['byol_np'], 'linear_acc'))}",
        f"- byol_np {uniformity_path(t1['byol_np'])}",
        "",
        "## 2. With a predictor BYOL does not collapse; the predictor's form changes little",
        "",
    ]
    forms = ["byol_mlp_bn", "byol_mlp", "byol_lp", "byol_lpi"]
    out += [f"- {v}: {metrics(t1[v])}" for v in forms]
    means = [t1[v].stats["linear_acc"][0] * 100 for v in forms]
    stds = [t1[v].stats["linear_acc"][1] * 100 for v in forms]
    out += [
        f"- linear accuracy: range of the four means {max(means) - min(means):.2f} points; "
        f"seed std within a row {min(stds):.2f}–{max(stds):.2f}",
        "",
        "## 3. BYOL-LPI starts at the collapse solution, then recovers",
        "",
        f"- byol_lpi (30 epochs, 3 seeds): {loss_start(t1['byol_lpi'])}; {uniformity_path(t1['byol_lpi'])}",
        f"- byol_lp (30 epochs, 3 seeds): {loss_start(t1['byol_lp'])}; {uniformity_path(t1['byol_lp'])}",
        *long_lpi(long_run, t1["byol_lpi"]),
        "",
        "## 4. BYOL′ behaves like BYOL for each predictor; BYOL′-NP collapses",
        "",
    ]
    for form in ["mlp", "lp", "lpi", "np"]:
        a, b = t1[f"byol_{form}"], t1[f"byol_prime_{form}"]
        gap = b.stats["linear_acc"][0] - a.stats["linear_acc"][0]
        out.append(f"- byol_prime_{form}: {metrics(b)}; linear − byol_{form}'s: {gap * 100:+.2f} points")
    out += [
        "",
        "## 5. RAFT-LP works like BYOL-LP; RAFT-NP does not collapse but is no better than random",
        "",
        f"- raft_lp: {metrics(t1['raft_lp'])}",
        f"- byol_lp: {metrics(t1['byol_lp'])}",
        f"- raft_np: {metrics(t1['raft_np'])}",
        f"- raft_np {uniformity_path(t1['raft_np'])}",
        "",
        "## 6. Table 3: without a predictor, β ≪ α collapses and β ≫ α spreads the data at random",
        "",
    ]
    if not t3.rows:
        out.append(f"- {NOT_YET}")
    for predictor in ["none", "linear"]:
        for (p, beta), row in sorted(t3.rows.items()):
            if p == predictor:
                out.append(f"- {predictor}, β = {beta:g}: {metrics(row)}")
    # β = 1 is Table 1's RAFT configuration (loss/raft.yaml's defaults): the same seeds must give the same runs.
    for predictor, twin in [("none", "raft_np"), ("linear", "raft_lp")]:
        if (predictor, 1.0) in t3.rows:
            row = t3[predictor, 1.0]
            gaps = [largest_gap(row, t1[twin], name) for name in ["train/loss", "val/probe_acc"]]
            seeds = ", ".join(str(s) for s in per_seed(row, "seed"))
            out.append(
                f"- {predictor}, β = 1 against Table 1's {twin} (same configuration), seeds {seeds}: largest per-epoch "
                f"|difference| of train/loss {gaps[0]:.3g}, of val/probe_acc {gaps[1]:.3g}"
            )
    out += [
        "",
        "## 7. With a linear predictor, L_uniform falls at a roughly constant rate after an initial phase",
        "",
        "Straight-line fits of the seed-mean L_uniform curve; a non-linear predictor for comparison.",
        "",
    ]
    for v in ["byol_lp", "byol_lpi", "byol_prime_lp", "raft_lp", "tanbyol_lp", "byol_mlp", "byol_mlp_bn"]:
        out.append(f"- {v}: {fit(mean_curve(t1[v], 'train/uniform'))}")
    long_fits = NOT_YET
    if long_run is not None:
        long_curve = curve(long_run, "train/uniform")
        long_fits = f"{fit(long_curve, 31)}; {fit(long_curve, 61)}"
    out += [
        f"- byol_lpi, 100 epochs: {long_fits}",
        "",
        "## 8. TanBYOL-LP trains as BYOL-LP",
        "",
        f"- tanbyol_lp: {metrics(t1['tanbyol_lp'])}",
        f"- byol_lp: {metrics(t1['byol_lp'])}",
    ]
    for name in ["train/loss", "train/align", "train/uniform", "val/probe_acc"]:
        gap = largest_gap(t1["tanbyol_lp"], t1["byol_lp"], name)
        out.append(f"- largest per-epoch |tanbyol_lp − byol_lp| of {name}, same seed: {gap:.3g}")
    return "\n".join(out) + "\n"
