"""How a command ends: every run's outcome, the sweep's closing lines, and one exit status.

The sweeper (``hydra_plugins/raft_lightning_sweeper``, Hydra's basic sweeper with one change)
keeps each job's outcome — the status its run returned, from this process or from a SLURM job
through submitit — instead of letting a job that raised stop the sweep, and ``closing_lines``
say how the sweep went. ``exit_status`` turns the outcomes of the command into its exit status:

    0        every run ok or diverged (a diverged run is a result), or already finished
    1        a run failed, or was refused (its folder holds another run, or is in use)
    2        a bad command line or config: nothing was started (raft_lightning.run.command_line)
    128 + n  a signal n stopped a run after its checkpoint (the shell shows the signal itself)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

from raft_lightning.files import write_atomically
from raft_lightning.readers import DamagedFile, read_summary
from raft_lightning.run.console import differing_keys, sweep_lines
from raft_lightning.run.tracking import SWEPT

OK_STATUSES = ("ok", "diverged")


@dataclass
class Outcome:
    job: int  # the job's number in the sweep (0 for a single run)
    status: str
    run_dir: Path | None
    error: str | None = None
    overrides: tuple[str, ...] = ()  # the job's own overrides: what tells it apart from the sweep's other runs


OUTCOMES: list[Outcome] = []  # this process's runs, in the order they ended


def exit_status(outcomes: list[Outcome]) -> int:
    if not outcomes:
        return 1
    return 0 if all(o.status in OK_STATUSES for o in outcomes) else 1


def _outcome(num: int, ret: JobReturn) -> Outcome:
    run_dir = None
    if ret.hydra_cfg is not None:
        run_dir = Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
    overrides = tuple(ret.overrides or ())
    value = ret._return_value
    if ret.status == JobStatus.COMPLETED and isinstance(value, dict) and isinstance(value.get("status"), str):
        return Outcome(num, value["status"], run_dir, value.get("error"), overrides)
    error = ret._return_value if ret.status == JobStatus.FAILED else "no status returned"
    error = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return Outcome(num, "failed", run_dir, error, overrides)


def swept_keys_override(jobs: list[tuple[str, ...]]) -> str | None:
    """The Hydra override that tells every job which of its overrides tell it apart from the
    sweep's other jobs (``run.tracking.run_name``), or None when nothing differs. Override keys
    are plain names (``loss.beta``, ``+callbacks.x.y``): quoted, they need no escaping."""
    keys = differing_keys(jobs)
    return f"++hydra.job.env_set.{SWEPT}='{' '.join(keys)}'" if keys else None


def record(num: int, ret: JobReturn) -> None:
    OUTCOMES.append(_outcome(num, ret))


SWEEP_FILE = "multirun.yaml"  # Hydra's: what the sweep in a folder launches (readers.sweep)


def sweep_file_before(sweep_dir: Path) -> bytes | None:
    """The folder's multirun.yaml before Hydra writes this sweep's over it (None if none)."""
    try:
        return (sweep_dir / SWEEP_FILE).read_bytes()
    except OSError:
        return None


def keep_sweep_file(sweep_dir: Path, before: bytes | None, outcomes: list[Outcome]) -> None:
    """A sweep none of whose runs started (each refused: its folder holds another run, or is in
    use) leaves the folder as it found it: the multirun.yaml that describes the runs there."""
    if before is not None and outcomes and all(o.status == "refused" for o in outcomes):
        write_atomically(sweep_dir / SWEEP_FILE, before)


def closing_lines(outcomes: list[Outcome], sweep_dir: Path) -> None:
    """Print the sweep's closing lines (stdout) and the runs that did not finish (stderr)."""
    outcomes = sorted(outcomes, key=lambda o: o.job)
    summaries = []
    for o in outcomes:
        try:
            summary = read_summary(o.run_dir) if o.run_dir is not None else None
        except DamagedFile as e:
            summary = {"status": "unreadable", "error": str(e)}
        if summary is None or o.status == "refused":
            summary = {"status": o.status, "error": o.error}
        summaries.append((o, summary))
    print("\n".join(sweep_lines(summaries, sweep_dir)))
    failed = [(o, s) for o, s in summaries if o.status not in OK_STATUSES]
    if failed:
        lines = [f"  #{o.job} {o.run_dir}: {o.status}: {last_line(s.get('error') or o.error)}" for o, s in failed]
        print(f"raft-lightning: {len(failed)} run(s) did not finish:\n" + "\n".join(lines), file=sys.stderr)


def last_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[-1] if lines else ""
