"""The mean teacher f_ξ, for the objectives that have one (BYOL, BYOL', RAFT, DirectPred).

``EMA`` is the update rule ξ ← τ·ξ + (1−τ)·θ (Algorithm 1, line 12) with its τ schedule, built
from the ``teacher`` config group; ``WithTeacher`` is the base class of an objective with a
teacher: it owns ``self.target``, computes the targets with it and updates it after every
optimiser step. A teacher-free objective (SimSiam, the baselines) subclasses ``SelfSupervised``
directly: no copy, no target forward, no EMA.

BatchNorm policy: only parameters are averaged. The target runs in train mode, so its
BatchNorm layers normalise with the statistics of the batch at hand, like the online network
and BYOL's reference implementation; its running buffers are updated by its own forward
passes and never copied or averaged, so they describe the target's own activations.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from raft_lightning.measures import TAU
from raft_lightning.objectives.base import SelfSupervised

SCHEDULES = ("constant", "cosine")


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """ξ ← τ·ξ + (1−τ)·θ for every parameter, in place, with one fused foreach kernel."""
    target_params = list(target.parameters())
    online_params = list(online.parameters())
    # lerp: ξ + (1−τ)(θ − ξ) = τ·ξ + (1−τ)·θ
    torch._foreach_lerp_(target_params, online_params, 1.0 - tau)


class EMA:
    """The EMA rate τ of the mean teacher, per optimiser step (the ``teacher`` config group).

    ``schedule="constant"`` keeps τ fixed (the paper: τ = 0.996, "EMA rate 4e-3", no cosine
    smoothing). ``schedule="cosine"`` is BYOL's τ_k = 1 − (1 − τ)(cos(πk/K) + 1)/2, rising to
    ``final_tau`` at the last of K steps; the update after optimiser step k uses τ_k. It holds
    no state: τ is a function of the step, so a resumed run continues the same curve.
    """

    def __init__(self, tau: float = 0.996, schedule: str = "constant", final_tau: float = 1.0) -> None:
        errors = self.config_errors(tau=tau, schedule=schedule, final_tau=final_tau)
        if errors:
            raise ValueError("; ".join(errors))
        self.tau, self.schedule, self.final_tau = float(tau), schedule, float(final_tau)

    @staticmethod
    def config_errors(tau: Any = 0.996, schedule: Any = "constant", final_tau: Any = 1.0, **_: Any) -> list[str]:
        errors = []
        if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not 0 <= tau < 1:
            errors.append(f"tau={tau!r}: must be in [0, 1)")
        if schedule not in SCHEDULES:
            errors.append(f"schedule={schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if not isinstance(final_tau, (int, float)) or isinstance(final_tau, bool) or not 0 <= final_tau <= 1:
            errors.append(f"final_tau={final_tau!r}: must be in [0, 1]")
        return errors

    def tau_at(self, step: int, total_steps: int) -> float:
        """τ used for the update after optimiser step ``step`` (1-based) of ``total_steps``."""
        if self.schedule == "constant":
            return self.tau
        progress = min(step / max(total_steps, 1), 1.0)
        return self.final_tau - (self.final_tau - self.tau) * (math.cos(math.pi * progress) + 1) / 2

    def __repr__(self) -> str:
        return f"EMA(tau={self.tau}, schedule={self.schedule!r}, final_tau={self.final_tau})"


class WithTeacher(SelfSupervised):
    """An objective whose targets come from a mean teacher f_ξ (Figure 1): a copy of f_θ that
    only ever changes through the EMA update, after each optimiser step.

    Args:
        teacher: the update rule (``EMA``; the ``teacher`` config group). Default: ``EMA()``.
        **kwargs: ``SelfSupervised``'s.
    """

    def __init__(self, teacher: EMA | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.teacher = teacher if teacher is not None else EMA()
        self.current_tau = self.teacher.tau

    def add_networks(self) -> None:
        # f_ξ starts as a copy of f_θ and only ever changes through the EMA update. Made where the
        # code before the teacher moved here made it (before the cast and compile): same numbers.
        self.target = copy.deepcopy(self.online).requires_grad_(False)

    def networks(self) -> list[nn.Module]:
        return [*super().networks(), self.target]

    def targets(self, x1: Tensor, x2: Tensor, f1: Tensor, f2: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            _, z1 = self.target(x1)  # z'_1 = f_ξ(t1(x))
            _, z2 = self.target(x2)  # z'_2 = f_ξ(t2(x))
        return z1, z2

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        super().after_optimizer_step(step, total_steps)
        self.current_tau = self.teacher.tau_at(step, total_steps)
        ema_update_(self.target, self.online, self.current_tau)
        # A CPU tensor: a Python float would become a device tensor, a copy that waits for the GPU.
        self.log(TAU, torch.tensor(self.current_tau), on_step=True, on_epoch=False)
