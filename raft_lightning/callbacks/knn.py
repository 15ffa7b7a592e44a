"""kNN monitor: how well the frozen online backbone's features classify, with no training."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn

from raft_lightning.callbacks.schedule import due, last_epoch
from raft_lightning.contracts import PlainData
from raft_lightning.evaluation.features import extract
from raft_lightning.evaluation.knn import knn_accuracy
from raft_lightning.measures import KNN_ACC
from raft_lightning.values import integer_errors, number_errors


class KNNMonitor(L.Callback):
    """Weighted kNN accuracy (k = 200, cosine, temperature 0.1) of the online backbone, logged as
    ``val/knn_acc``: the bank is the un-augmented training set, the queries the validation set.

    It costs one forward pass over both every ``every_n_epochs`` epochs (and at the last epoch).
    """

    def __init__(self, k: int = 200, temperature: float = 0.1, every_n_epochs: int = 1) -> None:
        errors = self.config_errors(k=k, temperature=temperature, every_n_epochs=every_n_epochs)
        if errors:
            raise ValueError("; ".join(errors))
        self.k, self.temperature, self.every = int(k), float(temperature), int(every_n_epochs)
        self.measured: int | None = None  # the epoch (from 0) last measured

    @staticmethod
    def config_errors(k: Any, temperature: Any, every_n_epochs: Any) -> list[str]:
        return [
            *integer_errors("k", k, 1),
            *number_errors("temperature", temperature, 0, closed_low=False),
            *integer_errors("every_n_epochs", every_n_epochs, 1),
        ]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        validate_only = trainer.state.fn == TrainerFn.VALIDATING  # e.g. the random baseline
        if trainer.sanity_checking or not (validate_only or due(trainer, self.every)):
            return
        self.measure(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A run that max_steps stops inside an epoch: Lightning validates no partial epoch, so its
        # last epoch is measured here (at a full epoch's end validation has measured it already).
        measurable = isinstance(trainer.datamodule, PlainData)  # a bare loader (the benchmarks) has no test images
        if measurable and last_epoch(trainer) and self.measured != trainer.current_epoch:
            self.measure(trainer, pl_module)
        if self.measured != trainer.current_epoch:  # Lightning keeps the last value: not this epoch's
            trainer.callback_metrics.pop(KNN_ACC, None)

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.measured = trainer.current_epoch
        datamodule: PlainData = trainer.datamodule
        backbone = pl_module.online.backbone
        bank, bank_labels = extract(backbone, datamodule.plain_train_dataloader(), pl_module.device)
        queries, labels = extract(backbone, datamodule.plain_val_dataloader(), pl_module.device)
        acc = knn_accuracy(bank, bank_labels, queries, labels, datamodule.num_classes, self.k, self.temperature)
        pl_module.log(KNN_ACC, acc)
