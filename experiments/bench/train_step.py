"""``train_step``: the paper configuration (``experiment=paper_gpu``) in a real ``trainer.fit``:
images/s, achieved TFLOP/s from a FLOP count of one step, host syncs per step, and the
projected time of a 300-epoch run."""

from __future__ import annotations

import tempfile
import time
import warnings
from typing import Any

import torch

from experiments.bench.harness import CIFAR_TRAIN_SIZE, compose, logging_outside_a_trainer, synchronize
from experiments.bench.syncs import SyncCounter


class StepTimer:
    """Wall-clock time at the end of every training step (last callback, so after all others)."""

    def __init__(self, device: torch.device | None = None, sync_at: tuple[int, ...] = ()) -> None:
        import lightning as L

        timer = self

        class _Callback(L.Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
                if len(timer.times) in sync_at:
                    synchronize(device)
                timer.times.append(time.perf_counter())

        self.times: list[float] = []
        self.callback = _Callback()

    def ms_per_step(self, warmup: int) -> float:
        times = self.times[warmup:]
        return 1000 * (times[-1] - times[0]) / (len(times) - 1)


def step_flops(cfg: Any, device: torch.device) -> int:
    """FLOPs of one training step (online forward and backward on both views, target forward),
    counted by torch's FlopCounterMode on convolutions and matmuls."""
    from torch.utils.flop_counter import FlopCounterMode

    from raft_lightning.run.build import build_objective

    module = build_objective(cfg).to(device).train()
    batch = cfg.data.batch_size
    x = torch.randn(batch, 3, cfg.data.image_size, cfg.data.image_size, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    with logging_outside_a_trainer(), FlopCounterMode(display=False) as counter:
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
