"""Loggers: the W&B identity of a run (as config resolvers, see ``run.resolvers``: one group per
sweep, a run id that survives requeues), ending its W&B run, and Lightning's CSV log on resume.

``${sweep_name:}`` is the sweep folder's name in a multirun (every run of the sweep shares it),
else the run folder's name. ``${run_id:${paths.output_dir}}`` reads the id ``train()`` made once
per run and kept in the run folder (``wandb_id``, ``ensure_wandb_id``): a SLURM job requeued into
its folder, or a run resumed there, gets the same id, so its W&B run continues; a new run in a
cleaned folder (``rm -rf logs/demo``), or one started over with ``resume=false``, gets a new one,
so syncing never merges two runs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf

from raft_lightning.files import NAME_MAX, WANDB_ID_FILE, set_aside, write_atomically
from raft_lightning.readers import read_wandb_id
from raft_lightning.run.console import settings_name, single_run_name
from raft_lightning.summary import RESULT_KEYS

log = logging.getLogger(__name__)


# The sweeper (run.sweep.swept_keys_override) hands every job of a sweep the override keys whose
# values differ between its jobs, as this entry of ``hydra.job.env_set``: Hydra's per-job config
# has the job's own overrides only, not the sweep's.
SWEPT = "RAFT_SWEPT"


def sweep_name() -> str:
    if not HydraConfig.initialized():
        return "run"
    hydra = HydraConfig.get()
    if hydra.mode == RunMode.MULTIRUN:
        return Path(str(hydra.sweep.dir)).name
    # --cfg prints a config before Hydra has made the run's folder: its name is the one it will have
    output_dir = OmegaConf.select(hydra, "runtime.output_dir", throw_on_missing=False)
    return Path(str(output_dir or hydra.run.dir)).name


def run_name(seed: object, use: str = "name") -> str:
    """What tells this run apart from the other runs of its sweep: its overrides of the keys the
    sweep varies, ``variant=tanbyol_lp`` or ``loss.beta=0.1,seed=1`` (the sweep's closing lines
    show the same); for a single run ``<variant, or loss-predictor>-seed<seed>``. ``use=folder``
    makes it a folder name (``/`` → ``_``)."""
    name = _swept_settings() or _single(seed)
    return folder_name(name) if use == "folder" else name


def folder_name(name: str) -> str:
    """``name`` as one path component: ``/`` → ``_``, and a name over Linux's 255 bytes (many swept
    settings) cut to fit, with a hash of the whole name so that two long names stay apart."""
    name = name.replace("/", "_")
    if len(name.encode()) <= NAME_MAX:
        return name
    digest = "~" + hashlib.sha1(name.encode()).hexdigest()[:12]
    head = name.encode()[: NAME_MAX - len(digest)].decode(errors="ignore")  # whole characters only
    return head + digest


def _swept_settings() -> str:
    if not HydraConfig.initialized():
        return ""
    hydra = HydraConfig.get()
    keys = str(OmegaConf.select(hydra, f"job.env_set.{SWEPT}", default="") or "").split()
    task = [str(o) for o in OmegaConf.select(hydra, "overrides.task", default=[]) or []]
    return settings_name(o for o in task if o.partition("=")[0] in keys)


def _single(seed: object) -> str:
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    chosen = {"variant": choices.get("variant"), "objective": choices.get("loss"), "seed": seed}
    return single_run_name({**chosen, "predictor": choices.get("predictor")})  # as the record has them (closing line)


def variant_tags() -> list[str]:
    """``[variant=<name>]`` when the run is a named row of the paper's tables, else none."""
    variant = dict(HydraConfig.get().runtime.choices).get("variant") if HydraConfig.initialized() else None
    return [f"variant={variant}"] if variant else []


def run_id(output_dir: str | None) -> str | None:
    """The run's W&B id, read from its folder; None before the run has made one. Only a read:
    resolving a config (validation, ``--cfg job``) changes nothing on disk."""
    return read_wandb_id(output_dir) if output_dir else None


def ensure_wandb_id(run_dir: Path) -> str:
    """The run's W&B id, made once (rank 0, before its loggers are built) and kept in its folder."""
    existing = read_wandb_id(run_dir)
    if existing is not None:
        return existing
    new = uuid.uuid4().hex[:16]
    write_atomically(run_dir / WANDB_ID_FILE, new + "\n")
    return new


SUMMARY_KEYS = ("status", "epochs", *RESULT_KEYS, "error")


def finish_wandb(summary: dict[str, Any]) -> None:
    """End the W&B run of this process, if any, with the record's results in its summary (so a
    W&B table of a sweep's group can show Table 1), before the next run of a multirun starts
    (else Lightning's WandbLogger would attach the next run to it). A preempted run is marked
    so, and its requeued job resumes it under the same id."""
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    wandb.run.summary.update({f"final/{k}": summary[k] for k in SUMMARY_KEYS if summary.get(k) is not None})
    if summary["status"] == "interrupted":
        wandb.run.mark_preempting()
    wandb.finish(exit_code=1 if summary["status"] == "failed" else 0)


def finish_tensorboard(loggers: list, hyperparameters: dict[str, Any], summary: dict[str, Any]) -> None:
    """TensorBoard's hyperparameters tab: the run's config beside its results (``final/…``, the
    numbers of its record), written at its end; Lightning writes the tab only with metrics, and
    a placeholder ``hp_metric`` at the start would be a number the run did not produce."""
    from lightning.pytorch.loggers import TensorBoardLogger

    results = {
        f"final/{key}": float(summary[key])
        for key in SUMMARY_KEYS
        if isinstance(summary.get(key), (int, float)) and not isinstance(summary.get(key), bool)
    }
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger) and results:
            logger.log_hyperparams(hyperparameters, metrics=results, step=summary.get("epochs"))
            logger.finalize("success" if summary.get("status") == "ok" else "failed")


def keep_csv_logs(trainer: L.Trainer) -> None:
    """Lightning's CSVLogger deletes its metrics.csv when it starts in a folder that has one, and
    warns that it will; a resumed run appends to it instead, so the warning is silenced here.
    (After an unclean death, the steps between the last checkpoint and the death appear twice; a
    preemption checkpoint leaves no such steps.)"""
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or rank_zero_only.rank != 0:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        header, rows = _csv_rows(path) if path.is_file() else ([], [])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*Previous log files in this directory will be deleted")
            writer = logger.experiment  # creating it deletes the file
        if not header:
            continue
        text = io.StringIO(newline="")
        out = csv.DictWriter(text, fieldnames=header)
        out.writeheader()
        out.writerows(rows)
        write_atomically(path, text.getvalue())
        writer.metrics_keys = header  # new keys rewrite the header, old rows included


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of Lightning's step log; none (the file set aside) if it cannot be read."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
        if any(None in row for row in rows):
            raise csv.Error("a row with more cells than the header")
    except (OSError, csv.Error, UnicodeDecodeError) as e:  # Lightning's log only: set aside, start anew
        log.warning("%s cannot be read (%s); kept as %s, a new step log begins", path, e, set_aside(path).name)
        return [], []
    return header, rows
