"""The data: ``workers`` (the DataLoader workers' signals, their end with the run, their errors as
one line), ``sources`` (one entry per dataset: files, loader, statistics; ``cifar`` and ``stl10``
hold their own), ``lazy`` (images read on demand: image files, memory-mapped binaries),
``folder`` and ``stats`` (an ImageFolder layout listed and checked, its channel statistics
cached), ``sampling`` (the one splitmix64 hash every random choice is seeded by, and the epoch
sampler), ``views`` (per-sample torch Datasets), ``augment/`` (BYOL's views: ``per_sample`` with
torchvision, ``batched*`` for whole batches on the device), and ``datamodule``,
``image_folder``, ``stl10`` (the LightningDataModules the configs name)."""

from raft_lightning.data.datamodule import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    SyntheticDataModule,
)
from raft_lightning.data.image_folder import ImageFolderDataModule
from raft_lightning.data.sources import DataCorruptError, DataNotFoundError
from raft_lightning.data.stl10 import STL10DataModule

__all__ = [
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DataCorruptError",
    "DataNotFoundError",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "STL10DataModule",
    "SyntheticDataModule",
]
