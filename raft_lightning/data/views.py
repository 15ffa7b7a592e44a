"""torch Datasets over a ``sources.Split`` for the per-sample (torchvision) pipeline: two
augmented views for training, one deterministic transform for evaluation. The batched
counterparts are in ``augment/batched.py``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

from raft_lightning.data.sampling import sample_seed
from raft_lightning.data.sources import Split


class TwoViews(Dataset):
    """(t1(x), t2(x), y) for key (epoch, index); the views are seeded by (seed, epoch, index)."""

    def __init__(self, split: Split, views: tuple[Callable, Callable], seed: int) -> None:
        self.images, self.labels = split
        self.views, self.seed = views, seed

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
        epoch, index = key
        image = self.images[index]
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(sample_seed(self.seed, epoch, index))
            return self.views[0](image), self.views[1](image), self.labels[index]


class Transformed(Dataset):
    def __init__(self, split: Split, transform: Callable) -> None:
        self.images, self.labels = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.transform(self.images[index]), self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[Tensor, Tensor]]:
        """A whole batch through the (deterministic) transform at once: the DataLoader calls
        this instead of ``__getitem__`` per index, which is many times faster."""
        images = self.transform(self.images[indices])  # (B, 3, H, W)
        return list(zip(images, self.labels[indices]))
