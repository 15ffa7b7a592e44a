"""BYOL's augmentations for a whole batch at once, on the device that holds the batch.

The per-sample pipeline (``per_sample.byol_view``) crops, resizes, flips, jitters, greys, blurs and
solarizes one image at a time. Here every sample still gets its own random parameters, but the
work is a handful of batched tensor operations:

* **Parameters** (``batched_params``) come from a counter-based hash of (seed, epoch, index,
  view, draw): the splitmix64 of ``sampling.sample_seed``, evaluated on the device. There
  is no RNG state, so a view is a function of its keys only (reproducible, resumable anywhere),
  and nothing is read back to the host (the GPU never waits).
* **Geometry.** Crop + bicubic resize, flip and Gaussian blur are linear and separable, so a view
  is ``A_y · x · A_xᵀ`` with per-sample matrices A_y (B, S, H) and A_x (B, S, W): two batched
  matmuls replace a crop, an interpolation and two convolutions, and blur costs nothing extra.
  A's rows are PIL's antialiased bicubic weights (a = −0.5), as torchvision's resize uses.
* **Colour** (jitter in a random order per sample, grayscale) acts on the source pixels, before
  the resampling: 32×32 instead of 96×96 for CIFAR-10 at the paper's resolution, 9× less work.
  Brightness, contrast, saturation and grayscale are affine per pixel and commute with the
  resampling (a convex combination of pixels) up to clamping at 0 and 1; contrast blends with
  the mean of the *resampled* crop, computed exactly from A's weights. Hue rotation is not
  affine, so it differs from torchvision's order at colour edges (the test measures how much).
* **Solarize, clamp and normalisation** are elementwise; normalisation is folded into the source.

On a CPU, per-sample choices (which samples are jittered by which op at which position, which
are greyed, solarized) index the chosen samples; on other devices every choice is a
``torch.where`` over the batch, so the device never synchronises with the host.

The modules: ``batched_params`` draws each sample's parameters, ``batched_ops`` holds the batched
tensor operations, and this one composes them (``BatchedViews``) and serves them as Datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from raft_lightning.data.augment.batched_ops import (
    JITTER_FNS,
    blur,
    gaussian_taps,
    grayscale,
    resample,
    resample_matrix,
    solarize,
    where_chosen,
)
from raft_lightning.data.augment.batched_params import JITTER_OPS, N_DRAWS, ViewConfig, sample_params, uniforms


class BatchedViews:
    """T1 and T2 of ``per_sample.byol_views`` for a batch: same arguments, same distributions.

    ``views(images, seed, epoch, index)`` takes uint8 (B, 3, H, W) images on any device and their
    (epoch, index) keys, and returns the two normalised float32 views (B, 3, S, S).
    ``dense`` (default: on every device but the CPU) makes each per-sample choice a
    ``torch.where``; ``resample_dtype`` is the dtype of the two resampling matmuls (bfloat16:
    8 significant bits, the precision of the uint8 images torchvision's pipeline works on).
    """

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        view1: dict,
        view2: dict,
        dense: bool | None = None,
        resample_dtype: torch.dtype = torch.bfloat16,
        **common: Any,
    ) -> None:
        self.image_size = image_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.views = tuple(
            ViewConfig(image_size, **{k: tuple(v) if isinstance(v, list) else v for k, v in {**common, **view}.items()})
            for view in (view1, view2)
        )
        self.dense, self.resample_dtype = dense, resample_dtype

    def __call__(self, images: Tensor, seed: int, epoch: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        return self.view(images, seed, epoch, index, 0), self.view(images, seed, epoch, index, 1)

    def view(self, images: Tensor, seed: int, epoch: Tensor, index: Tensor, view: int) -> Tensor:
        """View ``view`` (0 = T1, 1 = T2) of each image, its parameters drawn from its keys."""
        _check_images(images)
        cfg = self.views[view]
        params = sample_params(cfg, uniforms(seed, epoch, index, view, N_DRAWS), *images.shape[-2:])
        return self.render(images, params, cfg)

    def render(self, images: Tensor, params: dict[str, Tensor], cfg: ViewConfig) -> Tensor:
        """The view of uint8 ``images`` (B, 3, H, W) with the given per-sample parameters."""
        dense = self.dense if self.dense is not None else images.device.type != "cpu"
        (height, width), size, dtype = images.shape[-2:], self.image_size, self.resample_dtype
        a_y = resample_matrix(params["top"], params["height"], height, size)  # (B, S, H)
        a_x = resample_matrix(params["left"], params["width"], width, size, flip=params["flip"])  # (B, S, W)
        # Contrast blends with the mean luma of the resampled crop: each source pixel's weight.
        mean_weights = a_y.sum(1)[:, :, None] * a_x.sum(1)[:, None, :] / (size * size)  # (B, H, W)
        a_y, a_x = a_y.to(dtype), a_x.to(dtype)
        if cfg.blur_p > 0:  # G·A: blur after resampling, one σ for both axes as torchvision
            taps = gaussian_taps(params["sigma"], cfg.blur_kernel)
            a_y = where_chosen(a_y, params["blur"], blur, taps, dense=dense)
            a_x = where_chosen(a_x, params["blur"], blur, taps, dense=dense)

        x = images.float().mul_(1 / 255)  # (B, 3, H, W) in [0, 1]
        if cfg.jitter_p > 0:
            for position in range(len(JITTER_OPS)):
                for k, op in enumerate(JITTER_OPS):
                    if cfg.factor_range(op) in ((1.0, 1.0), (0.0, 0.0)):
                        continue  # strength 0: the identity, skipped as torchvision does
                    chosen = params["jitter"] & (params["order"][:, position] == k)
                    x = where_chosen(x, chosen, JITTER_FNS[op], params[op], mean_weights, dense=dense)
        if cfg.grayscale_p > 0:
            x = where_chosen(x, params["gray"], grayscale, dense=dense)
        out = resample(x, a_y, a_x).clamp_(0, 1)  # bicubic overshoots; torchvision rounds to uint8
        if cfg.solarize_p > 0:
            out = where_chosen(out, params["solarize"], solarize, dense=dense)
        return self.normalise_(out)

    def eval(self, images: Tensor) -> Tensor:
        """``per_sample.eval_transform`` for a batch: the whole image resized, normalised."""
        _check_images(images)
        batch, _, height, width = images.shape
        zeros = torch.zeros(batch, device=images.device)
        a_y = resample_matrix(zeros, zeros + height, height, self.image_size).to(self.resample_dtype)
        a_x = resample_matrix(zeros, zeros + width, width, self.image_size).to(self.resample_dtype)
        return self.normalise_(resample(images.float().mul_(1 / 255), a_y, a_x).clamp_(0, 1))

    def normalise_(self, x: Tensor) -> Tensor:
        """(x − mean) / std per channel, in place, with Python scalars (a per-channel tensor
        operand makes the CPU kernel several times slower)."""
        for c, (mean, std) in enumerate(zip(self.mean, self.std)):
            x[:, c].sub_(mean).mul_(1 / std)
        return x


def _check_images(images: Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images (B, 3, H, W), got {images.dtype} {tuple(images.shape)}")


# Datasets that serve whole batches. A DataLoader hands ``__getitems__`` the keys of a batch at
# once (torch ≥ 2.0), so one call augments the batch; ``whole_batch`` is the collate_fn.


def whole_batch(batch: Any) -> Any:
    """collate_fn for datasets whose ``__getitems__`` already returns a batch."""
    return batch


class BatchedTwoViews(Dataset):
    """The batched counterpart of ``views.TwoViews``: (epoch, index) keys in.

    With ``augment=True`` the loader (its workers, on the CPU) returns (t1(x), t2(x), y)
    batches; with ``augment=False`` it returns the keys only, {"epoch", "index"}, and
    ``on_device`` builds the views where the batch landed (the images live there once). Images
    read lazily (``lazy.LazyImages``, too many to keep on the device) are read by the loader
    and carried with their keys and labels, {"epoch", "index", "images", "labels"}, as uint8
    (B, 3, H, W); the views drawn from them are the same functions of (seed, epoch, index)."""

    def __init__(self, split: tuple[Tensor, Tensor], views: BatchedViews, seed: int, augment: bool = True) -> None:
        self.images, self.labels = split
        self.views, self.seed, self.augment = views, seed, augment
        self.carries_images = not isinstance(self.images, Tensor)
        self._on_device: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, keys: list[tuple[int, int]]) -> Any:
        epoch, index = torch.tensor(keys, dtype=torch.int64).view(-1, 2).unbind(1)
        if not self.augment:
            keys = {"epoch": epoch, "index": index}
            return {**keys, "images": self.images[index], "labels": self.labels[index]} if self.carries_images else keys
        return *self.views(self.images[index], self.seed, epoch, index), self.labels[index]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        """One sample, as a batch of one (the DataLoader calls ``__getitems__``)."""
        return self.__getitems__([key])

    def on_device(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        index = batch["index"]
        if "images" in batch:
            images, labels = batch["images"], batch["labels"]
        else:
            images, labels = _resident(self._on_device, self.images, self.labels, index.device)
            images, labels = images[index], labels[index]
        return *self.views(images, self.seed, batch["epoch"], index), labels


class BatchedEval(Dataset):
    """The batched counterpart of ``views.Transformed`` with the eval transform: index batches
    in, (x, y) out on the CPU, or {"index"} (with "images" and "labels" when read lazily) for
    ``on_device``."""

    def __init__(self, split: tuple[Tensor, Tensor], views: BatchedViews, augment: bool = True) -> None:
        self.images, self.labels = split
        self.views, self.augment = views, augment
        self.carries_images = not isinstance(self.images, Tensor)
        self._on_device: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]) -> Any:
        index = torch.tensor(indices, dtype=torch.int64)
        if not self.augment:
            keys = {"index": index}
            return {**keys, "images": self.images[index], "labels": self.labels[index]} if self.carries_images else keys
        return self.views.eval(self.images[index]), self.labels[index]

    def __getitem__(self, index: int) -> Any:
        """One sample, as a batch of one (the DataLoader calls ``__getitems__``)."""
        return self.__getitems__([index])

    def on_device(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        if "images" in batch:
            return self.views.eval(batch["images"]), batch["labels"]
        images, labels = _resident(self._on_device, self.images, self.labels, batch["index"].device)
        return self.views.eval(images[batch["index"]]), labels[batch["index"]]


def _resident(cache: dict, images: Tensor, labels: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """The whole split on ``device``, copied once (CIFAR-10's 50 000 images are 150 MB of uint8)."""
    if device not in cache:
        cache[device] = (images.to(device), labels.to(device))
    return cache[device]
