"""Loggers: the W&B identity of a run (as config resolvers, see ``run.resolvers``: one group per
sweep, a run id that survives requeues), ending its W&B run, and Lightning's CSV log on resume.

``${sweep_name:}`` is the sweep folder's name in a multirun (every run of the sweep shares it),
else the run folder's name. ``${run_id:${paths.output_dir}}`` is a hash of the run's absolute
output directory: the same for a SLURM job requeued into its directory, or a run started again
there, so the W&B run continues instead of a new one starting at step 0.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger


def sweep_name() -> str:
    if not HydraConfig.initialized():
        return "run"
    hydra = HydraConfig.get()
    path = hydra.sweep.dir if hydra.mode == RunMode.MULTIRUN else hydra.runtime.output_dir
    return Path(str(path)).name


def run_id(output_dir: str) -> str:
    return hashlib.sha1(str(Path(output_dir).resolve()).encode()).hexdigest()[:16]


def finish_wandb(status: str) -> None:
    """End the W&B run of this process, if any, before the next run of a multirun starts (else
    Lightning's WandbLogger would attach the next run to it). A preempted run is marked so, and
    its requeued job resumes it under the same id."""
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    if status == "interrupted":
        wandb.run.mark_preempting()
    wandb.finish(exit_code=1 if status == "failed" else 0)


def keep_csv_logs(trainer: L.Trainer) -> None:
    """Lightning's CSVLogger deletes its metrics.csv when it starts in a folder that has one; a
    resumed run appends to it instead. (After an unclean death, the steps between the last
    checkpoint and the death appear twice; a preemption checkpoint leaves no such steps.)"""
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or rank_zero_only.rank != 0:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
        writer = logger.experiment  # creating it deletes the file
        with open(path, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=header)
            out.writeheader()
            out.writerows(rows)
        writer.metrics_keys = header  # new keys rewrite the header, old rows included
