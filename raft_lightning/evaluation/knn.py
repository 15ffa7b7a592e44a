"""Weighted k-nearest-neighbour accuracy on frozen features (the kNN monitor's number)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def knn_accuracy(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    labels: Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> float:
    """Weighted kNN on cosine similarity (Wu et al. 2018, as in solo-learn and lightly):
    each of the k nearest bank items votes for its class with weight exp(sim / temperature)."""
    bank, queries = F.normalize(bank, dim=1), F.normalize(queries, dim=1)
    k = min(k, len(bank))
    correct = 0
    for start in range(0, len(queries), chunk):
        sims = queries[start : start + chunk] @ bank.T  # (q, N)
        top_sims, top_idx = sims.topk(k, dim=1)
        votes = torch.zeros(len(top_sims), num_classes)
        votes.scatter_add_(1, bank_labels[top_idx], (top_sims / temperature).exp())
        correct += (votes.argmax(1) == labels[start : start + chunk]).sum().item()
    return correct / len(queries)
