"""What a run folder holds, by name, and how to read it. Each file has one writer, named here;
readers (the report, the linear evaluation, a resumed run) come here for names and parsing.

    summary.json            run.record.RunRecord           the run's record (schema: RunRecord's fields)
    config.yaml             run.record.RunRecord           the resolved config
    metrics.csv             callbacks.EpochMetrics         one row per completed epoch
    embeddings.pt           run.record.RunRecord           test projections for the report's figures
    checkpoints/last.ckpt   Lightning (ModelCheckpoint, Preemption)
    traceback.txt           run.record.RunRecord           where a failed run raised
    wandb_id                run.tracking.run_id            the W&B run id, made once per run

and in a sweep's folder Hydra's ``multirun.yaml``, from which ``sweep_jobs`` expands the runs.
"""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"  # the run's config, resolved
METRICS_FILE = "metrics.csv"
EMBEDDINGS_FILE = "embeddings.pt"
TRACEBACK_FILE = "traceback.txt"
WANDB_ID_FILE = "wandb_id"


def write_atomically(path: Path, text: str, in_place_when_full: bool = False) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it over ``path``: a reader never
    sees half a file, a crash never leaves one. On a full disk the temp file is removed and the
    error names ``path``; with ``in_place_when_full`` the text overwrites the existing file's own
    blocks instead (a record small enough to fit where the old one was, so that a run on a full
    disk can still say how it ended)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if in_place_when_full and e.errno == errno.ENOSPC and path.is_file():
            with open(path, "r+") as f:
                f.write(text)
                f.truncate()
            return
        raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from e


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


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job Hydra's basic sweeper launches for ``config`` (a multirun's
    composed config, or its multirun.yaml), in launch order."""
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def expected_runs(sweep_dir: str | Path) -> int | None:
    """How many runs the sweep in ``sweep_dir`` launches, from Hydra's multirun.yaml (None for a
    plain folder of runs)."""
    path = Path(sweep_dir) / "multirun.yaml"
    return len(sweep_jobs(OmegaConf.load(path))) if path.is_file() else None
