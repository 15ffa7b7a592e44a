"""The divergence guard: a run whose loss stops being finite ends as ``diverged``, a result."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from raft_lightning.contracts import DivergedError, StepOutput
from raft_lightning.values import integer_errors


class DivergenceGuard(L.Callback):
    """Stops a run whose loss is no longer finite, so its summary can say ``diverged``.

    Checking needs the loss on the host; ``check_every_n_steps`` bounds how often a GPU run
    waits for it. A NaN in the weights keeps the loss NaN, so a late check still catches it, and
    every epoch's last loss is checked as well; the error then says from which step it may have
    started. (The checkpoint writer refuses weights that are not finite, whatever this checks.)
    """

    def __init__(self, check_every_n_steps: int = 1) -> None:
        errors = self.config_errors(check_every_n_steps)
        if errors:
            raise ValueError("; ".join(errors))
        self.every = int(check_every_n_steps)
        self.step = 0
        self.finite_before = 0  # every step before it was checked, or its loss seen finite: where a NaN can start

    @staticmethod
    def config_errors(check_every_n_steps: Any) -> list[str]:
        return integer_errors("check_every_n_steps", check_every_n_steps, 1)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.finite_before = trainer.global_step  # a resumed attempt starts from its checkpoint's, checked finite

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.step = trainer.global_step  # the step this batch's loss belongs to, counted from 0 as in steps.csv

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: StepOutput, batch: Any, batch_idx: int
    ) -> None:
        # An epoch's last step is checked too, before validation and the checkpoint.
        last = batch_idx + 1 >= trainer.num_training_batches or 0 < trainer.max_steps <= trainer.global_step
        if self.step % self.every and not last:
            return
        loss = outputs["loss"]
        if torch.isfinite(loss):
            self.finite_before = self.step + 1
            return
        epoch = trainer.current_epoch + 1
        terms = {name: float(value.float().reshape(())) for name, value in outputs.get("terms", {}).items()}
        unseen = self.finite_before < self.step  # steps since the last check: the NaN may have started there
        message = f"loss became {loss.item()} at epoch {epoch}, step {self.step}"
        if unseen:
            message += (
                f" (first seen there: checked every {self.every} steps and at each epoch's last, "
                f"it may have stopped being finite at any step from {self.finite_before})"
            )
        raise DivergedError(message, step=self.step, epoch=epoch, terms=terms)
