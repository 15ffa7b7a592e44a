"""Guarded run folders: a rerun only of the same run, with the same progress.

A run folder is the run's identity: resuming into it continues that run. So a rerun whose
config differs from the one the folder holds is refused with the keys that differ, except for
keys that may change when a run is continued (``RESUMABLE``). The config compared is the
portable one (paths inside the folder as ``<run_dir>/…``), so a folder that was copied, moved or
reached through a symlink continues; and it is read from config.yaml or, when that is gone,
from the checkpoint, which carries it too (``AtomicCheckpointIO``), so deleting config.yaml
does not let another config continue the run; when both are gone, the run's setting as its
summary.json records it (``SUMMARY_SETTING``) is compared instead, so that a folder holding only
its record is not "already finished" for any config. A rerun with fewer epochs than the folder's run
has trained is refused too: it would record a shorter run than the weights are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from raft_lightning.files import CHECKPOINT_CONFIG, CONFIG_FILE, SUMMARY_FILE
from raft_lightning.lock import FolderBusy
from raft_lightning.readers import DamagedFile, portable, read_checkpoint, read_config

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
    "trainer.enable_model_summary",
    "callbacks.knn.every_n_epochs",  # how often the monitor reports, not what is trained
    "record.keep_previous",  # whether a finished run keeps its second-newest checkpoint on disk
    "callbacks.epoch_lines.",  # what the log shows
)


# summary.json's fields (raft_lightning.summary) that say what run it is: compared with what this
# config would record when neither config.yaml nor a checkpoint is left. Not max_epochs (a run
# continues longer) nor tags (the user's labels); a null on either side is unknown, not a difference.
SUMMARY_SETTING = (
    "objective", "variant", "predictor", "negate_init", "backbone", "data", "seed", "alpha", "beta", "tangential",
    "tau", "tau_schedule", "lr", "batch_size", "image_size", "pipeline", "last_epochs",
)  # fmt: skip


class RunFolderRefused(FolderBusy):
    """The folder belongs to another run (or is in use, or cannot be written)."""


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out |= _flat(value, f"{prefix}{key}.")
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): node}


def portable_config(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """The run's resolved config with its folder's paths as ``<run_dir>/…``: what config.yaml and
    the checkpoint hold."""
    return portable(OmegaConf.to_container(cfg, resolve=True), run_dir)


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


def saved_config(run_dir: Path, state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The folder's run config, portable: config.yaml's, else the checkpoint's (None: neither)."""
    try:
        return OmegaConf.to_container(read_config(run_dir, portable_form=True))
    except FileNotFoundError:
        pass
    except DamagedFile as e:
        if state is None:
            raise RunFolderRefused(f"{e}. Move it away to continue from the checkpoint alone") from None
    saved = None if state is None else state.get(CHECKPOINT_CONFIG)
    return saved if isinstance(saved, dict) else None


def summary_changes(recorded: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """``key: old → new`` for every ``SUMMARY_SETTING`` field both records know and that differs."""
    known = [k for k in SUMMARY_SETTING if recorded.get(k) is not None and asked.get(k) is not None]
    return [f"{k}: {recorded[k]} → {asked[k]}" for k in known if recorded[k] != asked[k]]


def check_same_run(
    run_dir: Path,
    cfg: DictConfig,
    checkpoint: Path | None,
    recorded: dict[str, Any] | None = None,
    asked: dict[str, Any] | None = None,
) -> None:
    """Refuse to continue a folder that holds a run of another config, or more epochs than asked.
    The folder's config is config.yaml's, else the checkpoint's, else the setting its summary.json
    (``recorded``) names, compared with what this config would record (``asked``)."""
    state = read_checkpoint(checkpoint, mmap=True) if checkpoint is not None else None
    saved = saved_config(run_dir, state)
    changes, source = [], ""
    if saved is not None:
        changes = config_changes(saved, portable_config(cfg, run_dir))
    elif recorded is not None and asked is not None:
        changes = summary_changes(recorded, asked)
        source = f", as its {SUMMARY_FILE} records it ({CONFIG_FILE} and the checkpoints are gone)"
    if changes:
        shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
        raise RunFolderRefused(
            f"{run_dir} holds a run with another config ({shown}){source}. Choose a new folder "
            "(hydra.run.dir=... or hydra.sweep.dir=...), or resume=false to start over in this one"
        )
    epoch, epochs = (state or {}).get("epoch"), cfg.trainer.max_epochs
    if isinstance(epoch, int) and isinstance(epochs, int) and epoch + 1 > epochs:
        raise RunFolderRefused(
            f"trainer.max_epochs={epochs}: the run in {run_dir} has trained {epoch + 1} epochs already; "
            f"ask for {epoch + 1} or more to continue it, or choose a new folder"
        )
