"""Image sources as uint8 tensors (N, 3, H, W) with int64 labels, and the torch Datasets over them."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from raft_lightning.data.augment.per_sample import sample_seed

Split = tuple[Tensor, Tensor]  # images (N, 3, H, W) uint8, labels (N,) int64


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message names the directory and the files."""


def missing_files(root: str | Path, files: list[str]) -> list[str]:
    return [name for name in files if not (Path(root) / name).is_file()]


CIFAR10_FILES = [
    f"cifar-10-batches-py/{name}" for name in ("batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
]


def load_cifar10(root: str | Path) -> tuple[Split, Split]:
    from torchvision.datasets import CIFAR10

    def split(train: bool) -> Split:
        ds = CIFAR10(str(root), train=train, download=False)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) → (N, 3, 32, 32)
        return images, torch.tensor(ds.targets, dtype=torch.int64)

    return split(True), split(False)


FASHION_MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def _read_idx(path: Path) -> np.ndarray:
    """IDX format: 2 zero bytes, a type code (0x08 = uint8), the rank, big-endian sizes, data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not a uint8 IDX file")
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def load_fashion_mnist(root: str | Path) -> tuple[Split, Split]:
    root = Path(root)

    def split(prefix: str) -> Split:
        images = torch.from_numpy(_read_idx(root / f"{prefix}-images-idx3-ubyte.gz").copy())
        labels = torch.from_numpy(_read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
        # Grey → 3 identical channels, so colour jitter and every backbone apply unchanged.
        return images[:, None].expand(-1, 3, -1, -1).contiguous(), labels

    return split("train"), split("t10k")


def make_synthetic(num_classes: int, size: int, image_size: int, seed: int, split: int) -> Split:
    """Class-structured images: each class is a smooth random colour pattern (a function of
    ``seed``), each image a shifted, noisy, re-lit copy of its class pattern (a function of
    ``seed`` and ``split``, so train and test share the classes but not the images)."""
    coarse = torch.rand(num_classes, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(sample_seed(seed, split))
    patterns = torch.nn.functional.interpolate(coarse, size=image_size, mode="bilinear", align_corners=False)
    labels = torch.arange(size) % num_classes
    images = patterns[labels]
    shifts = torch.randint(-image_size // 4, image_size // 4 + 1, (size, 2), generator=g)
    images = torch.stack([img.roll(tuple(s.tolist()), dims=(1, 2)) for img, s in zip(images, shifts)])
    images = images * (0.7 + 0.6 * torch.rand(size, 1, 1, 1, generator=g))
    images = images + 0.08 * torch.randn(images.shape, generator=g)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels


def subset(split: Split, size: int | None, seed: int) -> Split:
    """``size`` images drawn without replacement by ``seed``: the same subset for every run seed."""
    images, labels = split
    if size is None or size >= len(labels):
        return split
    keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return images[keep], labels[keep]


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields (epoch, index): the order is a function of (seed, epoch) alone, each rank takes its
    interleaved share (the tail that does not divide evenly is dropped), and the dataset derives
    each sample's augmentation from the same key. Lightning calls ``set_epoch`` every epoch.

    ``resume_at(epoch, start)`` makes the next pass over ``epoch`` begin at this rank's
    ``start``-th sample, so a run restored from a mid-epoch checkpoint sees exactly the samples
    the interrupted run had not reached yet; ``len`` stays the full epoch, as Lightning counts
    the consumed batches itself.
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, first sample) for one pass

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, start: int) -> None:
        self.epoch, self._resume = epoch, (epoch, start)

    def __len__(self) -> int:
        return self.size // self.world_size

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=g)
        else:
            order = torch.arange(self.size)
        order = order[: len(self) * self.world_size][self.rank :: self.world_size]
        if self._resume is not None:
            epoch, start = self._resume
            self._resume = None
            if epoch == self.epoch:
                order = order[start:]
        return iter([(self.epoch, i) for i in order.tolist()])


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
