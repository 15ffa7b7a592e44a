"""Train one objective: ``python -m raft_lightning.train [overrides]``; add ``-m`` for a sweep.

python -m raft_lightning.train -m loss=byol,byol_prime,raft predictor=mlp,linear,none seed=0,1,2
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from raft_lightning.callbacks import DivergedError, EpochMetrics
from raft_lightning.linear_eval import CONFIG_FILE, evaluate, save_results
from raft_lightning.objectives import SelfSupervised
from raft_lightning.results import SUMMARY_FILE, epoch_results, new_summary, write_json
from raft_lightning.validation import ConfigError, check_config

log = logging.getLogger(__name__)


def build_objective(cfg: DictConfig) -> SelfSupervised:
    """The LightningModule of ``cfg.loss``, handed a ready backbone, projector factory,
    predictor and optimiser factory."""
    return instantiate(
        cfg.loss,
        backbone=instantiate(cfg.model.backbone),
        projector=instantiate(cfg.model.projector),
        predictor=instantiate(cfg.predictor),
        optimizer=instantiate(cfg.optimizer),
    )


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, SelfSupervised, L.Trainer]:
    """Data, objective and a Trainer with the configured callbacks and loggers."""
    datamodule = instantiate(cfg.data)
    model = build_objective(cfg)
    callbacks = [instantiate(node) for node in (cfg.get("callbacks") or {}).values()]
    loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, model, trainer


def _device_name(trainer: L.Trainer | None) -> str | None:
    if trainer is None:
        return None
    device = trainer.strategy.root_device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def train(cfg: DictConfig) -> dict[str, Any]:
    """One run: check → seed → data → model → callbacks → loggers → trainer → fit → summary.json
    (→ linear evaluation with ``eval.linear=true``).

    Never raises for a run that goes wrong: the summary says ``diverged`` or ``failed`` (with the
    error), so that the other runs of a sweep go on. While the run trains it says ``running``.
    """
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    summary = new_summary(cfg, choices)
    write_json(run_dir / SUMMARY_FILE, summary)
    start = time.perf_counter()
    trainer = model = None
    try:
        check_config(cfg)
        L.seed_everything(cfg.seed, workers=True)
        datamodule, model, trainer = build(cfg)
        for logger in trainer.loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        if model.pretrain:
            trainer.fit(model, datamodule=datamodule)
        else:  # a baseline evaluated as initialised: validate once for the monitors, keep the weights
            trainer.validate(model, datamodule=datamodule, verbose=False)
            trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
        status, error = "ok", None
    except DivergedError as e:
        status, error = "diverged", str(e)
    except ConfigError as e:
        status, error = "failed", str(e)
    except Exception as e:
        status, error = "failed", f"{type(e).__name__}: {e}"
        (run_dir / "traceback.txt").write_text(traceback.format_exc())
    callbacks = trainer.callbacks if trainer is not None else []
    rows = next((c.rows for c in callbacks if isinstance(c, EpochMetrics)), [])
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    summary.update(epoch_results(rows))
    if model is not None and not model.pretrain and status == "ok":
        summary["knn_acc"] = _metric(trainer, "val/knn_acc")
    summary.update(
        status=status,
        error=error,
        wall_time_s=round(time.perf_counter() - start, 3),
        checkpoint=str(checkpoint.relative_to(run_dir)) if checkpoint.is_file() else None,
        device=_device_name(trainer),
    )
    write_json(run_dir / SUMMARY_FILE, summary)
    if status == "ok" and cfg.eval.linear:
        try:
            accuracy, embeddings = evaluate(model, datamodule, cfg.eval, seed=cfg.seed)
            summary = save_results(run_dir, accuracy, embeddings)
        except Exception as e:
            summary.update(status="failed", error=f"linear evaluation: {type(e).__name__}: {e}")
            (run_dir / "traceback.txt").write_text(traceback.format_exc())
            write_json(run_dir / SUMMARY_FILE, summary)
    if summary["status"] == "ok":
        log.info("run finished: %s", run_dir / SUMMARY_FILE)
    else:
        log.error("run %s: %s (%s)", summary["status"], summary["error"], run_dir / SUMMARY_FILE)
    return summary


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return float(value) if value is not None else None


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> str:
    return train(cfg)["status"]


if __name__ == "__main__":
    main()
