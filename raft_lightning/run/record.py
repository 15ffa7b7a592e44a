"""The run record and its one writer: ``summary.json`` (schema: ``raft_lightning.summary``), the
run's config.yaml, embeddings.pt and traceback.txt.

Every file is written atomically (``files.write_atomically``) by the process that holds the run
folder's lock. An ``attempt`` of the run maps how it ended to a status, keeps the traceback of a
crash and ends the W&B run, so that ``train()`` holds only the recipe. The results come from the
run's own epoch rows in memory (``summarise``), not from reading metrics.csv back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from raft_lightning.callbacks import DivergedError, Interrupted, interruption
from raft_lightning.callbacks.preemption import first_received
from raft_lightning.data.workers import error_message
from raft_lightning.files import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    HYDRA_DIR,
    SUMMARY_FILE,
    TRACEBACK_FILE,
    save_tensors,
    set_aside,
    write_atomically,
)
from raft_lightning.measures import MEASURES, summarised
from raft_lightning.objectives import has_teacher
from raft_lightning.readers import DamagedFile, portable, read_summary
from raft_lightning.run.provenance import code_version, versions
from raft_lightning.run.schema import target_of
from raft_lightning.run.signals import interruptible
from raft_lightning.run.tracking import finish_wandb
from raft_lightning.run.validation import ConfigError
from raft_lightning.summary import FIELDS, FINISHED, RESULT_KEYS, Summary

CHECKPOINT = "checkpoints/last.ckpt"  # relative to the run folder (paths.last_checkpoint)


@dataclasses.dataclass
class RunRecord(Summary):
    """summary.json in memory: ``Summary``'s fields, plus ``results`` (one value per measure of
    ``raft_lightning.measures``), written as top-level keys after ``epochs``."""

    results: dict[str, float | None] = dataclasses.field(default_factory=lambda: dict.fromkeys(RESULT_KEYS))

    @classmethod
    def from_config(cls, cfg: DictConfig, choices: dict[str, str]) -> RunRecord:
        """The fields known before training, from a validated config."""
        teacher = cfg.get("teacher")
        uses_teacher = teacher is not None and _has_teacher(cfg.loss.get("_target_"))
        return cls(
            objective=choices.get("loss"),
            variant=choices.get("variant"),
            predictor=choices.get("predictor"),
            negate_init=_fit(cfg.predictor.get("negate_init", False), bool),
            backbone=cfg.model.backbone.get("name"),
            data=choices.get("data"),
            seed=_fit(cfg.seed, int),
            alpha=_fit(cfg.loss.get("alpha", 1.0), float),
            beta=_fit(cfg.loss.get("beta", 1.0), float),
            tangential=_fit(cfg.loss.get("tangential", False), bool),
            tau=_fit(teacher.get("tau"), float) if uses_teacher else None,
            tau_schedule=teacher.get("schedule") if uses_teacher else None,
            lr=_fit(cfg.optimizer.get("lr"), float),
            batch_size=_fit(cfg.data.get("batch_size"), int),
            max_epochs=_fit(cfg.trainer.get("max_epochs"), int),
            tags=[str(t) for t in cfg.get("tags") or []],
            image_size=_fit(cfg.data.get("image_size"), int),
            pipeline=_fit(cfg.data.get("pipeline", "torchvision"), str),
            last_epochs=_fit(cfg.record.get("last_epochs"), int) or 10,
            git_sha=(code := code_version())[0],
            git_dirty=code[1],
            versions=versions(),
        )

    def as_dict(self) -> dict[str, Any]:
        fields = {f: getattr(self, f) for f in FIELDS}
        at = list(fields).index("epochs") + 1
        items = list(fields.items())
        return dict(items[:at] + [(k, self.results.get(k)) for k in RESULT_KEYS] + items[at:])

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def finished(self, cfg: DictConfig) -> bool:
        """Training this config again would only repeat this record."""
        linear = bool(cfg.eval.linear)
        asked = ["linear_acc"] * linear + ["linear_acc_literal"] * (linear and bool(cfg.eval.get("literal")))
        return (
            self.status in FINISHED
            and self.max_epochs == cfg.trainer.max_epochs
            and (self.status != "ok" or all(self.results.get(key) is not None for key in asked))
        )

    def save(self, run_dir: Path) -> None:
        """The only writer of summary.json (rank 0 under DDP)."""
        if rank_zero_only.rank == 0:
            text = json.dumps(self.as_dict(), indent=2, default=str, allow_nan=True) + "\n"
            write_atomically(run_dir / SUMMARY_FILE, text, in_place_when_full=True)

    def carry_results(self, previous: RunRecord | None) -> None:
        """Start from what an earlier attempt measured: a resumed run that fails before training
        still says how far the run got. Results of the weights (the linear evaluation) are not
        carried: training goes on, so they no longer describe the run."""
        if previous is None:
            return
        self.epochs = previous.epochs
        self.data_files = previous.data_files  # the images it trained on, until this attempt reads them again
        self.results = {k: v for k, v in previous.results.items() if MEASURES_BY_KEY[k].series is not None}
        self.results |= {k: None for k in RESULT_KEYS if k not in self.results}

    def summarise(self, rows: list[dict[str, float]]) -> None:
        """The ``last`` and ``window`` measures from the run's epoch rows (none: keep what is there)."""
        if not rows:
            return
        self.epochs = len(rows)
        self.results |= summarised(rows, self.last_epochs)

    def set_results(self, **values: float | None) -> None:
        unknown = set(values) - set(RESULT_KEYS)
        if unknown:
            raise KeyError(f"not a measure of raft_lightning.measures: {', '.join(sorted(unknown))}")
        self.results |= values

    def save_linear_evaluation(
        self, run_dir: Path, accuracies: dict[str, float], embeddings: dict[str, torch.Tensor], settings: dict[str, Any]
    ) -> None:
        """linear_acc (and linear_acc_literal), the settings they were measured with, and the test
        embeddings: the embeddings first, so that a record never names an accuracy whose
        embeddings were not written. A new evaluation replaces the old one whole: an accuracy the
        new settings did not measure is not kept beside them."""
        if rank_zero_only.rank == 0:
            save_tensors(run_dir / EMBEDDINGS_FILE, embeddings)
        self.set_results(**({"linear_acc": None, "linear_acc_literal": None} | accuracies))
        self.linear_eval = settings
        self.save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord | None:
        """The record in ``run_dir``, or None: none there, or a damaged one, which is set aside as
        summary.json.damaged (kept for a person to read) so that the run resumes from its checkpoint."""
        try:
            saved = read_summary(run_dir)
        except DamagedFile as e:
            if rank_zero_only.rank == 0:
                aside = set_aside(run_dir / SUMMARY_FILE)
                log_warning(f"{e}; set aside as {aside.name} (kept, no longer read)")
            return None
        if saved is None:
            return None
        defaults = {f.name: None for f in dataclasses.fields(Summary) if f.default is dataclasses.MISSING}
        record = cls(**{**defaults, **{k: v for k, v in saved.items() if k in FIELDS}})
        record.results = {k: saved.get(k) for k in RESULT_KEYS}
        return record

    @contextlib.contextmanager
    def attempt(self, run_dir: Path, cfg: DictConfig) -> Iterator[RunRecord]:
        """One attempt at the run: saved as ``running`` on entry; on exit, however the body ended,
        the status (``ok``, or what the exception means), the wall time and the checkpoint, saved.
        A crash leaves its traceback in traceback.txt; nothing but a signal's own handling
        escapes, so the other runs of a sweep go on. The body sets ``self.rows`` (the epoch rows
        in memory) once the run is built, for ``summarise``."""
        start, start_time = time.perf_counter(), time.time()
        self.status, self.error, self.signal = "running", None, None
        self.rows: Any = lambda: []
        self.files: Any = lambda: None  # the data's files_record, set by the body once the data are built
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
            if (stopped := interruption(e)) is not None:  # a signal inside a library's call, wrapped by it
                self.status, self.error, self.signal = "interrupted", str(stopped), signal.Signals(stopped.signum).name
            else:
                self.status = "failed"
                self.error = f"{type(e).__name__}: {error_message(e)}" + other_ranks_failure(run_dir, start_time)
                rank = rank_zero_only.rank
                name = TRACEBACK_FILE if rank == 0 else f"traceback.rank{rank}.txt"
                with contextlib.suppress(OSError):  # a full disk: the record below still says why
                    write_atomically(run_dir / name, traceback.format_exc())
        if self.status in ("ok", "diverged") and (received := first_received()) is not None:
            # A signal that came while the run ended by itself (its weights not finite where a
            # signal's checkpoint was due, or after training's last check): the record says so,
            # and the signal still acts once it is saved (train.hand_back: exit 128 + n).
            self.signal = signal.Signals(received).name
            if self.status == "diverged":
                self.error = f"{self.error}; {self.signal} came too (handed on once recorded)"
        self.summarise(self.rows())
        if self.status == "ok" and (non_finite := [f"{k} {v}" for k, v in self.results.items() if _non_finite(v)]):
            # Between two of the guard's checks, or in a measure after the last: a record that
            # says ok holds finite numbers only (its readers refuse any other).
            self.status, self.error = "diverged", f"{', '.join(non_finite)} at the end of training: not finite"
        if self.data_files is None:  # an attempt stopped before its end: the images it trained on so far
            with contextlib.suppress(Exception):  # a folder that cannot be read now: the error above says why
                self.data_files = self.files()
        self.checkpoint = CHECKPOINT if (run_dir / CHECKPOINT).is_file() else None
        self.wall_time_s = round(time.perf_counter() - start, 3)
        finish_wandb(self.as_dict())  # with the results: they go to the W&B run's summary
        self.save(run_dir)


MEASURES_BY_KEY = {m.key: m for m in MEASURES}


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _fit(value: Any, kind: type) -> Any:
    """The configured value where it is of ``kind`` (a float from an int too), else None:
    validation names a wrong value; the record only never holds one."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if kind is bool:
        return value if isinstance(value, bool) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _has_teacher(target: Any) -> bool:
    """Whether the objective ``target`` names has a mean teacher (SimSiam and the baselines have
    none: their record holds no τ)."""
    try:
        return has_teacher(target_of(str(target)))
    except Exception:  # validation names a target that cannot be imported
        return False


def log_warning(message: str) -> None:
    import logging

    logging.getLogger(__name__).warning(message)


def other_ranks_failure(run_dir: Path, since: float) -> str:
    """Under DDP, the rank whose failure made this one's collective time out, and its error."""
    found = [p for p in sorted(run_dir.glob("traceback.rank*.txt")) if p.stat().st_mtime >= since]
    if not found or rank_zero_only.rank != 0:
        return ""
    rank, last = found[0].stem.removeprefix("traceback.rank"), found[0].read_text().strip().splitlines()[-1]
    return f" — after rank {rank} failed: {last} (its traceback: {found[0].name})"


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    """The resolved config, paths inside the folder as ``<run_dir>/…`` (readers.portable): the
    record of the run, and what DDP ranks ≥ 1 rebuild it from."""
    if rank_zero_only.rank == 0:
        container = portable(OmegaConf.to_container(cfg, resolve=True), run_dir)
        write_atomically(run_dir / CONFIG_FILE, OmegaConf.to_yaml(OmegaConf.create(container)))
        save_hydra_files(cfg, run_dir)


def save_hydra_files(cfg: DictConfig, run_dir: Path) -> None:
    """Hydra's ``.hydra/`` (config.yaml as composed, hydra.yaml, overrides.yaml), written here,
    under the folder's lock and after the guard, not by Hydra before both (``hydra.output_subdir:
    null``): a command refused as another run's, or while the run trains, would rewrite them."""
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    folder = run_dir / HYDRA_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):  # planted: never written through
        set_aside(folder)
    folder.mkdir(exist_ok=True)
    write_atomically(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    write_atomically(folder / "hydra.yaml", OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})))
    write_atomically(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))
