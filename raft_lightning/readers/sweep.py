"""A sweep's multirun.yaml: how many runs it launches, and each one's overrides."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from raft_lightning.readers.base import DamagedFile, first_line, present, text_of

SWEEP_EXPECTED = "Hydra's multirun.yaml with hydra.overrides and hydra.sweeper.params"
MAX_SWEEP_RUNS = 100_000


def sweep_jobs(config: DictConfig, task: list[str] | None = None) -> list[list[str]]:
    """The override list of every job Hydra's basic sweeper launches for ``config`` (a multirun's
    composed config, or its multirun.yaml) and its command-line overrides (``task``; by default
    those ``config`` records), in launch order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # Hydra's own expansion: no public API
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    task = list(config.hydra.overrides.task) if task is None else task
    parsed = OverridesParser.create().parse_overrides(params + task)
    count = 1
    for override in parsed:
        if override.is_sweep_override():
            count *= sum(1 for _ in zip(range(MAX_SWEEP_RUNS + 1), override.sweep_iterator()))
        if count > MAX_SWEEP_RUNS:
            raise ValueError(f"more than {MAX_SWEEP_RUNS} runs")
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def expected_runs(sweep_dir: str | Path) -> int | None:
    """How many runs the sweep in ``sweep_dir`` launches, from Hydra's multirun.yaml (None for a
    plain folder of runs). Raises ``DamagedFile`` when multirun.yaml cannot be read as one."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not present(path, sweep_dir, SWEEP_EXPECTED):
        return None
    try:
        return len(sweep_jobs(OmegaConf.create(text_of(path, SWEEP_EXPECTED))))
    except DamagedFile:
        raise
    except (Exception, RecursionError) as e:  # yaml, omegaconf, Hydra's parser: no common base
        raise DamagedFile(path, first_line(e), SWEEP_EXPECTED) from None
