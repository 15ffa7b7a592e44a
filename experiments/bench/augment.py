"""``augment`` and ``augment_device``: BYOL's two views with torchvision on PIL images, one sample
at a time, against ``BatchedViews`` on whole batches (in a DataLoader, or on the device)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch

from experiments.bench.harness import CIFAR_MEAN, CIFAR_STD, augment_config, entry, started, synchronize, timed_pass
from raft_lightning.data.augment.batched import BatchedTwoViews, BatchedViews, whole_batch
from raft_lightning.data.augment.per_sample import blur_kernel_size
from raft_lightning.data.sampling import EpochSampler
from raft_lightning.data.sources import make_synthetic
from raft_lightning.data.views import TwoViews


def pil_view(image_size: int, mean: tuple, std: tuple, view: dict, **common: Any) -> Callable:
    """BYOL's view as peers write it: torchvision transforms on PIL images, one sample at a time."""
    from torchvision import transforms as T

    return T.Compose(
        [
            T.RandomResizedCrop(
                image_size, scale=tuple(common["crop_scale"]), interpolation=T.InterpolationMode.BICUBIC
            ),
            T.RandomHorizontalFlip(common["flip_p"]),
            T.RandomApply(
                [T.ColorJitter(common["brightness"], common["contrast"], common["saturation"], common["hue"])],
                p=common["jitter_p"],
            ),
            T.RandomGrayscale(common["grayscale_p"]),
            T.RandomApply(
                [T.GaussianBlur(blur_kernel_size(image_size, common["blur_kernel_frac"]), tuple(common["blur_sigma"]))],
                p=view["blur_p"],
            ),
            T.RandomSolarize(128, p=view["solarize_p"]),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


class PILTwoViews(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, image_size: int, augment: dict) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3) as PIL wants
        common = {k: v for k, v in augment.items() if k not in ("view1", "view2")}
        self.views = [pil_view(image_size, CIFAR_MEAN, CIFAR_STD, augment[v], **common) for v in ("view1", "view2")]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        from PIL import Image

        image = Image.fromarray(self.images[index])
        return self.views[0](image), self.views[1](image), 0


def bench_augment(size: int, repeats: int, workers: int, image_size: int = 96, batch: int = 128) -> dict[str, Any]:
    from raft_lightning.data.augment.per_sample import byol_views

    images, labels = make_synthetic(10, size, 32, seed=0, split=0)  # CIFAR-10-shaped uint8
    augment = augment_config()
    batched = BatchedViews(image_size, CIFAR_MEAN, CIFAR_STD, **augment)
    common = {"batch_size": batch, "num_workers": workers, "persistent_workers": workers > 0}
    pil = started(torch.utils.data.DataLoader(PILTwoViews(images, image_size, augment), **common))
    candidate = started(
        torch.utils.data.DataLoader(
            BatchedTwoViews((images, labels), batched, seed=0),
            sampler=EpochSampler(size, seed=0),
            collate_fn=whole_batch,
            **common,
        )
    )
    baseline_rates, candidate_rates = [], []
    for _ in range(repeats):  # interleaved, so that a change of machine load hits both
        baseline_rates.append(timed_pass(pil, size))
        candidate_rates.append(timed_pass(candidate, size))
    del pil, candidate  # stops their workers

    # For reference: the project's default per-sample pipeline (torchvision v2 on uint8 tensors).
    views = byol_views(image_size, CIFAR_MEAN, CIFAR_STD, **augment)
    tensor_v2 = torch.utils.data.DataLoader(
        TwoViews((images, labels), views, seed=0), sampler=EpochSampler(size, seed=0), **common
    )
    tensor_v2_rate = timed_pass(started(tensor_v2), size)
    del tensor_v2
    return entry(
        baseline_rates,
        candidate_rates,
        "samples/s",
        higher_is_better=True,
        baseline_name=f"torchvision transforms on PIL images, per sample, DataLoader with {workers} workers",
        candidate_name=f"BatchedViews on whole batches of {batch}, DataLoader with {workers} workers",
        image_size=image_size,
        source_size=32,
        images=size,
        workers=workers,
        reference={"tensor_v2_per_sample_samples_per_s": tensor_v2_rate},
    )


def bench_augment_device(device: torch.device, size: int, repeats: int, batch: int = 128) -> dict[str, Any]:
    """The PIL pipeline on every host core vs BatchedViews on ``device`` (images resident there)."""
    workers = os.cpu_count() or 1
    images, labels = make_synthetic(10, size, 32, seed=0, split=0)
    augment = augment_config()
    pil = torch.utils.data.DataLoader(
        PILTwoViews(images, 96, augment), batch_size=batch, num_workers=workers, persistent_workers=True
    )
    batched = BatchedViews(96, CIFAR_MEAN, CIFAR_STD, **augment)
    on_device = images.to(device)

    def device_rate() -> float:
        start = time.perf_counter()
        for epoch in range(4):  # several passes: a pass of a few thousand images is milliseconds
            for first in range(0, size - batch + 1, batch):
                index = torch.arange(first, first + batch, device=device)
                batched(on_device[index], 0, torch.full_like(index, epoch), index)
        synchronize(device)
        return 4 * (size // batch * batch) / (time.perf_counter() - start)

    device_rate()  # warm-up
    started(pil)
    baseline = [timed_pass(pil, size) for _ in range(repeats)]
    candidate = [device_rate() for _ in range(repeats)]
    return entry(
        baseline,
        candidate,
        "samples/s",
        higher_is_better=True,
        baseline_name=f"torchvision transforms on PIL images, DataLoader with {workers} workers (all host cores)",
        candidate_name=f"BatchedViews on {device.type}, batches of {batch}",
        workers=workers,
    )
