from raft_lightning.callbacks.ema import EMA, ema_update_
from raft_lightning.callbacks.knn import KNNMonitor
from raft_lightning.callbacks.metrics import DivergedError, DivergenceGuard, EpochMetrics
from raft_lightning.callbacks.probe import OnlineProbe

__all__ = ["EMA", "DivergedError", "DivergenceGuard", "EpochMetrics",
    "KNNMonitor", "OnlineProbe", "ema_update_"]
