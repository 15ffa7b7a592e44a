"""What a run folder holds, by name, and how to read it. Each file has one writer, named here;
readers (the report, the linear evaluation, a resumed run) come here for names and parsing.

    summary.json            run.record.RunRecord           the run's record (schema: RunRecord's fields)
    config.yaml             run.record.RunRecord           the resolved config
    metrics.csv             callbacks.EpochMetrics         one row per completed epoch
    embeddings.pt           run.record.RunRecord           test projections for the report's figures
    checkpoints/last.ckpt   Lightning (ModelCheckpoint, Preemption)
    traceback.txt           run.record.RunRecord           where a failed run raised

and in a sweep's folder:

    sweep.json              run.sweep.SweepGuard           how many runs the sweep launches
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"  # the run's config, resolved
METRICS_FILE = "metrics.csv"
EMBEDDINGS_FILE = "embeddings.pt"
TRACEBACK_FILE = "traceback.txt"
SWEEP_FILE = "sweep.json"


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def read_epochs(run_dir: str | Path) -> list[dict[str, float]]:
    """metrics.csv as one dict per epoch (empty cells left out)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def expected_runs(sweep_dir: str | Path) -> int | None:
    """How many runs the sweep in ``sweep_dir`` launches (None for a plain folder of runs)."""
    path = Path(sweep_dir) / SWEEP_FILE
    return int(json.loads(path.read_text())["runs"]) if path.is_file() else None
