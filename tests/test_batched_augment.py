"""The batched augmentation: same keys as the per-sample pipeline, same distributions, same images
(up to what reordering and uint8 rounding explain), reproducible, and free of host reads.

Statistical checks use fixed seeds, so they give the same answer on every run; each threshold
is a two-sample Kolmogorov–Smirnov critical value at α = 0.001 or a binomial z of 4, and each
check is shown to reject a pipeline that is wrong by a plausible slip (a negative control).
"""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from raft_lightning.data import SyntheticDataModule
from raft_lightning.data.augment.batched import BatchedViews
from raft_lightning.data.augment.batched_params import JITTER_OPS, N_DRAWS, sample_params, uniforms
from raft_lightning.data.augment.per_sample import byol_views
from raft_lightning.data.sampling import sample_seed, sample_seeds
from raft_lightning.data.sources import make_synthetic
from raft_lightning.data.views import TwoViews
from tests.test_data import AUGMENT

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


pytestmark = pytest.mark.usefixtures("one_thread")


def ks_statistic(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest distance between the two empirical CDFs."""
    a, b = a.double().sort().values, b.double().sort().values
    points = torch.cat([a, b])
    cdf_a = torch.searchsorted(a, points, right=True) / len(a)
    cdf_b = torch.searchsorted(b, points, right=True) / len(b)
    return (cdf_a - cdf_b).abs().max().item()


def ks_critical(n: int, m: int) -> float:
    """Two-sample KS critical value at α = 0.001 (asymptotic; conservative for discrete data)."""
    return 1.949 * math.sqrt((n + m) / (n * m))


def binomial_z(flags: torch.Tensor, p: float) -> float:
    n = len(flags)
    return abs(flags.float().sum().item() - n * p) / math.sqrt(n * p * (1 - p))


def keys(n: int, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((n,), epoch), torch.arange(n)


def test_keys_are_augment_sample_seed_extended_by_view_and_draw():
    epoch = torch.tensor([0, 1, 299, 2**40, 7])
    index = torch.tensor([0, 49_999, 3, 12, -1])
    for seed in (0, 1, 2**62 + 5, -3):
        got = sample_seeds(seed, epoch, index, 1, 35)
        assert got.tolist() == [sample_seed(seed, int(e), int(i), 1, 35) for e, i in zip(epoch, index)]
    u = uniforms(0, *keys(1000), 0, N_DRAWS)
    assert u.shape == (1000, N_DRAWS) and 0 <= u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.002  # 36 000 draws


def torchvision_params(n: int, size: int) -> dict[str, torch.Tensor]:
    """Parameters drawn by torchvision's own transforms (the reference distribution)."""
    torch.manual_seed(0)
    image = [torch.zeros(3, size, size, dtype=torch.uint8)]
    crop = v2.RandomResizedCrop(96, scale=tuple(AUGMENT["crop_scale"]))
    jitter = v2.ColorJitter(AUGMENT["brightness"], AUGMENT["contrast"], AUGMENT["saturation"], AUGMENT["hue"])
    blur = v2.GaussianBlur(9, tuple(AUGMENT["blur_sigma"]))
    rows = [{**crop.make_params(image), **jitter.make_params(image), **blur.make_params(image)} for _ in range(n)]
    out = {k: torch.tensor([float(r[k]) for r in rows]) for k in ("top", "left", "height", "width")}
    for op in JITTER_OPS:
        out[op] = torch.tensor([r[f"{op}_factor"] for r in rows])
    out["sigma"] = torch.tensor([r["sigma"][0] for r in rows])
    return out


def test_parameters_follow_torchvision_distributions():
    n, size = 4000, 32
    views = BatchedViews(96, MEAN, STD, **AUGMENT)
    reference = torchvision_params(n, size)
    crit = ks_critical(n, n)

    def statistics(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "area": p["height"] * p["width"] / size**2,
            "aspect": p["width"] / p["height"],
            "top": p["top"] / (size - p["height"] + 1),
            "left": p["left"] / (size - p["width"] + 1),
            **{op: p[op] for op in (*JITTER_OPS, "sigma")},
        }

    ours = [sample_params(cfg, uniforms(3, *keys(n), v, N_DRAWS), size, size) for v, cfg in enumerate(views.views)]
    expected = statistics(reference)
    for name, value in statistics(ours[0]).items():
        assert ks_statistic(value, expected[name]) < crit, name
    for params, cfg in zip(ours, views.views):
        for flag, p in (
            ("flip", cfg.flip_p),
            ("jitter", cfg.jitter_p),
            ("gray", cfg.grayscale_p),
            ("blur", cfg.blur_p),
            ("solarize", cfg.solarize_p),
        ):
            if 0 < p < 1:
                assert binomial_z(params[flag], p) < 4, flag
            else:
                assert params[flag].all() if p == 1 else not params[flag].any()
    # ColorJitter's order: each of the 24 permutations of 4 ops equally likely (chi-square, 23 dof:
    # 49.7 is its 0.001 quantile).
    codes = (ours[0]["order"] * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = torch.bincount(codes, minlength=256)[torch.unique(codes)]
    assert len(counts) == 24 and ((counts - n / 24) ** 2 / (n / 24)).sum() < 49.7

    # Negative control: the same check rejects a plausible slip (crop scale from 0.2, not 0.08).
    wrong = BatchedViews(96, MEAN, STD, **{**AUGMENT, "crop_scale": [0.2, 1.0]}).views[0]
    slip = statistics(sample_params(wrong, uniforms(3, *keys(n), 0, N_DRAWS), size, size))
    assert ks_statistic(slip["area"], expected["area"]) > crit


def torchvision_view(image: torch.Tensor, p: dict[str, torch.Tensor], i: int, cfg, size: int) -> torch.Tensor:
    """The view torchvision's functional ops make from the same parameters, in torchvision's order."""
    x = F.resized_crop(
        image,
        int(p["top"][i]),
        int(p["left"][i]),
        int(p["height"][i]),
        int(p["width"][i]),
        [size, size],
        interpolation=InterpolationMode.BICUBIC,
        antialias=True,
    )
    if p["flip"][i]:
        x = F.horizontal_flip(x)
    if p["jitter"][i]:
        ops = {
            "brightness": F.adjust_brightness,
            "contrast": F.adjust_contrast,
            "saturation": F.adjust_saturation,
            "hue": F.adjust_hue,
        }
        for k in p["order"][i].tolist():
            x = ops[JITTER_OPS[k]](x, float(p[JITTER_OPS[k]][i]))
    if p["gray"][i]:
        x = F.rgb_to_grayscale(x, num_output_channels=3)
    if p["blur"][i]:
        x = F.gaussian_blur(x, [cfg.blur_kernel] * 2, [float(p["sigma"][i])] * 2)
    if p["solarize"][i]:
        x = F.solarize(x, 128)
    return F.normalize(F.to_dtype(x, torch.float32, scale=True), list(MEAN), list(STD))


def mean_abs_diff_255(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean |difference| in uint8 units (the views are normalised with std 0.25)."""
    return ((ours - reference).abs() * STD[0] * 255).mean().item()


@pytest.mark.parametrize(
    "change, limit",
    [
        # Geometry only (crop, bicubic resize, flip, blur, solarize): torchvision rounds to uint8
        # after the resize and after the blur (≤ 0.5 each); measured 0.4.
        ({"jitter_p": 0.0, "grayscale_p": 0.0}, 0.6),
        # One affine colour op: torchvision also truncates to uint8 after it (≈ 0.5 more, one
        # sign), and clamps after the resize where we clamp before it; measured 0.6–0.7.
        ({"jitter_p": 1.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, "grayscale_p": 0.0}, 1.0),
        ({"jitter_p": 1.0, "brightness": 0.0, "saturation": 0.0, "hue": 0.0, "grayscale_p": 0.0}, 1.0),
        ({"jitter_p": 1.0, "brightness": 0.0, "contrast": 0.0, "hue": 0.0, "grayscale_p": 0.0}, 1.0),
        ({"jitter_p": 0.0, "grayscale_p": 1.0}, 1.0),
        # Everything: hue rotation is not affine, so rotating the source pixels before the
        # resampling differs from torchvision's order at colour edges; measured 2.0–2.2.
        ({}, 3.0),
    ],
)
def test_views_match_torchvision_ops_given_the_same_parameters(change, limit):
    images, _ = make_synthetic(10, 48, 32, seed=0, split=0)
    views = BatchedViews(96, MEAN, STD, **{**AUGMENT, **change})
    for v, cfg in enumerate(views.views):
        params = sample_params(cfg, uniforms(0, *keys(48), v, N_DRAWS), 32, 32)
        ours = views.render(images, params, cfg)
        reference = torch.stack([torchvision_view(images[i], params, i, cfg, 96) for i in range(48)])
        assert mean_abs_diff_255(ours, reference) < limit
    # Negative control: the measure sees a wrong parameter (no flip where there was one).
    params["flip"] = ~params["flip"]
    assert mean_abs_diff_255(views.render(images, params, cfg), reference) > 5 * limit


def test_eval_matches_torchvision_resize():
    images, _ = make_synthetic(10, 16, 32, seed=0, split=0)
    views = BatchedViews(96, MEAN, STD, resample_dtype=torch.float32, **AUGMENT)
    reference = torch.stack(
        [
            F.normalize(
                F.to_dtype(F.resize(x, [96], InterpolationMode.BICUBIC, antialias=True), torch.float32, scale=True),
                list(MEAN),
                list(STD),
            )
            for x in images
        ]
    )
    assert mean_abs_diff_255(views.eval(images), reference) < 0.5  # torchvision's uint8 rounding
    # bfloat16 matmuls (the default) keep 8 significant bits, like the uint8 images themselves.
    bf16 = BatchedViews(96, MEAN, STD, **AUGMENT).eval(images)
    assert mean_abs_diff_255(bf16, reference) < 1.0


def image_statistics(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image statistics of normalised views: brightness, contrast, saturation, highlights."""
    x = x * STD[0] + MEAN[0]
    return {
        "mean": x.mean((1, 2, 3)),
        "std": x.std((1, 2, 3)),
        "saturation": (x.amax(1) - x.amin(1)).mean((1, 2)),
        "highlights": (x > 0.75).float().mean((1, 2, 3)),
    }


def test_image_statistics_match_the_torchvision_pipeline():
    """Whole pipelines, each with its own randomness: the per-sample torchvision pipeline of the
    default path against the batched one, on the same 1500 images."""
    n, size = 1500, 32
    images, labels = make_synthetic(10, n, 32, seed=0, split=0)
    per_sample = TwoViews((images, labels), byol_views(size, MEAN, STD, **AUGMENT), seed=1)
    reference = [torch.stack(v) for v in zip(*[per_sample[(0, i)][:2] for i in range(n)])]
    crit = ks_critical(n, n)

    def largest_ks(augment: dict) -> list[float]:
        views = BatchedViews(size, MEAN, STD, **augment)(images, 2, *keys(n))
        return [
            max(ks_statistic(ours[k], theirs[k]) for k in ours)
            for ours, theirs in ((image_statistics(a), image_statistics(b)) for a, b in zip(views, reference))
        ]

    assert max(largest_ks(AUGMENT)) < crit  # measured 0.6·crit at N = 1000
    # Negative controls: slips the statistics must see (each measured at ≥ 1.0·crit at N = 1000).
    for slip, view in (
        ({"jitter_p": 0.4}, 0),
        ({"brightness": 0.2}, 0),
        ({"grayscale_p": 0.1}, 0),
        ({"view2": {**AUGMENT["view2"], "solarize_p": 0.0}}, 1),
    ):
        assert largest_ks({**AUGMENT, **slip})[view] > crit, slip


def test_a_view_is_a_function_of_its_keys_only():
    images, _ = make_synthetic(10, 64, 32, seed=0, split=0)
    views = BatchedViews(96, MEAN, STD, **AUGMENT)
    epoch, index = keys(64, epoch=3)
    x1, x2 = views(images, 5, epoch, index)
    again = views(images[10:26], 5, epoch[10:26], index[10:26])  # another batch, same keys
    assert torch.equal(x1[10:26], again[0]) and torch.equal(x2[10:26], again[1])
    assert not torch.equal(x1, x2)
    assert not torch.equal(x1, views(images, 5, epoch + 1, index)[0])  # next epoch
    assert not torch.equal(x1, views(images, 6, epoch, index)[0])  # other seed
    views.dense = True  # the device path (torch.where everywhere) gives the same images
    dense = views(images, 5, epoch, index)
    assert torch.equal(x1, dense[0]) and torch.equal(x2, dense[1])
    assert x1.dtype == torch.float32 and x1.shape == (64, 3, 96, 96)


def test_device_path_reads_nothing_on_the_host():
    """On the meta device every op runs without data: a host read (.item(), nonzero, a bool of a
    tensor) raises. The dense path must pass; the CPU path, which indexes, must not."""
    views = BatchedViews(96, MEAN, STD, dense=True, **AUGMENT)
    images = torch.empty(8, 3, 32, 32, dtype=torch.uint8, device="meta")
    epoch = index = torch.empty(8, dtype=torch.int64, device="meta")
    x1, x2 = views(images, 0, epoch, index)
    assert x1.device.type == "meta" and x1.shape == (8, 3, 96, 96) and views.eval(images).shape == (8, 3, 96, 96)
    views.dense = False
    with pytest.raises(NotImplementedError):
        views(images, 0, epoch, index)


def test_bad_images_are_named():
    with pytest.raises(ValueError, match=r"expected uint8 images \(B, 3, H, W\), got torch.float32"):
        BatchedViews(96, MEAN, STD, **AUGMENT).eval(torch.zeros(2, 3, 8, 8))


def test_datamodule_batched_pipeline_on_the_cpu_and_on_a_device():
    dm = SyntheticDataModule(
        augment=AUGMENT, train_size=64, val_size=32, batch_size=16, image_size=16, pipeline="batched"
    )
    dm.setup("fit")
    x1, x2, y = next(iter(dm.train_dataloader()))  # no trainer: augmented in the loader (CPU)
    assert x1.shape == x2.shape == (16, 3, 16, 16) and y.shape == (16,) and len(dm.train_dataloader()) == 4
    x, y_val = next(iter(dm.val_dataloader()))
    assert x.shape == (16, 3, 16, 16) and y_val.shape == (16,)
    # Off the CPU the loader carries keys and on_after_batch_transfer makes the same images.
    sampler = dm.train_dataloader().sampler
    dm.train_set.augment = dm.val_set.augment = False
    batch = next(
        iter(torch.utils.data.DataLoader(dm.train_set, batch_size=16, sampler=sampler, collate_fn=lambda b: b))
    )
    assert set(batch) == {"epoch", "index"}
    d1, d2, dy = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(d1, x1) and torch.equal(d2, x2) and torch.equal(dy, y)
    val = dm.on_after_batch_transfer({"index": torch.arange(16)}, 0)
    assert torch.equal(val[0], x) and torch.equal(val[1], y_val)


def test_unknown_pipeline_is_named():
    errors = SyntheticDataModule.config_errors(pipeline="gpu")
    assert errors == ["pipeline='gpu': choose one of torchvision, batched"]
