"""Appendix C's linear evaluation on cached features of a frozen encoder."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import Tensor, nn

from raft_lightning.contracts import DivergedError, Online, PlainData
from raft_lightning.evaluation.features import extract, single_thread

STD_EPS = 1e-6  # BatchNorm's variance floor (MAE's non-affine BatchNorm before its probe)


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
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
) -> float:
    """Appendix C's protocol on cached features: a linear classifier trained with Adam (the paper
    names only the learning rate) for ``epochs`` on all training labels; returns test accuracy.
    ``optimizer`` (``eval.optimizer``, a Hydra ``_partial_``) builds the classifier's optimiser
    instead; without it, Adam at ``lr``.

    ``standardize`` z-scores each feature with the training set's mean and std first (as the
    non-affine BatchNorm before MAE's linear probe): a fixed-lr probe otherwise measures feature
    scale as much as content (README, "Linear evaluation")."""
    if standardize:
        # As a non-affine BatchNorm (MAE's probe): std = sqrt(var + eps). A feature whose training
        # variance is below that floor is constant for the probe: it carries nothing to learn
        # from, and any test value of it, divided by ~1e-3, would swamp the others. It is dropped
        # (scaled to 0) instead of blown up.
        mean, var = train_features.mean(0), train_features.var(0, unbiased=False)
        scale = torch.where(var > STD_EPS, (var + STD_EPS).rsqrt(), torch.zeros_like(var))
        train_features, test_features = (train_features - mean) * scale, (test_features - mean) * scale
    with single_thread():
        return _train_linear(
            train_features,
            train_labels,
            test_features,
            test_labels,
            num_classes,
            epochs,
            batch_size,
            seed,
            optimizer or functools.partial(torch.optim.Adam, lr=lr),
        )


def _train_linear(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    num_classes: int,
    epochs: int,
    batch_size: int,
    seed: int,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
) -> float:
    g = torch.Generator().manual_seed(seed)
    classifier = nn.Linear(train_features.shape[1], num_classes)
    with torch.no_grad():  # seeded init, independent of the global RNG
        bound = 1 / train_features.shape[1] ** 0.5
        classifier.weight.uniform_(-bound, bound, generator=g)
        classifier.bias.uniform_(-bound, bound, generator=g)
    optimizer = optimizer(classifier.parameters())
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


def evaluate(
    model: Online, datamodule: PlainData, eval_cfg: Any, seed: int = 0
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Linear accuracy of the frozen online backbone (``linear_acc``; with ``eval.literal`` also
    ``linear_acc_literal``, the probe on the raw features), and the test embeddings for the figures."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    train_features, train_labels = extract(model.online.backbone, datamodule.plain_train_dataloader(), device)
    test_features, test_projections, test_labels = extract(model.online, datamodule.plain_val_dataloader(), device)
    # Finite weights can still overflow (a run that diverged in its last update): no accuracy or
    # embeddings.pt from features that are not numbers.
    named = {"train features": train_features, "test features": test_features, "test projections": test_projections}
    if bad := [name for name, values in named.items() if not bool(torch.isfinite(values).all())]:
        raise DivergedError(f"linear evaluation: the online network's {', '.join(bad)} are not finite")

    def probe(standardize: bool) -> float:  # on the CPU: the features are small, the classifier tiny
        return linear_accuracy(
            train_features,
            train_labels,
            test_features,
            test_labels,
            num_classes=datamodule.num_classes,
            epochs=eval_cfg.epochs,
            optimizer=instantiate(eval_cfg.optimizer, _convert_="all"),  # plain values, as run.build.construct
            batch_size=eval_cfg.batch_size,
            seed=seed,
            standardize=standardize,
        )

    accuracies = {"linear_acc": probe(eval_cfg.standardize)}
    if eval_cfg.get("literal", False):  # the same seed: with standardize=false the two are one measurement
        accuracies["linear_acc_literal"] = probe(False) if eval_cfg.standardize else accuracies["linear_acc"]
    keep = slice(0, eval_cfg.embeddings)
    return accuracies, {"projections": test_projections[keep], "labels": test_labels[keep]}
