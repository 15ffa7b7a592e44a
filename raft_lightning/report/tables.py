"""Tables and figures from a sweep: ``python -m raft_lightning.report <sweep dir> [--out DIR]``.

Reads every summary.json (and metrics.csv) under the directory and writes
- table1.md / table1.csv: one row per (objective, predictor, α, β, tangential) with α = β = 1,
  L_align, L_uniform, probe / kNN / linear accuracy as mean ± sample std over seeds, the number
  of seeds and the paper's CIFAR-10 figure where it survives; collapsed rows marked by the rule
  in conf/report.yaml;
- table3.md / table3.csv where α, β vary;
- trajectories.png (Figures 4/5: L_align and L_uniform per epoch), trajectories_alpha_beta.png
  where α, β vary, and representations.png (Figure 3: test projections, PCA to 2-D, on the circle).
Runs that failed, diverged, are still running or never started are listed, never averaged in.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from raft_lightning.conf import CONF_DIR
from raft_lightning.files import METRICS_FILE, SUMMARY_FILE, expected_runs, read_summary

DEFAULT_CONFIG = CONF_DIR / "report.yaml"
BASELINES = ("random", "supervised")  # objectives for which the predictor means nothing
METRICS = (  # (summary key, column title, shown in percent)
    ("align", "L_align", False),
    ("uniform", "L_uniform", False),
    ("probe_acc", "probe acc (%)", True),
    ("knn_acc", "kNN acc (%)", True),
    ("linear_acc", "linear acc (%)", True),
)
# The figures that survive in our copy of the paper: CIFAR-10 linear accuracy (%), mean ± std.
PAPER = {
    ("byol", "mlp_bn", False): ("68.08 ± 0.84", "†"),
    ("byol", "none", False): ("20.92 ± 1.29", ""),
    ("random", "—", False): ("42.74 ± 0.41", ""),
}
FOOTNOTE = (
    "† Section 3 attributes 68.08 % to BYOL's original predictor, \"a two-layer MLP with batch "
    'normalization" (`predictor=mlp_bn`), while Appendix C describes the predictor without '
    "BatchNorm (`predictor=mlp`)."
)


@dataclass
class Run:
    path: Path
    summary: dict[str, Any]
    epochs: list[dict[str, float]] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        s = self.summary
        predictor = "—" if s["objective"] in BASELINES else s["predictor"]
        return (s["objective"], predictor, float(s["alpha"]), float(s["beta"]), bool(s["tangential"]))


@dataclass
class Row:
    key: tuple
    runs: list[Run]
    label: str
    stats: dict[str, tuple[float, float | None, int]]  # mean, sample std (None for one seed), n
    collapsed: bool = False

    @property
    def seeds(self) -> int:
        return len({r.summary.get("seed") for r in self.runs})

    def paper(self) -> tuple[str, str]:
        objective, predictor, alpha, beta, tangential = self.key
        if (alpha, beta) != (1.0, 1.0) or any(r.summary["data"] != "cifar10" for r in self.runs):
            return "", ""
        return PAPER.get((objective, predictor, tangential), ("", ""))


def read_epochs(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def load_runs(sweep_dir: Path) -> list[Run]:
    return [
        Run(p.parent, read_summary(p.parent), read_epochs(p.parent / METRICS_FILE))
        for p in sorted(sweep_dir.rglob(SUMMARY_FILE))
    ]


def mean_std(values: list[float]) -> tuple[float, float | None, int]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values)


def aggregate(runs: list[Run], rule: DictConfig) -> list[Row]:
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        if run.summary.get("status") == "ok":
            groups[run.key].append(run)
    rows = []
    for key, members in groups.items():
        stats = {}
        for name, _, _ in METRICS:
            values = [r.summary[name] for r in members if r.summary.get(name) is not None]
            if values:
                stats[name] = mean_std(values)
        variants = {r.summary.get("variant") for r in members}
        objective, predictor, alpha, beta, tangential = key
        label = (
            variants.pop()
            if len(variants) == 1 and None not in variants
            else (objective if objective in BASELINES else f"{'tan' if tangential else ''}{objective}/{predictor}")
        )
        row = Row(key, members, label, stats)
        if "align" in stats and "uniform" in stats:
            row.collapsed = stats["uniform"][0] > rule.uniform_above and stats["align"][0] < rule.align_below
        rows.append(row)
    order = {"byol": 0, "byol_prime": 1, "raft": 2, "supervised": 3, "random": 4}
    return sorted(rows, key=lambda r: (order.get(r.key[0], 9), r.key[0], r.key[1], r.key[4], r.key[2], r.key[3]))


def fmt(stat: tuple[float, float | None, int] | None, percent: bool) -> str:
    if stat is None:
        return "—"
    scale, digits = (100, 2) if percent else (1, 3)
    mean, std, _ = stat
    return f"{mean * scale:.{digits}f}" + (f" ± {std * scale:.{digits}f}" if std is not None else "")


HEADER = ["model", "objective", "q_w", "α", "β", "tangential", "seeds", *(t for _, t, _ in METRICS)]
CSV_HEADER = ["model", "objective", "predictor", "alpha", "beta", "tangential", "seeds"]
COMPARED_TO_RANDOM = ("knn_acc", "linear_acc")  # the paper highlights accuracies below the random baseline


def _markdown_row(row: Row, random: Row | None) -> str:
    objective, predictor, alpha, beta, tangential = row.key
    cells = [row.label, objective, predictor, f"{alpha:g}", f"{beta:g}", "yes" if tangential else "no", str(row.seeds)]
    for name, _, percent in METRICS:
        cell = fmt(row.stats.get(name), percent)
        over_aligned = row.collapsed and name in ("align", "uniform")
        below_random = (
            name in COMPARED_TO_RANDOM
            and random is not None
            and row is not random
            and name in row.stats
            and name in random.stats
            and row.stats[name][0] < random.stats[name][0]
        )
        cells.append(f"**{cell}**" if over_aligned or below_random else cell)
    paper, mark = row.paper()
    cells += [paper + mark, "**yes**" if row.collapsed else "no"]
    return "| " + " | ".join(cells) + " |"


def _csv_row(row: Row) -> list[Any]:
    stats = [v for name, _, _ in METRICS for v in row.stats.get(name, (None, None, 0))[:2]]
    return [row.label, *row.key, row.seeds, *stats, row.paper()[0], row.collapsed]


def write_table(rows: list[Row], stem: Path, rule: DictConfig, notes: list[str]) -> None:
    """``stem``.md (formatted, collapsed and below-random cells in bold) and ``stem``.csv (raw)."""
    random = next((r for r in rows if r.key[0] == "random"), None)
    header = [*HEADER, "paper (CIFAR-10, %)", "collapsed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [_markdown_row(row, random) for row in rows]
    lines += [
        "",
        "Mean ± sample standard deviation (ddof = 1) over seeds; one seed shows no ±. L_align and L_uniform are "
        "means over each run's last 10 epochs; accuracies are final-epoch values (nothing is selected on the "
        "test set).",
        f"**Collapsed** (bold L_align, L_uniform): mean L_uniform > {rule.uniform_above} and mean L_align < "
        f"{rule.align_below} (thresholds in conf/report.yaml). Bold kNN or linear accuracy: below the random "
        "baseline's mean.",
        FOOTNOTE,
        *notes,
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [*CSV_HEADER, *(f"{k}_{s}" for k, _, _ in METRICS for s in ("mean", "std")), "paper", "collapsed"]
        )
        writer.writerows(_csv_row(row) for row in rows)


def status_notes(runs: list[Run], expected: int | None) -> list[str]:
    notes = []
    counts = defaultdict(int)
    for run in runs:
        counts[run.summary.get("status")] += 1
    found = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    total = f"{len(runs)} run(s) found ({found})"
    if expected is not None:
        total += f"; the sweep has {expected}" + (
            f", {expected - len(runs)} not started yet" if expected > len(runs) else ""
        )
    notes.append(total + ".")
    for run in runs:
        status = run.summary.get("status")
        if status != "ok":
            detail = f": {str(run.summary.get('error')).strip().splitlines()[-1]}" if run.summary.get("error") else ""
            notes.append(f"- not averaged: `{run.path}` is {status}{detail}")
    return notes


def report(sweep_dir: Path, out_dir: Path, cfg: DictConfig) -> list[Path]:
    runs = load_runs(sweep_dir)
    if not runs:
        raise SystemExit(f"raft-lightning report: no {SUMMARY_FILE} under {sweep_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    notes = status_notes(runs, expected_runs(sweep_dir))
    rows = aggregate(runs, cfg.collapse)
    plain = [r for r in rows if r.key[2:4] == (1.0, 1.0) or r.key[0] in BASELINES]
    settings = defaultdict(set)  # objective → the (α, β) it was run at
    for r in rows:
        settings[r.key[0]].add(r.key[2:4])
    varying = [r for r in rows if r.key[0] not in BASELINES and len(settings[r.key[0]]) > 1]
    written = []
    if plain:
        write_table(plain, out_dir / "table1", cfg.collapse, notes)
        written += [out_dir / "table1.md", out_dir / "table1.csv"]
    if varying:
        write_table(varying, out_dir / "table3", cfg.collapse, notes)
        written += [out_dir / "table3.md", out_dir / "table3.csv"]
    from raft_lightning.report.figures import representations, trajectories  # matplotlib only when needed

    written += trajectories(plain, varying, out_dir)
    written += representations(rows, out_dir, cfg.figures)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m raft_lightning.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or any folder of runs)")
    parser.add_argument("--out", type=Path, help="where to write tables and figures (default: the sweep directory)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="collapse thresholds and figure settings")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"{args.sweep_dir} is not a directory")
    written = report(args.sweep_dir, args.out or args.sweep_dir, OmegaConf.load(args.config))
    for path in written:
        if path.suffix == ".md":
            print(path.read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in written))


if __name__ == "__main__":
    main(sys.argv[1:])
