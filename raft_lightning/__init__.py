"""raft-lightning: BYOL, BYOL' and RAFT (Shi et al., "Run Away From your Teacher") with Lightning + Hydra."""

__version__ = "0.1.0"
