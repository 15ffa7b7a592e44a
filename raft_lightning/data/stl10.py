"""STL-10 from its binary files (stl10_binary/), read through ``np.memmap``, never downloaded.

Pretraining draws its two views from the 5 000 labelled training images and, with
``unlabeled=True`` (the default, as STL-10 is meant to be used), the 100 000 unlabelled ones:
2.8 GB of uint8 that stays on disk, read a batch at a time. An unlabelled image's label is
``contracts.UNLABELLED`` (−1); the online probe trains on the labelled images of each batch
only, and ``loss=supervised`` is refused with unlabelled images (``run.rules``). Evaluation (kNN
bank, probe accuracy, linear evaluation) uses the labelled training images and the 8 000 test
images. Labels 1..10 in the files become 0..9.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raft_lightning.contracts import UNLABELLED
from raft_lightning.data.checks import subset_errors
from raft_lightning.data.datamodule import ImageDataModule
from raft_lightning.data.lazy import BinaryImages, Concat
from raft_lightning.data.sources import DataCorruptError, FileSource, Split

SHAPE = (3, 96, 96)  # each image: R, G, B planes of 96×96 bytes, each stored column by column
IMAGE_BYTES = 3 * 96 * 96


def _count(path: Path, expected: str) -> int:
    """The number of images in a *_X.bin file, from its size (it has no header)."""
    size = path.stat().st_size
    if size == 0 or size % IMAGE_BYTES:
        raise DataCorruptError(
            f"{path}: {size} bytes, expected {expected}: a whole number of 96×96 RGB images of "
            f"{IMAGE_BYTES} bytes each (truncated, or not an STL-10 binary?)"
        )
    return size // IMAGE_BYTES


def read_split(folder: Path, name: str) -> Split:
    """``{name}_X.bin`` (lazily) and ``{name}_y.bin`` (labels 1..10 → 0..9)."""
    images = BinaryImages(folder / f"{name}_X.bin", _count(folder / f"{name}_X.bin", f"{name}_X.bin"), SHAPE, True)
    raw = np.fromfile(folder / f"{name}_y.bin", dtype=np.uint8)
    if len(raw) != len(images) or (len(raw) and not (1 <= raw.min() and raw.max() <= 10)):
        found = f"{len(raw)} labels from {raw.min()} to {raw.max()}" if len(raw) else "no labels"
        raise DataCorruptError(
            f"{folder / f'{name}_y.bin'}: {found}, expected one byte from 1 to 10 for each of the "
            f"{len(images)} images of {name}_X.bin"
        )
    return images, torch.from_numpy(raw.astype(np.int64) - 1)


def load_stl10(root: str | Path) -> tuple[Split, Split]:
    """(labelled training images, test images): the splits with labels."""
    folder = Path(root) / "stl10_binary"
    return read_split(folder, "train"), read_split(folder, "test")


def load_unlabelled(root: str | Path) -> BinaryImages:
    path = Path(root) / "stl10_binary" / "unlabeled_X.bin"
    return BinaryImages(path, _count(path, "unlabeled_X.bin"), SHAPE, column_major=True)


STL10 = FileSource(
    name="STL-10",
    train_images=5_000,
    test_images=8_000,
    num_classes=10,
    # The per-channel statistics in common use for STL-10.
    mean=(0.4467, 0.4398, 0.4066),
    std=(0.2603, 0.2566, 0.2713),
    files=tuple(
        f"stl10_binary/{name}" for name in ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "unlabeled_X.bin")
    ),
    expected="stl10_binary/ with train_X.bin, train_y.bin, test_X.bin, test_y.bin, unlabeled_X.bin",
    hint=(
        ". Nothing is downloaded: unpack http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz "
        "into that folder, or set data.root (or RAFT_DATA_DIR) to the folder that holds stl10_binary"
    ),
    loader=load_stl10,
)
UNLABELLED_IMAGES = 100_000
# Without the unlabelled images: their 2.7 GB file need not be there.
STL10_LABELLED = dataclasses.replace(
    STL10,
    files=STL10.files[:4],
    expected="stl10_binary/ with train_X.bin, train_y.bin, test_X.bin, test_y.bin",
)


class STL10DataModule(ImageDataModule):
    """STL-10 from ``root`` (the folder holding stl10_binary), 96×96; ``unlabeled``: pretrain on
    the 100 000 unlabelled images too (their label is ``contracts.UNLABELLED``)."""

    source = STL10
    num_classes, mean, std = STL10.num_classes, STL10.mean, STL10.std
    has_unlabelled = True  # contracts: two-view batches may hold UNLABELLED labels

    def __init__(self, unlabeled: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unlabeled = self.has_unlabelled = unlabeled
        self.source = STL10 if unlabeled else STL10_LABELLED

    @classmethod
    def data_errors(cls, root: Any, unlabeled: Any = True, **params: Any) -> list[str]:
        return (STL10 if unlabeled else STL10_LABELLED).errors(root)

    @classmethod
    def size_errors(cls, unlabeled: Any = True, **params: Any) -> list[str]:
        """Subsets of the labelled splits; one batch of training images, unlabelled ones included."""
        return subset_errors(cls.split_sizes(), unlabelled=UNLABELLED_IMAGES if unlabeled else 0, **params)

    def file_errors(self) -> list[str]:
        return self.data_errors(self.root, unlabeled=self.unlabeled)

    def pretrain_split(self, train: Split) -> Split:
        """The labelled training images, then (with ``unlabeled``) the unlabelled ones."""
        if not self.unlabeled:
            return train
        images, labels = train
        unlabelled = load_unlabelled(self.root)
        return Concat([images, unlabelled]), torch.cat([labels, torch.full((len(unlabelled),), UNLABELLED)])
