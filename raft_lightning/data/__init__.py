from raft_lightning.data.datamodule import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    SyntheticDataModule,
)
from raft_lightning.data.datasets import DataNotFoundError

__all__ = ["CIFAR10DataModule", "DataNotFoundError", "FashionMNISTDataModule", "ImageDataModule", "SyntheticDataModule"]
