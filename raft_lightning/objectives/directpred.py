"""DirectPred (Tian, Chen & Ganguli, "Understanding self-supervised learning dynamics without
contrastive pairs", ICML 2021): BYOL whose linear predictor is not trained but set directly.

Their Eqs. 18–19: a running estimate of the correlation of the predictor's input,
F ← ρ·F + (1−ρ)·E[f fᵀ], with eigendecomposition F = U diag(s) Uᵀ, gives

    W_p = U diag(p) Uᵀ,   p_j = sqrt(s_j / max_k s_k) + ε,

after every optimiser step (ρ = 0.3, ε = 0.01, as the authors' code runs it:
facebookresearch/luckmatters, ssl/real-dataset, README "DirectPred": ``predictor_reg=corr
predictor_freq=1 dyn_lambda=0.3 dyn_eps=0.01 balance_type=boost_scale``). As there, the
first estimate is E[f fᵀ] itself, E is the mean over both views of the batch, and negative
eigenvalues (round-off) count as 0.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from raft_lightning.models import LinearPredictor
from raft_lightning.objectives.byol import BYOL
from raft_lightning.values import number_errors


@torch.no_grad()
def directpred_weight(correlation: Tensor, eps: float) -> Tensor:
    """W_p = U diag(sqrt(s / max s) + ε) Uᵀ of F = U diag(s) Uᵀ, computed in float64 (eigh:
    F is symmetric) and returned in F's dtype. Shapes: F (D, D) → (D, D)."""
    s, u = torch.linalg.eigh(correlation.double())
    s = s.clamp(min=0)
    p = (s / s.max().clamp(min=torch.finfo(torch.float64).tiny)).sqrt() + eps  # F = 0: W = ε·I
    return ((u * p) @ u.T).to(correlation.dtype)


class DirectPred(BYOL):
    """BYOL with the mean teacher and a linear predictor q(f) = W_p f set from F, never by
    gradient (the optimiser holds f_θ only). F is a buffer, so a checkpoint holds it and a
    resumed run continues bit-exactly; under DDP, E[f fᵀ] is averaged over the processes so
    that every one sets the same W_p.

    Args:
        rho: ρ, the weight of the previous estimate in F ← ρ·F + (1−ρ)·E[f fᵀ].
        eps: ε, added to every p_j (boosts the directions of small eigenvalues).
        **kwargs: ``BYOL``'s; ``predictor`` must be a ``LinearPredictor`` (predictor=linear).
    """

    def __init__(self, rho: float = 0.3, eps: float = 0.01, **kwargs: Any) -> None:
        errors = self.config_errors(rho=rho, eps=eps)
        if errors:
            raise ValueError("; ".join(errors))
        super().__init__(**kwargs)
        if not isinstance(self.predictor, LinearPredictor):
            raise ValueError(
                f"predictor={type(self.predictor).__name__}: DirectPred sets a linear predictor, use predictor=linear"
            )
        self.rho, self.eps = float(rho), float(eps)
        self.predictor.requires_grad_(False)
        dim = self.predictor.linear.weight.shape[0]
        self.register_buffer("correlation", torch.zeros(dim, dim))  # F
        self.register_buffer("correlation_updates", torch.zeros((), dtype=torch.long))

    @classmethod
    def config_errors(cls, rho: Any = 0.3, eps: Any = 0.01, **kwargs: Any) -> list[str]:
        errors = super().config_errors(**kwargs)
        errors += number_errors("rho", rho, 0, 1)
        errors += number_errors("eps", eps, 0)
        return errors

    def predict(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        if self.training:
            self.update_correlation(f1, f2)
        return super().predict(f1, f2)

    @torch.no_grad()
    def update_correlation(self, f1: Tensor, f2: Tensor) -> None:
        """F ← ρ·F + (1−ρ)·E[f fᵀ] over both views (F = E[f fᵀ] the first time)."""
        f = torch.cat([f1, f2]).detach().to(self.correlation.dtype)  # (2B, D)
        batch_corr = f.T @ f / len(f)  # (D, D)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_corr)
            batch_corr /= dist.get_world_size()
        if self.correlation_updates == 0:
            self.correlation.copy_(batch_corr)
        else:
            self.correlation.mul_(self.rho).add_(batch_corr, alpha=1 - self.rho)
        self.correlation_updates += 1

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        super().after_optimizer_step(step, total_steps)  # the mean teacher
        with torch.no_grad():
            weight = self.predictor.linear.weight
            weight.copy_(directpred_weight(self.correlation, self.eps).to(weight.dtype))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(list(self.online.parameters()))
