"""The divergence guard: a run whose loss stops being finite ends as ``diverged``, a result."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

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
    waits for it (a NaN in the weights keeps the loss NaN, so a late check still catches it).
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
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: StepOutput, *args: Any
    ) -> None:
        if self.step % self.every:
            return
        loss = outputs["loss"]
        if not torch.isfinite(loss):
            epoch = trainer.current_epoch + 1
            terms = {name: float(value.float().reshape(())) for name, value in outputs.get("terms", {}).items()}
            message = f"loss became {loss.item()} at epoch {epoch}, step {self.step}"
            raise DivergedError(message, step=self.step, epoch=epoch, terms=terms)
