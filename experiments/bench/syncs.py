"""Host-device synchronisations per training step, counted with CUDA's sync debug mode."""

from __future__ import annotations

import warnings
from typing import Any

import torch


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
