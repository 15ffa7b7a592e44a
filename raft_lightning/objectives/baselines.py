"""The two baselines of Table 1 and Figure 3a, built on the same encoder as the objectives.
Neither has a teacher: no copy of f_θ, no EMA."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
    classifier on the projection f_θ(t1(x)). Algorithm 1's step with the labels as targets and
    no predictor (the configured one is dropped: q_w = identity)."""

    def __init__(self, num_classes: int, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.predictor = nn.Identity()  # p = f_θ(·): L_align of the projections themselves
        self.classifier = nn.Linear(projection_dim, num_classes)

    def targets(self, x1: Tensor, x2: Tensor, f1: Tensor, f2: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return labels, labels

    def objective(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        return F.cross_entropy(self.classifier(p1), z1)  # view 1 only, as the reference

    def measures(self, loss: Tensor, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, f1: Tensor) -> dict[str, Tensor]:
        return {LOSS: loss.detach(), ALIGN: alignment_loss(p1, p2), UNIFORM: uniformity_loss(f1)}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory([*self.online.parameters(), *self.classifier.parameters()])
