"""kNN monitor: how well the frozen online backbone's features classify, with no training."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn

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

    @staticmethod
    def config_errors(k: Any, temperature: Any, every_n_epochs: Any) -> list[str]:
        return [
            *integer_errors("k", k, 1),
            *number_errors("temperature", temperature, 0, closed_low=False),
            *integer_errors("every_n_epochs", every_n_epochs, 1),
        ]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        validate_only = trainer.state.fn == TrainerFn.VALIDATING  # e.g. the random baseline
        due = validate_only or epoch % self.every == 0 or epoch >= (trainer.max_epochs or 0)
        if trainer.sanity_checking or not due:
            return
        datamodule: PlainData = trainer.datamodule
        backbone = pl_module.online.backbone
        bank, bank_labels = extract(backbone, datamodule.plain_train_dataloader(), pl_module.device)
        queries, labels = extract(backbone, datamodule.plain_val_dataloader(), pl_module.device)
        acc = knn_accuracy(bank, bank_labels, queries, labels, datamodule.num_classes, self.k, self.temperature)
        pl_module.log(KNN_ACC, acc)
