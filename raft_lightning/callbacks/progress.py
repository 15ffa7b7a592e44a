"""One line per epoch for a log without a terminal: what a SLURM log, ``nohup`` or CI shows.

Lightning's progress bar redraws one line of a terminal; in a file it is off (``trainer:
enable_progress_bar: ${isatty:}``), and a run would print nothing until it ends. This callback
speaks exactly when the bar is off:

    epoch 3/30: loss -0.412, L_align 0.333, L_uniform -2.010, kNN 75.7%, 0:42 elapsed, ETA 6:18
"""

from __future__ import annotations

import logging
import time

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only

from raft_lightning.measures import ALIGN, KNN_ACC, LOSS, UNIFORM

log = logging.getLogger(__name__)
LOSSES = (("loss", LOSS), ("L_align", ALIGN), ("L_uniform", UNIFORM))  # (shown as, series)


def clock(seconds: float) -> str:
    """``h:mm:ss``, or ``m:ss`` under an hour."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class EpochLines(L.Callback):
    """Logs ``epoch k/N`` with the epoch's loss, L_align, L_uniform, the kNN accuracy when it was
    measured in that epoch, the time since this process started fitting and the time left at
    the pace of the epochs it trained (a resumed run counts from its first new epoch). Silent
    when the progress bar is on: a terminal shows the same numbers there."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.first_epoch = 0
        self.knn_seen: object = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start, self.first_epoch = time.monotonic(), trainer.current_epoch
        self.knn_seen = trainer.callback_metrics.get(KNN_ACC)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.progress_bar_callback is not None or not rank_zero_only.rank == 0 or self.start is None:
            return
        metrics = trainer.callback_metrics
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        parts = [f"{name} {float(metrics[key]):.3f}" for name, key in LOSSES if key in metrics]
        # Lightning keeps the last logged value of every key: a kNN value that is the same
        # tensor as at the previous line was not measured again in this epoch.
        knn = metrics.get(KNN_ACC)
        if knn is not None and knn is not self.knn_seen:
            parts.append(f"kNN {100 * float(knn):.1f}%")
        self.knn_seen = knn
        elapsed = time.monotonic() - self.start
        parts.append(f"{clock(elapsed)} elapsed")
        if total and total > 0:
            pace = elapsed / max(epoch - self.first_epoch, 1)
            parts.append(f"ETA {clock(pace * (total - epoch))}")
        log.info("epoch %d/%s: %s", epoch, total if total and total > 0 else "?", ", ".join(parts))
