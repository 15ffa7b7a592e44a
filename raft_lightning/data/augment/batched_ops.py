"""The tensor operations of the batched BYOL views, each on a whole batch with per-sample
parameters: resampling matrices (crop + antialiased bicubic resize + flip), Gaussian blur folded
into them, colour jitter, grayscale, solarize, and the choice of which samples an op applies to.
``batched.BatchedViews`` composes them; the module docstring there explains the method.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


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


def where_chosen(x: Tensor, chosen: Tensor, fn: Callable[..., Tensor], *args: Tensor, dense: bool) -> Tensor:
    """``fn(x, *args)`` for the chosen samples of x; ``args`` are per sample (first dim B).
    Dense: computed for all, kept where chosen (no host sync); otherwise only the chosen samples
    are computed (their indices are read, which on a CPU costs nothing)."""
    if dense:
        return torch.where(_per_sample(chosen, x.ndim), fn(x, *args), x)
    idx = chosen.nonzero().squeeze(1)
    if len(idx):
        x[idx] = fn(x[idx], *(a[idx] for a in args))
    return x


def resample(x: Tensor, a_y: Tensor, a_x: Tensor) -> Tensor:
    """a_y · x_c · a_xᵀ for each channel c: two batched matmuls in the matrices' dtype, float32
    (B, 3, S, S) out."""
    batch, channels, height, width = x.shape
    size = a_y.shape[1]
    t = x.to(a_x.dtype).view(batch, channels * height, width) @ a_x.transpose(1, 2)  # (B, 3H, S)
    a_y = a_y[:, None].expand(-1, channels, -1, -1).reshape(batch * channels, size, height)
    out = a_y @ t.view(batch * channels, height, size)  # (B·3, S, S)
    return out.view(batch, channels, size, size).float()
