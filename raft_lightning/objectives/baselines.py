"""The two baselines of Table 1 and Figure 3a, built on the same encoder as the objectives."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raft_lightning.contracts import StepOutput
from raft_lightning.losses import alignment_loss, uniformity_loss
from raft_lightning.measures import ALIGN, LOSS, UNIFORM
from raft_lightning.objectives.base import SelfSupervised


class RandomEncoder(SelfSupervised):
    """The randomly initialised, untrained encoder (Table 1's random baseline, 42.74 % on CIFAR-10).

    ``pretrain = False``: train() skips fitting, validates once (kNN monitor) and saves the
    initial weights, which the linear evaluation then reads like any other run's.
    """

    pretrain = False

    def objective(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        raise RuntimeError("the random baseline is never trained")


class Supervised(SelfSupervised):
    """The same encoder f_θ trained with cross-entropy on the labels (Figure 3a): a linear
    classifier on the projection f_θ(t1(x)). The predictor and the mean teacher are unused."""

    def __init__(self, num_classes: int, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classifier = nn.Linear(projection_dim, num_classes)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> StepOutput:
        x1, x2, labels = batch
        h1, f1 = self.online(x1)
        _, f2 = self.online(x2)
        loss = F.cross_entropy(self.classifier(f1), labels)
        with torch.no_grad():  # no predictor: L_align of the projections themselves
            terms = self._log_means(
                {LOSS: loss.detach(), ALIGN: alignment_loss(f1, f2), UNIFORM: uniformity_loss(f1)}, len(labels)
            )
        return StepOutput(loss=loss, features=h1.detach(), labels=labels, terms=terms)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory([*self.online.parameters(), *self.classifier.parameters()])
