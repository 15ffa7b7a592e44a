"""BYOL's augmentations for a whole batch at once, on the device that holds the batch.

The per-sample pipeline (``augment.byol_view``) crops, resizes, flips, jitters, greys, blurs and
solarizes one image at a time. Here every sample still gets its own random parameters, but the
work is a handful of batched tensor operations:

* **Parameters** come from a counter-based hash of (seed, epoch, index, view, draw): the same
  splitmix64 as ``augment.sample_seed``, extended by two keys and evaluated on the device. There
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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from raft_lightning.data.augment.per_sample import MASK64, blur_kernel_size

# splitmix64 constants of augment.sample_seed, as signed int64 (torch has no uint64 arithmetic;
# int64 multiplication wraps modulo 2**64, which a test checks against the Python version).
_GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _signed(value: int) -> int:
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def _shr(h: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (h >> bits) & ((1 << (64 - bits)) - 1)


def _mix(h: Tensor | int, key: Tensor | int) -> Tensor:
    """One splitmix64 step of ``augment.sample_seed``: h ← mix(h ^ key)."""
    h = (h ^ key) * _signed(_M1)
    h = h ^ _shr(h, 31)
    h = h * _signed(_M2)
    return h ^ _shr(h, 29)


def _prefix(*keys: int) -> int:
    """The hash state after host-side keys (the seed), as a signed Python int: computed on the
    CPU once, so the device ops only see a scalar."""
    h = torch.tensor(_signed(_GOLDEN))
    for key in keys:
        h = _mix(h, _signed(key))
    return int(h)


def sample_seeds(seed: int, epoch: Tensor, index: Tensor, *keys: Tensor | int) -> Tensor:
    """``augment.sample_seed(seed, epoch, index, *keys)`` for tensors of keys, on their device
    (the seed enters as a Python int: a tensor made from it would be a copy to the device)."""
    h = _mix(_mix(_prefix(seed), epoch), index)
    for key in keys:
        h = _mix(h, key)
    return _shr(h, 1)


def uniforms(seed: int, epoch: Tensor, index: Tensor, view: int, n: int) -> Tensor:
    """(B, n) uniforms in [0, 1): draw d of sample (epoch, index) in ``view`` is the top 24 bits
    of ``sample_seed(seed, epoch, index, view, d)``, exact in float32."""
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
    """One view distribution: the arguments of ``augment.byol_view`` (same names, same defaults)."""

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


def _bicubic(t: Tensor, a: float = -0.5) -> Tensor:
    """PIL's bicubic kernel (a = −0.5), which torchvision's antialiased resize uses."""
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return torch.where(t < 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def resample_matrix(start: Tensor, length: Tensor, in_size: int, out_size: int, flip: Tensor | None = None) -> Tensor:
    """(B, out_size, in_size) weights that crop [start, start + length) of an axis and resize it
    to ``out_size`` as PIL does (antialiased bicubic: the kernel widens by the scale when
    shrinking; pixels outside the crop get no weight; each row sums to 1). ``flip`` (B,) reverses
    the output order of the flagged samples.

    Each row has a few non-zero weights: they are computed on a window of pixels around the
    row's centre, then scattered into the dense matrix that the matmul needs."""
    scale = (length / out_size)[:, None, None]  # (B, 1, 1) crop pixels per output pixel
    support = scale.clamp(min=1.0)  # the kernel's reach in crop pixels, per unit of its argument
    rows = torch.arange(out_size, device=start.device)[None, :]
    if flip is not None:
        rows = torch.where(flip[:, None], out_size - 1 - rows, rows)  # (B, S)
    centre = (rows[..., None] + 0.5) * scale  # (B, S, 1) in crop coordinates
    # The bicubic kernel is zero beyond 2 units: 4·support + 2 pixels cover every non-zero weight.
    window = torch.arange(math.ceil(4 * max(in_size / out_size, 1.0)) + 2, device=start.device)
    pixel = torch.floor(centre - 2 * support - 0.5) + window  # (B, S, n) crop coordinates
    weights = _bicubic((pixel + 0.5 - centre) / support) * ((pixel >= 0) & (pixel < length[:, None, None]))
    weights = weights / weights.sum(-1, keepdim=True)
    column = (pixel + start[:, None, None]).clamp_(0, in_size - 1).long()  # clamped ones weigh 0
    dense = torch.zeros(len(start), out_size, in_size, device=start.device)
    return dense.scatter_add_(2, column, weights)


def gaussian_taps(sigma: Tensor, kernel: int) -> Tensor:
    """(B, kernel) normalised Gaussian weights, as torchvision's ``_get_gaussian_kernel1d``."""
    offsets = torch.arange(kernel, device=sigma.device) - kernel // 2
    taps = (offsets[None].float() / sigma[:, None]).square().mul_(-0.5).exp_()
    return taps / taps.sum(1, keepdim=True)


def blur_matrix(taps: Tensor, size: int) -> Tensor:
    """(B, size, size) matrices G with (G·v)_i = Σ_k taps_k · v_reflect(i+k−r): the 1-D Gaussian
    blur of torchvision's GaussianBlur (reflect padding) as a matrix, to fold into the resampling."""
    kernel = taps.shape[1]
    cols = torch.arange(size, device=taps.device)[:, None] + torch.arange(kernel, device=taps.device) - kernel // 2
    cols = cols.abs()  # reflect below 0 ...
    cols = torch.where(cols > size - 1, 2 * (size - 1) - cols, cols)  # ... and above size − 1
    # (K, S, S): tap k's matrix. A comparison, not one_hot, which checks its input on the host.
    shifts = (cols.T[:, :, None] == torch.arange(size, device=taps.device)).to(taps.dtype)
    return (taps @ shifts.reshape(kernel, size * size)).view(-1, size, size)


def blur(matrix: Tensor, taps: Tensor) -> Tensor:
    """G · matrix: blur (B, S, in) resampling matrices along S (the blurred image's rows)."""
    return blur_matrix(taps, matrix.shape[1]).to(matrix.dtype) @ matrix


def _gray(x: Tensor) -> Tensor:
    """(B, 1, H, W) luma with torchvision's weights."""
    return (0.2989 * x[:, 0:1]).add_(x[:, 1:2], alpha=0.587).add_(x[:, 2:3], alpha=0.114)


def _per_sample(v: Tensor, ndim: int = 4) -> Tensor:
    return v.view(-1, *([1] * (ndim - 1)))


def adjust_brightness(x: Tensor, factor: Tensor, mean_weights: Tensor) -> Tensor:
    return (x * _per_sample(factor)).clamp_(0, 1)


def adjust_contrast(x: Tensor, factor: Tensor, mean_weights: Tensor) -> Tensor:
    # torchvision blends with the mean luma of the (resampled) image: Σ w·gray over the source.
    mean = (_gray(x)[:, 0] * mean_weights).sum((1, 2))
    f = _per_sample(factor)
    return (x * f).add_(_per_sample(mean) * (1 - f)).clamp_(0, 1)


def adjust_saturation(x: Tensor, factor: Tensor, mean_weights: Tensor) -> Tensor:
    f = _per_sample(factor)
    return (x * f).add_(_gray(x) * (1 - f)).clamp_(0, 1)


def adjust_hue(x: Tensor, factor: Tensor, mean_weights: Tensor) -> Tensor:
    """Rotates the HSV hue by ``factor`` turns, keeping V = max and S·V = max − min: each channel
    is max − chroma·clamp(min(k, 4 − k), 0, 1) with k = (n + 6·h) mod 6, n = 5, 3, 1."""
    r, g, b = x.unbind(1)  # (B, H, W) each
    maxc = torch.maximum(torch.maximum(r, g), b)
    chroma = maxc - torch.minimum(torch.minimum(r, g), b)
    inv = 1 / torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    h6 = torch.where(maxc == r, (g - b) * inv, torch.where(maxc == g, (b - r) * inv + 2, (r - g) * inv + 4))
    h6 = h6.add_(6 * _per_sample(factor, 3))
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        channels.append(maxc - chroma * torch.minimum(k, 4 - k).clamp_(0, 1))
    return torch.stack(channels, 1)


def grayscale(x: Tensor) -> Tensor:
    return _gray(x).expand(-1, 3, -1, -1)


def solarize(x: Tensor) -> Tensor:
    """RandomSolarize(threshold=128) of uint8 images, on [0, 1]."""
    return torch.where(x >= 128 / 255, 1 - x, x)


JITTER_FNS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "brightness": adjust_brightness,
    "contrast": adjust_contrast,
    "saturation": adjust_saturation,
    "hue": adjust_hue,
}


def _where(x: Tensor, chosen: Tensor, fn: Callable[..., Tensor], *args: Tensor, dense: bool) -> Tensor:
    """``fn(x, *args)`` for the chosen samples of x; ``args`` are per sample (first dim B).
    Dense: computed for all, kept where chosen (no host sync); otherwise only the chosen samples
    are computed (their indices are read, which on a CPU costs nothing)."""
    if dense:
        return torch.where(_per_sample(chosen, x.ndim), fn(x, *args), x)
    idx = chosen.nonzero().squeeze(1)
    if len(idx):
        x[idx] = fn(x[idx], *(a[idx] for a in args))
    return x


def _resample(x: Tensor, a_y: Tensor, a_x: Tensor) -> Tensor:
    """a_y · x_c · a_xᵀ for each channel c: two batched matmuls in the matrices' dtype, float32
    (B, 3, S, S) out."""
    batch, channels, height, width = x.shape
    size = a_y.shape[1]
    t = x.to(a_x.dtype).view(batch, channels * height, width) @ a_x.transpose(1, 2)  # (B, 3H, S)
    a_y = a_y[:, None].expand(-1, channels, -1, -1).reshape(batch * channels, size, height)
    out = a_y @ t.view(batch * channels, height, size)  # (B·3, S, S)
    return out.view(batch, channels, size, size).float()


class BatchedViews:
    """T1 and T2 of ``augment.byol_views`` for a batch: same arguments, same distributions.

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
            a_y = _where(a_y, params["blur"], blur, taps, dense=dense)
            a_x = _where(a_x, params["blur"], blur, taps, dense=dense)

        x = images.float().mul_(1 / 255)  # (B, 3, H, W) in [0, 1]
        if cfg.jitter_p > 0:
            for position in range(len(JITTER_OPS)):
                for k, op in enumerate(JITTER_OPS):
                    if cfg.factor_range(op) in ((1.0, 1.0), (0.0, 0.0)):
                        continue  # strength 0: the identity, skipped as torchvision does
                    chosen = params["jitter"] & (params["order"][:, position] == k)
                    x = _where(x, chosen, JITTER_FNS[op], params[op], mean_weights, dense=dense)
        if cfg.grayscale_p > 0:
            x = _where(x, params["gray"], grayscale, dense=dense)
        out = _resample(x, a_y, a_x).clamp_(0, 1)  # bicubic overshoots; torchvision rounds to uint8
        if cfg.solarize_p > 0:
            out = _where(out, params["solarize"], solarize, dense=dense)
        return self.normalise_(out)

    def eval(self, images: Tensor) -> Tensor:
        """``augment.eval_transform`` for a batch: the whole image resized, normalised."""
        _check_images(images)
        batch, _, height, width = images.shape
        zeros = torch.zeros(batch, device=images.device)
        a_y = resample_matrix(zeros, zeros + height, height, self.image_size).to(self.resample_dtype)
        a_x = resample_matrix(zeros, zeros + width, width, self.image_size).to(self.resample_dtype)
        return self.normalise_(_resample(images.float().mul_(1 / 255), a_y, a_x).clamp_(0, 1))

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
    """The batched counterpart of ``datasets.TwoViews``: (epoch, index) keys in.

    With ``augment=True`` the loader (its workers, on the CPU) returns (t1(x), t2(x), y)
    batches; with ``augment=False`` it returns the keys only, {"epoch", "index"}, and
    ``on_device`` builds the views where the batch landed (the images live there once)."""

    def __init__(self, split: tuple[Tensor, Tensor], views: BatchedViews, seed: int, augment: bool = True) -> None:
        self.images, self.labels = split
        self.views, self.seed, self.augment = views, seed, augment
        self._on_device: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, keys: list[tuple[int, int]]) -> Any:
        epoch, index = torch.tensor(keys, dtype=torch.int64).view(-1, 2).unbind(1)
        if not self.augment:
            return {"epoch": epoch, "index": index}
        return *self.views(self.images[index], self.seed, epoch, index), self.labels[index]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        """One sample, as a batch of one (the DataLoader calls ``__getitems__``)."""
        return self.__getitems__([key])

    def on_device(self, keys: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        images, labels = _resident(self._on_device, self.images, self.labels, keys["index"].device)
        index = keys["index"]
        return *self.views(images[index], self.seed, keys["epoch"], index), labels[index]


class BatchedEval(Dataset):
    """The batched counterpart of ``datasets.Transformed`` with the eval transform: index batches
    in, (x, y) out on the CPU, or {"index"} for ``on_device``."""

    def __init__(self, split: tuple[Tensor, Tensor], views: BatchedViews, augment: bool = True) -> None:
        self.images, self.labels = split
        self.views, self.augment = views, augment
        self._on_device: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]) -> Any:
        index = torch.tensor(indices, dtype=torch.int64)
        if not self.augment:
            return {"index": index}
        return self.views.eval(self.images[index]), self.labels[index]

    def __getitem__(self, index: int) -> Any:
        """One sample, as a batch of one (the DataLoader calls ``__getitems__``)."""
        return self.__getitems__([index])

    def on_device(self, keys: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        images, labels = _resident(self._on_device, self.images, self.labels, keys["index"].device)
        return self.views.eval(images[keys["index"]]), labels[keys["index"]]


def _resident(cache: dict, images: Tensor, labels: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """The whole split on ``device``, copied once (CIFAR-10's 50 000 images are 150 MB of uint8)."""
    if device not in cache:
        cache[device] = (images.to(device), labels.to(device))
    return cache[device]
