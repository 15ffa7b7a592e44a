"""Train one objective: ``raft-train [overrides]`` or ``python -m raft_lightning.train``; add
``-m`` for a sweep. The recipe itself is ``run/train.py``.

    raft-train -m loss=byol,byol_prime,raft predictor=mlp,linear,none seed=0,1,2
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from raft_lightning.conf import SEARCH_PATH
from raft_lightning.run.console import quiet_known_noise
from raft_lightning.run.extras import launcher_errors
from raft_lightning.run.resolvers import register_resolvers
from raft_lightning.run.signals import hand_back
from raft_lightning.run.train import train

# At import, not only in main(): submitit's job processes unpickle hydra_main and resolve the
# config there, without running main().
register_resolvers()
quiet_known_noise()


@hydra.main(version_base="1.3", config_path=SEARCH_PATH, config_name="train")
def hydra_main(cfg: DictConfig) -> str:
    summary = train(cfg)
    if summary.get("signal") and summary["status"] == "interrupted":
        hand_back(summary["signal"])  # recorded: now the signal does what it would have done without us
    return summary["status"]


def main() -> None:
    """``raft-train`` / ``python -m raft_lightning.train``: Hydra's command line."""
    errors = launcher_errors(sys.argv[1:])
    if errors:
        print("raft-lightning: " + "\n  ".join(errors), file=sys.stderr)
        raise SystemExit(2)
    hydra_main()


if __name__ == "__main__":
    main()
