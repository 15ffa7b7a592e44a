"""Epoch means that never read the device: what the objectives and the probe accumulate per step."""

from __future__ import annotations

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
