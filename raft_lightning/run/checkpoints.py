"""Checkpoints that survive a kill: atomic writes next to the file, one previous copy, and a
resume that falls back to it.

Lightning's own save goes through fsspec, which writes a temp file in /tmp and moves it into
place; when the run folder is on another filesystem (the usual cluster layout) that move is a
copy over the old file, and a kill during the copy leaves a truncated ``last.ckpt`` that every
rerun then fails on. Here the bytes go to a temp file in the checkpoint's own folder, are flushed
and fsynced, the old checkpoint becomes ``last.prev.ckpt``, and ``os.replace`` puts the new one
in place: at every instant one complete checkpoint is on disk, and nothing is left in /tmp.

Every checkpoint also carries the run's portable config (``guard.CHECKPOINT_CONFIG``), so that the
folder's guard still knows the run when config.yaml is gone; and every load goes through
``readers.read_checkpoint`` (``weights_only=True``): a checkpoint is data, never code.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from raft_lightning.contracts import DivergedError
from raft_lightning.files import CHECKPOINT_CONFIG, TEMP_SUFFIX, new_temp_beside, previous_of, set_aside
from raft_lightning.readers import (
    DamagedFile,
    describe_tensors,
    non_finite,
    portable,
    read_checkpoint,
    rebase,
    trained_tensors,
)

log = logging.getLogger(__name__)


class CheckpointNotSaved(OSError):
    """The disk refused a checkpoint (full, or read-only); the previous one is intact."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic on any local or network filesystem, carry the
    run's config, and whose loads refuse anything but tensors and plain values."""

    def __init__(self, run_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.run_config = run_config
        self.finite_through = 0  # steps taken when the trained state was last seen finite (saved or loaded)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        # Every save of a run comes here (each epoch's, a signal's, a baseline's): a trained state
        # (weights, optimiser, probe) that stopped being finite is a result, never a checkpoint
        # to resume, evaluate or export.
        steps = checkpoint.get("global_step")
        if bad := non_finite(trained_tensors(checkpoint)):
            raise DivergedError(self.diverged_message(steps, checkpoint.get("epoch"), bad))
        if self.run_config is not None:
            checkpoint = {**checkpoint, CHECKPOINT_CONFIG: self.run_config}
        path = Path(path)
        if "callbacks" in checkpoint:  # ModelCheckpoint keeps its dirpath: as <run_dir>/…, so no file names the folder
            checkpoint = {**checkpoint, "callbacks": portable(checkpoint["callbacks"], run_dir_of(path))}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = None
        try:
            f, tmp = new_temp_beside(path)  # never an existing file, never through a link
            with f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            reason = "no space left on the device" if e.errno == errno.ENOSPC else str(e)
            kept = f"{path} is the previous checkpoint, intact" if path.is_file() else "no earlier checkpoint"
            raise CheckpointNotSaved(e.errno, f"checkpoint not saved to {path.parent}: {reason}; {kept}") from e
        if path.is_file():
            os.replace(path, previous_of(path))
        elif os.path.lexists(path):  # a folder or a broken link in its place (a run started over): kept aside
            set_aside(path)
        os.replace(tmp, path)
        if isinstance(steps, int):
            self.finite_through = steps

    def diverged_message(self, steps: Any, epoch: Any, bad: list[str]) -> str:
        """Where the state stopped being finite, as far as the saves tell: between the last one
        seen finite and this one (the guard, where it runs, checks more often)."""
        if not isinstance(steps, int) or steps < 1:
            where = "before the first step"
        else:
            where = f"at step {steps - 1}" + (f", in epoch {epoch + 1}" if isinstance(epoch, int) else "")
            if steps - 1 > self.finite_through:
                where += (
                    f" (first seen there, by the checkpoint writer: it may have stopped being finite at any step "
                    f"from {self.finite_through}, the first after the last state seen finite)"
                )
        return f"weights not finite {where}: {describe_tensors(bad)}; no checkpoint is saved of them"

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        state = read_checkpoint(path)  # weights_only=True whatever the caller asked; finite
        if isinstance(state.get("global_step"), int):
            self.finite_through = state["global_step"]
        if "callbacks" in state:  # the folder's paths where it is now (copied, moved: its own)
            state["callbacks"] = rebase(state["callbacks"], run_dir_of(Path(path)))
        return state


class NothingTrained(RuntimeError):
    """Training ended before its first optimiser step: the run has no result to record as ok."""


def check_trained_state(trainer: Any, model: Any) -> None:
    """``NothingTrained`` when fit ended without one optimiser step (a limit Lightning stops at
    before the first batch: ``trainer.max_time``, a callback; validation refuses the limits it can
    judge, ``limit_train_batches`` and ``max_steps``); ``DivergedError`` when the trained state
    training ends with (weights, optimisers, the online probe) is not finite: the checkpoint writer
    checks each save, and a run configured to save none at its end
    (``callbacks.checkpoint.every_n_epochs`` above its epochs) is checked here."""
    if trainer.global_step == 0:
        raise NothingTrained(
            "training stopped before its first optimiser step (a limit, e.g. trainer.max_time, or a callback "
            "stopped it): nothing was trained"
        )
    state = {
        "state_dict": model.state_dict(),
        "optimizer_states": [optimizer.state_dict() for optimizer in trainer.optimizers],
        "callbacks": {callback.state_key: callback.state_dict() for callback in trainer.callbacks},
    }
    if bad := non_finite(trained_tensors(state)):
        raise DivergedError(f"weights not finite at the end of training: {describe_tensors(bad)}")


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder of ``<run_dir>/checkpoints/last.ckpt`` (a checkpoint elsewhere: its folder)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def remove_partial_writes(checkpoint: Path) -> None:
    """Temp files of saves that a kill interrupted (only ours: ``<name>.<pid>.<random>.tmp``)."""
    for tmp in checkpoint.parent.glob(f"{checkpoint.name}.*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)


def readable(path: Path) -> str | None:
    """None if ``path`` loads as a checkpoint, else why not, in a few words."""
    try:
        read_checkpoint(path, mmap=True)
    except DamagedFile as e:
        return e.problem
    return None


def drop_previous(checkpoint: Path) -> None:
    """A finished run's ``last.prev.ckpt`` only guarded against a save cut short: once
    ``checkpoint`` reads back whole it is the run's final state, and the copy goes
    (``record.keep_previous: true`` keeps it)."""
    previous = previous_of(checkpoint)
    if previous.is_file() and checkpoint.is_file() and readable(checkpoint) is None:
        previous.unlink()


RESUME_WAY_OUT = "Start the run over with resume=false (its progress is lost), or use a new run folder"


class NoReadableCheckpoint(RuntimeError):
    """Every checkpoint of the run is damaged: ``files`` names them and why; the message adds the
    way out for what was asked (a resume's by default)."""

    def __init__(self, files: str, way_out: str = RESUME_WAY_OUT) -> None:
        self.files = files
        super().__init__(f"no readable checkpoint: {files}. {way_out}")


def resumable(checkpoint: Path, taking: str = "resuming from") -> Path | None:
    """The newest readable checkpoint among ``last.ckpt`` and ``last.prev.ckpt`` (None if there
    is neither). Raises ``NoReadableCheckpoint`` when they exist but none can be read."""
    remove_partial_writes(checkpoint)
    # Whatever is there counts: a folder, a pipe or a broken link in a checkpoint's place is damaged,
    # not absent (absent, the run would start over without a word).
    candidates = [p for p in (checkpoint, previous_of(checkpoint)) if os.path.lexists(p)]
    damaged = []
    for path in candidates:
        problem = readable(path)
        if problem is None:
            for bad, why in damaged:  # set aside, so that the next save cannot make it the previous one
                set_aside(bad)
                log.warning("%s is damaged (%s), kept as %s.damaged: %s %s", bad, why, bad.name, taking, path)
            return path
        damaged.append((path, problem))
    if damaged:
        files = "; ".join(f"{p} ({why})" for p, why in damaged)
        raise NoReadableCheckpoint(files)
    return None
