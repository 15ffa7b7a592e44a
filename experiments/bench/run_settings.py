"""``run_settings``: what a run at the demo's scale costs under each speed setting this CPU can
use, and whether each keeps same seed → same numbers. Issue 23's sweeps (about 150 such runs) use
the fastest setting that does.

Each setting is a fit of ``experiment=claims_fmnist`` (the claims' scale: the demo's network,
batch and τ) on generated images of Fashion-MNIST's shape and the demo's sizes (as ``monitors``),
twice, in one process, the settings in turn and then in reverse order (ABBA: no setting always
runs first under the load of shared cores). Per setting: the median seconds per fit, its ratio to
the default (> 1: faster), and ``repeatable``: the two fits ended with bitwise the same training
loss and online weights. The settings: the default (all cores' threads, ``data.pipeline=batched``),
one torch thread (what each of the two jobs of ``launcher=slurm_local`` gets), the per-image
torchvision pipeline, ``fast.channels_last``, ``fast.compile`` (inductor; where this machine
cannot compile, the entry says why instead of a time).
"""

from __future__ import annotations

import contextlib
import statistics
from typing import Any

import torch

from experiments.bench import monitors
from experiments.bench.monitors import fit_overrides
from raft_lightning.evaluation.features import single_thread

SETTINGS: dict[str, list[str]] = {
    "default": [],
    "threads=1": [],  # evaluation.features.single_thread() around the fit
    "data.pipeline=torchvision": ["data.pipeline=torchvision"],
    "fast.channels_last=true": ["fast.channels_last=true"],
    "fast.compile=true": ["fast.compile=true"],
}


def fit(overrides: list[str]) -> tuple[float, float, torch.Tensor]:
    """Seconds of ``trainer.fit`` (building untimed), the last training loss, the online weights."""
    seconds, model, trainer = monitors.fit(overrides)
    weights = torch.cat([p.detach().flatten().cpu() for p in model.online.parameters()])
    return seconds, float(trainer.callback_metrics["train/loss"]), weights


def bench_run_settings(epochs: int, quick: bool = False) -> dict[str, Any]:
    common = fit_overrides("claims_fmnist", epochs)
    fits: dict[str, list[tuple[float, float, torch.Tensor]]] = {name: [] for name in SETTINGS}
    unavailable: dict[str, str] = {}
    if quick:  # the entry's structure in seconds: a few steps, and no inductor compile (minutes)
        common += ["++trainer.limit_train_batches=6", "callbacks.knn=null", "data.train_size=1024", "data.val_size=512"]
        unavailable["fast.compile=true"] = "skipped: --quick"
    fit(common)  # warm-up: first-call costs charged to no setting
    for order in (list(SETTINGS), list(reversed(SETTINGS))):
        for name in order:
            if name in unavailable:
                continue
            try:
                with single_thread() if name == "threads=1" else contextlib.nullcontext():
                    fits[name].append(fit([*common, *SETTINGS[name]]))
            except Exception as e:  # noqa: BLE001 - a setting this machine cannot run is a finding, not a crash
                unavailable[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    default = statistics.median(s for s, _, _ in fits["default"])
    settings = {}
    for name, runs in fits.items():
        if name in unavailable:
            settings[name] = {"unavailable": unavailable[name]}
            continue
        seconds = [s for s, _, _ in runs]
        (_, loss_a, w_a), (_, loss_b, w_b) = runs
        settings[name] = {
            "seconds": seconds,
            "median_s": statistics.median(seconds),
            "speedup": default / statistics.median(seconds),
            "repeatable": loss_a == loss_b and torch.equal(w_a, w_b),
        }
    usable = {n: s for n, s in settings.items() if s.get("repeatable")}
    fastest = max(usable, key=lambda n: usable[n]["speedup"]) if usable else None
    return {
        "settings": settings,
        "fastest_repeatable": fastest,
        "unit": "s/fit",
        "config": f"experiment=claims_fmnist variant=raft_lp on generated 28×28 images, {epochs} epochs",
        "method": "each setting twice (order, then reverse order) after one untimed warm-up fit; medians",
        "default_threads": torch.get_num_threads(),
        "quick": quick,
    }
