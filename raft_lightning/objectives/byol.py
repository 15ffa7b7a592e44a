from __future__ import annotations

from typing import Any

from torch import Tensor

from raft_lightning.losses import byol_loss
from raft_lightning.objectives.teacher import WithTeacher


class BYOL(WithTeacher):
    """Bootstrap Your Own Latent: predict the teacher's projection of the other view (Section 2.2).

    L = ½ [L_cross-model(p1, z2) + L_cross-model(p2, z1)]. The loss has no α, β: they must stay 1.
    """

    @classmethod
    def config_errors(cls, alpha: Any = 1.0, beta: Any = 1.0, **kwargs: Any) -> list[str]:
        errors = super().config_errors(alpha=alpha, beta=beta, **kwargs)
        if not errors and (alpha != 1 or beta != 1):
            errors.append(
                f"alpha={alpha!r}, beta={beta!r}: BYOL's loss has no weights, both must be 1 "
                "(use loss=byol_prime or loss=raft to weight L_align and L_cross-model)"
            )
        return errors

    def objective(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        return byol_loss(p1, p2, z1, z2, tangential=self.tangential)
