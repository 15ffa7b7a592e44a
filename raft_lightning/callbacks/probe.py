"""Online linear probe: how linearly separable the online encoder's features are, every epoch."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from raft_lightning.contracts import UNLABELLED, EvalOutput, PlainData, StepOutput
from raft_lightning.measures import PROBE_ACC, PROBE_LOSS, step_series
from raft_lightning.metrics import EpochMean
from raft_lightning.values import integer_errors, number_errors


class OnlineProbe(L.Callback):
    """A linear classifier on detached backbone features of the *online* network.

    It trains on the features that ``training_step`` returns (view 1, detached, so no probe
    gradient can reach the encoder) with its own optimiser, and reports ``val/probe_acc`` on the
    validation features every epoch. It never reads the target network, whose features lag
    the encoder by the EMA.

    Under DDP it trains on the features of every device's batch (all-gathered), so that the
    classifier, its optimiser and the logged loss are the same on every rank.

    ``num_classes=None`` takes the datamodule's (``contracts.PlainData``) at setup. Where the
    datamodule's batches may hold images without a label (``has_unlabelled``: STL-10's
    unlabelled split, labelled ``contracts.UNLABELLED``), it trains on the labelled ones of each
    batch and skips a batch without any; finding them reads the labels on the host, which runs
    on other data never pay.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
        lr: float = 1e-3,
    ) -> None:
        """``optimizer``: a factory on the classifier's parameters (Hydra ``_partial_``,
        ``callbacks.probe.optimizer``); without one, Adam at ``lr``."""
        errors = self.config_errors(num_classes=num_classes, lr=lr)
        if errors:
            raise ValueError("; ".join(errors))
        self.num_classes, self.lr = None if num_classes is None else int(num_classes), float(lr)
        self.optimizer_factory = optimizer or functools.partial(torch.optim.Adam, lr=self.lr)
        self.classifier: nn.Linear | None = None
        self.partly_labelled = False
        self.logged = False  # train/probe_loss registered with Lightning in this epoch

    @staticmethod
    def config_errors(lr: Any, num_classes: Any = None, **_: Any) -> list[str]:
        classes = [] if num_classes is None else integer_errors("num_classes", num_classes, 2)
        return [*classes, *number_errors("lr", lr, 0, closed_low=False)]

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.classifier is not None:
            return
        datamodule: PlainData | None = trainer.datamodule
        self.partly_labelled = bool(getattr(datamodule, "has_unlabelled", False))
        if self.num_classes is None:
            self.num_classes = datamodule.num_classes
        device = trainer.strategy.root_device
        self.classifier = nn.Linear(pl_module.online.backbone.out_dim, self.num_classes).to(device)
        self.optimizer = self.optimizer_factory(self.classifier.parameters())
        self.accuracy = MulticlassAccuracy(self.num_classes, average="micro").to(device)
        self.loss_mean = EpochMean().to(device)  # train/probe_loss, kept in checkpoints

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.logged = False  # a run restored mid-epoch starts without on_train_epoch_start

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.loss_mean.reset()
        self.logged = False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: StepOutput, batch: Any, batch_idx: int
    ) -> None:
        features, labels = outputs["features"].float(), outputs["labels"]
        if trainer.world_size > 1:  # (world, B, D) → (world·B, D): every rank takes the same step
            features = pl_module.all_gather(features).flatten(0, 1)
            labels = pl_module.all_gather(labels).flatten(0, 1)
        if self.partly_labelled:
            labelled = labels != UNLABELLED
            if not labelled.any():  # nothing to learn from; the same on every rank (gathered)
                return
            features, labels = features[labelled], labels[labelled]
        with torch.enable_grad():
            loss = F.cross_entropy(self.classifier(features), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_mean.update(loss.detach(), torch.full((), len(labels), dtype=loss.dtype, device=loss.device))
        if (trainer.global_step % max(trainer.log_every_n_steps, 1)) == 0:  # the optimiser step that Lightning logs
            pl_module.log(step_series(PROBE_LOSS), loss.detach(), on_step=True, on_epoch=False)
        if not self.logged:  # once per epoch: Lightning computes the Metric when the epoch ends
            pl_module.log(PROBE_LOSS, self.loss_mean, on_step=False, on_epoch=True, metric_attribute="probe_loss")
            self.logged = True

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: EvalOutput, *args: Any, **kwargs: Any
    ) -> None:
        with torch.no_grad():
            self.accuracy.update(self.classifier(outputs["features"].float()), outputs["labels"])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log(PROBE_ACC, self.accuracy.compute())
        self.accuracy.reset()

    def state_dict(self) -> dict[str, Any]:
        if self.classifier is None:
            return {}
        return {
            "classifier": self.classifier.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "loss_mean": {"mean_value": self.loss_mean.mean_value, "weight": self.loss_mean.weight},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            self.classifier.load_state_dict(state_dict["classifier"])
            self.optimizer.load_state_dict(state_dict["optimizer"])
            for name, value in state_dict.get("loss_mean", {}).items():
                setattr(self.loss_mean, name, value.to(self.loss_mean.device))
