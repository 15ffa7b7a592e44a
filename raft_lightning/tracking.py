"""W&B identity of a run, as config resolvers: one group per sweep, a run id that survives requeues.

``${sweep_name:}`` is the sweep folder's name in a multirun (every run of the sweep shares it),
else the run folder's name. ``${run_id:${paths.output_dir}}`` is a hash of the run's absolute
output directory: the same for a SLURM job requeued into its directory, or a run started again
there, so the W&B run continues instead of a new one starting at step 0.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf


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


OmegaConf.register_new_resolver("sweep_name", sweep_name, replace=True)
OmegaConf.register_new_resolver("run_id", run_id, replace=True)
