"""raft-lightning's sweeper: Hydra's basic sweeper, keeping every run's outcome.

Hydra takes sweepers only from this namespace package (``hydra_plugins``); the logic is in
``raft_lightning.run.sweep``. A job that raises would make the basic sweeper stop after its
batch with a traceback; here its outcome is kept as ``failed``, the sweep goes on, and it ends
with its closing lines and an exit status that says whether every run finished. Every job is
also told which of its settings tell it apart from the others (its W&B and TensorBoard name).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # the one Hydra ships; no public base
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher
from omegaconf import open_dict, read_write

from raft_lightning.run.sweep import (
    OUTCOMES,
    closing_lines,
    keep_sweep_file,
    record,
    sweep_file_before,
    swept_keys_override,
)


class RecordingLauncher(Launcher):
    """Wraps the configured launcher (basic, or submitit's): keeps each job's outcome, and hands the
    sweeper a job that raised as a completed one, so that the sweep goes on."""

    def __init__(self, inner: Launcher) -> None:
        self.inner = inner

    def setup(self, **kwargs: Any) -> None:
        self.inner.setup(**kwargs)

    def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
        results = self.inner.launch(job_overrides, initial_job_idx)
        for i, ret in enumerate(results):
            record(initial_job_idx + i, ret)
            if ret.status != JobStatus.COMPLETED:
                ret.status, ret.return_value = JobStatus.COMPLETED, {"status": "failed"}
        return results


class RecordingSweeper(BasicSweeper):
    """Hydra's basic sweeper whose launcher records outcomes, and which prints the closing lines."""

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.launcher = RecordingLauncher(self.launcher)
        # hydra.sweep.dir is ${paths.log_dir}/…, i.e. ${hydra:runtime.cwd}/…: resolving it needs
        # HydraConfig, which Hydra's multirun sets only inside each job. The command-line check
        # before Hydra runs leaves it unset (it must not leak a config); without this, every
        # `raft-train -m` without an explicit hydra.sweep.dir failed before its first run.
        # A copy: set_config makes the hydra node it is given read-only, and get_job_batch still
        # adds the swept keys to this one.
        HydraConfig.instance().set_config(copy.deepcopy(config))

    def get_job_batch(self) -> Any:
        if self.batch_index == 0:  # the whole sweep is known: every job of every batch
            jobs = [tuple(job) for batch in self.overrides or [] for job in batch]
            override = swept_keys_override(jobs)
            if override is not None:
                # Hydra composes every job (here, or in a SLURM job through submitit) from this
                # config's hydra overrides plus the job's own: the key reaches every job, and the
                # job's own overrides (its folder's overrides.yaml, the launch lines) stay as typed.
                with read_write(self.config), open_dict(self.config):
                    self.config.hydra.overrides.hydra.append(override)
        return super().get_job_batch()

    def sweep(self, arguments: list[str]) -> Any:
        first, sweep_dir = len(OUTCOMES), Path(str(self.config.hydra.sweep.dir))
        before = sweep_file_before(sweep_dir)  # Hydra writes this sweep's over it before the first run
        returns = super().sweep(arguments)
        keep_sweep_file(sweep_dir, before, OUTCOMES[first:])
        closing_lines(OUTCOMES[first:], sweep_dir)
        return returns
