"""Train one objective: ``raft-train [overrides]`` or ``python -m raft_lightning.train``; add
``-m`` for a sweep. The recipe itself is ``run/train.py``.

    raft-train -m loss=byol,byol_prime,raft predictor=mlp,linear,none seed=0,1,2
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from raft_lightning.conf import SEARCH_PATH
from raft_lightning.run import command_line
from raft_lightning.run.console import quiet_known_noise
from raft_lightning.run.extras import launcher_errors
from raft_lightning.run.resolvers import register_resolvers
from raft_lightning.run.signals import hand_back, unanswered_signal
from raft_lightning.run.sweep import OUTCOMES, Outcome, exit_status
from raft_lightning.run.train import train

# At import, not only in main(): submitit's job processes unpickle hydra_main and resolve the
# config there, without running main().
register_resolvers()
quiet_known_noise()


@hydra.main(version_base="1.3", config_path=SEARCH_PATH, config_name="train")
def hydra_main(cfg: DictConfig) -> dict[str, Any]:
    """One run (a job of a sweep, locally or in a SLURM job): its status and error, which the
    sweep's ``run.sweep.Sweeper`` keeps; a single run keeps its own."""
    summary = train(cfg)
    if (name := unanswered_signal(summary)) is not None:
        hand_back(name)  # recorded: now the signal does what it would have done without us
    outcome = {"status": summary["status"], "error": summary.get("error")}
    if HydraConfig.get().mode == RunMode.RUN:
        OUTCOMES.append(Outcome(0, outcome["status"], Path(cfg.paths.output_dir), outcome["error"]))
    return outcome


def main() -> None:
    """``raft-train`` / ``python -m raft_lightning.train``: Hydra's command line, checked first
    (``run.command_line``); the exit status is the outcome (``run.sweep.exit_status``)."""
    argv = sys.argv[1:]
    errors = launcher_errors(argv) or command_line.problems(argv) or command_line.scheduler_errors(argv)
    if errors:
        print("raft-train: " + "\n  ".join(errors), file=sys.stderr)
        raise SystemExit(2)
    hydra_main()
    if command_line.runs_something(argv):
        raise SystemExit(exit_status(OUTCOMES))


if __name__ == "__main__":
    main()
