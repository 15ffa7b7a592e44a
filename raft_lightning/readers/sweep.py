"""A sweep's multirun.yaml: how many runs it launches, and each one's overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

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
    loader = config_loader
    if loader is None:
        loader, unavailable = _loader(config)
        globs = glob_overrides(params + task)
        if globs and unavailable:
            raise SizeUnknown(f"{', '.join(globs)} chose from {unavailable}")
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params + task)
    count = 1
    for override in parsed:
        if override.is_sweep_override():
            count *= sum(1 for _ in zip(range(MAX_SWEEP_RUNS + 1), override.sweep_iterator()))
        if count > MAX_SWEEP_RUNS:
            raise ValueError(f"more than {MAX_SWEEP_RUNS} runs")
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


class SizeUnknown(Exception):
    """The sweep's size cannot be told here (a ``glob(…)`` over config folders not on this machine)."""


def _loader(config: DictConfig) -> tuple[Any, str | None]:
    """A config loader over this package's configs and the config folders (``file://``) the sweep
    recorded: what ``glob(…)`` chose from. Recorded ``pkg://`` sources other than this package's
    are left out: naming a module to import is code, and a sweep's file is data. With it, where
    the options may lie that are not here (a glob over them cannot be expanded again), or None."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl  # no public API for a loader
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra.core.plugins import Plugins

    Plugins.instance()  # registers the config source types (pkg://, file://): a fresh process has none
    search_path = ConfigSearchPathImpl()
    search_path.append("hydra", "pkg://hydra.conf")
    search_path.append("main", "pkg://raft_lightning.conf")
    sources = OmegaConf.select(config, "hydra.runtime.config_sources", default=None)
    missing = []
    for source in sources if isinstance(sources, ListConfig) else []:
        path = source.get("path") if isinstance(source, DictConfig) else None
        if not isinstance(source, DictConfig) or source.get("schema") != "file" or not isinstance(path, str):
            continue
        if Path(path).is_dir():
            search_path.append(str(source.get("provider") or "file"), f"file://{path}")
        else:
            missing.append(path)
    if not isinstance(sources, ListConfig):
        unavailable: str | None = "config folders it does not record"
    else:
        unavailable = f"config folders not here ({', '.join(missing)})" if missing else None
    return ConfigLoaderImpl(config_search_path=search_path), unavailable


def glob_overrides(overrides: list[str]) -> list[str]:
    """The overrides that choose a group's options by pattern, ``group=glob(…)``."""
    return [o for o in overrides if "glob(" in o.partition("=")[2]]


def expected_runs(sweep_dir: str | Path) -> int | None:
    """How many runs the sweep in ``sweep_dir`` launches, from Hydra's multirun.yaml (None for a
    plain folder of runs). Raises ``DamagedFile`` when multirun.yaml cannot be read as one, and
    ``SizeUnknown`` when its ``glob(…)`` cannot be expanded here as it was where it ran."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not present(path, sweep_dir, SWEEP_EXPECTED):
        return None
    try:
        count = len(sweep_jobs(OmegaConf.create(text_of(path, SWEEP_EXPECTED))))
    except (DamagedFile, SizeUnknown):
        raise
    except (Exception, RecursionError) as e:  # yaml, omegaconf, Hydra's parser: no common base
        raise DamagedFile(path, first_line(e), SWEEP_EXPECTED) from None
    if count == 0:  # Hydra launches no sweep of no runs: its glob(…) matched nothing here
        raise SizeUnknown(f"{path}: its overrides expand to no run here")
    return count
