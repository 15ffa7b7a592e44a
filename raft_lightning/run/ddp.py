"""DDP for one run of a sweep: ranks ≥ 1 rebuild *this run*, not the command line.

Lightning's default DDP launcher starts ranks ≥ 1 by re-executing ``sys.argv``. Inside a Hydra
multirun that command is the whole ``-m`` sweep, so every extra rank would launch the sweep
again (and, with Hydra, into ``hydra.run.dir``, not the job's directory). ``RunDDPStrategy``
instead starts ``python -m raft_lightning.run.ddp <run_dir>/config.yaml``: the run's
resolved config, which ``train()`` writes before building anything, so every rank trains the
same run in the same directory, once. The strategy also leaves the process as it found it
after each run — process group destroyed, launcher environment variables and thread count
restored — so that the next run of the sweep can start its own group.

Where SLURM (or torchrun) starts one process per device, Lightning launches nothing and this
class is plain ``DDPStrategy``.

    python -m raft_lightning.train -m trainer=ddp trainer.devices=2 seed=0,1
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.distributed import _destroy_dist_connection
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

log = logging.getLogger(__name__)

LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "OMP_NUM_THREADS")


class RunLauncher(_SubprocessScriptLauncher):
    """Starts ranks 1..N-1 of this node as ``python -m raft_lightning.run.ddp <run_config>``."""

    def __init__(self, *args: Any, run_config: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run_config = run_config
        self._saved_env: dict[str, str | None] = {}
        self._saved_threads = torch.get_num_threads()

    def launch(self, function: Any, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self._saved_env = {key: os.environ.get(key) for key in LAUNCH_ENV}
        self._saved_threads = torch.get_num_threads()
        return super().launch(function, *args, trainer=trainer, **kwargs)

    def _call_children_scripts(self) -> None:
        self._check_can_spawn_children()
        env = self.cluster_environment
        # What Lightning's launcher sets for rank 0 too (init_process_group reads them).
        os.environ.update(
            MASTER_ADDR=env.main_address,
            MASTER_PORT=str(env.main_port),
            NODE_RANK=str(env.node_rank()),
            LOCAL_RANK=str(env.local_rank()),
            WORLD_SIZE=str(self.num_processes * self.num_nodes),
        )
        command = [sys.executable, "-m", "raft_lightning.run.ddp", self.run_config]
        self.procs = [
            subprocess.Popen(command, env={**os.environ, "LOCAL_RANK": str(local_rank)})
            for local_rank in range(1, self.num_processes)
        ]

    def close(self, timeout_s: float = 120) -> None:
        """Wait for ranks ≥ 1 (they finish right after rank 0), then undo what launching changed."""
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("DDP rank process %d did not exit; killing it", proc.pid)
                proc.kill()
                proc.wait()
        _destroy_dist_connection()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.set_num_threads(self._saved_threads)


class RunDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose extra ranks rebuild the run from ``run_config`` (see the module doc)."""

    def __init__(self, run_config: str, timeout_s: float = 1800.0, **kwargs: Any) -> None:
        super().__init__(timeout=timedelta(seconds=timeout_s), **kwargs)
        self.run_config = str(run_config)

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if isinstance(self._launcher, _SubprocessScriptLauncher):
            self._launcher = RunLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes, run_config=self.run_config
            )

    def teardown(self) -> None:
        super().teardown()
        if isinstance(self._launcher, RunLauncher) and self.global_rank == 0:
            self._launcher.close()


def slurm_plugins() -> list[SLURMEnvironment]:
    """Lightning's SLURM cluster environment with its auto-requeue off, inside a SLURM job (none
    elsewhere, e.g. a single run with launcher=slurm, which Hydra runs locally). Requeueing is
    submitit's: Lightning's SIGUSR1 handler would call ``scontrol requeue`` a second time."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def main(argv: list[str] | None = None) -> None:
    """A rank ≥ 1 of one run: train the run described by the resolved config at ``argv[0]``."""
    from raft_lightning.readers import read_config
    from raft_lightning.run.train import train

    (path,) = argv if argv is not None else sys.argv[1:]
    train(read_config(Path(path).parent))  # the run's own config.yaml, its <run_dir> paths made absolute
    # Exit 0 whatever the run's status: rank 0 reports it in summary.json, and Lightning's
    # process observer would kill rank 0 (and with it the rest of the sweep) on a non-zero exit.


if __name__ == "__main__":
    main()
