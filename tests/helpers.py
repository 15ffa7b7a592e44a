"""Callbacks that tests add to a run's config (``+callbacks.<name>._target_=tests.helpers.X``).

They are imported by the run itself (in-process, in a CLI subprocess, in a DDP rank or in a
SLURM job), which works because every one of those starts in the repository root.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from raft_lightning.callbacks import Preemption
from raft_lightning.run.build import build

SIGNALS = signal.Signals  # by name; the callbacks' `signal` argument shadows the module


class SignalAt(L.Callback):
    """At the start of optimiser step ``step`` (1-based), either sends ``signal`` to this process
    (``wait_for=None``), or writes ``marker`` and waits, up to ``timeout_s``, until a signal sent
    from outside has arrived — so that a test can kill the run at a known batch. Acts once per
    run directory: a resumed run (the marker exists) goes through."""

    def __init__(self, step: int, marker: str, signal: str = "SIGTERM", external: bool = False, timeout_s=60) -> None:
        self.step, self.marker, self.signal = step, Path(marker), signal
        self.external, self.timeout_s = external, timeout_s

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step + 1 != self.step or self.marker.exists() or trainer.global_rank != 0:
            return
        self.marker.write_text(f"{os.getpid()}\n")
        if not self.external:
            os.kill(os.getpid(), signal.Signals[self.signal])
            return
        preemption = next(c for c in trainer.callbacks if isinstance(c, Preemption))
        deadline = time.monotonic() + self.timeout_s
        while preemption.received is None and time.monotonic() < deadline:
            time.sleep(0.05)


class RecordRanks(L.Callback):
    """Appends ``<rank> <pid>`` to ``<dir>/fit_starts.txt`` at every fit start, and saves each
    rank's target network to ``<dir>/target_rank<r>.pt`` at the end of training."""

    def __init__(self, dir: str) -> None:
        self.dir = Path(dir)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with open(self.dir / "fit_starts.txt", "a") as f:
            f.write(f"{trainer.global_rank} {os.getpid()}\n")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state = {
            "target": pl_module.target.state_dict(),
            "online": pl_module.online.state_dict(),
            "probe": next(c for c in trainer.callbacks if type(c).__name__ == "OnlineProbe").classifier.state_dict(),
        }
        torch.save(state, self.dir / f"target_rank{trainer.global_rank}.pt")


class RaiseAt(L.Callback):
    """Raises at the start of optimiser step ``step``: a bug that passes every config check."""

    def __init__(self, step: int, rank: int | None = None) -> None:
        self.step, self.rank = step, rank

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step + 1 == self.step and self.rank in (None, trainer.global_rank):
            raise RuntimeError(f"injected failure at step {self.step}")


class RecordEnvironment(L.Callback):
    """Writes the Trainer's cluster environment and whether it auto-requeues to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        env = trainer._accelerator_connector.cluster_environment
        self.path.write_text(f"{type(env).__name__} auto_requeue={getattr(env, 'auto_requeue', None)}\n")


class StepLog(L.Callback):
    """Appends the number of every optimiser step this process trains to ``path``, one a line:
    a resumed run must add only the steps after its checkpoint, a restart from scratch adds all."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_rank == 0:
            with open(self.path, "a") as f:
                f.write(f"{trainer.global_step}\n")


def fitted(cfg: Any, *extra: Any) -> tuple[Any, Any]:
    """The run's module and Trainer after ``fit`` from its seed, with ``extra`` callbacks added."""
    L.seed_everything(cfg.seed)
    datamodule, model, trainer = build(cfg)
    trainer.callbacks.extend(extra)
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def logged_steps(path: Path) -> list[int]:
    return [int(line) for line in Path(path).read_text().split()] if Path(path).is_file() else []


class SignalOnHook(L.Callback):
    """Sends ``signal`` to this process the first time Lightning calls ``hook`` (``setup``:
    start-up, before training; ``on_validation_start``: a baseline's validation), once per
    ``marker`` file, so that the rerun of the same command goes through. ``swallow``: inside an
    ``except Exception: pass``, as careless code around a signal would be."""

    def __init__(self, hook: str, marker: str, signal: str = "SIGTERM", swallow: bool = False) -> None:
        self.marker, self.signum = Path(marker), SIGNALS[signal]

        def fire(*args: Any, **kwargs: Any) -> None:
            if self.marker.exists():
                return
            self.marker.write_text(f"{os.getpid()}\n")
            try:
                os.kill(os.getpid(), self.signum)
                time.sleep(0.5)  # the handler runs here, in the try
            except Exception:
                if not swallow:
                    raise

        setattr(self, hook, fire)


class MarkAt(L.Callback):
    """Writes ``marker`` when fit ends: the linear evaluation starts right after (``eval.linear``)."""

    def __init__(self, marker: str) -> None:
        self.marker = Path(marker)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marker.write_text(f"{os.getpid()}\n")


class KillDuringSave(L.Callback):
    """At the end of epoch ``epoch`` the next checkpoint save writes half its bytes and the
    process is SIGKILLed: what a kill during the copy onto a network filesystem does. Once per
    ``marker``, so that the same command run again goes through."""

    def __init__(self, epoch: int, marker: str) -> None:
        self.epoch, self.marker = epoch, Path(marker)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 != self.epoch or self.marker.exists():
            return
        self.marker.write_text(f"{os.getpid()}\n")
        real_save = torch.save

        def half_then_die(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            import io

            buffer = io.BytesIO()
            real_save(obj, buffer)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = half_then_die


class FillDiskAt(L.Callback):
    """At optimiser step ``step``, fills the disk holding ``path`` (a file it creates) until the
    disk is full: the next write of the run meets ENOSPC. Once per ``marker``."""

    def __init__(self, step: int, path: str, marker: str) -> None:
        self.step, self.path, self.marker = step, Path(path), Path(marker)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if trainer.global_step + 1 != self.step or self.marker.exists():
            return
        self.marker.write_text(f"{os.getpid()}\n")
        with open(self.path, "wb", buffering=0) as f:  # unbuffered: nothing left to flush at close
            try:
                while True:
                    f.write(b"\0" * (1 << 16))
            except OSError:  # ENOSPC: full
                pass


class PlainValues(L.Callback):
    """A user's class that checks its values as the package's do: by ``config_errors``, which
    validation calls before the run and the constructor calls again. Its rule: the values must be
    what json can write (plain lists and dicts, not OmegaConf's containers)."""

    @staticmethod
    def config_errors(**values: Any) -> list[str]:
        try:
            json.dumps(values)
        except TypeError as e:
            return [f"values: not plain ({e})"]
        return []

    def __init__(self, **values: Any) -> None:
        errors = self.config_errors(**values)
        if errors:
            raise ValueError("; ".join(errors))
        self.values = values
