"""BYOL's augmentations (Grill et al. 2020), applied per sample with torchvision.transforms.v2.

Randomness is a function of (seed, epoch, sample index) only, never of a global RNG stream, so
a run sees the same views whatever the number of workers and wherever it resumes: ``views.TwoViews``
seeds torch's generator with ``sampling.sample_seed`` of those keys around each sample's views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision.transforms import InterpolationMode, v2


def blur_kernel_size(image_size: int, fraction: float) -> int:
    """Odd kernel side of about ``fraction`` of the image side (BYOL: 23 px at 224 px)."""
    return max(3, int(image_size * fraction) // 2 * 2 + 1)


def byol_view(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_scale: Sequence[float] = (0.08, 1.0),
    flip_p: float = 0.5,
    jitter_p: float = 0.8,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.2,
    hue: float = 0.1,
    grayscale_p: float = 0.2,
    blur_p: float = 1.0,
    blur_kernel_frac: float = 0.1,
    blur_sigma: Sequence[float] = (0.1, 2.0),
    solarize_p: float = 0.0,
) -> Callable[[Tensor], Tensor]:
    """One of BYOL's two view distributions, uint8 (3, H, W) in, normalised float out."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(
                image_size, scale=tuple(crop_scale), interpolation=InterpolationMode.BICUBIC, antialias=True
            ),
            v2.RandomHorizontalFlip(flip_p),
            v2.RandomApply([v2.ColorJitter(brightness, contrast, saturation, hue)], p=jitter_p),
            v2.RandomGrayscale(grayscale_p),
            v2.RandomApply(
                [v2.GaussianBlur(blur_kernel_size(image_size, blur_kernel_frac), tuple(blur_sigma))], p=blur_p
            ),
            v2.RandomSolarize(threshold=128, p=solarize_p),  # uint8 scale: 128 of 255
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )


def byol_views(
    image_size: int, mean: Sequence[float], std: Sequence[float], view1: dict, view2: dict, **common: Any
) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """T1 and T2: the shared parameters in ``common``, the asymmetric ones (blur, solarize) per view."""
    return (
        byol_view(image_size, mean, std, **{**common, **view1}),
        byol_view(image_size, mean, std, **{**common, **view2}),
    )


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float]) -> Callable[[Tensor], Tensor]:
    """No augmentation: resize to the training resolution and normalise."""
    return v2.Compose(
        [
            v2.Resize(image_size, interpolation=InterpolationMode.BICUBIC, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )
