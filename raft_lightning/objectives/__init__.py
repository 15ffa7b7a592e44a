from raft_lightning.objectives.base import SelfSupervised
from raft_lightning.objectives.baselines import RandomEncoder, Supervised
from raft_lightning.objectives.byol import BYOL
from raft_lightning.objectives.byol_prime import BYOLPrime
from raft_lightning.objectives.raft import RAFT

__all__ = ["BYOL", "BYOLPrime", "RAFT", "RandomEncoder", "SelfSupervised", "Supervised"]
