from raft_lightning.callbacks.divergence import DivergenceGuard
from raft_lightning.callbacks.epoch_metrics import EpochMetrics
from raft_lightning.callbacks.knn import KNNMonitor
from raft_lightning.callbacks.monitors import CollapseMonitors
from raft_lightning.callbacks.preemption import Interrupted, Preemption, interruption
from raft_lightning.callbacks.probe import OnlineProbe
from raft_lightning.callbacks.progress import EpochLines
from raft_lightning.contracts import DivergedError

__all__ = [
    "CollapseMonitors",
    "DivergedError",
    "DivergenceGuard",
    "EpochLines",
    "EpochMetrics",
    "Interrupted",
    "interruption",
    "KNNMonitor",
    "OnlineProbe",
    "Preemption",
]
