"""Preemption: checkpoint at the next batch boundary when SLURM (or anyone) signals, then stop.

SLURM sends SIGTERM on preemption and, with submitit's ``--signal=USR2@<signal_delay_s>``,
SIGUSR2 before the time limit; Ctrl-C sends SIGINT (outside training, ``run.signals`` handles them). A
signal can land in the middle of an optimiser step or of the
EMA update, so the handler only records it; the checkpoint is written after the batch, when
the online and target networks, the probe, the optimisers and the epoch accumulators agree.
``train()`` then hands the signal back to whoever handled it before training started:
submitit's checkpoint-and-requeue handler under SLURM, the default action (end the process)
in a shell.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from raft_lightning.contracts import RUN_SIGNALS

# Every run signal this process received while a run attempt held the handlers, in order. A
# handler that raises can have its exception swallowed by code it lands in (an ``except
# Exception`` of a library), and one that only records can land after training's last check:
# either way the signal must still act once the run is recorded (``take_received``).
_received: list[int] = []


def note_received(signum: int) -> None:
    _received.append(int(signum))  # list.append: safe in a handler, whatever line it interrupts


def first_received() -> int | None:
    """The first run signal received since the last ``take_received``, which still acts on it."""
    return _received[0] if _received else None


def take_received() -> int | None:
    """The first run signal received since the last call, if any; forgets them all."""
    first = _received[0] if _received else None
    _received.clear()
    return first


def ignored(signum: int) -> bool:
    """The process was started with this signal ignored (``nohup``, ``&`` in a script)."""
    return signal.getsignal(signum) is signal.SIG_IGN


def detach_if_hung_up(signum: int) -> None:
    """After SIGHUP the terminal is gone, and a write to it fails (EIO) — the progress bar's next
    line would end the run as failed before it could record itself interrupted. Output goes to
    /dev/null from here on (the record and the checkpoint are files)."""
    if signum != signal.SIGHUP:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(null, fd)
    os.close(null)


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; the run resumes from it."""

    def __init__(self, signum: int, checkpoint: Path | None = None) -> None:
        self.signum = int(signum)
        where = f"checkpoint saved to {checkpoint}" if checkpoint else "outside training: its last checkpoint stands"
        super().__init__(f"stopped by {signal.Signals(signum).name}; {where}")


def interruption(error: BaseException | None) -> Interrupted | None:
    """The ``Interrupted`` that ``error`` is, or was raised from or while handling. A signal that
    lands inside a library's call comes back wrapped: Hydra's ``instantiate`` raises
    ``InstantiationException`` from it, and code that rebuilds an exception from its message
    fails on it with an error of its own; either way the run was stopped by the signal."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, Interrupted):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class Preemption(L.Callback):
    """Records ``signals`` during training; at the end of the current training batch saves a
    checkpoint to ``path``, and raises :class:`Interrupted` when the next batch would start.

    Under DDP the ranks agree every batch (an all-reduce of one number) so that all of them
    stop at the same batch and save together. The checkpoint carries this callback's state:
    the torch, numpy and Python RNG states (restored on resume; data order and augmentations
    do not need them, being functions of (seed, epoch, index), but nothing else may drift).
    """

    def __init__(self, path: str, signals: Sequence[str] = RUN_SIGNALS) -> None:
        errors = self.config_errors(signals=signals)
        if errors:
            raise ValueError("; ".join(errors))
        self.path = Path(path)
        self.signals = [signal.Signals[name] for name in signals]
        self.received: int | None = None
        self._stop = 0  # the signal, once the checkpoint is saved
        self._previous: dict[signal.Signals, Any] = {}

    @staticmethod
    def config_errors(signals: Any = RUN_SIGNALS, **_: Any) -> list[str]:
        if isinstance(signals, str) or not isinstance(signals, Sequence) or any(s not in RUN_SIGNALS for s in signals):
            return [f"signals={signals!r}: a list of {', '.join(RUN_SIGNALS)}"]
        return []

    def _record(self, signum: int, frame: Any) -> None:
        detach_if_hung_up(signum)  # system calls only: safe in the middle of any Python line
        note_received(signum)
        self.received = signum  # only a flag: a handler may run in the middle of any Python line

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After Lightning registered its own SIGTERM handler (at fit start), so ours is the one
        # that acts; teardown puts the previous ones back.
        self.received, self._stop = None, 0
        if threading.current_thread() is not threading.main_thread():
            return  # Python delivers signals to the main thread only
        for signum in self.signals:
            if not ignored(signum):  # one the process was started ignoring stays ignored
                self._previous[signum] = signal.signal(signum, self._record)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        signum = self.received or (int(signal.SIGTERM) if trainer.received_sigterm else 0)
        if trainer.world_size > 1:
            flag = torch.tensor(float(signum), device=pl_module.device)
            signum = int(trainer.strategy.reduce(flag, reduce_op="max").item())
        if signum and not self._stop:
            trainer.save_checkpoint(self.path, weights_only=False)  # the full state: resuming needs it
            self._stop = signum

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        # Stop here rather than right after saving, so that Lightning has logged the saved batch.
        # If that batch was the last one, training simply ends.
        if self._stop:
            raise Interrupted(self._stop, self.path)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def state_dict(self) -> dict[str, Any]:
        # Tensors, ints and tuples only: Lightning loads checkpoints with torch.load(weights_only=True).
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)
        rng = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"rng": rng}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        rng = state_dict.get("rng")
        if not rng:
            return
        torch.set_rng_state(rng["torch"])
        kind, keys, pos, has_gauss, cached = rng["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(rng["python"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
