"""Mean-teacher update ξ ← τ·ξ + (1−τ)·θ after every optimiser step (Algorithm 1, line 12).

BatchNorm policy: only parameters are averaged. The target runs in train mode, so its
BatchNorm layers normalise with the statistics of the batch at hand, like the online network
and BYOL's reference implementation; its running buffers are updated by its own forward
passes and never copied or averaged, so they describe the target's own activations.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn

from raft_lightning.contracts import MeanTeacher
from raft_lightning.measures import TAU

SCHEDULES = ("constant", "cosine")


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """ξ ← τ·ξ + (1−τ)·θ for every parameter, in place, with one fused foreach kernel."""
    target_params = list(target.parameters())
    online_params = list(online.parameters())
    # lerp: ξ + (1−τ)(θ − ξ) = τ·ξ + (1−τ)·θ
    torch._foreach_lerp_(target_params, online_params, 1.0 - tau)


class EMA(L.Callback):
    """Updates the module's ``target`` from its ``online`` network (``contracts.MeanTeacher``) once
    per optimiser step.

    ``schedule="constant"`` keeps τ fixed (the paper: τ = 0.996, "EMA rate 4e-3", no cosine
    smoothing). ``schedule="cosine"`` is BYOL's τ_k = 1 − (1 − τ)(cos(πk/K) + 1)/2, rising to
    ``final_tau`` at the last of K steps; the update after optimiser step k uses τ_k.
    """

    def __init__(self, tau: float = 0.996, schedule: str = "constant", final_tau: float = 1.0) -> None:
        errors = self.config_errors(tau=tau, schedule=schedule, final_tau=final_tau)
        if errors:
            raise ValueError("; ".join(errors))
        self.base_tau, self.schedule, self.final_tau = float(tau), schedule, float(final_tau)
        self.current_tau = self.base_tau
        self._last_step = 0

    @staticmethod
    def config_errors(tau: Any = 0.996, schedule: Any = "constant", final_tau: Any = 1.0, **_: Any) -> list[str]:
        errors = []
        if not isinstance(tau, (int, float)) or not 0 <= tau < 1:
            errors.append(f"tau={tau!r}: must be in [0, 1)")
        if schedule not in SCHEDULES:
            errors.append(f"schedule={schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if not isinstance(final_tau, (int, float)) or not 0 <= final_tau <= 1:
            errors.append(f"final_tau={final_tau!r}: must be in [0, 1]")
        return errors

    def tau_at(self, step: int, total_steps: int) -> float:
        """τ used for the update after optimiser step ``step`` (1-based) of ``total_steps``."""
        if self.schedule == "constant":
            return self.base_tau
        progress = min(step / max(total_steps, 1), 1.0)
        return self.final_tau - (self.final_tau - self.base_tau) * (math.cos(math.pi * progress) + 1) / 2

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, MeanTeacher):
            raise TypeError(f"callbacks.ema: {type(pl_module).__name__} has no online and target networks")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: MeanTeacher, *args: Any) -> None:
        step = trainer.global_step
        if step == self._last_step:  # no optimiser step in this batch (gradient accumulation)
            return
        self._last_step = step
        self.current_tau = self.tau_at(step, int(trainer.estimated_stepping_batches))
        ema_update_(pl_module.target, pl_module.online, self.current_tau)
        # A CPU tensor: a Python float would become a device tensor, a copy that waits for the GPU.
        pl_module.log(TAU, torch.tensor(self.current_tau), on_step=True, on_epoch=False)

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self._last_step, "current_tau": self.current_tau}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._last_step = state_dict["last_step"]
        self.current_tau = state_dict["current_tau"]
