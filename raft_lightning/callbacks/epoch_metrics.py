"""The per-epoch metrics file, ``metrics.csv``: one row per completed epoch, whatever the loggers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import lightning as L

from raft_lightning.files import write_atomically


class EpochMetrics(L.Callback):
    """Writes one row per completed epoch to ``path`` (CSV), whatever loggers are attached.

    Rows hold every ``train/*``, ``val/*`` and ``monitor/*`` value Lightning has at the end of
    the epoch: epoch means of the training metrics, the last step of step-level ones
    (``train/tau``), the validation results and the collapse monitors of that epoch (their
    callback comes before this one in the config, so that they are measured by then). The file
    is rewritten atomically each epoch,
    so a run that dies keeps every epoch it finished.
    """

    PREFIXES = ("train/", "val/", "monitor/")

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
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, text.getvalue())
