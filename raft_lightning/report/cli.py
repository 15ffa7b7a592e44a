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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from raft_lightning.conf import CONF_DIR
from raft_lightning.files import SUMMARY_FILE, expected_runs
from raft_lightning.report.rows import aggregate, load_runs, split
from raft_lightning.report.tables import embeddings_notes, status_notes, write_table

DEFAULT_CONFIG = CONF_DIR / "report.yaml"


def report(sweep_dir: Path, out_dir: Path, cfg: DictConfig) -> list[Path]:
    """Writes the tables and figures of the runs under ``sweep_dir`` to ``out_dir``; the paths written."""
    runs = load_runs(sweep_dir)
    if not runs:
        raise SystemExit(f"raft-lightning report: no {SUMMARY_FILE} under {sweep_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = aggregate(runs, cfg.collapse, cfg.objective_order)
    plain, varying = split(rows)
    notes = status_notes(runs, expected_runs(sweep_dir)) + embeddings_notes(rows)
    written = []
    if plain:
        written += write_table(plain, out_dir / "table1", cfg, notes)
    if varying:
        written += write_table(varying, out_dir / "table3", cfg, notes)
    from raft_lightning.report.figures import representations, trajectories  # matplotlib only when needed

    written += trajectories(plain, varying, out_dir)
    written += representations(rows, out_dir, cfg.figures)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="raft-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or any folder of runs)")
    parser.add_argument("--out", type=Path, help="where to write tables and figures (default: the sweep directory)")
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="collapse thresholds, the paper's figures, row order, figure settings (merged over the defaults)",
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"{args.sweep_dir} is not a directory")
    cfg = OmegaConf.merge(OmegaConf.load(DEFAULT_CONFIG), OmegaConf.load(args.config))
    written = report(args.sweep_dir, args.out or args.sweep_dir, cfg)
    for path in written:
        if path.suffix == ".md":
            print(path.read_text())
    print("written:\n  " + "\n  ".join(str(p) for p in written))


if __name__ == "__main__":
    main(sys.argv[1:])
