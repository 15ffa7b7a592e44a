from raft_lightning.callbacks.divergence import DivergedError, DivergenceGuard
from raft_lightning.callbacks.epoch_metrics import EpochMetrics
from raft_lightning.callbacks.knn import KNNMonitor
from raft_lightning.callbacks.preemption import Interrupted, Preemption
from raft_lightning.callbacks.probe import OnlineProbe

__all__ = [
    "DivergedError",
    "DivergenceGuard",
    "EpochMetrics",
    "Interrupted",
    "KNNMonitor",
    "OnlineProbe",
    "Preemption",
]
