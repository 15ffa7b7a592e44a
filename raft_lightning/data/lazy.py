"""Images read when asked, for datasets too big to hold in memory: a folder of image files
(decoded and resized by PIL) and raw uint8 binaries (STL-10's, through ``np.memmap``).

A ``LazyImages`` is indexed like the uint8 image tensor of a ``sources.Split``: ``images[i]`` is
one (3, H, W) image, ``images[[i, j]]`` or ``images[tensor]`` a (B, 3, H, W) batch. So the
datasets of ``views`` and ``augment.batched`` serve either, and a read happens in the
DataLoader's workers, one batch at a time. Every store holds only file names and offsets (no
open files, no Python list per image), so it pickles small to spawned workers and forked ones
do not copy it page by page as they touch reference counts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from raft_lightning.data.sources import DataCorruptError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")


class LazyImages(Dataset):
    """uint8 images (3, H, W) read on demand; subclasses implement ``__len__`` and ``read``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, rows: np.ndarray) -> Tensor:
        """The images at ``rows`` (int64, any order, repeats allowed), as uint8 (B, 3, H, W)."""
        raise NotImplementedError

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, (int, np.integer)) or (isinstance(index, Tensor) and index.ndim == 0):
            return self.read(np.array([int(index)]))[0]
        rows = index.cpu().numpy() if isinstance(index, Tensor) else np.asarray(index)
        return self.read(rows.astype(np.int64, copy=False))

    def __getitems__(self, indices: list[int]) -> Tensor:
        """A DataLoader's batch at once (its collate_fn then passes it through)."""
        return self[indices]

    def take(self, rows: Sequence[int] | Tensor) -> LazyImages:
        """The images at ``rows``, still unread (what ``sources.subset`` keeps)."""
        rows = rows.numpy() if isinstance(rows, Tensor) else np.asarray(rows)
        return Rows(self, rows.astype(np.int64))


class Rows(LazyImages):
    """Some images of a store (a subset), still unread."""

    def __init__(self, parent: LazyImages, rows: np.ndarray) -> None:
        self.parent, self.rows = parent, rows

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, rows: np.ndarray) -> Tensor:
        return self.parent.read(self.rows[rows])


class Concat(LazyImages):
    """Stores one after the other (STL-10's labelled and unlabelled training images)."""

    def __init__(self, parts: Sequence[LazyImages]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, rows: np.ndarray) -> Tensor:
        part = np.searchsorted(self.starts, rows, side="right") - 1
        out = None
        for p in np.unique(part):  # one read per part, its images put back in the order asked
            chosen = np.nonzero(part == p)[0]
            images = self.parts[p].read(rows[chosen] - self.starts[p])
            if out is None:
                out = torch.empty((len(rows), *images.shape[1:]), dtype=torch.uint8)
            out[torch.from_numpy(chosen)] = images
        return out if out is not None else torch.empty(0, 3, 0, 0, dtype=torch.uint8)


class FolderImages(LazyImages):
    """Image files under ``root`` (relative paths), each decoded to RGB and resized to ``size``.

    The shorter side is resized to ``size`` (bicubic, antialiased), then the centre square is
    cut: objects keep their aspect ratio, which a squash to a square would not. Grey, palette
    and RGBA images become RGB (alpha dropped), so every image has 3 channels. JPEGs are decoded
    at the smallest scale still ≥ ``size`` (PIL's ``draft``): large photos cost a fraction.
    """

    def __init__(self, root: str | os.PathLike, files: Sequence[str], size: int) -> None:
        self.root, self.size = os.fsencode(root), size
        # One bytes array, not a list of str: see the module docstring.
        self.files = np.array([os.fsencode(f) for f in files], dtype=np.bytes_)

    def __len__(self) -> int:
        return len(self.files)

    def path(self, row: int) -> str:
        return os.fsdecode(os.path.join(self.root, self.files[row]))

    def read(self, rows: np.ndarray) -> Tensor:
        images = [decode(self.path(int(r)), self.size) for r in rows]
        return torch.stack(images) if images else torch.empty(0, 3, self.size, self.size, dtype=torch.uint8)


def decode(path: str, size: int) -> Tensor:
    """One image file as uint8 (3, size, size); an unreadable file raises ``DataCorruptError``."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))
            image = _eight_bit(image).convert("RGB")
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        pixels = np.asarray(image.crop((left, top, left + size, top + size)))  # (size, size, 3)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, … by format
        raise DataCorruptError(
            f"{path}: cannot be decoded, expected an image file PIL can read "
            f"({', '.join(IMAGE_EXTENSIONS)}) ({type(e).__name__}: {e})"
        ) from e
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit grey image (microscopy, medical scans: PIL's I;16 modes, or I) scaled to 8 bits
    over the 16-bit range, 65535 → 255: PIL's own conversion clips every value above 255 to
    white. A float image (F) has no range to scale from: refused. Other modes pass unchanged."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(values / 257), 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        raise ValueError("a 32-bit float image has no known range: save it with 8 or 16 bits per channel")
    return image


class BinaryImages(LazyImages):
    """``count`` uint8 images of ``shape`` stored back to back in a headerless file, through a
    read-only ``np.memmap`` opened in each process on first use (a memmap pickled to a worker
    would be copied whole). ``column_major``: each plane is stored by columns (STL-10), so it is
    transposed to (H, W) on reading."""

    def __init__(self, path: str | os.PathLike, count: int, shape: tuple[int, int, int], column_major: bool) -> None:
        self.path, self.count, self.shape, self.column_major = os.fspath(path), count, shape, column_major
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def read(self, rows: np.ndarray) -> Tensor:
        if self._array is None:
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.count, *self.shape))
        images = self._array[rows]  # a copy of just these rows
        if self.column_major:
            images = images.transpose(0, 1, 3, 2)
        return torch.from_numpy(np.ascontiguousarray(images))
