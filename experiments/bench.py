"""Benchmarks of the fast path against the usual way, each pair measured in the same run.

    python experiments/bench.py --out bench.json [--quick] [--device cuda] [--threads N]

Entries (each: ``baseline``, ``candidate``, ``unit``, ``ratio`` > 1 when the new path is faster,
the raw ``repeats`` of both, the medians as the figures, and the device, torch version and
threads it ran with):

- ``augment``: BYOL's two views with torchvision on PIL images, one sample at a time, vs
  ``BatchedViews`` on whole batches; both in a DataLoader with the same number of workers
  (samples/s, a sample = one image's two views at the paper's 96×96).
- ``lightning_overhead``: the demo configuration's training step written out in plain PyTorch
  vs in Lightning with the demo's callbacks and logger, alternating step by step on pre-built
  batches (ms/step); ``overhead_pct`` = (Lightning / plain − 1)·100 of the medians.
- ``ema``: the mean-teacher update of the paper's ResNet-18 encoder, the per-parameter
  out-of-place loop peers use vs ``ema_update_`` (in-place ``torch._foreach_lerp_``), in
  ms/update, with the achieved memory bandwidth of each.
- with ``--device cuda``: ``augment_device`` (the PIL pipeline on all host cores vs
  ``BatchedViews`` on the GPU) and ``train_step`` (the paper configuration,
  ``experiment=paper_gpu``: images/s, achieved TFLOP/s from a FLOP count of one step, host
  syncs per step, and the projected time of a 300-epoch run).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's raft_lightning, wherever the script is run from

from raft_lightning.callbacks import ema_update_  # noqa: E402
from raft_lightning.data.augment.batched import BatchedTwoViews, BatchedViews, whole_batch  # noqa: E402
from raft_lightning.data.augment.per_sample import blur_kernel_size  # noqa: E402
from raft_lightning.data.sampling import EpochSampler  # noqa: E402
from raft_lightning.data.sources import make_synthetic  # noqa: E402
from raft_lightning.data.views import TwoViews  # noqa: E402

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR_TRAIN_SIZE = 50_000


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    if device.type == "cpu":
        name = f"{_cpu_model()} ({os.cpu_count()} logical cores)"
    return {"device": name, "torch": torch.__version__, "threads": threads}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def entry(
    baseline: list[float], candidate: list[float], unit: str, higher_is_better: bool, **extra: Any
) -> dict[str, Any]:
    """Medians of the repeats and their ratio, > 1 when the candidate is faster."""
    b, c = statistics.median(baseline), statistics.median(candidate)
    ratio = c / b if higher_is_better else b / c
    return {
        "baseline": b,
        "candidate": c,
        "unit": unit,
        "ratio": ratio,
        "repeats": {"baseline": baseline, "candidate": candidate},
        **extra,
    }


def augment_config() -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(ROOT / "raft_lightning" / "conf" / "data" / "augment" / "byol.yaml"))


# ---------------------------------------------------------------------------------------------
# augment


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


def timed_pass(loader: torch.utils.data.DataLoader, size: int) -> float:
    """Samples/s of one full pass over ``loader``."""
    start = time.perf_counter()
    for _ in loader:
        pass
    return size / (time.perf_counter() - start)


def started(loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
    """The loader with its (persistent) workers started and one batch through, untimed."""
    next(iter(loader))
    return loader


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
        _synchronize(device)
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------
# lightning_overhead


def compose(overrides: list[str], output_dir: str) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(str(ROOT / "raft_lightning" / "conf"), version_base="1.3"):
        return hydra_compose(
            "train", overrides=[*overrides, f"paths.root_dir={ROOT}", f"paths.output_dir={output_dir}"]
        )


class StepTimer:
    """Wall-clock time at the end of every training step (last callback, so after all others)."""

    def __init__(self, device: torch.device | None = None, sync_at: tuple[int, ...] = ()) -> None:
        import lightning as L

        timer = self

        class _Callback(L.Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
                if len(timer.times) in sync_at:
                    _synchronize(device)
                timer.times.append(time.perf_counter())

        self.times: list[float] = []
        self.callback = _Callback()

    def ms_per_step(self, warmup: int) -> float:
        times = self.times[warmup:]
        return 1000 * (times[-1] - times[0]) / (len(times) - 1)


def demo_batches(cfg: Any, steps: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Pre-built batches of the demo's shape, so that both loops time the step, not the data."""
    g = torch.Generator().manual_seed(0)
    size, batch = cfg.data.image_size, cfg.data.batch_size
    return [
        (
            torch.randn(batch, 3, size, size, generator=g),
            torch.randn(batch, 3, size, size, generator=g),
            torch.randint(0, cfg.data.num_classes, (batch,), generator=g),
        )
        for _ in range(steps)
    ]


class PlainStep:
    """The step Lightning runs for the demo, written out in plain PyTorch: the next batch from
    its own DataLoader, both views through the online network and predictor, the target without
    gradient, the loss and the logged metrics, backward, Adam, the divergence check, the EMA
    update and the probe's own step."""

    def __init__(self, cfg: Any, batches: list) -> None:
        from raft_lightning.run.build import build_objective

        torch.manual_seed(cfg.seed)
        self.module = build_objective(cfg).train()
        self.optimizer = self.module.configure_optimizers()
        self.probe = nn.Linear(self.module.online.backbone.out_dim, cfg.data.num_classes)
        self.probe_optimizer = torch.optim.Adam(self.probe.parameters(), lr=cfg.callbacks.probe.lr)
        self.tau = cfg.callbacks.ema.tau
        self.sums = torch.zeros(5)  # epoch sums of the logged values, as Lightning accumulates them
        self.batches = iter(torch.utils.data.DataLoader(batches, batch_size=None))

    def __call__(self) -> None:
        import torch.nn.functional as F

        from raft_lightning.losses import alignment_loss, same_view_cross_model_loss, uniformity_loss

        module = self.module
        x1, x2, labels = next(self.batches)
        h1, f1 = module.online(x1)
        _, f2 = module.online(x2)
        p1, p2 = module.predictor(f1), module.predictor(f2)
        with torch.no_grad():
            _, z1 = module.target(x1)
            _, z2 = module.target(x2)
        loss = module.objective(p1, p2, z1, z2)
        with torch.no_grad():
            metrics = [loss, alignment_loss(p1, p2), same_view_cross_model_loss(p1, p2, z1, z2), uniformity_loss(f1)]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if not torch.isfinite(loss):
            raise RuntimeError("diverged")
        ema_update_(module.target, module.online, self.tau)
        probe_loss = F.cross_entropy(self.probe(h1.detach()), labels)
        self.probe_optimizer.zero_grad(set_to_none=True)
        probe_loss.backward()
        self.probe_optimizer.step()
        self.sums += torch.stack([*metrics, probe_loss.detach()]).detach() * len(labels)


def paired_step_times(cfg: Any, batches: list) -> tuple[list[float], list[float]]:
    """ms of each Lightning step and of a plain step right after it, alternating.

    Lightning runs ``trainer.fit`` with the demo's callbacks and logger; a last callback, at the
    end of each Lightning step, runs one plain step on its own model, optimiser and probe. A
    Lightning step is timed from the end of the previous plain step to the end of its own
    callbacks, so it holds all of Lightning's work between steps. Alternating step by step puts
    both variants under the same load of the machine (its cores are shared)."""
    import lightning as L

    from raft_lightning.run.build import build

    plain = PlainStep(cfg, batches)
    torch.manual_seed(cfg.seed)
    _, model, trainer = build(cfg)
    lightning_ms, plain_ms = [], []
    last = [0.0]

    class Alternate(L.Callback):
        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            if not last[0]:
                last[0] = time.perf_counter()

        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            end = time.perf_counter()
            lightning_ms.append(1000 * (end - last[0]))
            plain()
            last[0] = time.perf_counter()
            plain_ms.append(1000 * (last[0] - end))

    trainer.callbacks.append(Alternate())
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return plain_ms, lightning_ms


def bench_lightning_overhead(steps: int, warmup: int = 2) -> dict[str, Any]:
    import lightning as L

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(
            [
                "experiment=demo",
                "++trainer.max_epochs=1",
                f"++trainer.limit_train_batches={steps}",
                "++trainer.limit_val_batches=0",
                "++trainer.enable_progress_bar=false",
                "++trainer.enable_model_summary=false",
            ],
            out,
        )
        L.seed_everything(cfg.seed, verbose=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain, lightning = paired_step_times(cfg, demo_batches(cfg, steps))
    plain, lightning = plain[warmup:], lightning[warmup:]
    result = entry(
        plain,
        lightning,
        "ms/step",
        higher_is_better=False,
        baseline_name="plain PyTorch step: the same model, losses, metrics, optimiser, EMA, probe, check",
        candidate_name="Lightning Trainer.fit with the demo's callbacks and CSV logger (no progress bar)",
        config=f"experiment=demo (convnet width {cfg.model.backbone.width}, "
        f"{cfg.data.image_size}×{cfg.data.image_size}, batch {cfg.data.batch_size})",
        steps=steps,
        warmup_steps=warmup,
        method="the two alternate step by step in one process; medians over the steps after warm-up",
    )
    result["overhead_pct"] = 100 * (result["candidate"] / result["baseline"] - 1)
    result["paired_overhead_pct"] = statistics.median(100 * (c / b - 1) for b, c in zip(plain, lightning))
    return result


# ---------------------------------------------------------------------------------------------
# ema


def bench_ema(updates: int, repeats: int, device: torch.device, tau: float = 0.996) -> dict[str, Any]:
    from raft_lightning.models import Encoder, MLPHead, resnet18

    torch.manual_seed(0)
    online = Encoder(resnet18(), MLPHead(512, 512, 128)).to(device)
    # One target per variant: the loop rebinds its parameters to new memory at every update,
    # which must not move the in-place variant's parameters (that stay where they were made).
    target_loop, target_foreach = (copy.deepcopy(online).requires_grad_(False) for _ in range(2))
    params = sum(p.numel() for p in online.parameters())
    moved = 3 * params * 4  # read ξ and θ, write ξ: the least traffic of ξ ← τ·ξ + (1−τ)·θ in float32

    @torch.no_grad()
    def loop() -> None:  # peers' update: two temporaries per parameter, then a rebind
        for p, q in zip(target_loop.parameters(), online.parameters()):
            p.data = tau * p.data + (1 - tau) * q.data

    def foreach() -> None:
        ema_update_(target_foreach, online, tau)

    def ms(update: Callable[[], None]) -> float:
        update()
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(updates):
            update()
        _synchronize(device)
        return 1000 * (time.perf_counter() - start) / updates

    baseline, candidate = [], []
    for _ in range(repeats):
        baseline.append(ms(loop))
        candidate.append(ms(foreach))
    result = entry(
        baseline,
        candidate,
        "ms/update",
        higher_is_better=False,
        baseline_name="per-parameter loop: p.data = tau * p.data + (1 - tau) * q.data",
        candidate_name="ema_update_: torch._foreach_lerp_ in place",
        model="ResNet-18 + projector (the paper's online encoder)",
        parameters=params,
        bytes_per_update=moved,
    )
    result["baseline_gb_per_s"] = moved / (result["baseline"] / 1000) / 1e9
    result["candidate_gb_per_s"] = moved / (result["candidate"] / 1000) / 1e9
    return result


# ---------------------------------------------------------------------------------------------
# train_step (GPU)


def step_flops(cfg: Any, device: torch.device) -> int:
    """FLOPs of one training step (online forward and backward on both views, target forward),
    counted by torch's FlopCounterMode on convolutions and matmuls."""
    from torch.utils.flop_counter import FlopCounterMode

    from raft_lightning.run.build import build_objective

    module = build_objective(cfg).to(device).train()
    batch = cfg.data.batch_size
    x = torch.randn(batch, 3, cfg.data.image_size, cfg.data.image_size, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    with warnings.catch_warnings(), FlopCounterMode(display=False) as counter:
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        module.training_step((x, x.clone(), labels), 0)["loss"].backward()
    return counter.get_total_flops()


def bench_train_step(device: torch.device, steps: int, warmup: int, overrides: list[str] = ()) -> dict[str, Any]:
    """``experiment=paper_gpu`` on CIFAR-10-shaped synthetic data: ``steps`` optimiser steps of a
    real ``trainer.fit``, timed after ``warmup`` steps; host syncs counted with CUDA's sync
    debug mode."""
    import lightning as L

    from raft_lightning.run.build import build

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(
            [
                "experiment=paper_gpu",
                "data=synthetic",
                "data.num_classes=10",
                f"data.train_size={steps * 128}",
                "data.val_size=128",
                "data.source_size=32",
                "data.image_size=96",
                "data.batch_size=128",
                "data.pipeline=batched",
                "++trainer.max_epochs=1",
                "++trainer.limit_val_batches=0",
                "++trainer.enable_progress_bar=false",
                "++trainer.enable_model_summary=false",
                "logger=none",
                *overrides,
            ],
            out,
        )
        L.seed_everything(cfg.seed, verbose=False)
        datamodule, model, trainer = build(cfg)
        timer = StepTimer(device, sync_at=(warmup - 1, steps - 1))
        syncs = SyncCounter(device, first_step=warmup)
        trainer.callbacks += [timer.callback, syncs.callback]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # the sync debug mode reports each sync as a warning
            trainer.fit(model, datamodule=datamodule)
        syncs.stop(caught)
        step_ms = timer.ms_per_step(warmup - 1)
        flops = step_flops(cfg, device)
    images_per_s = cfg.data.batch_size * 1000 / step_ms
    steps_per_epoch = CIFAR_TRAIN_SIZE // cfg.data.batch_size
    return {
        "unit": "images/s",
        "images_per_s": images_per_s,
        "steps_per_s": 1000 / step_ms,
        "ms_per_step": step_ms,
        "flops_per_step": flops,
        "achieved_tflop_per_s": flops * 1000 / step_ms / 1e12,
        "host_syncs_per_step": syncs.per_step(),
        "projected_300_epoch_min": 300 * steps_per_epoch * step_ms / 1000 / 60,
        "projection": f"300 epochs × {steps_per_epoch} steps of batch {cfg.data.batch_size} at the measured "
        "ms/step; validation and the probe's evaluation (forward passes only) not included",
        "config": "experiment=paper_gpu (ResNet-18 at 96×96, batch 128, BYOL + MLP predictor, bf16, "
        "channels_last, fused Adam, batched augmentation on the device)",
        "steps": steps,
        "warmup_steps": warmup,
    }


class SyncCounter:
    """Turns CUDA's sync debug mode on after ``first_step`` steps and counts the host-device
    synchronisations it reports per step (None off CUDA, where there is nothing to count)."""

    def __init__(self, device: torch.device, first_step: int) -> None:
        import lightning as L

        counter = self
        self.device, self.steps, self.count, self.on = device, 0, 0, False

        class _Callback(L.Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
                counter.steps += counter.on
                if trainer.global_step == first_step and device.type == "cuda":
                    counter.on = True
                    torch.cuda.set_sync_debug_mode("warn")

        self.callback = _Callback()

    def stop(self, caught: list[warnings.WarningMessage]) -> None:
        if self.on:
            torch.cuda.set_sync_debug_mode("default")
        self.count = sum("synchroniz" in str(w.message) for w in caught)

    def per_step(self) -> float | None:
        return self.count / self.steps if self.steps else None


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repeats: under 2 minutes on 2 cores")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: cuda adds augment_device and train_step")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--only", nargs="*", help="run only these entries")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    torch.set_num_threads(args.threads)
    quick = args.quick
    workers = min(args.threads, os.cpu_count() or 1)
    cpu = environment(torch.device("cpu"), args.threads)
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "augment": lambda: {**bench_augment(1024 if quick else 4096, 3 if quick else 5, workers), **cpu},
        "lightning_overhead": lambda: {**bench_lightning_overhead(26 if quick else 62), **cpu},
        "ema": lambda: {**bench_ema(20 if quick else 50, 5 if quick else 9, torch.device("cpu")), **cpu},
    }
    if device.type == "cuda":
        gpu = environment(device, args.threads)
        jobs["ema_device"] = lambda: {**bench_ema(50, 9, device), **gpu}
        jobs["augment_device"] = lambda: {**bench_augment_device(device, 4096, 3), **gpu}
        jobs["train_step"] = lambda: {**bench_train_step(device, 200 if quick else 400, 30), **gpu}
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "load_average_before": os.getloadavg(),
    }
    for name, job in jobs.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        results[name] = job()
        results[name]["seconds"] = time.perf_counter() - start
        print(f"{name}: {_line(results[name])}", flush=True)
    results["load_average_after"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _line(result: dict[str, Any]) -> str:
    if "ratio" not in result:
        return ", ".join(f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float))
    text = f"{result['baseline']:.4g} → {result['candidate']:.4g} {result['unit']}, ratio {result['ratio']:.2f}"
    return text + (f", overhead {result['overhead_pct']:.1f} %" if "overhead_pct" in result else "")


if __name__ == "__main__":
    main()
