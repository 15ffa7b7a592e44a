"""What every benchmark shares: the environment an entry ran in, the entry itself (medians and
their ratio), timing helpers and the composed Hydra config."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from raft_lightning.conf import CONF_DIR
from raft_lightning.data import CIFAR10DataModule
from raft_lightning.run.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[2]  # the checkout: paths.root_dir of the composed configs
CIFAR_MEAN, CIFAR_STD = CIFAR10DataModule.mean, CIFAR10DataModule.std
CIFAR_TRAIN_SIZE = 50_000  # CIFAR-10's training images: the projected length of a paper run


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    if device.type == "cpu":
        name = f"{cpu_model()} ({os.cpu_count()} logical cores)"
    return {"device": name, "torch": torch.__version__, "threads": threads}


def entry(
    baseline: list[float], candidate: list[float], unit: str, higher_is_better: bool, **extra: Any
) -> dict[str, Any]:
    """Medians of the repeats and their ratio, > 1 when the candidate is faster."""
    b, c = statistics.median(baseline), statistics.median(candidate)
    ratio = c / b if higher_is_better else b / c
    return {
        "baseline": b,
        "candidate": c,
        "unit": unit,
        "ratio": ratio,
        "repeats": {"baseline": baseline, "candidate": candidate},
        **extra,
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_pass(loader: torch.utils.data.DataLoader, size: int) -> float:
    """Samples/s of one full pass over ``loader``."""
    start = time.perf_counter()
    for _ in loader:
        pass
    return size / (time.perf_counter() - start)


def started(loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
    """The loader with its (persistent) workers started and one batch through, untimed."""
    next(iter(loader))
    return loader


def augment_config() -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "data" / "augment" / "byol.yaml"))


def compose(overrides: list[str], output_dir: str) -> Any:
    """The ``train`` config with ``overrides``, as ``python -m raft_lightning.train`` composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose(
            "train", overrides=[*overrides, f"paths.root_dir={ROOT}", f"paths.output_dir={output_dir}"]
        )


@contextlib.contextmanager
def logging_outside_a_trainer() -> Iterator[None]:
    """Silences only Lightning's warning that ``self.log`` was called on a module no Trainer
    holds: ``training_step`` run directly logs its epoch means, and Lightning drops them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"You are trying to `self\.log\(\)` but the `self\.trainer`")
        yield
