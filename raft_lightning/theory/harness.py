"""The real model, data and training loop the checks run, as the smoke preset composes them.

A check never re-does a training step by hand: ``fit`` hands the module (its EMA update included)
to a ``lightning.Trainer`` over fixed batches, and a ``Recorder`` callback snapshots what a check
measures after every step. The module, its optimiser (``configure_optimizers``), its
``training_step`` and the EMA update are all the ones ``python -m raft_lightning.train`` runs.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.data import DataLoader

from raft_lightning.conf import CONF_DIR
from raft_lightning.contracts import StepOutput
from raft_lightning.objectives import SelfSupervised
from raft_lightning.run.build import build_objective, construct
from raft_lightning.run.resolvers import register_resolvers

Batch = tuple[Tensor, Tensor, Tensor]
PRECISION = {torch.float64: "64-true", torch.float32: "32-true"}


@functools.cache
def smoke_config(*overrides: str) -> DictConfig:
    """``python -m raft_lightning.train experiment=smoke <overrides>``'s config (read-only use)."""
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=["experiment=smoke", *overrides])


def ema_tau() -> float:
    """The smoke preset's τ of the mean teacher's EMA (``teacher.tau``)."""
    return float(smoke_config().teacher.tau)


def build_module(
    loss: str,
    predictor: str,
    optimizer: str = "adam",
    tangential: bool = False,
    negate_init: bool = False,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> SelfSupervised:
    """The LightningModule ``train`` would build for these overrides of the smoke preset,
    seeded as ``train`` seeds it, cast to ``dtype``."""
    overrides = [f"loss={loss}", f"predictor={predictor}", f"optimizer={optimizer}", f"seed={seed}"]
    overrides.append(f"loss.tangential={str(tangential).lower()}")
    if negate_init:
        overrides.append("predictor.negate_init=true")
    cfg = smoke_config(*overrides)
    L.seed_everything(cfg.seed, verbose=False)
    return build_objective(cfg).to(dtype)


def module_dtype(module: SelfSupervised) -> torch.dtype:
    return next(module.parameters()).dtype


_BATCHES: dict[int, tuple[Batch, ...]] = {}  # seed → the longest prefix drawn so far


def smoke_batches(steps: int, seed: int = 0) -> tuple[Batch, ...]:
    """The first ``steps`` training batches of the smoke preset, epoch after epoch, exactly as
    Lightning draws them (the sampler's epoch set, each view seeded by (seed, epoch, index)).
    They are a function of (seed, epoch, index) alone, so a cached longer prefix serves too."""
    if len(_BATCHES.get(seed, ())) < steps:
        datamodule = construct(smoke_config(f"seed={seed}").data)
        datamodule.setup("fit")
        batches: list[Batch] = []
        for epoch in itertools.count():
            loader = datamodule.train_dataloader()
            loader.sampler.set_epoch(epoch)
            batches += itertools.islice(loader, steps - len(batches))
            if len(batches) == steps:
                break
        _BATCHES[seed] = tuple(batches)
    return _BATCHES[seed][:steps]


def _cast(batch: Batch, dtype: torch.dtype) -> Batch:
    # "64-true" casts floating batches itself, "32-true" does not: cast here so both see the
    # module's dtype, and so do the steps run outside a Trainer (``gradients``).
    x1, x2, labels = batch
    return x1.to(dtype), x2.to(dtype), labels


# ---------------------------------------------------------------------------------------------
# What a check measures, recorded after every step
# ---------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """A module's state after a step (``loss`` is nan for the start, before any step)."""

    online: list[Tensor]  # θ
    target: list[Tensor]  # ξ, in the same order (contracts.MeanTeacher)
    buffers: list[Tensor]  # the floating-point buffers of online and target (BatchNorm statistics)
    predictor: dict[str, Tensor]  # q_w's state dict: W, and its BatchNorm statistics if any
    loss: float


def snapshot(module: SelfSupervised, loss: float = math.nan) -> Snapshot:
    def copies(tensors: Iterator[Tensor]) -> list[Tensor]:
        return [t.detach().clone() for t in tensors]

    networks = (module.online, module.target)
    return Snapshot(
        online=copies(module.online.parameters()),
        target=copies(module.target.parameters()),
        buffers=copies(b for net in networks for b in net.buffers() if b.is_floating_point()),
        predictor={name: t.detach().clone() for name, t in module.predictor.state_dict().items()},
        loss=loss,
    )


class Recorder(L.Callback):
    """Snapshots the module at the start and after every training batch.

    A callback's batch end comes after the optimiser step and the module's EMA update, so a
    snapshot sees ξ after its update: the state Algorithm 1 has at the end of the step."""

    def __init__(self) -> None:
        self.snapshots: list[Snapshot] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: SelfSupervised) -> None:
        self.snapshots.append(snapshot(pl_module))

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: SelfSupervised, outputs: StepOutput, batch: Any, batch_idx: int
    ) -> None:
        self.snapshots.append(snapshot(pl_module, outputs["loss"].item()))


# ---------------------------------------------------------------------------------------------
# Driving the real training code
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Lightning's banners ("GPU available: ...", "`max_steps` reached") and its advice for long
    runs (workers, logging interval) would bury the report: silenced while a check trains."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="lightning")
            warnings.filterwarnings("ignore", message=".*does not have many workers")
            yield
    finally:
        logger.setLevel(level)


def fit(module: SelfSupervised, batches: Sequence[Batch], *callbacks: L.Callback) -> None:
    """Algorithm 1 as ``train`` runs it: ``len(batches)`` steps of a ``lightning.Trainer`` with the
    module's own optimiser and mean teacher (the smoke preset's τ), one batch per step, in
    order; ``callbacks`` run after the EMA update (the module's, after each optimiser step)."""
    dtype = module_dtype(module)
    # batch_size=None: the loader hands over each stored batch as it is, never re-batched.
    loader = DataLoader([_cast(batch, dtype) for batch in batches], batch_size=None)
    with tempfile.TemporaryDirectory() as root, _quiet():
        trainer = L.Trainer(
            max_steps=len(batches),
            precision=PRECISION[dtype],
            accelerator="cpu",
            devices=1,
            callbacks=list(callbacks),
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            default_root_dir=root,  # nothing is written; if Lightning ever did, not into the cwd
        )
        trainer.fit(module, train_dataloaders=loader)
    module.trainer = None  # detached: later steps outside a Trainer log nothing instead of failing


def record(module: SelfSupervised, batches: Sequence[Batch]) -> list[Snapshot]:
    """``fit`` the module on ``batches``: its state at the start and after each step."""
    recorder = Recorder()
    fit(module, batches, recorder)
    return recorder.snapshots


def gradients(module: SelfSupervised, batch: Batch, batch_idx: int) -> list[Tensor]:
    """Every parameter gradient of one ``training_step`` and backward pass of the module, with
    no optimiser step: the gradient the next step of Algorithm 1 would take."""
    module.train()  # as during training: BatchNorm normalises with the batch's statistics
    module.zero_grad(set_to_none=True)
    with warnings.catch_warnings():  # training_step logs; outside a Trainer that is a no-op
        warnings.filterwarnings("ignore", message="You are trying to `self.log\\(\\)`")
        module.training_step(_cast(batch, module_dtype(module)), batch_idx)["loss"].backward()
    return [p.grad.clone() for p in module.parameters() if p.grad is not None]


def max_abs(tensors: Sequence[Tensor]) -> float:
    """The largest |entry| over the tensors (0 for none)."""
    return max((t.abs().max().item() for t in tensors if t.numel()), default=0.0)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
