"""Frozen-encoder evaluation: features (``features``), weighted kNN (``knn``), the linear
protocol (``linear``). Modules in, numbers out: nothing here builds a run or reads its folder."""
