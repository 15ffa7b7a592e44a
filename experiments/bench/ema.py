"""``ema``: the mean-teacher update of the paper's ResNet-18 encoder, the per-parameter
out-of-place loop peers use against ``ema_update_`` (in-place ``torch._foreach_lerp_``)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch

from experiments.bench.harness import entry, synchronize
from raft_lightning.objectives import ema_update_


def bench_ema(updates: int, repeats: int, device: torch.device, tau: float = 0.996) -> dict[str, Any]:
    from raft_lightning.models import Encoder, MLPHead, resnet18

    torch.manual_seed(0)
    online = Encoder(resnet18(), MLPHead(512, 512, 128)).to(device)
    # One target per variant: the loop rebinds its parameters to new memory at every update,
    # which must not move the in-place variant's parameters (that stay where they were made).
    target_loop, target_foreach = (copy.deepcopy(online).requires_grad_(False) for _ in range(2))
    params = sum(p.numel() for p in online.parameters())
    moved = 3 * params * 4  # read ξ and θ, write ξ: the least traffic of ξ ← τ·ξ + (1−τ)·θ in float32

    @torch.no_grad()
    def loop() -> None:  # peers' update: two temporaries per parameter, then a rebind
        for p, q in zip(target_loop.parameters(), online.parameters()):
            p.data = tau * p.data + (1 - tau) * q.data

    def foreach() -> None:
        ema_update_(target_foreach, online, tau)

    def ms(update: Callable[[], None]) -> float:
        update()
        synchronize(device)
        start = time.perf_counter()
        for _ in range(updates):
            update()
        synchronize(device)
        return 1000 * (time.perf_counter() - start) / updates

    baseline, candidate = [], []
    for _ in range(repeats):
        baseline.append(ms(loop))
        candidate.append(ms(foreach))
    result = entry(
        baseline,
        candidate,
        "ms/update",
        higher_is_better=False,
        baseline_name="per-parameter loop: p.data = tau * p.data + (1 - tau) * q.data",
        candidate_name="ema_update_: torch._foreach_lerp_ in place",
        model="ResNet-18 + projector (the paper's online encoder)",
        parameters=params,
        bytes_per_update=moved,
    )
    result["baseline_gb_per_s"] = moved / (result["baseline"] / 1000) / 1e9
    result["candidate_gb_per_s"] = moved / (result["candidate"] / 1000) / 1e9
    return result
