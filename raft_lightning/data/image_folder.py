"""Your own images: a folder in torchvision's ImageFolder layout (``folder``), decoded by the
loader's workers (``lazy.FolderImages``), never all held in memory. docs/your-data.md."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from raft_lightning.data.checks import subset_errors
from raft_lightning.data.datamodule import ImageDataModule
from raft_lightning.data.folder import FolderError, FolderSplit, fraction_errors, read_folder
from raft_lightning.data.lazy import FolderImages
from raft_lightning.data.sources import Split
from raft_lightning.data.stats import folder_statistics


class ImageFolderDataModule(ImageDataModule):
    """Images under ``root``: ``root/train/<class>/*`` and ``root/val/<class>/*``, or
    ``root/<class>/*`` with ``val_fraction`` held out by ``split_seed`` (the same images for every
    run seed). Each image is decoded to RGB, its shorter side resized to ``image_size`` and its
    centre square kept (``lazy.decode``): a uint8 (3, S, S) image, as the other datasets' tensors.

    ``num_classes``: None counts the class folders (the config resolves it from the folder with
    ``${folder_classes:...}``, so the probe knows it before the run); a number must match them.
    ``mean`` / ``std``: None computes them over the training split once and caches them
    (``stats``); validation runs on ``val`` (kNN queries, probe accuracy, linear evaluation).
    """

    def __init__(
        self,
        root: str | None = None,
        num_classes: int | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        errors = fraction_errors(val_fraction) + stats_errors(mean, std)
        if errors:
            raise ValueError("; ".join(errors))
        super().__init__(root=root, num_classes=num_classes, **kwargs)
        self.requested_classes, self.num_classes = num_classes, num_classes  # the count: at setup
        self.val_fraction, self.split_seed = val_fraction, split_seed
        self.computed_stats = mean is None
        if mean is not None:
            self.mean, self.std = tuple(mean), tuple(std)
        self.classes: tuple[str, ...] = ()
        self._folder: FolderSplit | None = None
        self._digest: str | None = None  # of the listing, read once: a resume checks it, the record keeps it

    @classmethod
    def config_errors(cls, root: Any = None, **params: Any) -> list[str]:
        params = {**_defaults(cls), **params}
        errors = cls.value_errors(**params) + fraction_errors(params["val_fraction"])
        errors += stats_errors(params["mean"], params["std"])
        if errors:
            return errors
        try:
            folder = read_folder(root, params["val_fraction"], params["split_seed"])
        except (FolderError, OSError) as e:
            return [str(e)] if isinstance(e, FolderError) else [f"root={str(root)!r}: cannot be read ({e})"]
        return class_errors(folder, params["num_classes"]) or subset_errors(
            (len(folder.train_files), len(folder.val_files)), **params
        )

    @classmethod
    def split_sizes(cls, root: Any = None, **params: Any) -> tuple[int, int]:
        params = {**_defaults(cls), **params}
        folder = read_folder(root, params["val_fraction"], params["split_seed"])
        full = len(folder.train_files), len(folder.val_files)
        return params.get("train_subset") or full[0], params.get("val_subset") or full[1]

    def folder(self) -> FolderSplit:
        """The files and labels of each split, listed once."""
        if self._folder is None:
            self._folder = read_folder(self.root, self.val_fraction, self.split_seed)
        return self._folder

    def file_errors(self) -> list[str]:
        try:
            return class_errors(self.folder(), self.requested_classes)
        except FolderError as e:
            return [str(e)]

    def prepare_data(self) -> None:
        """Before ``setup``, in one process per node (Lightning makes the others wait): the
        channel statistics, computed and cached once instead of by every process of a DDP run."""
        if self.computed_stats and not self.file_errors():
            folder_statistics(self.images(self.folder().train_files), self.num_workers)

    def files_record(self) -> dict[str, Any]:
        """The folder as this run read it: image counts, a digest of the listing (names, labels,
        sizes), and the channel statistics the images were normalised with (once known)."""
        folder = self.folder()
        if self._digest is None:
            self._digest = listing_digest(folder)
        known = getattr(self, "mean", None) is not None
        return {
            "train_images": len(folder.train_files),
            "val_images": len(folder.val_files),
            "digest": self._digest,
            "mean": [float(v) for v in self.mean] if known else None,
            "std": [float(v) for v in self.std] if known else None,
        }

    def as_recorded(self, recorded: dict[str, Any] | None) -> None:
        """The same images as the run's (``DataChanged`` otherwise: an evaluation or a resume on
        other images would not be the run's), normalised with the statistics it recorded."""
        if not isinstance(recorded, dict) or "digest" not in recorded:
            return  # a run recorded before data_files existed: nothing to compare against
        now = self.files_record()
        if now["digest"] != recorded["digest"]:
            then = f"{recorded.get('train_images')} training and {recorded.get('val_images')} validation images"
            changed = (
                f"{now['train_images']} and {now['val_images']} now"
                if (now["train_images"], now["val_images"])
                != (recorded.get("train_images"), recorded.get("val_images"))
                else "the same counts now, but other names, labels or contents"
            )
            raise DataChanged(
                f"data.root={str(self.root)!r}: not the images the run trained on ({then} then; {changed}); "
                "restore the folder, or train a new run on it"
            )
        if self.computed_stats and recorded.get("mean") is not None and recorded.get("std") is not None:
            self.mean, self.std = tuple(recorded["mean"]), tuple(recorded["std"])
            self.computed_stats = False

    def images(self, files: Sequence[str]) -> FolderImages:
        return FolderImages(self.root, files, self.image_size)

    def load(self) -> tuple[Split, Split]:
        folder = self.folder()
        self.classes, self.num_classes = folder.classes, len(folder.classes)
        train = self.images(folder.train_files), torch.tensor(folder.train_labels, dtype=torch.int64)
        val = self.images(folder.val_files), torch.tensor(folder.val_labels, dtype=torch.int64)
        if self.computed_stats:
            self.mean, self.std = folder_statistics(train[0], self.num_workers)
        return train, val


class DataChanged(ValueError):
    """A run's image folder holds other images than when the run trained."""


DIGEST_ENDS = 4096  # bytes read at each end of an image file: its header and where it differs


def _file_digest(path: Path) -> str:
    """An image file's size and the sha256 of its first and last ``DIGEST_ENDS`` bytes (the whole
    file when it is smaller): a rewritten or swapped image, at the cost of 8 KiB a file, not all of it."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(DIGEST_ENDS)
        if size > 2 * DIGEST_ENDS:
            f.seek(size - DIGEST_ENDS)
        tail = f.read()  # the rest where the file is small
    return f"{size}:{hashlib.sha256(head + tail).hexdigest()}"


def listing_digest(folder: FolderSplit) -> str:
    """sha256 of the split as listed: the classes, and each image's name, label and ``_file_digest``."""
    splits = [[(f, label, _file_digest(folder.root / f)) for f, label in zip(files, labels)] for files, labels in (
        (folder.train_files, folder.train_labels), (folder.val_files, folder.val_labels))]  # fmt: skip
    return hashlib.sha256(json.dumps([list(folder.classes), *splits]).encode()).hexdigest()


def _defaults(cls: type) -> dict[str, Any]:
    """The constructor's own defaults: validation passes every value, a direct call may not."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def class_errors(folder: FolderSplit, num_classes: Any) -> list[str]:
    if num_classes is None or num_classes == len(folder.classes):
        return []
    names = ", ".join(folder.classes[:8]) + (", …" if len(folder.classes) > 8 else "")
    return [
        f"num_classes={num_classes!r}: root={str(folder.root)!r} holds {len(folder.classes)} class folders "
        f"({names}); leave data.num_classes unset (it is counted from the folder) or set it to {len(folder.classes)}"
    ]


def stats_errors(mean: Any, std: Any) -> list[str]:
    """Both null (computed from the training images) or both 3 finite numbers, std > 0."""
    errors = []
    for name, value, low in (("mean", mean, -math.inf), ("std", std, 0)):
        value = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value  # a ListConfig too
        ok = value is None or (
            isinstance(value, list)
            and len(value) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            and min(value) > low
        )
        if not ok:
            bound = "" if name == "mean" else ", each > 0"
            errors.append(
                f"{name}={value!r}: null (computed over the training images and cached) "
                f"or 3 numbers, one per channel (R, G, B) in [0, 1] units{bound}"
            )
    if not errors and (mean is None) != (std is None):
        errors.append(f"mean={mean!r}, std={std!r}: set both, or neither (both computed)")
    return errors
