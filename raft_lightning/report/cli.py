"""Tables and figures from a sweep: ``raft-report <sweep dir> [--out DIR]`` (or ``python -m raft_lightning.report``).

Reads every summary.json (and metrics.csv, embeddings.pt) under the directory and writes
- table1.md / table1.csv: one row per setting (rows.SETTING_KEYS: everything but the seed) with
  α = β = 1, L_align, L_uniform, probe / kNN / linear accuracy as mean ± sample std over seeds,
  the number of seeds and the paper's CIFAR-10 figure where it survives; collapsed rows marked by
  the rule in conf/report.yaml; the settings all rows share in a header line, the varying ones
  as columns (the csv has every key);
- table3.md / table3.csv where α, β vary;
- trajectories.png/.pdf (Figures 4/5: L_align and L_uniform per epoch), trajectories_alpha_beta
  where α, β vary, and representations.png/.pdf (Figure 3: test projections, PCA to 2-D, on the
  circle, coloured by class, with a density ring) for the rows whose runs have an embeddings.pt;
  the notes name the rows without one.
Runs that failed, diverged, are still running or never started are listed, never averaged in.

``raft-report DIR --compare A B`` instead prints, per metric, A − B with its 95 % interval and
Welch's p-value over seeds (rows by their label as the tables print it, or by 0-based index).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from omegaconf import DictConfig

from raft_lightning.conf import CONF_DIR
from raft_lightning.files import SUMMARY_FILE, NotWritten
from raft_lightning.lock import FolderBusy, FolderLock
from raft_lightning.readers import DamagedFile, SizeUnknown, expected_runs, printable
from raft_lightning.report.compare import SameRow, UnknownRow, compare
from raft_lightning.report.embeddings import attach_embeddings
from raft_lightning.report.rows import Run, aggregate, load_runs, split
from raft_lightning.report.settings import SettingsError, load_settings
from raft_lightning.report.tables import curve_notes, embeddings_notes, status_notes, write_table

DEFAULT_CONFIG = CONF_DIR / "report.yaml"


def report(sweep_dir: Path, out_dir: Path, cfg: DictConfig) -> list[Path]:
    """Writes the tables and figures of the runs under ``sweep_dir`` to ``out_dir`` (holding its
    lock); the paths written. Damaged files make their run listed, not the report stop; raises
    ``NothingToReport`` when no run could be read at all."""
    runs = load_runs(sweep_dir)
    readable = [run for run in runs if run.summary.get("status") != "unreadable"]
    if not readable:
        found = f"{len(runs)} summary.json, none readable" if runs else f"no {SUMMARY_FILE}"
        raise NothingToReport(f"{sweep_dir}: {found}" + "".join(f"\n  {run.problem}" for run in runs[:5]))
    if not any(run.summary.get("status") == "ok" for run in readable):  # no row: a table would say nothing
        raise NothingToReport(no_ok_run(sweep_dir, runs))
    out_dir.mkdir(parents=True, exist_ok=True)
    with FolderLock(out_dir):
        rows = aggregate(runs, cfg.collapse, cfg.objective_order)
        attach_embeddings(rows, cfg.figures.max_points)
        plain, varying = split(rows)
        try:
            expected = expected_runs(sweep_dir)
            sweep_note = []
        except (DamagedFile, SizeUnknown) as e:
            expected, sweep_note = None, [f"- the sweep's size is unknown: {e}"]
        from raft_lightning.report.figures import representations, trajectories  # matplotlib only when needed
        from raft_lightning.report.training import training_figures

        figures, skipped = [], []
        for name, draw in (
            ("trajectories", lambda: (trajectories(plain, varying, out_dir), [])),
            ("representations", lambda: (representations(rows, out_dir, cfg.figures), [])),
            (
                "the monitors' figures (accuracy, rank, first_steps, spectra)",
                lambda: training_figures(plain, varying, rows, out_dir, cfg.figures),
            ),
        ):
            try:
                drawn = draw()
            except (ValueError, OverflowError, FloatingPointError) as e:
                # Numbers a run's files may hold that matplotlib cannot lay out (finite values
                # near the float maximum overflow its axis limits): the tables hold them.
                what = f"{name}.png was" if " " not in name else f"{name} were"
                skipped.append(f"{what} not drawn: its numbers cannot be plotted ({type(e).__name__})")
                continue
            figures += drawn[0]
            skipped += drawn[1]  # what was not drawn for want of data (the monitors' figures say which)
        notes = status_notes(runs, expected) + sweep_note + embeddings_notes(rows) + curve_notes(rows)
        notes += [f"- {s}" for s in skipped]
        written = []
        if plain:
            written += write_table(plain, out_dir / "table1", cfg, notes)
        if varying:
            written += write_table(varying, out_dir / "table3", cfg, notes)
        written += figures
    return written


class NothingToReport(RuntimeError):
    """No run under the folder could be read, or none has finished ok."""


def no_ok_run(sweep_dir: Path, runs: list[Run]) -> str:
    """Why there is no table: the runs found (and how many the sweep launches), each with its status."""
    try:
        expected = expected_runs(sweep_dir)
    except (DamagedFile, SizeUnknown):
        expected = None
    return f"{sweep_dir}: no run has finished ok; {status_notes(runs, expected)[0]}" + "".join(map(_status_line, runs))


def _status_line(run: Run) -> str:
    status = run.summary.get("status")
    lines = str(run.summary.get("error") or "").strip().splitlines()
    why = run.problem if status == "unreadable" else lines[-1] if lines else ""
    return f"\n  {run.path}: {status}" + (f": {printable(why)}" if why else "")


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 tables written (runs that could not be read are listed in them); 1 nothing
    readable, no run finished ok (each listed with its status), or the output folder cannot be
    written (one line says why); 2 a bad command line
    (with ``--compare``: a name no row or several rows have, or two names of one row; the line
    lists the names) or a bad ``--config`` (one line per problem, nothing read or written)."""
    parser = argparse.ArgumentParser(prog="raft-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or any folder of runs)")
    parser.add_argument("--out", type=Path, help="where to write tables and figures (default: the sweep directory)")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("ROW_A", "ROW_B"),
        help="print A − B per metric, its 95 %% interval and Welch p-value (rows by label or index); writes nothing",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="collapse thresholds, the paper's figures, row order, figure settings (merged over the defaults)",
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"{args.sweep_dir} is not a directory")
    try:
        cfg = load_settings(DEFAULT_CONFIG, args.config)
    except SettingsError as e:  # one line per problem, all of them, before anything is read
        print("\n".join(f"raft-report: {line}" for line in e.errors), file=sys.stderr)
        return 2
    if args.compare:
        return _compare(args.sweep_dir, cfg, *args.compare)
    try:
        written = report(args.sweep_dir, args.out or args.sweep_dir, cfg)
    except (NothingToReport, FolderBusy, OSError) as e:
        out = args.out or args.sweep_dir  # an OSError that names no file (none should): the folder written to
        reason = e if not isinstance(e, OSError) or isinstance(e, NotWritten) else f"{e.filename or out}: {e.strerror}"
        print(f"raft-report: {reason}", file=sys.stderr)
        return 1
    for path in written:
        if path.suffix == ".md":
            print(path.read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in written))
    return 0


def _compare(sweep_dir: Path, cfg: DictConfig, a: str, b: str) -> int:
    runs = load_runs(sweep_dir)
    rows = aggregate(runs, cfg.collapse, cfg.objective_order)
    if not rows:
        print(
            f"raft-report: {no_ok_run(sweep_dir, runs) if runs else f'{sweep_dir}: no {SUMMARY_FILE}'}", file=sys.stderr
        )
        return 1
    plain, varying = split(rows)
    printed = plain + [r for r in varying if all(r is not p for p in plain)]  # Table 1's, then Table 3's others
    try:
        lines = compare(printed, a, b)
    except (UnknownRow, SameRow) as e:
        print(f"raft-report: --compare: {e}", file=sys.stderr)
        return 2
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # the reader stopped reading (| head): what was asked was done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush would raise again
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
