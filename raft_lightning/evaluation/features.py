"""Frozen-encoder features: the one way the kNN monitor and the linear evaluation read a network."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn


@torch.no_grad()
def extract(network: nn.Module, batches: Iterable, device: torch.device | str = "cpu") -> tuple[Tensor, ...]:
    """Run ``network`` (eval mode, no grad) over (x, y) batches; returns its outputs and the labels,
    concatenated on the CPU. ``network`` may return a tensor or a tuple of tensors."""
    was_training = network.training
    network.eval()
    # The network's own float type: a run trained in float64 (trainer.precision=64-true) gets
    # float64 inputs, as Lightning gives its training batches.
    dtype = next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)
    outputs, labels = [], []
    for x, y in batches:
        out = network(x.to(device, dtype=dtype, non_blocking=True))
        outputs.append(tuple(o.float().cpu() for o in (out if isinstance(out, tuple) else (out,))))
        labels.append(y.cpu())
    network.train(was_training)
    return (*(torch.cat(parts) for parts in zip(*outputs)), torch.cat(labels))


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
