"""Image sources as uint8 tensors (N, 3, H, W) with int64 labels: one entry per dataset.

Each file-backed dataset is one ``FileSource`` record holding everything about it: its name, its
class count and channel statistics, the files it needs, how to describe and obtain them when they
are missing, and its loader. So adding or checking a dataset touches one place, and the
datamodules (``datamodule.py``) only say which source they serve. Fashion-MNIST's is here,
CIFAR-10's and CIFAR-100's in ``cifar``, STL-10's in ``stl10``. The synthetic source is a
generator with parameters, not files: ``make_synthetic`` and its normalisation sit together here.
Nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from raft_lightning.data.sampling import sample_seed

# images (N, 3, H, W) uint8 (or a lazy.LazyImages, indexed the same way, for data read on demand),
# labels (N,) int64
Split = tuple[Tensor, Tensor]


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
    return (images[keep] if isinstance(images, Tensor) else images.take(keep)), labels[keep]


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
        if root is None or not str(root).strip():  # '' would be read as the current folder
            return [f"root={root!r}: set it to the folder that holds {self.expected}"]
        missing = missing_files(root, self.files)
        if not missing:
            return []
        which = "none of these files is there" if len(missing) == len(self.files) else "missing: " + ", ".join(missing)
        return [f"root={str(root)!r}: {self.name} not found there (expected {self.expected}; {which}){self.hint}"]

    def load(self, root: str | Path) -> tuple[Split, Split]:
        """(train, test) splits as uint8 tensors."""
        return self.loader(Path(root))


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
