"""Per-epoch metrics file and the divergence guard."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MeanMetric


class EpochMean(MeanMetric):
    """Batch-weighted running mean, synced over devices at ``compute()``, with no NaN check.

    The check would read the device on every step (a NaN loss stops the run through the
    divergence guard anyway), and torchmetrics' way to skip it, ``nan_strategy="disable"``,
    also drops the weights (torchmetrics 1.9), so the update is written out here.
    """

    def update(self, value: Tensor, weight: Tensor) -> None:
        self.mean_value += (value * weight).sum()
        self.weight += weight.sum()


class EpochMetrics(L.Callback):
    """Writes one row per completed epoch to ``path`` (CSV), whatever loggers are attached.

    Rows hold every ``train/*`` and ``val/*`` value Lightning has at the end of the epoch:
    epoch means of the training metrics, the last step of step-level ones (``train/tau``)
    and the validation results of that epoch. The file is rewritten atomically each epoch,
    so a run that dies keeps every epoch it finished.
    """

    PREFIXES = ("train/", "val/")

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row: dict[str, float] = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(self.PREFIXES):
                row[key] = float(value)
        self.rows.append(row)
        if trainer.is_global_zero:
            write_csv(self.path, self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class DivergedError(RuntimeError):
    """The loss became NaN or infinite: a result of the objective, not a bug."""


class DivergenceGuard(L.Callback):
    """Stops a run whose loss is no longer finite, so its summary can say ``diverged``.

    Checking needs the loss on the host; ``check_every_n_steps`` bounds how often a GPU run
    waits for it (a NaN in the weights keeps the loss NaN, so a late check still catches it).
    """

    def __init__(self, check_every_n_steps: int = 1) -> None:
        self.every = max(int(check_every_n_steps), 1)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any) -> None:
        if trainer.global_step % self.every:
            return
        loss = outputs["loss"]
        if not torch.isfinite(loss):
            raise DivergedError(
                f"loss became {loss.item()} at epoch {trainer.current_epoch + 1}, step {trainer.global_step}"
            )
