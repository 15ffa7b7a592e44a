"""The divergence guard: a run whose loss stops being finite ends as ``diverged``, a result."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from raft_lightning.contracts import StepOutput
from raft_lightning.values import integer_errors


class DivergedError(RuntimeError):
    """The loss became NaN or infinite: a result of the objective, not a bug. ``step`` (counted
    from 0, as steps.csv counts), ``epoch`` and ``terms`` (the step's logged values) say where
    and what, so that the collapse monitors keep the step's row."""

    def __init__(
        self, message: str, step: int | None = None, epoch: int | None = None, terms: dict[str, float] | None = None
    ) -> None:
        super().__init__(message)
        self.step, self.epoch, self.terms = step, epoch, dict(terms or {})


class DivergenceGuard(L.Callback):
    """Stops a run whose loss is no longer finite, so its summary can say ``diverged``.

    Checking needs the loss on the host; ``check_every_n_steps`` bounds how often a GPU run
    waits for it. A NaN in the weights keeps the loss NaN, so a late check still catches it, and
    every epoch's last loss is checked as well.
    """

    def __init__(self, check_every_n_steps: int = 1) -> None:
        errors = self.config_errors(check_every_n_steps)
        if errors:
            raise ValueError("; ".join(errors))
        self.every = int(check_every_n_steps)
        self.step = 0

    @staticmethod
    def config_errors(check_every_n_steps: Any) -> list[str]:
        return integer_errors("check_every_n_steps", check_every_n_steps, 1)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.step = trainer.global_step  # the step this batch's loss belongs to, counted from 0 as in steps.csv

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: StepOutput, batch: Any, batch_idx: int
    ) -> None:
        # An epoch's last step is checked too, before validation and the checkpoint: no epoch
        # ends, and no checkpoint is saved, on weights whose loss was not finite.
        last = batch_idx + 1 >= trainer.num_training_batches or 0 < trainer.max_steps <= trainer.global_step
        if self.step % self.every and not last:
            return
        late = f"checked every {self.every} steps, it may have stopped being finite up to {self.every - 1} earlier"
        note = f" (the epoch's last step; {late})" if self.step % self.every else ""
        self._check(trainer, self.step, outputs["loss"], outputs.get("terms", {}), note)

    @staticmethod
    def _check(trainer: L.Trainer, step: int, loss: Tensor, terms: dict[str, Tensor], note: str = "") -> None:
        if not torch.isfinite(loss):
            epoch = trainer.current_epoch + 1
            values = {name: float(value.float().reshape(())) for name, value in terms.items()}
            message = f"loss became {loss.item()} at epoch {epoch}, step {step}{note}"
            raise DivergedError(message, step=step, epoch=epoch, terms=values)
