from raft_lightning.objectives.base import SelfSupervised
from raft_lightning.objectives.baselines import RandomEncoder, Supervised
from raft_lightning.objectives.byol import BYOL
from raft_lightning.objectives.byol_prime import BYOLPrime
from raft_lightning.objectives.directpred import DirectPred
from raft_lightning.objectives.raft import RAFT
from raft_lightning.objectives.simsiam import SimSiam
from raft_lightning.objectives.teacher import EMA, WithTeacher, ema_update_


def has_teacher(objective: type) -> bool:
    """Whether the objective class has a mean teacher (and so takes the ``teacher`` config group)."""
    return isinstance(objective, type) and issubclass(objective, WithTeacher)


__all__ = [
    "BYOL",
    "EMA",
    "RAFT",
    "BYOLPrime",
    "DirectPred",
    "RandomEncoder",
    "SelfSupervised",
    "SimSiam",
    "Supervised",
    "WithTeacher",
    "ema_update_",
    "has_teacher",
]
