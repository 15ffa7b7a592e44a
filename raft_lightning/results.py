"""A run's results: ``summary.json`` (schema below) next to the per-epoch ``metrics.csv``.

Keys: objective, predictor, negate_init (its output layer starts negated), backbone, data, seed,
alpha, beta, tangential, tau, lr, batch_size,
max_epochs (configured), epochs (completed), align, uniform (means over the last 10 completed
epochs, as the paper's tables), probe_acc and knn_acc (final epoch), linear_acc (null until
offline evaluation), status (running | ok | diverged | failed | interrupted: a signal stopped it
after a checkpoint, and running it again resumes), error, wall_time_s, checkpoint (relative to
the run dir), resumed_from (the checkpoint this attempt continued from, or null), signal (the
one that interrupted it, or null), git_sha, versions, device. Numbers are final-epoch values; nothing is selected on
the test set.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"  # the run's config, resolved
METRICS_FILE = "metrics.csv"
LAST_EPOCHS = 10  # the paper averages L_align and L_uniform over the last 10 epochs


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
    import torch

    return {"torch": torch.__version__, "lightning": lightning.__version__}


def new_summary(cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
    """The fields known before training; the outcome is filled in by ``finish_summary``."""
    ema = (cfg.get("callbacks") or {}).get("ema")
    return {
        "objective": choices.get("loss"),
        "variant": choices.get("variant"),
        "predictor": choices.get("predictor"),
        # RAFT from −W0 pairs with BYOL' from W0 (Theorem 5.1): the only difference of such a pair
        "negate_init": bool(cfg.predictor.get("negate_init", False)),
        "backbone": cfg.model.backbone.get("name"),
        "data": choices.get("data"),
        "seed": cfg.seed,
        "alpha": float(cfg.loss.get("alpha", 1.0)),
        "beta": float(cfg.loss.get("beta", 1.0)),
        "tangential": bool(cfg.loss.get("tangential", False)),
        "tau": float(ema.tau) if ema is not None else None,
        "lr": float(cfg.optimizer.lr),
        "batch_size": cfg.data.batch_size,
        "max_epochs": cfg.trainer.max_epochs,
        "epochs": 0,
        "align": None,
        "uniform": None,
        "probe_acc": None,
        "knn_acc": None,
        "linear_acc": None,
        "status": "running",
        "error": None,
        "wall_time_s": None,
        "checkpoint": None,
        "resumed_from": None,
        "signal": None,
        "git_sha": git_sha(),
        "versions": versions(),
        "device": None,
    }


def _mean_of_last(rows: list[dict[str, float]], key: str, n: int = LAST_EPOCHS) -> float | None:
    values = [row[key] for row in rows if key in row][-n:]
    return sum(values) / len(values) if values else None


def epoch_results(rows: list[dict[str, float]]) -> dict[str, Any]:
    """The summary's metric fields from the per-epoch rows."""

    def last(key: str) -> float | None:
        values = [row[key] for row in rows if key in row]
        return values[-1] if values else None

    return {
        "epochs": len(rows),
        "align": _mean_of_last(rows, "train/align"),
        "uniform": _mean_of_last(rows, "train/uniform"),
        "probe_acc": last("val/probe_acc"),
        "knn_acc": last("val/knn_acc"),
    }


def write_json(path: Path, obj: Any) -> None:
    """Write atomically: a reader never sees half a file, a crash never leaves one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else None
