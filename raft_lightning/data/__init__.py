"""The data: ``sources`` (one entry per dataset: files, loader, statistics), ``sampling`` (the one
splitmix64 hash every random choice is seeded by, and the epoch sampler), ``views`` (per-sample
torch Datasets), ``augment/`` (BYOL's views: ``per_sample`` with torchvision, ``batched*`` for
whole batches on the device), and ``datamodule`` (the LightningDataModules the configs name)."""

from raft_lightning.data.datamodule import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    SyntheticDataModule,
)
from raft_lightning.data.sources import DataNotFoundError

__all__ = ["CIFAR10DataModule", "DataNotFoundError", "FashionMNISTDataModule", "ImageDataModule", "SyntheticDataModule"]
