"""Guarded run folders: one process at a time, and a rerun only of the same run.

A run folder is the run's identity: resuming into it continues that run. So a rerun whose
resolved config differs from the one the folder holds (config.yaml) is refused with the keys
that differ, except for keys that may change when a run is continued (``RESUMABLE``); and a
second process is refused while another holds the folder's lock. The lock is ``flock`` on
``.lock``: the kernel releases it when its process dies, so a killed run never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from raft_lightning.files import CONFIG_FILE

# Keys that a continued run may change, and why:
RESUMABLE = (
    "trainer.max_epochs",  # train longer (or evaluate again at the same length): the point of resuming
    "resume",  # how this invocation treats the folder, not what the run is
    "paths.",  # where things are: the same folder reached from another directory or machine
    "eval.",  # the linear evaluation after training: asking for it, or again with other settings
    "logger.",  # where metrics also go (adding W&B to a running run)
    "data.num_workers",  # how fast batches are made, not which
    "data.root",  # where the same dataset lies on this machine
    "trainer.enable_progress_bar",
    "callbacks.knn.every_n_epochs",  # how often the monitor reports, not what is trained
)


class RunFolderRefused(RuntimeError):
    """The folder belongs to another run, or another process is using it."""


REFUSED: list[str] = []  # this process's refusals, for the sweep's exit code (run.sweep)


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out |= _flat(value, f"{prefix}{key}.")
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): node}


def config_changes(saved: DictConfig | dict, current: DictConfig | dict) -> list[str]:
    """``key: old → new`` for every key that differs and may not change on resume."""
    as_dict = lambda c: OmegaConf.to_container(c, resolve=True) if OmegaConf.is_config(c) else c
    old, new = _flat(as_dict(saved)), _flat(as_dict(current))
    keys = sorted(set(old) | set(new))
    changed = [k for k in keys if old.get(k, "<absent>") != new.get(k, "<absent>")]
    return [
        f"{k}: {old.get(k, '<absent>')} → {new.get(k, '<absent>')}"
        for k in changed
        if not any(k == r or (r.endswith(".") and k.startswith(r)) for r in RESUMABLE)
    ]


def check_same_run(run_dir: Path, cfg: DictConfig) -> None:
    """Refuse to continue a folder that holds a run of another config."""
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        return
    changes = config_changes(OmegaConf.load(saved), cfg)
    if changes:
        shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise RunFolderRefused(
            f"{run_dir} holds a run with another config ({shown}). Choose a new folder "
            "(hydra.run.dir=... or hydra.sweep.dir=...), or resume=false to start over in this one"
        )


class RunLock:
    """Held for the whole attempt by the process that owns the run folder (rank 0)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.file = None

    def __enter__(self) -> RunLock:
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise RunFolderRefused(
                f"{self.path.parent} is in use by {holder}: wait for it, or choose a new folder"
            ) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self.file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()  # closing releases the lock
