"""The claims sweeps' finished runs, kept in the repository while the sweeps are still running.

``python -m experiments.fashion_mnist.keep save``: every finished (``ok``) run of each claims sweep
under ``logs/claims/`` is copied, records only (no checkpoints), to
``results/fashion_mnist/claims/<sweep>/runs/``, where it can be committed.
``python -m experiments.fashion_mnist.keep restore``: every kept run whose folder under ``logs/``
has no record is copied back. A restored folder holds the run's config.yaml and its ``ok``
summary.json, so the sweep's next invocation skips it as finished (the guard compares the recorded
config, ``raft_lightning/run/guard.py``): ``logs/`` may be lost between sessions, the finished
runs are not. An unfinished run is never kept: it resumes from its checkpoint in ``logs/`` or,
where that is gone, starts again.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from experiments.fashion_mnist.__main__ import FIGURE_SEED, RUN_FILES, SWEEP_FILE
from raft_lightning.files import (
    EMBEDDINGS_FILE,
    SPECTRA_FILE,
    STEPS_FILE,
    SUMMARY_FILE,
)
from raft_lightning.readers import read_summary

ROOT = Path(__file__).resolve().parents[2]
SWEEPS = ("table1", "table3", "claim3", "tangential", "fig5a", "long")  # logs/claims/<name>: experiment=claims_<name>
# The collect step's files, and the monitors' two (the claims read steps.csv and spectra.csv too).
RECORD_FILES = (*RUN_FILES, STEPS_FILE, SPECTRA_FILE)


def finished(run: Path) -> bool:
    return (read_summary(run) or {}).get("status") == "ok"


def copy_run(run: Path, dest: Path) -> None:
    """The run's records, written beside one another and moved into place last, so that a
    kept folder is whole or absent."""
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    seed = (read_summary(run) or {}).get("seed")
    for name in RECORD_FILES + ((EMBEDDINGS_FILE,) if seed == FIGURE_SEED else ()):
        if (run / name).is_file():
            shutil.copy2(run / name, partial / name)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def save(logs: Path, kept: Path, sweeps: tuple[str, ...] = SWEEPS) -> dict[str, int]:
    """Copies the finished runs of ``sweeps`` under ``logs`` that ``kept`` lacks or holds older
    (claims.sh saves each chain's own sweeps: two savers never copy the same run)."""
    counts = {}
    for sweep in sweeps:
        source, target = logs / sweep, kept / sweep / "runs"
        if not (source / SWEEP_FILE).is_file():
            continue
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / SWEEP_FILE, target / SWEEP_FILE)
        counts[sweep] = 0
        for summary in sorted(source.rglob(SUMMARY_FILE)):
            run = summary.parent
            dest = target / run.relative_to(source)
            if finished(run):
                record = dest / SUMMARY_FILE
                if not (record.is_file() and record.read_bytes() == summary.read_bytes()):
                    copy_run(run, dest)
                counts[sweep] += 1
    return counts


def restore(kept: Path, logs: Path) -> dict[str, int]:
    """Copies every kept run back into ``logs`` where its folder holds no record."""
    counts = {}
    for sweep in SWEEPS:
        source, target = kept / sweep / "runs", logs / sweep
        if not (source / SWEEP_FILE).is_file():
            continue
        counts[sweep] = 0
        for summary in sorted(source.rglob(SUMMARY_FILE)):
            dest = target / summary.parent.relative_to(source)
            if not (dest / SUMMARY_FILE).is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                copy_run(summary.parent, dest)
                counts[sweep] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.fashion_mnist.keep", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("sweeps", nargs="*", metavar="SWEEP", help=f"of {', '.join(SWEEPS)} (default: all)")
    parser.add_argument("--logs", type=Path, default=ROOT / "logs" / "claims", help="the sweeps (default: logs/claims)")
    parser.add_argument("--kept", type=Path, default=ROOT / "results" / "fashion_mnist" / "claims")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sweeps if s not in SWEEPS]
    if unknown:
        parser.error(f"sweep {unknown[0]!r}: choose from {', '.join(SWEEPS)}")
    if args.action == "save":
        counts = save(args.logs, args.kept, tuple(args.sweeps) or SWEEPS)
    else:
        counts = restore(args.kept, args.logs)
    verb = "finished runs kept in" if args.action == "save" else "runs restored into"
    for sweep, n in counts.items():
        print(f"{sweep}: {n} {verb} {(args.kept if args.action == 'save' else args.logs) / sweep}")


if __name__ == "__main__":
    main(sys.argv[1:])
