"""A sweep's multirun.yaml: how many runs it launches, and each one's overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from raft_lightning.readers.base import DamagedFile, first_line, present, text_of

SWEEP_EXPECTED = "Hydra's multirun.yaml with hydra.overrides and hydra.sweeper.params"
MAX_SWEEP_RUNS = 100_000


def sweep_jobs(config: DictConfig, task: list[str] | None = None, config_loader: Any = None) -> list[list[str]]:
    """The override list of every job Hydra's basic sweeper launches for ``config`` (a multirun's
    composed config, or its multirun.yaml) and its command-line overrides (``task``; by default
    those ``config`` records), in launch order. ``config_loader`` lists a group's options for
    ``group=glob(…)``; by default one over the config folders ``config`` records (``_loader``)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # Hydra's own expansion: no public API
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    task = list(config.hydra.overrides.task) if task is None else task
    loader = config_loader if config_loader is not None else _loader(config)
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params + task)
    count = 1
    for override in parsed:
        if override.is_sweep_override():
            count *= sum(1 for _ in zip(range(MAX_SWEEP_RUNS + 1), override.sweep_iterator()))
        if count > MAX_SWEEP_RUNS:
            raise ValueError(f"more than {MAX_SWEEP_RUNS} runs")
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _loader(config: DictConfig) -> Any:
    """A config loader over this package's configs and the config folders (``file://``) the sweep
    recorded that exist here: what ``glob(…)`` chose from. Recorded ``pkg://`` sources other than
    this package's are left out: naming a module to import is code, and a sweep's file is data."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl  # no public API for a loader
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl

    search_path = ConfigSearchPathImpl()
    search_path.append("hydra", "pkg://hydra.conf")
    search_path.append("main", "pkg://raft_lightning.conf")
    sources = OmegaConf.select(config, "hydra.runtime.config_sources", default=None) or []
    for source in sources:
        path = source.get("path") if isinstance(source, DictConfig) else None
        if source.get("schema") == "file" and isinstance(path, str) and Path(path).is_dir():
            search_path.append(str(source.get("provider") or "file"), f"file://{path}")
    return ConfigLoaderImpl(config_search_path=search_path)


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
