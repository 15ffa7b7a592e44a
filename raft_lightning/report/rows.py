"""The report's data: runs read from their folders (files only, through ``raft_lightning.files``)
and grouped into rows, one per (objective, predictor, α, β, tangential), with mean ± sample std
over seeds. Nothing here formats or draws."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from raft_lightning.files import EMBEDDINGS_FILE, METRICS_FILE, SUMMARY_FILE, read_epochs, read_summary

BASELINES = ("random", "supervised")  # objectives for which the predictor means nothing
METRICS = (  # (summary key, column title, shown in percent)
    ("align", "L_align", False),
    ("uniform", "L_uniform", False),
    ("probe_acc", "probe acc (%)", True),
    ("knn_acc", "kNN acc (%)", True),
    ("linear_acc", "linear acc (%)", True),
)

Stat = tuple[float, float | None, int]  # mean, sample std (None for one value), n


@dataclass
class Run:
    path: Path
    summary: dict[str, Any]
    epochs: list[dict[str, float]] = field(default_factory=list)
    problem: str | None = None  # a file of the run that could not be read

    @property
    def key(self) -> tuple:
        s = self.summary
        predictor = "—" if s["objective"] in BASELINES else s["predictor"]
        return (s["objective"], predictor, float(s["alpha"]), float(s["beta"]), bool(s["tangential"]))

    @property
    def embeddings(self) -> Path | None:
        """The test projections the linear evaluation saved, if it ran."""
        path = self.path / EMBEDDINGS_FILE
        return path if path.is_file() else None


@dataclass
class Row:
    key: tuple
    runs: list[Run]
    label: str
    stats: dict[str, Stat]
    collapsed: bool = False

    @property
    def seeds(self) -> int:
        return len({r.summary.get("seed") for r in self.runs})

    @property
    def embeddings(self) -> Path | None:
        """The first of the row's runs' embeddings.pt (None: no run of the row has one)."""
        return next((p for r in self.runs if (p := r.embeddings) is not None), None)


def load_runs(sweep_dir: Path) -> list[Run]:
    """Every run folder (one with a summary.json) under ``sweep_dir``, in path order. A run whose
    summary.json cannot be read is kept as ``unreadable`` (listed, never averaged); one whose
    metrics.csv cannot be read keeps its summary's numbers and loses only its curves."""
    return [load_run(p.parent) for p in sorted(sweep_dir.rglob(SUMMARY_FILE))]


def load_run(path: Path) -> Run:
    try:
        summary = read_summary(path)
        if not isinstance(summary, dict) or "status" not in summary:
            raise ValueError("not a run record")
    except (ValueError, OSError) as e:  # json's errors are ValueErrors
        problem = f"{SUMMARY_FILE}: {type(e).__name__}: {e}"
        return Run(path, {"status": "unreadable", "error": problem}, problem=problem)
    try:
        return Run(path, summary, read_epochs(path))
    except (ValueError, OSError, csv.Error) as e:
        return Run(path, summary, problem=f"{METRICS_FILE}: {type(e).__name__}: {e}")


def mean_std(values: list[float]) -> Stat:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values)


def _label(key: tuple, members: list[Run]) -> str:
    variants = {r.summary.get("variant") for r in members}
    if len(variants) == 1 and None not in variants:
        return variants.pop()
    objective, predictor, _, _, tangential = key
    return objective if objective in BASELINES else f"{'tan' if tangential else ''}{objective}/{predictor}"


def aggregate(runs: list[Run], collapse: DictConfig, order: Sequence[str]) -> list[Row]:
    """The runs whose status is ok, one row per key; collapsed by the ``collapse`` rule
    (conf/report.yaml); sorted by objective in ``order`` (others after it, by name), then
    predictor, tangential, α, β."""
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
        row = Row(key, members, _label(key, members), stats)
        if "align" in stats and "uniform" in stats:
            row.collapsed = stats["uniform"][0] > collapse.uniform_above and stats["align"][0] < collapse.align_below
        rows.append(row)
    rank = {objective: i for i, objective in enumerate(order)}
    return sorted(rows, key=lambda r: (rank.get(r.key[0], len(rank)), r.key[0], r.key[1], r.key[4], r.key[2], r.key[3]))


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Table 1's rows (α = β = 1, and the baselines) and Table 3's (every row of an objective run
    at more than one (α, β))."""
    plain = [r for r in rows if r.key[2:4] == (1.0, 1.0) or r.key[0] in BASELINES]
    settings = defaultdict(set)  # objective → the (α, β) it was run at
    for r in rows:
        settings[r.key[0]].add(r.key[2:4])
    varying = [r for r in rows if r.key[0] not in BASELINES and len(settings[r.key[0]]) > 1]
    return plain, varying
