"""The run record: ``summary.json``, its schema, and its one writer.

``RunRecord``'s fields are the schema of summary.json, documented once, here. It is written
atomically (a reader never sees half a file, a crash never leaves one) by ``RunRecord.save``
and by nothing else; an ``attempt`` of the run maps how it ended to a status, keeps the
traceback of a crash and ends the W&B run, so that ``train()`` holds only the recipe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from raft_lightning.callbacks import DivergedError, Interrupted
from raft_lightning.files import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    SUMMARY_FILE,
    TRACEBACK_FILE,
    read_epochs,
    read_summary,
    write_atomically,
)
from raft_lightning.run.signals import interruptible
from raft_lightning.run.tracking import finish_wandb
from raft_lightning.run.validation import ConfigError

FINISHED = ("ok", "diverged")  # outcomes that training the same config again would only repeat


@dataclasses.dataclass
class RunRecord:
    """One run, as summary.json holds it. Numbers are final-epoch values: nothing is selected on
    the test set."""

    # What was asked: the run's setting.
    objective: str | None  # the `loss` option: byol, byol_prime, raft, random, supervised
    variant: str | None  # the `variant` option (a named row of the paper's table), or null
    predictor: str | None  # the `predictor` option
    negate_init: bool  # the predictor's output layer starts negated (Theorem 5.1's −W0)
    backbone: str | None
    data: str | None  # the `data` option
    seed: int
    alpha: float
    beta: float
    tangential: bool
    tau: float | None  # the EMA rate, null without the EMA callback
    tau_schedule: str | None  # constant (the paper) or cosine (BYOL)
    lr: float
    batch_size: int
    max_epochs: int  # configured
    tags: list[str]  # the run's `tags=[...]`
    image_size: int
    pipeline: str  # torchvision (per sample) or batched: the same distributions, other random draws
    # What it got: metrics.csv summarised.
    epochs: int = 0  # completed
    align: float | None = None  # mean L_align over the last `record.last_epochs` epochs (the paper: 10)
    uniform: float | None = None  # mean L_uniform over the same epochs
    probe_acc: float | None = None  # online linear probe, final epoch
    knn_acc: float | None = None  # weighted kNN, final evaluation
    linear_acc: float | None = None  # offline linear evaluation; null until it ran
    # How it went.
    status: str = "running"  # running | ok | diverged | failed | interrupted (resumable)
    error: str | None = None
    wall_time_s: float | None = None  # of the last attempt
    checkpoint: str | None = None  # relative to the run folder
    resumed_from: str | None = None  # the checkpoint the last attempt continued from
    signal: str | None = None  # the signal that interrupted it
    git_sha: str | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    device: str | None = None

    @classmethod
    def from_config(cls, cfg: DictConfig, choices: dict[str, str]) -> RunRecord:
        """The fields known before training. Values are taken as configured: validation (which
        runs next) reports a value of the wrong type, not this constructor."""
        ema = (cfg.get("callbacks") or {}).get("ema")
        return cls(
            objective=choices.get("loss"),
            variant=choices.get("variant"),
            predictor=choices.get("predictor"),
            negate_init=bool(cfg.predictor.get("negate_init", False)),
            backbone=cfg.model.backbone.get("name"),
            data=choices.get("data"),
            seed=cfg.seed,
            alpha=_number(cfg.loss.get("alpha", 1.0)),
            beta=_number(cfg.loss.get("beta", 1.0)),
            tangential=bool(cfg.loss.get("tangential", False)),
            tau=_number(ema.tau) if ema is not None else None,
            tau_schedule=ema.get("schedule") if ema is not None else None,
            lr=_number(cfg.optimizer.lr),
            batch_size=cfg.data.batch_size,
            max_epochs=cfg.trainer.max_epochs,
            tags=list(cfg.get("tags") or []),
            image_size=cfg.data.image_size,
            pipeline=cfg.data.pipeline,
            git_sha=git_sha(),
            versions=versions(),
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def finished(self, cfg: DictConfig) -> bool:
        """Training this config again would only repeat this record."""
        asked_linear = bool(cfg.eval.linear)
        return (
            self.status in FINISHED
            and self.max_epochs == cfg.trainer.max_epochs
            and (not asked_linear or self.status != "ok" or self.linear_acc is not None)
        )

    def save(self, run_dir: Path) -> None:
        """The only writer of summary.json (rank 0 under DDP)."""
        if rank_zero_only.rank == 0:
            write_json(run_dir / SUMMARY_FILE, self.as_dict())

    def summarise_epochs(self, run_dir: Path, last_epochs: int) -> None:
        """The metric fields from metrics.csv, the per-epoch file of the run."""
        rows = read_epochs(run_dir)

        def last(key: str) -> float | None:
            values = [row[key] for row in rows if key in row]
            return values[-1] if values else None

        def mean_of_last(key: str) -> float | None:
            values = [row[key] for row in rows if key in row][-last_epochs:]
            return sum(values) / len(values) if values else None

        self.epochs = len(rows)
        self.align, self.uniform = mean_of_last("train/align"), mean_of_last("train/uniform")
        self.probe_acc = last("val/probe_acc")
        self.knn_acc = last("val/knn_acc") if rows else self.knn_acc

    def save_linear_evaluation(self, run_dir: Path, accuracy: float, embeddings: dict[str, torch.Tensor]) -> None:
        self.linear_acc = accuracy
        if rank_zero_only.rank == 0:
            torch.save(embeddings, run_dir / EMBEDDINGS_FILE)
        self.save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord | None:
        """The record in ``run_dir``, or None; keys it does not know (an older or newer version
        wrote them) are dropped."""
        saved = read_summary(run_dir)
        if saved is None:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    @contextlib.contextmanager
    def attempt(self, run_dir: Path, cfg: DictConfig) -> Iterator[RunRecord]:
        """One attempt at the run: saved as ``running`` on entry; on exit, however the body ended,
        the status (``ok``, or what the exception means), the epochs from metrics.csv, the wall
        time and the checkpoint, saved. A crash leaves its traceback in traceback.txt; nothing
        but a signal's own handling escapes, so the other runs of a sweep go on."""
        start, start_time = time.perf_counter(), time.time()
        self.status, self.error, self.signal = "running", None, None
        self.save(run_dir)
        try:
            with interruptible():
                yield self
            self.status = "ok"
        except Interrupted as e:
            self.status, self.error, self.signal = "interrupted", str(e), signal.Signals(e.signum).name
        except SIGTERMException:  # Lightning's own handler, between fit's start and the Preemption callback's
            self.status, self.error, self.signal = "interrupted", "stopped by SIGTERM at start-up", "SIGTERM"
        except DivergedError as e:
            self.status, self.error = "diverged", str(e)
        except ConfigError as e:
            self.status, self.error = "failed", str(e)
        except Exception as e:
            self.status, self.error = "failed", f"{type(e).__name__}: {e}" + other_ranks_failure(run_dir, start_time)
            rank = rank_zero_only.rank
            name = TRACEBACK_FILE if rank == 0 else f"traceback.rank{rank}.txt"
            with contextlib.suppress(OSError):  # a full disk: the record below still says why
                (run_dir / name).write_text(traceback.format_exc())
        self.summarise_epochs(run_dir, cfg.record.last_epochs)
        checkpoint = Path(cfg.paths.last_checkpoint)
        self.checkpoint = os.path.relpath(checkpoint, run_dir) if checkpoint.is_file() else None
        self.wall_time_s = round(time.perf_counter() - start, 3)
        finish_wandb(self.as_dict())  # with the results: they go to the W&B run's summary
        self.save(run_dir)


def other_ranks_failure(run_dir: Path, since: float) -> str:
    """Under DDP, the rank whose failure made this one's collective time out, and its error."""
    found = [p for p in sorted(run_dir.glob("traceback.rank*.txt")) if p.stat().st_mtime >= since]
    if not found or rank_zero_only.rank != 0:
        return ""
    rank, last = found[0].stem.removeprefix("traceback.rank"), found[0].read_text().strip().splitlines()[-1]
    return f" — after rank {rank} failed: {last} (its traceback: {found[0].name})"


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    """The resolved config: the record of the run, and what DDP ranks ≥ 1 rebuild it from."""
    if rank_zero_only.rank == 0:
        OmegaConf.save(cfg, run_dir / CONFIG_FILE, resolve=True)


def _number(value: Any) -> Any:
    """A float where the value is a number; anything else as it is, for validation to name."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    import lightning

    return {"torch": torch.__version__, "lightning": lightning.__version__}


def write_json(path: Path, obj: Any) -> None:
    """Atomically; on a full disk in place, so that the record can still say how the run ended."""
    write_atomically(path, json.dumps(obj, indent=2, default=str) + "\n", in_place_when_full=True)
