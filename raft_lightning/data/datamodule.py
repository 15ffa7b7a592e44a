"""LightningDataModules: two augmented views for training, plain images for validation."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from raft_lightning.data.augment.batched import BatchedEval, BatchedTwoViews, BatchedViews, whole_batch
from raft_lightning.data.augment.per_sample import byol_views, eval_transform
from raft_lightning.data.checks import DataChecks
from raft_lightning.data.cifar import CIFAR10, CIFAR100
from raft_lightning.data.sampling import EpochSampler
from raft_lightning.data.sources import (
    FASHION_MNIST,
    SYNTHETIC_MEAN,
    SYNTHETIC_STD,
    DataNotFoundError,
    FileSource,
    Split,
    make_synthetic,
    subset,
)
from raft_lightning.data.views import Transformed, TwoViews
from raft_lightning.data.workers import leave_signals_to_the_main_process, worker_count
from raft_lightning.files import DATA_FILES
from raft_lightning.values import integer_errors


class ResumableLoader(DataLoader):
    """Tells Lightning that the training loader resumes mid-epoch (else it warns that it cannot).
    The position itself travels in the datamodule's state, restored before the loader is built,
    because with workers the first iterator draws its indices as soon as it exists."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


class ImageDataModule(DataChecks, L.LightningDataModule):
    """Holds a dataset as uint8 tensors and serves BYOL's two views of it.

    ``batch_size`` is the global batch: under DDP each of the N devices gets batch_size / N.
    ``seed`` seeds the sample order and the augmentations (together with epoch and index);
    ``subset_seed`` picks ``train_subset`` / ``val_subset`` images, the same ones for every run.
    ``pipeline="torchvision"`` augments each sample with torchvision in the loader's workers;
    ``"batched"`` augments whole batches (``batched_augment``): in the workers on a CPU run, on
    the device after the transfer otherwise (the loader then only carries keys).

    A subclass names its ``source`` (``sources.FileSource``: files, loader, statistics) or, for
    generated data, sets ``num_classes``, ``mean`` and ``std`` and overrides ``load``. The
    images of a split are a uint8 tensor or, for data too big for memory, a ``lazy.LazyImages``
    read in the loader's workers; ``pretrain_split`` may add images without labels (STL-10).
    """

    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: FileSource | None = None

    def __init__(
        self,
        augment: dict[str, Any],
        image_size: int = 32,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
        root: str | None = None,
        train_subset: int | None = None,
        val_subset: int | None = None,
        subset_seed: int = 0,
        num_classes: int | None = None,
        pipeline: str = "torchvision",
    ) -> None:
        super().__init__()
        # The files are checked in setup (and by validation before a run), not at construction.
        errors = self.value_errors(
            batch_size=batch_size, image_size=image_size, num_workers=num_workers, pipeline=pipeline
        )
        if num_classes is not None and num_classes != getattr(self, "num_classes", num_classes):
            errors.append(f"num_classes={num_classes!r}: {type(self).__name__} has {self.num_classes} classes")
        if errors:
            raise ValueError("; ".join(errors))
        self.augment = dict(augment)
        self.image_size, self.batch_size, self.num_workers = image_size, batch_size, num_workers
        self.seed, self.root, self.subset_seed = seed, root, subset_seed
        self.train_subset, self.val_subset = train_subset, val_subset
        self.pipeline = pipeline
        self.train_set: TwoViews | BatchedTwoViews | None = None
        self._resume: dict[str, int] = {}  # where a restored checkpoint stopped: {"epoch", "batches"}

    def load(self) -> tuple[Split, Split]:
        """(train, test) splits as uint8 tensors."""
        if self.source is None:
            raise NotImplementedError
        return self.source.load(self.root)

    def file_errors(self) -> list[str]:
        """What is wrong with the files, checked in ``setup`` (validation checked them before)."""
        return self.data_errors(self.root)

    def files_record(self) -> dict[str, Any] | None:
        """What the data's files held when a run read them (summary.json's ``data_files``), for
        data that can change under the same config; None for a dataset's own fixed files."""
        return None

    def as_recorded(self, recorded: dict[str, Any] | None) -> None:
        """The data as a run recorded it (its ``data_files``), before ``setup``: raises
        ``DataChanged`` where the files differ now. A dataset's fixed files need nothing."""

    def pretrain_split(self, train: Split) -> Split:
        """The images the two views are drawn from: the training split, here."""
        return train

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        errors = self.file_errors()
        if errors:
            raise DataNotFoundError(errors[0])
        train, test = self.load()
        train = subset(train, self.train_subset, self.subset_seed)
        test = subset(test, self.val_subset, self.subset_seed)
        # Frozen-encoder evaluation (kNN, linear) reads plain images outside Lightning's hooks,
        # with the same per-sample-exact transform whatever the training pipeline.
        plain = eval_transform(self.image_size, self.mean, self.std)
        self.plain_train_set, self.plain_val_set = Transformed(train, plain), Transformed(test, plain)
        train = self.pretrain_split(train)
        if self.pipeline == "batched":
            batched = BatchedViews(self.image_size, self.mean, self.std, **self.augment)
            self.train_set, self.val_set = BatchedTwoViews(train, batched, self.seed), BatchedEval(test, batched)
        else:
            self.train_set = TwoViews(
                train, byol_views(self.image_size, self.mean, self.std, **self.augment), self.seed
            )
            self.val_set = self.plain_val_set

    def _device_batch_size(self) -> int:
        world = self.trainer.world_size if self.trainer is not None else 1
        if self.batch_size % world:
            raise ValueError(f"data.batch_size={self.batch_size} must divide evenly over {world} devices")
        return self.batch_size // world

    def train_dataloader(self) -> DataLoader:
        batch_size = self._device_batch_size()
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)
        sampler = EpochSampler(len(self.train_set), self.seed, shuffle=True, rank=rank, world_size=world)
        if self._resume:
            # Set before Lightning builds the first iterator: with workers it draws indices at once.
            epoch, batches = self._resume["epoch"], self._resume["batches"]
            if batches >= len(sampler) // batch_size:  # an end-of-epoch checkpoint: the next epoch
                epoch, batches = epoch + 1, 0
            sampler.resume_at(epoch, batches * batch_size)
            self._resume = {}
        if len(sampler) < batch_size:
            raise ValueError(
                f"{len(sampler)} training images per device are fewer than one batch of {batch_size}: "
                "lower data.batch_size or use more data"
            )
        return self._loader(self.train_set, batch_size, sampler=sampler, drop_last=True, cls=ResumableLoader)

    def state_dict(self) -> dict[str, Any]:
        """Where training stands in the data, saved in every checkpoint: the epoch and how many of
        its batches have been trained on (all of them at an end-of-epoch checkpoint); and, for data
        that can change under the same config, a copy of ``data_files``, read beside summary.json's
        by a resume, raft-linear-eval and raft-export (``readers.recorded_data_files``)."""
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        # The batches of this epoch already trained on: the resumed sampler skips exactly these.
        # Lightning exposes no public count of them (global_step counts optimizer steps over all
        # epochs), so this reads the fit loop's progress tracker, which its checkpoints restore.
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        files = self.files_record()
        return {"epoch": trainer.current_epoch, "batches": batches} | ({DATA_FILES: files} if files else {})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume = {key: state_dict[key] for key in ("epoch", "batches")}  # the images: checked before

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self._device_batch_size(), shuffle=False)

    def plain_train_dataloader(self) -> DataLoader:
        """The training images without augmentation, in order: for kNN banks and linear evaluation."""
        return self._loader(self.plain_train_set, self._device_batch_size(), shuffle=False)

    def plain_val_dataloader(self) -> DataLoader:
        """The validation images as (x, y) batches on the CPU, in order, whatever the pipeline."""
        return self._loader(self.plain_val_set, self._device_batch_size(), shuffle=False)

    def _loader(
        self, dataset: torch.utils.data.Dataset, batch_size: int, cls: type[DataLoader] = DataLoader, **kwargs: Any
    ) -> DataLoader:
        num_workers = worker_count(self.num_workers)
        if self.pipeline == "batched" and hasattr(dataset, "augment"):
            dataset.augment = self._augment_in_loader()
            if not (dataset.augment or dataset.carries_images):
                num_workers = 0  # workers would only carry keys
            kwargs["collate_fn"] = whole_batch
        return cls(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=leave_signals_to_the_main_process,
            **kwargs,
        )

    def _augment_in_loader(self) -> bool:
        """Where the batched pipeline builds its views: in the loader (its workers), on a CPU run
        or without a trainer; on the device otherwise, where the loader then carries only the
        (epoch, index) keys and ``on_after_batch_transfer`` builds the views from the images kept
        there (copied once), so workers would add nothing but IPC; images read lazily (too many
        to keep on the device) travel with their keys instead, decoded by the workers, as uint8
        (B, 3, S, S), and the views are built where they land. Asked each time a loader is
        built, since the trainer and its device are known only then; the answer is set as the
        batched dataset's ``augment`` flag. Either way each view is drawn from the same (epoch, index) keys."""
        return self.trainer is None or self.trainer.strategy.root_device.type == "cpu"

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Batched pipeline off the CPU: the batch holds keys (and lazily read uint8 images);
        build its views on the device."""
        if isinstance(batch, dict):
            dataset = self.train_set if "epoch" in batch else self.val_set
            return dataset.on_device(batch)
        return batch


class CIFAR10DataModule(ImageDataModule):
    """torchvision's CIFAR-10 from ``root`` (the folder holding cifar-10-batches-py)."""

    source = CIFAR10
    num_classes, mean, std = CIFAR10.num_classes, CIFAR10.mean, CIFAR10.std


class CIFAR100DataModule(ImageDataModule):
    """CIFAR-100 from ``root`` (the folder holding cifar-100-python): the 100 fine labels."""

    source = CIFAR100
    num_classes, mean, std = CIFAR100.num_classes, CIFAR100.mean, CIFAR100.std


class FashionMNISTDataModule(ImageDataModule):
    """Fashion-MNIST from the gzipped IDX files (Debian's dataset-fashion-mnist), grey → 3 channels."""

    source = FASHION_MNIST
    num_classes, mean, std = FASHION_MNIST.num_classes, FASHION_MNIST.mean, FASHION_MNIST.std


class SyntheticDataModule(ImageDataModule):
    """Generated class-structured images, for tests and the smoke preset."""

    mean, std = SYNTHETIC_MEAN, SYNTHETIC_STD

    def __init__(
        self,
        num_classes: int = 4,
        train_size: int = 256,
        val_size: int = 128,
        source_size: int = 16,
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self.num_classes = num_classes
        super().__init__(num_classes=num_classes, **kwargs)
        self.train_size, self.val_size, self.source_size, self.data_seed = train_size, val_size, source_size, data_seed

    @classmethod
    def split_sizes(cls, **params: Any) -> tuple[int, int]:
        return params["train_size"], params["val_size"]

    @classmethod
    def size_errors(cls, **params: Any) -> list[str]:
        sizes = (("train_size", 1), ("val_size", 1), ("num_classes", 2), ("source_size", 8))
        errors = [e for key, low in sizes if key in params for e in integer_errors(key, params[key], low)]
        if not errors and params.get("batch_size", 0) > params.get("train_size", params.get("batch_size", 0)):
            errors.append(
                f"batch_size={params['batch_size']}: more than the {params['train_size']} training images "
                "(data.train_size): one batch per epoch at least"
            )
        return errors

    def load(self) -> tuple[Split, Split]:
        train = make_synthetic(self.num_classes, self.train_size, self.source_size, self.data_seed, split=0)
        test = make_synthetic(self.num_classes, self.val_size, self.source_size, self.data_seed, split=1)
        return train, test
