from __future__ import annotations

from torch import Tensor

from raft_lightning.losses import byol_prime_loss
from raft_lightning.objectives.teacher import WithTeacher


class BYOLPrime(WithTeacher):
    """BYOL', the upper bound of BYOL (Definition 4.2, Theorem 4.1):
    L = α·L_align(p1, p2) + β·½ [L_cross-model(p1, z1) + L_cross-model(p2, z2)]."""

    def objective(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        return byol_prime_loss(p1, p2, z1, z2, self.alpha, self.beta, self.tangential)
