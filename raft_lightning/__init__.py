"""raft-lightning: BYOL, BYOL' and RAFT (Shi et al., "Run Away From your Teacher") with Lightning + Hydra."""

import sys

from omegaconf import OmegaConf

# Lets configs show Lightning's progress bar on interactive runs only (not in logs or CI).
OmegaConf.register_new_resolver("isatty", lambda: sys.stderr.isatty(), replace=True)

from raft_lightning import tracking  # noqa: E402,F401  (registers the W&B resolvers sweep_name, run_id)

__version__ = "0.1.0"
