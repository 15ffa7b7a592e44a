"""Per-sample parameters of BYOL's views for a batch, drawn from a counter-based hash.

Draw d of sample (epoch, index) in view v is ``sampling.sample_seeds(seed, epoch, index, v, d)``:
the splitmix64 of ``sampling.sample_seed`` extended by two keys and evaluated on the device. There
is no RNG state, so a view is a function of its keys only (reproducible, resumable anywhere), and
nothing is read back to the host (the GPU never waits). ``sample_params`` turns a view's draws
into parameters distributed exactly as torchvision's transforms draw them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from raft_lightning.data.augment.per_sample import blur_kernel_size
from raft_lightning.data.sampling import sample_seeds


def uniforms(seed: int, epoch: Tensor, index: Tensor, view: int, n: int) -> Tensor:
    """(B, n) uniforms in [0, 1): draw d of sample (epoch, index) in ``view`` is the top 24 bits
    of ``sampling.sample_seed(seed, epoch, index, view, d)``, exact in float32."""
    draws = torch.arange(n, device=epoch.device)
    h = sample_seeds(seed, epoch[:, None], index[:, None], view, draws[None])  # (B, n)
    return (h >> 39).float() * 2.0**-24


# Where each parameter's uniform sits among a view's draws.
AREA, RATIO = slice(0, 10), slice(10, 20)  # RandomResizedCrop's 10 attempts
TOP, LEFT, FLIP, JITTER, ORDER = 20, 21, 22, 23, slice(24, 28)
BRIGHTNESS, CONTRAST, SATURATION, HUE, GRAY, BLUR, SIGMA, SOLARIZE = range(28, 36)
N_DRAWS = 36
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")  # torchvision's fn_idx order


@dataclass(frozen=True)
class ViewConfig:
    """One view distribution: the arguments of ``per_sample.byol_view`` (same names, same defaults)."""

    image_size: int
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 1.0
    blur_kernel_frac: float = 0.1
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0

    @property
    def blur_kernel(self) -> int:
        return blur_kernel_size(self.image_size, self.blur_kernel_frac)

    def factor_range(self, op: str) -> tuple[float, float]:
        """ColorJitter's range for ``op``: [max(0, 1 − s), 1 + s], or [−s, s] for hue."""
        strength = getattr(self, op)
        return (-strength, strength) if op == "hue" else (max(0.0, 1 - strength), 1 + strength)


def sample_params(cfg: ViewConfig, u: Tensor, height: int, width: int) -> dict[str, Tensor]:
    """Per-sample parameters of one view from its (B, N_DRAWS) uniforms, distributed exactly as
    torchvision's RandomResizedCrop, RandomHorizontalFlip, RandomApply(ColorJitter),
    RandomGrayscale, RandomApply(GaussianBlur) and RandomSolarize draw them."""

    def between(lo: float, hi: float, v: Tensor) -> Tensor:
        return lo + (hi - lo) * v

    # RandomResizedCrop: the first of 10 (area, log-ratio) attempts that fits, else a centre crop.
    target_area = height * width * between(*cfg.crop_scale, u[:, AREA])  # (B, 10)
    aspect = torch.exp(between(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), u[:, RATIO]))
    w_try = torch.round(torch.sqrt(target_area * aspect))
    h_try = torch.round(torch.sqrt(target_area / aspect))
    fits = (w_try > 0) & (w_try <= width) & (h_try > 0) & (h_try <= height)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # argmax returns the first maximum
    found = fits.any(1)
    h_fb, w_fb = _fallback_crop(height, width, cfg.crop_ratio)
    h = torch.where(found, h_try.gather(1, first)[:, 0], float(h_fb))
    w = torch.where(found, w_try.gather(1, first)[:, 0], float(w_fb))
    # torch.randint(0, n): floor(u·n); the clamp guards float rounding of u·n up to n.
    top = torch.minimum(torch.floor(u[:, TOP] * (height - h + 1)), height - h)
    left = torch.minimum(torch.floor(u[:, LEFT] * (width - w + 1)), width - w)
    top = torch.where(found, top, float((height - h_fb) // 2))
    left = torch.where(found, left, float((width - w_fb) // 2))

    params = {
        "top": top,
        "left": left,
        "height": h,
        "width": w,
        "flip": u[:, FLIP] < cfg.flip_p,
        "jitter": u[:, JITTER] < cfg.jitter_p,
        "order": u[:, ORDER].argsort(1),  # a uniformly random permutation, as torch.randperm(4)
        "gray": u[:, GRAY] < cfg.grayscale_p,
        "blur": u[:, BLUR] < cfg.blur_p,
        "sigma": between(*cfg.blur_sigma, u[:, SIGMA]),
        "solarize": u[:, SOLARIZE] < cfg.solarize_p,
    }
    for op, draw in zip(JITTER_OPS, (BRIGHTNESS, CONTRAST, SATURATION, HUE)):
        params[op] = between(*cfg.factor_range(op), u[:, draw])
    return params


def _fallback_crop(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    """RandomResizedCrop's centre crop when no attempt fits."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        return int(round(width / min(ratio))), width
    if in_ratio > max(ratio):
        return height, int(round(height * max(ratio)))
    return height, width
