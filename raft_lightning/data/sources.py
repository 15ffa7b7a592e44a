"""Image sources as uint8 tensors (N, 3, H, W) with int64 labels: one entry per dataset.

Each file-backed dataset is one ``FileSource`` record holding everything about it: its name, its
class count and channel statistics, the files it needs, how to describe and obtain them when they
are missing, and its loader. So adding or checking a dataset touches one place, and the
datamodules (``datamodule.py``) only say which source they serve. The synthetic source is a
generator with parameters, not files: ``make_synthetic`` and its normalisation sit together here.
Nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from raft_lightning.data.sampling import sample_seed

Split = tuple[Tensor, Tensor]  # images (N, 3, H, W) uint8, labels (N,) int64


class DataCorruptError(ValueError):
    """A dataset file is there but cannot be read: the message names it and what was expected."""


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message names the directory and the files."""


def missing_files(root: str | Path, files: Sequence[str]) -> list[str]:
    return [name for name in files if not (Path(root) / name).is_file()]


def subset(split: Split, size: int | None, seed: int) -> Split:
    """``size`` images drawn without replacement by ``seed``: the same subset for every run seed."""
    images, labels = split
    if size is None or size >= len(labels):
        return split
    keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return images[keep], labels[keep]


@dataclass(frozen=True)
class FileSource:
    """A dataset read from files under a ``root`` folder."""

    name: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    files: tuple[str, ...]  # relative to root
    expected: str  # the files, as a person would describe them
    hint: str  # how to obtain them (appended to the error message)
    loader: Callable[[Path], tuple[Split, Split]]
    train_images: int  # in the training split, for checking batch and subset sizes before a run
    test_images: int

    def errors(self, root: str | Path | None) -> list[str]:
        """Whether the files are under ``root``: one message naming both, or none."""
        if root is None:
            return [f"root=None: set it to the folder that holds {self.expected}"]
        missing = missing_files(root, self.files)
        if not missing:
            return []
        which = "none of these files is there" if len(missing) == len(self.files) else "missing: " + ", ".join(missing)
        return [f"root={str(root)!r}: {self.name} not found there (expected {self.expected}; {which}){self.hint}"]

    def load(self, root: str | Path) -> tuple[Split, Split]:
        """(train, test) splits as uint8 tensors."""
        return self.loader(Path(root))


# CIFAR-10, through torchvision's reader of the python pickles.


def load_cifar10(root: str | Path) -> tuple[Split, Split]:
    """The python pickles of cifar-10-batches-py, read here (not by torchvision's class, whose
    error for a damaged file suggests a download and names no file)."""
    folder = Path(root) / "cifar-10-batches-py"

    def split(names: list[str]) -> Split:
        parts = [_read_cifar_batch(folder / name) for name in names]
        images = torch.cat([p[0] for p in parts]).reshape(-1, 3, 32, 32)  # rows are (R, G, B) planes
        return images, torch.cat([p[1] for p in parts])

    return split([f"data_batch_{i}" for i in range(1, 6)]), split(["test_batch"])


def _read_cifar_batch(path: Path) -> tuple[Tensor, Tensor]:
    expected = "a CIFAR-10 python batch (a pickled dict with 10000 'data' rows of 3072 bytes and 'labels')"
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise ValueError(f"data of shape {data.shape} with {len(labels)} labels")
    except Exception as e:  # truncated, not a pickle, other keys: each raises its own kind
        raise DataCorruptError(f"{path}: damaged or not {expected} ({type(e).__name__}: {e})") from e
    return torch.from_numpy(data.copy()), torch.from_numpy(labels)


CIFAR10 = FileSource(
    name="CIFAR-10",
    train_images=50_000,
    test_images=10_000,
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    files=tuple(
        f"cifar-10-batches-py/{name}"
        for name in ("batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
    ),
    expected="cifar-10-batches-py/ with data_batch_1..5, test_batch, batches.meta",
    hint=(
        ". Nothing is downloaded: unpack https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        "into that folder, or set data.root (or RAFT_DATA_DIR) to the folder that holds cifar-10-batches-py"
    ),
    loader=load_cifar10,
)


# Fashion-MNIST, from the gzipped IDX files (Debian's dataset-fashion-mnist).


def _read_idx(path: Path) -> np.ndarray:
    """IDX format: 2 zero bytes, a type code (0x08 = uint8), the rank, big-endian sizes, data."""
    expected = "a gzipped uint8 IDX file (reinstall it: apt-get install --reinstall dataset-fashion-mnist)"
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        if raw[:3] != b"\x00\x00\x08":
            raise ValueError("no uint8 IDX header")
        rank = raw[3]
        shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)
    except (OSError, EOFError, ValueError, zlib.error) as e:  # truncated, not gzip, wrong sizes
        raise DataCorruptError(f"{path}: damaged or truncated, expected {expected} ({type(e).__name__}: {e})") from e


def load_fashion_mnist(root: str | Path) -> tuple[Split, Split]:
    root = Path(root)

    def split(prefix: str) -> Split:
        images = torch.from_numpy(_read_idx(root / f"{prefix}-images-idx3-ubyte.gz").copy())
        labels = torch.from_numpy(_read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
        # Grey → 3 identical channels, so colour jitter and every backbone apply unchanged.
        return images[:, None].expand(-1, 3, -1, -1).contiguous(), labels

    return split("train"), split("t10k")


FASHION_MNIST = FileSource(
    name="Fashion-MNIST",
    train_images=60_000,
    test_images=10_000,
    num_classes=10,
    mean=(0.2860, 0.2860, 0.2860),
    std=(0.3530, 0.3530, 0.3530),
    files=(
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ),
    expected="{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
    hint=". On Debian: apt-get install dataset-fashion-mnist (installs to /usr/share/datasets/fashion-mnist)",
    loader=load_fashion_mnist,
)


# Synthetic: generated, for tests and the smoke preset.

SYNTHETIC_MEAN = (0.5, 0.5, 0.5)
SYNTHETIC_STD = (0.25, 0.25, 0.25)


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
