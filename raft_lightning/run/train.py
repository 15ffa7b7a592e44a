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
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from raft_lightning.callbacks import EpochMetrics
from raft_lightning.data.image_folder import DataChanged
from raft_lightning.data.workers import workers_ended
from raft_lightning.evaluation.linear import evaluate
from raft_lightning.files import METRICS_FILE, RUN_DIR_MARK, SPECTRA_FILE, STEPS_FILE, WANDB_ID_FILE
from raft_lightning.lock import FolderBusy, FolderLock
from raft_lightning.measures import MEASURES, PROBE_ACC
from raft_lightning.readers import DamagedFile, read_checkpoint, recorded_data_files, unrebased
from raft_lightning.run.build import build, construct
from raft_lightning.run.checkpoints import NoReadableCheckpoint, check_trained_state, drop_previous, resumable
from raft_lightning.run.console import quiet_known_noise, result_line, start_line
from raft_lightning.run.guard import check_same_run
from raft_lightning.run.provenance import cpu_model
from raft_lightning.run.record import RunRecord, save_config
from raft_lightning.run.tracking import ensure_wandb_id, finish_tensorboard, keep_csv_logs
from raft_lightning.run.validation import check_config

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """One run: check → seed → build → fit → evaluate, recorded in summary.json.

    Never raises for a run that goes wrong: the record says ``diverged`` or ``failed`` (with the
    error), or ``interrupted`` when a signal stopped it after saving a checkpoint, so that the
    other runs of a sweep go on; a folder that belongs to another run, or is in use, is
    ``refused`` and its files stay as they were. Started again in the same output dir it resumes
    from ``last.ckpt``; a run whose record says it finished is not trained again. Under DDP every
    rank calls it; rank 0 alone writes files, holding the folder's lock.
    """
    marked = unrebased(cfg)
    if marked:  # a folder's portable config, not rebased (readers.read_config does): refuse to write anywhere
        message = (
            f"{', '.join(marked[:3])}: a config whose paths are relative to its run folder ({RUN_DIR_MARK}/…); "
            "read it with raft_lightning.readers.read_config(run_dir), which makes them absolute"
        )
        return refused(message)
    absolute_data_root(cfg)
    run_dir = Path(cfg.paths.output_dir)
    quiet_known_noise()  # the entry points do at import; here too for a train() called in-process
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        # A failed run's loaders would keep their workers (and hang the exit): ended with the run.
        with FolderLock(run_dir) if rank_zero_only.rank == 0 else contextlib.nullcontext(), workers_ended():
            return _train(cfg, run_dir)
    except (FolderBusy, OSError) as e:  # the folder's own record stays as it was
        return refused(str(e) if isinstance(e, FolderBusy) else f"{run_dir}: {e.strerror or e}")


def refused(message: str) -> dict[str, Any]:
    """A run that does not start, its folder left as it was: exit status 1, the reason on the console."""
    log.error("run refused: %s", message)
    return {"status": "refused", "error": message}


def _train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    previous = RunRecord.load(run_dir)  # a damaged one is set aside: the checkpoint decides
    checkpoint, unreadable, trained_on = None, None, None
    requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0  # a requeued job always resumes
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    record = RunRecord.from_config(cfg, choices)
    if cfg.resume or requeued:
        try:
            checkpoint = resumable(Path(cfg.paths.last_checkpoint))
        except NoReadableCheckpoint as e:
            unreadable = e  # a finished run's record stands; another is refused, below
        if rank_zero_only.rank == 0:
            recorded = previous.as_dict() if previous is not None else None
            check_same_run(run_dir, cfg, checkpoint, recorded=recorded, asked=record.as_dict())
        if previous is not None and previous.finished(cfg):
            # Its record is the result; a checkpoint damaged since does not undo it (export would say so).
            log.info("%s already finished (%s): not training it again (resume=false does)", run_dir, previous.status)
            if unreadable is not None:
                log.warning("%s: its record stands, but %s", run_dir, unreadable)
            return previous.as_dict()
        # A run that cannot continue where it stopped is refused, and its record (results, the
        # images it read) kept: an attempt that trains nothing has nothing to record over it.
        if unreadable is not None and previous is not None:
            return refused(f"{run_dir}: {unreadable}")
        if checkpoint is None and previous is not None and (previous.epochs > 0 or previous.checkpoint):
            return refused(  # checkpoints/ deleted since
                f"{run_dir}: its record names a checkpoint ({previous.epochs} epoch(s) finished) and there is none "
                "to continue from (checkpoints/last.ckpt); start the run over with resume=false (its record is "
                "replaced), or use a new run folder"
            )
        if checkpoint is not None:  # on the images it trained on, or not at all
            try:
                trained_on = recorded_files(previous, checkpoint)
            except DamagedFile as e:
                return refused(str(e))
            if changed := data_changed(cfg, trained_on):
                kept_by = "its record" if previous is not None and previous.data_files else f"{checkpoint}'s copy"
                return refused(f"{changed} (the images as {kept_by} names them)")
    record.carry_results(previous if checkpoint is not None else None)
    loggers: list = []
    with record.attempt(run_dir, cfg):
        check_config(cfg, choices)
        if unreadable is not None:
            raise unreadable
        start_over(cfg, run_dir, checkpoint)
        save_config(cfg, run_dir)
        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        log.info(start_line(run_dir, overrides, choices, cfg.seed, cfg.trainer.get("max_epochs")))
        L.seed_everything(cfg.seed, workers=True)
        datamodule, model, trainer = build(cfg, run_dir)
        if checkpoint is not None:  # continue on the images it trained on
            datamodule.as_recorded(trained_on)
        record.files = datamodule.files_record
        epoch_metrics = next((c for c in trainer.callbacks if isinstance(c, EpochMetrics)), None)
        record.rows = lambda: epoch_metrics.rows if epoch_metrics is not None else []
        if checkpoint is not None:
            keep_csv_logs(trainer)
        record.device = device_name(trainer)
        record.resumed_from = os.path.relpath(checkpoint, run_dir) if checkpoint else None
        loggers, hyperparameters = trainer.loggers, {"choices": choices, **OmegaConf.to_container(cfg, resolve=True)}
        for logger in loggers:  # the full resolved config, and which option of each group it came from
            logger.log_hyperparams(hyperparameters)
        if model.pretrain:
            trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint)
            check_trained_state(trainer, model)
        else:  # a baseline evaluated as initialised: validate once for the monitors, keep the weights
            trainer.validate(model, datamodule=datamodule, verbose=False)
            trainer.save_checkpoint(cfg.paths.last_checkpoint, weights_only=False)  # as Lightning's own saves
            # What the monitors measured once (kNN, collapse monitors): its final value and window.
            # Not the online probe's accuracy: an untrained probe on untrained features says nothing.
            measured = [m for m in MEASURES if m.series is not None and m.series != PROBE_ACC]
            record.set_results(**{m.key: metric(trainer, m.series) for m in measured})
        record.data_files = datamodule.files_record()  # set up by now: with the statistics it used
        if cfg.eval.linear and trainer.is_global_zero:  # on rank 0: the features are small, the classifier tiny
            accuracies, embeddings = evaluate(model, datamodule, cfg.eval, seed=cfg.seed)
            record.summarise(record.rows())
            record.save_linear_evaluation(run_dir, accuracies, embeddings, evaluation_settings(cfg.eval))
    if loggers:
        finish_tensorboard(loggers, hyperparameters, record.as_dict())
    if record.status == "ok" and not cfg.record.get("keep_previous", False) and rank_zero_only.rank == 0:
        drop_previous(Path(cfg.paths.last_checkpoint))
    (log.info if record.status == "ok" else log.error)(result_line(record.as_dict(), run_dir))
    return record.as_dict()


def recorded_files(previous: RunRecord | None, checkpoint: Path) -> dict[str, Any] | None:
    """The images the run to be resumed trained on, by its record and its checkpoint's copy
    (``readers.recorded_data_files``: they must agree; either serves where the other is missing)."""
    summarised = previous.data_files if previous is not None else None
    return recorded_data_files(summarised, read_checkpoint(checkpoint, mmap=True), checkpoint)


def data_changed(cfg: DictConfig, recorded: dict[str, Any] | None) -> str | None:
    """Why the run's data are not the images it trained on, or None (the same, or not known)."""
    if recorded is None:
        return None
    try:
        construct(cfg.data).as_recorded(recorded)
    except DataChanged as e:
        return str(e)
    except Exception:  # a config the attempt's validation will name
        return None
    return None


def absolute_data_root(cfg: DictConfig) -> None:
    """A relative ``data.root`` names a folder under the one the command ran in: recorded absolute,
    so that what reads the run folder later (linear_eval, export, a resume) finds the same data
    wherever it runs from."""
    data = cfg.get("data")
    root = data.get("root") if OmegaConf.is_dict(data) else None
    if isinstance(root, str) and root.strip() and not os.path.isabs(root):
        base = HydraConfig.get().runtime.cwd if HydraConfig.initialized() else os.getcwd()
        with read_write(data), open_dict(data):
            data.root = os.path.normpath(os.path.join(base, root))


def start_over(cfg: DictConfig, run_dir: Path, checkpoint: Path | None) -> None:
    """A run that does not continue a checkpoint starts new metrics.csv, steps.csv and spectra.csv
    files and a new W&B run (decided here, before the loggers are built); one that does keeps its
    W&B id. Either way the id exists before the config's ``${run_id:…}`` is read."""
    if rank_zero_only.rank != 0:
        return
    if checkpoint is None:
        for name in (METRICS_FILE, STEPS_FILE, SPECTRA_FILE, WANDB_ID_FILE):
            (run_dir / name).unlink(missing_ok=True)
    else:
        log.info("resuming from %s", checkpoint)
    ensure_wandb_id(run_dir)


def evaluation_settings(eval_cfg: DictConfig) -> dict[str, Any]:
    """What the linear accuracy depends on (the report keys rows on it): eval's settings but the
    switches themselves and how many embeddings are kept for the figures."""
    settings = OmegaConf.to_container(eval_cfg, resolve=True)
    return {k: v for k, v in settings.items() if k not in ("linear", "literal", "embeddings")}


def device_name(trainer: L.Trainer) -> str:
    """``NVIDIA H100 80GB HBM3``, or ``cpu (AMD EPYC 7B13)``: which machine's round-off the numbers carry."""
    device = trainer.strategy.root_device
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model()})" if device.type == "cpu" else str(device)


def metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return float(value) if value is not None else None
