"""What identifies a run: its recorded config (config.yaml, read through ``raft_lightning.readers``,
never resolved nor built) as dotted keys, minus the seed and the keys in ``NOT_IDENTITY``.

The report averages runs over seeds only when their identities are equal, so any setting a run
was given — a key of a new config group, a ``+optimizer.weight_decay=0.1`` — separates it from
runs without it, with no list to keep in step. ``NOT_IDENTITY`` holds only keys that cannot
change a number of the run's record (where it is written, how often it is logged, how it is
resumed); each says why. A key that changes numbers only by round-off (``fast.*``: other
kernels; ``trainer.accelerator``) is kept: same seed, same config → same numbers.
"""

from __future__ import annotations

import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

# A dotted key, or a prefix ending in ".", and why a run's numbers do not depend on it.
NOT_IDENTITY: dict[str, str] = {
    "seed": "the seed: a row is the mean over seeds",
    "data.seed": "${seed} in every data option",
    "tags": "the user's labels",
    "resume": "whether to continue the checkpoint; a resumed run gives the same numbers (tests/test_resume.py)",
    "paths.": "where the run, its logs and its data folder live",
    "logger.": "where metrics are sent",
    "trainer.default_root_dir": "Lightning's log folder: the run folder",
    "trainer.log_every_n_steps": "how often step series are written; the epoch means do not depend on it",
    "trainer.enable_progress_bar": "console output",
    "trainer.enable_model_summary": "console output",
    "callbacks.epoch_metrics.": "where metrics.csv is written",
    "callbacks.preemption.": "which signals checkpoint, and where; a resumed run gives the same numbers",
    "callbacks.checkpoint.": "where and how often last.ckpt is written",
    "callbacks.divergence.check_every_n_steps": "when a diverged run stops; a run that does not diverge is the same",
    "callbacks.knn.every_n_epochs": "how often kNN accuracy is measured; the recorded one is the last epoch's",
    "data.num_workers": "views are a function of (seed, epoch, index), not of the worker that draws them",
    "eval.linear": "whether the linear evaluation ran right after training (raft-linear-eval adds it later, alike)",
    "eval.embeddings": "how many test projections are kept for the figures",
    "eval.literal": "whether linear_acc_literal is measured too; linear_acc is the same either way",
    "record.keep_previous": "whether last.prev.ckpt is kept after a finished run",
    "callbacks.epoch_lines.": "what the batch log prints each epoch",
    "callbacks.monitors.dir": "where spectra.csv and steps.csv are written",
    "callbacks.monitors.every_n_epochs": "how often the monitors measure; the recorded values are the last epoch's",
    "callbacks.monitors.dense_steps": "how many steps.csv rows are dense; training is bitwise the same",
}


def _hashable(value: Any) -> Any:
    """A config leaf as a comparable value: numbers as floats (``1`` and ``1.0`` are one setting),
    lists as JSON text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return json.dumps(value, sort_keys=True, default=str)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1.0}``; an empty mapping is a leaf (``{}``), lists are leaves."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out |= flatten(value, f"{prefix}{key}.")
        return out
    return {prefix[:-1]: _hashable(node)}


def excluded(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in NOT_IDENTITY)


def identity(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The config's identity: dotted key → value, sorted, without the ``NOT_IDENTITY`` keys."""
    return {k: v for k, v in sorted(flatten(cfg).items()) if not excluded(k)}
