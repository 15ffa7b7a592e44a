"""The Hydra configs, shipped inside the package so that an installed ``raft-train`` finds them
(``pkg://raft_lightning.conf``). One folder per config group; ``train.yaml`` is the primary config."""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent
SEARCH_PATH = "pkg://raft_lightning.conf"
