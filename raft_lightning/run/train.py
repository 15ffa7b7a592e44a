"""The recipe of one run, ``train(cfg)``: check → seed → build → fit → evaluate, recorded.

Its command line is ``raft_lightning/train.py`` (``raft-train``); DDP ranks ≥ 1 call it from
``run/ddp.py``; the tests call it in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from raft_lightning.evaluation.linear import evaluate
from raft_lightning.files import METRICS_FILE, WANDB_ID_FILE
from raft_lightning.run.build import build
from raft_lightning.run.checkpoints import resumable
from raft_lightning.run.console import result_line
from raft_lightning.run.guard import REFUSED, RunFolderRefused, RunLock, check_same_run
from raft_lightning.run.record import RunRecord, save_config
from raft_lightning.run.tracking import keep_csv_logs
from raft_lightning.run.validation import check_config

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """One run: check → seed → build → fit → evaluate, recorded in summary.json.

    Never raises for a run that goes wrong: the record says ``diverged`` or ``failed`` (with the
    error), or ``interrupted`` when a signal stopped it after saving a checkpoint, so that the
    other runs of a sweep go on. Started again in the same output dir it resumes from
    ``last.ckpt``; a run whose record says it finished is not trained again. Under DDP every
    rank calls it; rank 0 alone writes files.
    """
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with RunLock(run_dir) if rank_zero_only.rank == 0 else contextlib.nullcontext():
            return _train(cfg, run_dir)
    except RunFolderRefused as e:  # the folder's own record stays as it was
        log.error("run refused: %s", e)
        REFUSED.append(str(e))
        return {"status": "refused", "error": str(e)}


def _train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    previous = RunRecord.load(run_dir)
    if cfg.resume and previous is not None:
        if rank_zero_only.rank == 0:
            check_same_run(run_dir, cfg)
        if previous.finished(cfg):
            log.info("%s already finished (%s): not training it again (resume=false does)", run_dir, previous.status)
            return previous.as_dict()
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    record = RunRecord.from_config(cfg, choices)
    with record.attempt(run_dir, cfg):
        check_config(cfg, choices)
        checkpoint = resume_from(cfg, run_dir)
        save_config(cfg, run_dir)
        L.seed_everything(cfg.seed, workers=True)
        datamodule, model, trainer = build(cfg)
        if checkpoint is not None:
            keep_csv_logs(trainer)
        record.device = device_name(trainer)
        record.resumed_from = os.path.relpath(checkpoint, run_dir) if checkpoint else None
        for logger in trainer.loggers:  # the full resolved config, and which option of each group it came from
            logger.log_hyperparams({"choices": choices, **OmegaConf.to_container(cfg, resolve=True)})
        if model.pretrain:
            trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint)
        else:  # a baseline evaluated as initialised: validate once for the monitors, keep the weights
            trainer.validate(model, datamodule=datamodule, verbose=False)
            trainer.save_checkpoint(cfg.paths.last_checkpoint)
            record.knn_acc = metric(trainer, "val/knn_acc")
        if cfg.eval.linear and trainer.is_global_zero:  # on rank 0: the features are small, the classifier tiny
            accuracy, embeddings = evaluate(model, datamodule, cfg.eval, seed=cfg.seed)
            record.save_linear_evaluation(run_dir, accuracy, embeddings)
    (log.info if record.status == "ok" else log.error)(result_line(record.as_dict(), run_dir))
    return record.as_dict()


def resume_from(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint to continue from: the run dir's last.ckpt (or, if that one is damaged, the
    one before it), unless ``resume=false``. A job that SLURM requeued always resumes, so that
    ``resume=false`` means "start over" only once. A run that starts over starts a new
    metrics.csv and a new W&B run (decided here, before the loggers are built)."""
    last = Path(cfg.paths.last_checkpoint)
    requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
    checkpoint = resumable(last) if cfg.resume or requeued else None
    if checkpoint is not None:
        log.info("resuming from %s", checkpoint)
        return checkpoint
    if rank_zero_only.rank == 0:
        for name in (METRICS_FILE, WANDB_ID_FILE):
            (run_dir / name).unlink(missing_ok=True)
    return None


def device_name(trainer: L.Trainer) -> str:
    device = trainer.strategy.root_device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return float(value) if value is not None else None
