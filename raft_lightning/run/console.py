"""What a run prints: one result line per run, a short table at the end of a sweep, and none of
the third-party boilerplate that a sweep would repeat for every run."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

# Known-harmless lines, silenced where they come from (by logger or module), not globally:
NOISE_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
NOISE_PREFIXES = ("💡 Tip:",)  # Lightning's advertisement for its cloud products, on every Trainer


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(NOISE_PREFIXES)


def quiet_known_noise() -> None:
    for name in NOISE_LOGGERS:
        logging.getLogger(name).addFilter(_DropTips())
    # Lightning 2.6's own pytree helper calls torch's deprecated LeafSpec check once per fit.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", module=r"lightning\.")
    # On a machine with SLURM installed, every run outside a job is told to prepend `srun`; our
    # SLURM runs go through launcher=slurm (submitit), which never needs it.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system", module=r"lightning\.")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def result_line(summary: dict[str, Any], run_dir: Path) -> str:
    """``run finished: byol/mlp seed 0, 30 epochs, L_align 0.111, L_uniform -1.646, probe 67.0%, kNN 75.7%,
    linear 80.3% (logs/…/summary.json)``."""
    what = f"{summary.get('objective')}/{summary.get('predictor')} seed {summary.get('seed')}"
    status = "finished" if summary.get("status") == "ok" else summary.get("status")
    if status != "finished":
        return f"run {status}: {what}: {summary.get('error')} ({run_dir / 'summary.json'})"
    numbers = (
        f"{summary['epochs']} epochs, L_align {_num(summary['align'])}, L_uniform {_num(summary['uniform'])}, "
        f"probe {_pct(summary['probe_acc'])}, kNN {_pct(summary['knn_acc'])}, linear {_pct(summary['linear_acc'])}"
    )
    return f"run finished: {what}, {numbers} ({run_dir / 'summary.json'})"


def differing(overrides: list[tuple[str, ...]]) -> list[str]:
    """Per job, the ``key=value`` overrides whose value is not the same in every job of the sweep."""
    pairs = [dict(o.partition("=")[::2] for o in job) for job in overrides]
    keys = [k for k in dict.fromkeys(k for p in pairs for k in p) if len({p.get(k) for p in pairs}) > 1]
    return [" ".join(f"{k}={p[k]}" for k in keys if k in p) for p in pairs]


def sweep_lines(summaries: list[tuple[Any, dict[str, Any]]], sweep_dir: Path) -> list[str]:
    """The end of a sweep: its status counts, one line per run in job order with what tells it
    apart from the others and its folder, and where the full report goes. ``summaries`` pairs
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
        what = name or f"{summary.get('objective')}/{summary.get('predictor')} seed {summary.get('seed')}"
        lines.append(f"  #{outcome.job} {what}: {outcome_text(summary)}  [{folder}]")
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
