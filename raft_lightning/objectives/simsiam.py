"""SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from raft_lightning.losses import simsiam_loss
from raft_lightning.objectives.base import SelfSupervised


class SimSiam(SelfSupervised):
    """BYOL without a mean teacher: the target of each view's prediction is the online
    projection of the other view under stop-gradient (their Eq. 3),

        L = ½ D(p1, sg(z2)) + ½ D(p2, sg(z1)),   z = f_θ(·), D the negative cosine.

    No copy of f_θ, no target forward, no EMA (BYOL with τ = 0 computes the same numbers,
    at the cost of a copy and two forward passes). The loss has no α, β and no tangential form.
    """

    @classmethod
    def config_errors(cls, alpha: Any = 1.0, beta: Any = 1.0, tangential: Any = False, **kwargs: Any) -> list[str]:
        errors = super().config_errors(alpha=alpha, beta=beta, **kwargs)
        if not errors and (alpha != 1 or beta != 1):
            errors.append(f"alpha={alpha!r}, beta={beta!r}: SimSiam's loss has no weights, both must be 1")
        if tangential is not False:
            errors.append(f"tangential={tangential!r}: SimSiam's loss has no tangential form, must be false")
        return errors

    def targets(self, x1: Tensor, x2: Tensor, f1: Tensor, f2: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return f1.detach(), f2.detach()  # sg(z1), sg(z2): the online projections themselves

    def objective(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        return simsiam_loss(p1, p2, z1, z2)
