"""Frozen-encoder evaluation: features, k-nearest-neighbour accuracy, linear classifier.

Shared by the kNN monitor (every epoch) and the offline linear evaluation (after training), so
that both read the same features the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def extract(network: nn.Module, batches: Iterable, device: torch.device | str = "cpu") -> tuple[Tensor, ...]:
    """Run ``network`` (eval mode, no grad) over (x, y) batches; returns its outputs and the labels,
    concatenated on the CPU. ``network`` may return a tensor or a tuple of tensors."""
    was_training = network.training
    network.eval()
    outputs, labels = [], []
    for x, y in batches:
        out = network(x.to(device, non_blocking=True))
        outputs.append(tuple(o.float().cpu() for o in (out if isinstance(out, tuple) else (out,))))
        labels.append(y.cpu())
    network.train(was_training)
    return (*(torch.cat(parts) for parts in zip(*outputs)), torch.cat(labels))


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


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Tiny matrices gain nothing from intra-op threads and lose a lot to their synchronisation
    (measured here: 90× slower with 2 threads on a loaded 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def linear_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    num_classes: int,
    epochs: int = 100,
    lr: float = 5e-4,
    batch_size: int = 256,
    seed: int = 0,
    standardize: bool = True,
) -> float:
    """Appendix C's protocol on cached features: a linear classifier trained with Adam (the paper
    names only the learning rate) for ``epochs`` on all training labels; returns test accuracy.

    ``standardize`` z-scores each feature with the training set's mean and std first (as the
    non-affine BatchNorm before MAE's linear probe): a fixed-lr probe otherwise measures feature
    scale as much as content (README, "Linear evaluation")."""
    if standardize:
        mean, std = train_features.mean(0), train_features.std(0) + 1e-6
        train_features, test_features = (train_features - mean) / std, (test_features - mean) / std
    with single_thread():
        return _train_linear(
            train_features, train_labels, test_features, test_labels, num_classes, epochs, lr, batch_size, seed
        )


def _train_linear(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    num_classes: int,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> float:
    g = torch.Generator().manual_seed(seed)
    classifier = nn.Linear(train_features.shape[1], num_classes)
    with torch.no_grad():  # seeded init, independent of the global RNG
        bound = 1 / train_features.shape[1] ** 0.5
        classifier.weight.uniform_(-bound, bound, generator=g)
        classifier.bias.uniform_(-bound, bound, generator=g)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(train_labels), generator=g)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(classifier(train_features[idx]), train_labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return (classifier(test_features).argmax(1) == test_labels).float().mean().item()
