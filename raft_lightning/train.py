"""Train one objective: ``python -m raft_lightning.train [overrides]``; add ``-m`` for a sweep.

python -m raft_lightning.train -m loss=byol,byol_prime,raft predictor=mlp,linear,none seed=0,1,2
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from raft_lightning.callbacks import DivergedError, EpochMetrics, Interrupted
from raft_lightning.conf import SEARCH_PATH
from raft_lightning.extras import launcher_errors
from raft_lightning.linear_eval import evaluate, save_results
from raft_lightning.objectives import SelfSupervised
from raft_lightning.results import CONFIG_FILE, SUMMARY_FILE, epoch_results, new_summary, read_summary, write_json
from raft_lightning.tracking import finish_wandb
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


def _keep_csv_logs(trainer: L.Trainer) -> None:
    """Lightning's CSVLogger deletes its metrics.csv when it starts in a folder that has one; a
    resumed run appends to it instead. (After an unclean death, the steps between the last
    checkpoint and the death appear twice; a preemption checkpoint leaves no such steps.)"""
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or rank_zero_only.rank != 0:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
        writer = logger.experiment  # creating it deletes the file
        with open(path, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=header)
            out.writeheader()
            out.writerows(rows)
        writer.metrics_keys = header  # new keys rewrite the header, old rows included


FINISHED = ("ok", "diverged")  # outcomes that training the same config again would only repeat


def _resume_from(cfg: DictConfig) -> Path | None:
    """The checkpoint to continue from: the run dir's last.ckpt, unless ``resume=false``. A job
    that SLURM requeued always resumes, so that ``resume=false`` means "start over" only once."""
    checkpoint = Path(cfg.paths.last_checkpoint)
    requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
    return checkpoint if (cfg.get("resume", True) or requeued) and checkpoint.is_file() else None


def train(cfg: DictConfig) -> dict[str, Any]:
    """One run: check → seed → data → model → callbacks → loggers → trainer → fit → summary.json
    (→ linear evaluation with ``eval.linear=true``).

    Never raises for a run that goes wrong: the summary says ``diverged`` or ``failed`` (with the
    error), or ``interrupted`` when a signal stopped it after saving a checkpoint, so that the
    other runs of a sweep go on. Started again in the same output dir it resumes from
    ``last.ckpt``; a run whose summary says it finished (with the same ``max_epochs``) is not
    trained again. While it trains its summary says ``running``. Under DDP every rank calls it;
    rank 0 alone writes files.
    """
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rank = rank_zero_only.rank
    previous = read_summary(run_dir)
    if (
        cfg.get("resume", True)
        and previous
        and previous.get("status") in FINISHED
        and previous.get("max_epochs") == cfg.trainer.max_epochs
    ):
        log.info("%s already finished (%s): not training it again (resume=false does)", run_dir, previous["status"])
        return previous
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    summary = new_summary(cfg, choices)
    if rank == 0:
        write_json(run_dir / SUMMARY_FILE, summary)
    start = time.perf_counter()
    trainer = model = None
    signum = 0
    try:
        check_config(cfg)
        if rank == 0:  # the resolved config: the record of the run, and what DDP ranks ≥ 1 rebuild it from
            OmegaConf.save(cfg, run_dir / CONFIG_FILE, resolve=True)
        L.seed_everything(cfg.seed, workers=True)
        datamodule, model, trainer = build(cfg)
        checkpoint = _resume_from(cfg)
        if checkpoint is not None:
            log.info("resuming from %s", checkpoint)
            summary["resumed_from"] = os.path.relpath(checkpoint, run_dir)
            _keep_csv_logs(trainer)
        for logger in trainer.loggers:  # the full resolved config, and which option of each group it came from
            logger.log_hyperparams({"choices": choices, **OmegaConf.to_container(cfg, resolve=True)})
        if model.pretrain:
            trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint)
        else:  # a baseline evaluated as initialised: validate once for the monitors, keep the weights
            trainer.validate(model, datamodule=datamodule, verbose=False)
            trainer.save_checkpoint(cfg.paths.last_checkpoint)
        status, error = "ok", None
    except Interrupted as e:
        status, error, signum = "interrupted", str(e), e.signum
    except DivergedError as e:
        status, error = "diverged", str(e)
    except ConfigError as e:
        status, error = "failed", str(e)
    except Exception as e:
        status, error = "failed", f"{type(e).__name__}: {e}"
        name = "traceback.txt" if rank == 0 else f"traceback.rank{rank}.txt"
        (run_dir / name).write_text(traceback.format_exc())
    finish_wandb(status)
    callbacks = trainer.callbacks if trainer is not None else []
    rows = next((c.rows for c in callbacks if isinstance(c, EpochMetrics)), [])
    checkpoint = Path(cfg.paths.last_checkpoint)
    summary.update(epoch_results(rows))
    if model is not None and not model.pretrain and status == "ok":
        summary["knn_acc"] = _metric(trainer, "val/knn_acc")
    summary.update(
        status=status,
        error=error,
        wall_time_s=round(time.perf_counter() - start, 3),
        checkpoint=str(checkpoint.relative_to(run_dir)) if checkpoint.is_file() else None,
        device=_device_name(trainer),
        signal=signal.Signals(signum).name if signum else None,
    )
    if rank == 0:
        write_json(run_dir / SUMMARY_FILE, summary)
    if status == "ok" and cfg.eval.linear and rank == 0:
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


@hydra.main(version_base="1.3", config_path=SEARCH_PATH, config_name="train")
def hydra_main(cfg: DictConfig) -> str:
    summary = train(cfg)
    if summary.get("signal") and summary["status"] == "interrupted":
        # The checkpoint is saved: now the signal does what it would have done without us —
        # under submitit, its handler requeues the job (which resumes); in a shell, the
        # default action ends the process, sweep included, as `kill` meant.
        signal.raise_signal(signal.Signals[summary["signal"]])
    return summary["status"]


def main() -> None:
    """``raft-train`` / ``python -m raft_lightning.train``: Hydra's command line."""
    errors = launcher_errors(sys.argv[1:])
    if errors:
        print("raft-lightning: " + "\n  ".join(errors), file=sys.stderr)
        raise SystemExit(2)
    hydra_main()


if __name__ == "__main__":
    main()
