"""What a run prints: one result line per run, a short table at the end of a sweep, and none of
the third-party boilerplate that a sweep would repeat for every run."""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from raft_lightning.files import CONFIG_FILE

# Known-harmless lines, silenced where they come from (by logger or module), not globally:
NOISE_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
NOISE_PREFIXES = ("💡 Tip:",)  # Lightning's advertisement for its cloud products (litlogger, litmodels)
# Lines Lightning prints for every run, the same for every run of a sweep: shown for the first run
# of this process only (a local sweep: once; a SLURM job: once in its own log).
BANNER_LOGGERS = (*NOISE_LOGGERS, "lightning.fabric.utilities.seed", "lightning.pytorch.callbacks.model_summary")
BANNERS = tuple(
    re.compile(p)
    for p in (
        r"GPU available: ",
        r"TPU available: ",
        r"HPU available: ",
        r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES",
        r"Seed set to ",
        r"\s*\|\s*Name\s+\|\s*Type",  # the model summary's table
        r"`Trainer.fit` stopped: `max_epochs=",  # the epoch lines say so
    )
)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(NOISE_PREFIXES)


class _BannersOnce(logging.Filter):
    """Lets the first line of each kind in ``BANNERS`` through, and no later one."""

    seen: set[int] = set()  # per process, shared by every logger it is attached to

    def filter(self, record: logging.LogRecord) -> bool:
        kind = next((i for i, p in enumerate(BANNERS) if p.match(record.getMessage())), None)
        if kind is None:
            return True
        if kind in self.seen:
            return False
        self.seen.add(kind)
        return True


def quiet_known_noise() -> None:
    """Idempotent: the entry points call it at import, ``train()`` again (tests call it directly)."""
    for name in NOISE_LOGGERS:
        _add_once(logging.getLogger(name), _DropTips())
    for name in BANNER_LOGGERS:
        _add_once(logging.getLogger(name), _BannersOnce())
    # Lightning 2.6's own pytree helper calls torch's deprecated LeafSpec check once per fit.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", module=r"lightning\.")
    # On a machine with SLURM installed, every run outside a job is told to prepend `srun`; our
    # SLURM runs go through launcher=slurm (submitit), which never needs it.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system", module=r"lightning\.")
    # A resumed run's checkpoint folder holds its own last.ckpt: the folder's lock and guard have
    # already made sure it is this run's, so ModelCheckpoint's "exists and is not empty" says nothing.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty", module=r"lightning\.")


def _add_once(logger: logging.Logger, new: logging.Filter) -> None:
    if not any(type(f) is type(new) for f in logger.filters):
        logger.addFilter(new)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def start_line(run_dir: Path, overrides: list[str], choices: dict[str, Any], seed: Any, epochs: Any) -> str:
    """``run logs/…/1: overrides experiment=smoke variant=tanbyol_lp; options loss=byol
    predictor=linear …; seed 0, 2 epochs (config: logs/…/1/config.yaml)``: what a run is, once,
    before it trains (a SLURM job's log shows no launch line of Hydra's)."""
    options = " ".join(f"{k}={v}" for k, v in choices.items() if v is not None and not k.startswith("hydra"))
    given = " ".join(overrides) or "none"
    where = run_dir / CONFIG_FILE
    return f"run {run_dir}: overrides {given}; options {options}; seed {seed}, {epochs} epochs ({where})"


def run_what(summary: dict[str, Any]) -> str:
    """``tanbyol_lp seed 0`` for a named row of the paper's tables, else ``byol/mlp seed 0``."""
    what = summary.get("variant") or f"{summary.get('objective')}/{summary.get('predictor')}"
    return f"{what} seed {summary.get('seed')}"


def result_line(summary: dict[str, Any], run_dir: Path) -> str:
    """``run finished: byol/mlp seed 0, 30 epochs, L_align 0.111, L_uniform -1.646, probe 67.0%, kNN 75.7%,
    linear 80.3% (logs/…/summary.json)``."""
    what = run_what(summary)
    status = "finished" if summary.get("status") == "ok" else summary.get("status")
    if status != "finished":
        return f"run {status}: {what}: {summary.get('error')} ({run_dir / 'summary.json'})"
    numbers = (
        f"{summary['epochs']} epochs, L_align {_num(summary['align'])}, L_uniform {_num(summary['uniform'])}, "
        f"probe {_pct(summary['probe_acc'])}, kNN {_pct(summary['knn_acc'])}, linear {_pct(summary['linear_acc'])}"
    )
    return f"run finished: {what}, {numbers} ({run_dir / 'summary.json'})"


def _pairs(overrides: list[tuple[str, ...]]) -> list[dict[str, str]]:
    return [dict(o.partition("=")[::2] for o in job) for job in overrides]


def differing_keys(overrides: list[tuple[str, ...]]) -> list[str]:
    """The override keys whose value is not the same in every job of the sweep, in order."""
    pairs = _pairs(overrides)
    return [k for k in dict.fromkeys(k for p in pairs for k in p) if len({p.get(k) for p in pairs}) > 1]


def single_run_name(summary: dict[str, Any]) -> str:
    """A run with nothing to tell it apart (a single run, a sweep of one): ``tanbyol_lp-seed0``,
    ``byol-mlp-seed0``, as W&B and TensorBoard name it (``run.tracking.run_name``)."""
    what = summary.get("variant") or f"{summary.get('objective')}-{summary.get('predictor')}"
    return f"{what}-seed{summary.get('seed')}"


def settings_name(overrides: Iterable[str]) -> str:
    """A run's name from the ``key=value`` overrides that tell it apart: the sweep's closing lines,
    W&B run names and TensorBoard folders (``run.tracking.run_name``) all read the same."""
    return ",".join(overrides)


def differing(overrides: list[tuple[str, ...]]) -> list[str]:
    """Per job, the ``key=value`` overrides whose value is not the same in every job of the sweep."""
    keys = differing_keys(overrides)
    return [settings_name(f"{k}={p[k]}" for k in keys if k in p) for p in _pairs(overrides)]


def sweep_lines(summaries: list[tuple[Any, dict[str, Any]]], sweep_dir: Path) -> list[str]:
    """The end of a sweep: its status counts, one line per run in job order with what tells it
    apart from the others and its folder, and where the full report goes (where a run is ok). ``summaries`` pairs
    each job's outcome (``run.sweep.Outcome``) with its record."""
    counts = Counter(s.get("status") for _, s in summaries)
    lines = [f"sweep {sweep_dir}: {len(summaries)} run(s): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    names = differing([o.overrides for o, _ in summaries])
    for (outcome, summary), name in zip(summaries, names):
        folder = (
            outcome.run_dir.relative_to(sweep_dir)
            if outcome.run_dir and outcome.run_dir.is_relative_to(sweep_dir)
            else outcome.run_dir
        )
        what = name or single_run_name(summary)
        lines.append(f"  #{outcome.job} {what}: {outcome_text(summary)}  [{folder}]")
    if counts["ok"]:  # without an ok run the report has no row to print, and says so
        lines.append(f"tables and figures: raft-report {sweep_dir}")
    return lines


def outcome_text(summary: dict[str, Any]) -> str:
    if summary.get("status") != "ok":
        error = str(summary.get("error") or "").strip().splitlines()
        return f"{summary.get('status')}" + (f": {error[-1]}" if error else "")
    return (
        f"{summary.get('epochs')} epochs, L_align {_num(summary.get('align'))}, "
        f"L_uniform {_num(summary.get('uniform'))}, probe {_pct(summary.get('probe_acc'))}, "
        f"kNN {_pct(summary.get('knn_acc'))}, linear {_pct(summary.get('linear_acc'))}"
    )
