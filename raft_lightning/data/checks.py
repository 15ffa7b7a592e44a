"""What a datamodule's configured values must be, checked before anything is loaded or trained
(``run.validation`` calls ``config_errors`` with every value; the constructor calls
``value_errors`` with its own). A mixin of ``ImageDataModule``: ``cls.source`` is its dataset."""

from __future__ import annotations

from typing import Any

PIPELINES = ("torchvision", "batched")


class DataChecks:
    source: Any = None  # a data.sources.FileSource, or None for generated data

    @classmethod
    def config_errors(cls, root: Any = None, **params: Any) -> list[str]:
        errors = cls.value_errors(**params)
        return errors + (cls.size_errors(**params) if not errors else []) + cls.data_errors(root, **params)

    @classmethod
    def split_sizes(cls, **params: Any) -> tuple[int, int]:
        """(training, test) images the run will see, from the configured values alone."""
        train, test = cls.source.train_images, cls.source.test_images
        return params.get("train_subset") or train, params.get("val_subset") or test

    @classmethod
    def size_errors(cls, **params: Any) -> list[str]:
        return subset_errors(cls.split_sizes(**{**params, "train_subset": None, "val_subset": None}), **params)

    @classmethod
    def value_errors(
        cls, batch_size: Any = 128, image_size: Any = 32, num_workers: Any = 0, pipeline: Any = "torchvision", **_: Any
    ) -> list[str]:
        errors = []
        if pipeline not in PIPELINES:
            errors.append(f"pipeline={pipeline!r}: choose one of {', '.join(PIPELINES)}")
        if not isinstance(batch_size, int) or batch_size < 2:
            errors.append(f"batch_size={batch_size!r}: must be an integer ≥ 2 (BatchNorm and uniformity need pairs)")
        if not isinstance(image_size, int) or image_size < 8:
            errors.append(f"image_size={image_size!r}: must be an integer ≥ 8")
        if not isinstance(num_workers, int) or num_workers < 0:
            errors.append(f"num_workers={num_workers!r}: must be an integer ≥ 0")
        return errors

    @classmethod
    def data_errors(cls, root: Any, **params: Any) -> list[str]:
        """Whether the dataset's files are under ``root``: one message naming both, or none."""
        return cls.source.errors(root) if cls.source is not None else []


def subset_errors(full: tuple[int, int], unlabelled: int = 0, **params: Any) -> list[str]:
    """Subsets within the (training, test) split of ``full`` images, and at least one batch of
    training images per epoch (``unlabelled`` images, which pretraining draws from too, count)."""
    errors = []
    for key, size in zip(("train_subset", "val_subset"), full):
        value = params.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= size):
            errors.append(f"{key}={value!r}: null (all) or an integer from 1 to {size}")
    train = (params.get("train_subset") or full[0]) + unlabelled
    if not errors and params.get("batch_size", 0) > train:
        errors.append(f"batch_size={params['batch_size']}: more than the {train} training images (one batch an epoch)")
    return errors
