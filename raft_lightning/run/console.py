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


def sweep_lines(summaries: dict[Path, dict[str, Any]], sweep_dir: Path) -> list[str]:
    """The end of a sweep: its status counts, one line per run, and where the full report goes."""
    counts = Counter(s.get("status") for s in summaries.values())
    lines = [f"sweep {sweep_dir}: {len(summaries)} run(s): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    for run_dir, summary in sorted(summaries.items()):
        lines.append("  " + result_line(summary, run_dir).removesuffix(f" ({run_dir / 'summary.json'})"))
    lines.append(f"tables and figures: raft-report {sweep_dir}")
    return lines
