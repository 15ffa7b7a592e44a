"""Hydra callbacks: check every run of a sweep before the first one starts, and give the sweep
an exit code that says whether a run failed (a diverged run is a result, not a failure)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from raft_lightning.files import SUMMARY_FILE, read_summary, sweep_jobs
from raft_lightning.run.console import sweep_lines
from raft_lightning.run.guard import REFUSED
from raft_lightning.run.validation import config_errors

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class SweepGuard(Callback):
    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
            return
        # The ${hydra:...} resolver reads this singleton; the launcher sets it again per job.
        HydraConfig.instance().set_config(config)
        problems: dict[str, list[int]] = {}
        try:
            jobs = sweep_jobs(config)
            for num, overrides in enumerate(jobs):
                job_cfg = compose(
                    config_name=config.hydra.job.config_name, overrides=overrides, return_hydra_config=True
                )
                for message in config_errors(job_cfg, dict(job_cfg.hydra.runtime.choices)):
                    problems.setdefault(message, []).append(num)
        except Exception as e:  # Hydra would turn it into a warning and launch regardless
            print(f"raft-lightning: cannot compose the sweep's runs: {type(e).__name__}: {e}", file=sys.stderr)
            raise SystemExit(2) from e
        if problems:
            lines = [
                f"raft-lightning: {len(problems)} problem(s) in the sweep's {len(jobs)} runs; nothing was started."
            ]
            for message, nums in problems.items():
                which = "every run" if len(nums) == len(jobs) else "runs " + ", ".join(f"#{n}" for n in nums)
                lines.append(f"  {message}   ({which})")
            print("\n".join(lines), file=sys.stderr)
            raise SystemExit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        summaries = {p.parent: read_summary(p.parent) or {} for p in self._written(sweep_dir)}
        if summaries:
            print("\n".join(sweep_lines(summaries, sweep_dir)))
        self._exit_if_failed(sweep_dir)

    def _written(self, root: Path) -> list[Path]:
        """The summaries this invocation wrote (a rerun of a sweep finds earlier ones too)."""
        return [p for p in sorted(root.rglob(SUMMARY_FILE)) if p.stat().st_mtime >= self.started - 1]

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._exit_if_failed(Path(config.hydra.run.dir), quiet=True)  # train() has logged the error

    def _exit_if_failed(self, root: Path, quiet: bool = False) -> None:
        failed = []
        for path in self._written(root):
            summary = read_summary(path.parent) or {}
            if summary.get("status") == "failed":
                error = str(summary.get("error")).strip().splitlines()[-1]
                failed.append(f"  {path.parent}: {error}")
        failed += [f"  refused: {message}" for message in REFUSED]
        REFUSED.clear()
        if failed:
            if not quiet:  # (a single run has logged its error already)
                print(f"raft-lightning: {len(failed)} run(s) failed:\n" + "\n".join(failed), file=sys.stderr)
            raise SystemExit(1)
