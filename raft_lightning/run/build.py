"""cfg → objects: the one place that instantiates what a run config describes."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from raft_lightning.files import CONFIG_FILE, read_summary
from raft_lightning.objectives import SelfSupervised
from raft_lightning.run.checkpoints import AtomicCheckpointIO


def build_objective(cfg: DictConfig) -> SelfSupervised:
    """The LightningModule of ``cfg.loss``, handed a ready backbone, projector factory,
    predictor, optimiser factory and the speed settings of ``cfg.fast``."""
    return instantiate(
        cfg.loss,
        backbone=instantiate(cfg.model.backbone),
        projector=instantiate(cfg.model.projector),
        predictor=instantiate(cfg.predictor),
        optimizer=instantiate(cfg.optimizer),
        **cfg.get("fast", {}),  # run folders from before the fast group have none
    )


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, SelfSupervised, L.Trainer]:
    """Data, objective and a Trainer with the configured callbacks and loggers."""
    datamodule = instantiate(cfg.data)
    model = build_objective(cfg)
    callbacks = [instantiate(node) for node in (cfg.get("callbacks") or {}).values()]
    loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values()]
    # Every save goes through AtomicCheckpointIO (run/checkpoints.py), whatever else is configured.
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    plugins = [*(instantiate(trainer_cfg.pop("plugins", None)) or []), AtomicCheckpointIO()]
    trainer = instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    return datamodule, model, trainer


def load_run(run_dir: Path) -> tuple[DictConfig, SelfSupervised, L.LightningDataModule]:
    """A finished run, rebuilt from its folder: its resolved config, its objective with the last
    checkpoint's weights, its data (set up)."""
    cfg_path, summary = run_dir / CONFIG_FILE, read_summary(run_dir)
    if not cfg_path.is_file() or summary is None:
        raise FileNotFoundError(f"{run_dir} is not a run directory: it needs {CONFIG_FILE} and summary.json")
    if not summary.get("checkpoint"):
        raise FileNotFoundError(f"{run_dir} has no checkpoint (status {summary.get('status')!r}): nothing to evaluate")
    cfg = OmegaConf.load(cfg_path)
    L.seed_everything(cfg.seed, verbose=False)
    model = build_objective(cfg)
    state = torch.load(run_dir / summary["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict(state)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return cfg, model, datamodule
