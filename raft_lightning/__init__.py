"""raft-lightning: BYOL, BYOL' and RAFT (Shi et al., "Run Away From your Teacher") with Lightning + Hydra."""

__version__ = "0.1.0"


def __getattr__(name: str):  # noqa: ANN202 — PEP 562: torch is imported when load_backbone is first asked for
    """``raft_lightning.load_backbone``: the network of a ``raft-export`` file (docs/export.md),
    imported on first use so that ``import raft_lightning.files`` and the command lines stay light."""
    if name == "load_backbone":
        from raft_lightning.export.backbone import load_backbone

        return load_backbone
    raise AttributeError(f"module 'raft_lightning' has no attribute {name!r}")


__all__ = ["load_backbone"]
