"""``python -m experiments.fashion_mnist [--logs logs] [--out results/fashion_mnist]``: copy each
sweep's run records out of ``logs/``, run the report over the copies, write the provenance."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from experiments.fashion_mnist.claims import claims
from raft_lightning.files import CONFIG_FILE, EMBEDDINGS_FILE, METRICS_FILE, SPECTRA_FILE, STEPS_FILE, SUMMARY_FILE
from raft_lightning.readers import expected_runs, read_summary
from raft_lightning.report.cli import DEFAULT_CONFIG, report

ROOT = Path(__file__).resolve().parents[2]
MONITOR_FIGURES = ["accuracy", "rank", "first_steps", "spectra"]  # the report's, from steps.csv and spectra.csv
# results folder → (the sweep's folder under logs/, the report's outputs it keeps)
TABLES = {
    "table1": ("table1_fmnist", ["table1.md", "table1.csv", "trajectories", "representations"]),
    # The Table 3 sweep has β = 1 too; the report's Table 1 of those two rows (and its trajectories)
    # would only repeat table1/, so table3/ keeps the outputs over (α, β).
    "table3": ("table3_fmnist", ["table3.md", "table3.csv", "trajectories_alpha_beta", "representations"]),
    # Claim 3 at the paper's step count: BYOL-LPI alone, 100 epochs, seed 0.
    "byol_lpi_long": ("byol_lpi_long_fmnist", ["table1.md", "table1.csv", "trajectories", "representations"]),
    # `make demo` (logs/demo): one seed of four rows, with the collapse monitors' figures (docs/demo.md).
    "demo": ("demo", ["table1.md", "table1.csv", "trajectories", "representations", *MONITOR_FIGURES]),
    # Issue 23's sweeps (experiments/fashion_mnist/claims.sh, logs/claims/<sweep>), each published
    # once all its runs are ok: Table 1 with SimSiam, DirectPred, the monitors and both linear protocols.
    "claims/table1": (
        "claims/table1",
        ["table1.md", "table1.csv", "trajectories", "representations", *MONITOR_FIGURES],
    ),
    "claims/table3": ("claims/table3", ["table3.md", "table3.csv", "trajectories_alpha_beta", "representations"]),
    # Claim 3 at the paper's τ = 0.996, BYOL-LP and BYOL-LPI: first_steps is its first 500 steps.
    "claims/claim3": ("claims/claim3", ["table1.md", "table1.csv", "trajectories", *MONITOR_FIGURES]),
    # Tangential BYOL′-LP and RAFT-LP, each from W and from −W: Theorem 5.1's pairs side by side.
    "claims/tangential": ("claims/tangential", ["table1.md", "table1.csv", "trajectories"]),
    # Figure 5a: BYOL′ without a predictor over Table 3's β grid (L_align and L_uniform against β).
    "claims/fig5a": ("claims/fig5a", ["table3.md", "table3.csv", "trajectories_alpha_beta"]),
    # Claim 7: BYOL-LP and BYOL-MLP for 100 epochs; the trajectories are the curves c7's slopes fit.
    "claims/long": ("claims/long", ["table1.md", "table1.csv", "trajectories", *MONITOR_FIGURES]),
}
CLAIMS_FILE = "claims.md"
# Where the tables before the claims sweeps ran, as their collect step wrote it (2026-12-01/03),
# before summary.json named the CPU: the provenance page keeps it, the records cannot.
EARLIER = ("table1", "table3", "byol_lpi_long", "demo")
EARLIER_MACHINE = "a 2-core AMD EPYC, Linux, Python 3.11.7"
RUN_FILES = (SUMMARY_FILE, METRICS_FILE, CONFIG_FILE, STEPS_FILE, SPECTRA_FILE)
FIGURE_SEED = 0  # embeddings.pt (1 MB a run) is kept for this seed only: the figures use a row's first run
SWEEP_FILE = "multirun.yaml"  # the report reads how many runs the sweep has from it


def collect(sweep_dir: Path, out_dir: Path) -> int:
    """Copies every run's small files (and seed 0's embeddings) to ``out_dir/runs``; the number of runs."""
    runs_dir = out_dir / "runs"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)  # a rerun replaces the copies: none may outlive its run
    runs_dir.mkdir(parents=True)
    shutil.copy2(sweep_dir / SWEEP_FILE, runs_dir / SWEEP_FILE)
    count = 0
    for summary in sorted(sweep_dir.rglob(SUMMARY_FILE)):
        run = summary.parent
        dest = runs_dir / run.relative_to(sweep_dir)
        dest.mkdir(parents=True)
        names = RUN_FILES + ((EMBEDDINGS_FILE,) if (read_summary(run) or {}).get("seed") == FIGURE_SEED else ())
        for name in names:
            if (run / name).is_file():
                shutil.copy2(run / name, dest / name)
        count += 1
    return count


def unfinished(sweep_dir: Path) -> str | None:
    """Why the sweep in ``sweep_dir`` cannot be published yet (None: every run it has is there and ok)."""
    if not (sweep_dir / SWEEP_FILE).is_file():
        return f"no sweep at {sweep_dir} (experiments/fashion_mnist/run.sh runs it)"
    statuses = Counter((read_summary(p.parent) or {}).get("status") for p in sweep_dir.rglob(SUMMARY_FILE))
    expected = expected_runs(sweep_dir)
    if statuses["ok"] != expected:
        found = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=str))
        return f"{statuses['ok']} of its {expected} runs are ok ({found or 'none found'}); rerun the sweep to finish it"
    return None


def keep_only(out_dir: Path, kept: list[str]) -> None:
    """Removes the report's outputs in ``out_dir`` that this table does not publish."""
    for path in out_dir.iterdir():
        if path.is_file() and path.stem not in kept and path.name not in kept:
            path.unlink()


def provenance(out: Path) -> str:
    """results/fashion_mnist/README.md: commands, machine, wall time and runs of each table."""
    lines = [
        "# Fashion-MNIST results: provenance",
        "",
        "Written by `python -m experiments.fashion_mnist` (the collect step of `experiments/fashion_mnist/run.sh`);",
        "the tables and figures beside this file are the report over the copies in each `runs/` folder",
        "(`tests/test_results.py` rebuilds the tables from them). The discussion is in the project README,",
        '"Results on Fashion-MNIST".',
        "",
        "Machines: each table's runs name their CPU in summary.json (`device`) since 2026-12-04; the",
        f"sweeps of {', '.join(EARLIER)}, older, say only `cpu`: they ran on {EARLIER_MACHINE}.",
        "",
    ]
    for table in TABLES:
        if not (out / table / "runs").is_dir():
            lines += [f"## {table}", "", "Not published yet: its sweep has not finished.", ""]
            continue
        summaries = [read_summary(p.parent) or {} for p in sorted((out / table / "runs").rglob(SUMMARY_FILE))]
        statuses = Counter(s.get("status") for s in summaries)
        walls = [s["wall_time_s"] for s in summaries if s.get("wall_time_s")]
        resumed = sum(1 for s in summaries if s.get("resumed_from"))
        devices = Counter(str(s.get("device")) for s in summaries)
        command = invocation(out / table / "runs" / SWEEP_FILE)
        lines += [
            f"## {table}",
            "",
            "The sweep's last invocation (from `runs/multirun.yaml`), and the report over the copies:",
            "",
            "```",
            *(["experiments/slurm/local_cluster.sh start"] if "launcher=slurm" in command else []),
            command,
            f"raft-report {table}/runs --out {table}",
            "```",
            "",
            f"- runs: {len(summaries)} ({', '.join(f'{n} {k}' for k, n in sorted(statuses.items()))}), "
            f"{resumed} of them resumed from a checkpoint after an interruption",
            f"- wall time of a run's last attempt: {sum(walls) / max(len(walls), 1):.0f} s on average, "
            f"{sum(walls) / 3600:.2f} h in all",
            f"- code: {', '.join(sorted({str(s.get('git_sha'))[:10] for s in summaries}))}",
            f"- devices (summary.json): {', '.join(f'{d} × {n}' for d, n in sorted(devices.items()))}",
            f"- versions: {', '.join(sorted({versions(s) for s in summaries}))}",
            "",
        ]
    return "\n".join(lines)


def invocation(sweep_file: Path) -> str:
    """The command line of the sweep's last invocation, as Hydra recorded it."""
    overrides = OmegaConf.load(sweep_file).hydra.overrides
    words = [*overrides.task, *(o for o in overrides.hydra if o != "hydra.mode=MULTIRUN")]
    return " ".join(["raft-train", "-m", *(shlex.quote(w) for w in words)])


def versions(summary: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in sorted((summary.get("versions") or {}).items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.fashion_mnist", description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, default=ROOT / "logs", help="where the sweeps ran (default: logs/)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "fashion_mnist")
    args = parser.parse_args(argv)
    if not args.logs.is_dir():
        print(f"--logs={args.logs}: not a folder (the sweeps' logs/, with e.g. table1_fmnist/)", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"--out={args.out}: not a folder (results/fashion_mnist, or a new one)", file=sys.stderr)
        return 2
    cfg = OmegaConf.load(DEFAULT_CONFIG)
    for table, (sweep, kept) in TABLES.items():
        sweep_dir, out_dir = args.logs / sweep, args.out / table
        problem = unfinished(sweep_dir)
        if problem:  # the committed copy, if any, stays as it is
            print(f"{table}: not published: {problem}")
            continue
        n = collect(sweep_dir, out_dir)
        report(out_dir / "runs", out_dir, cfg)
        keep_only(out_dir, kept)
        print(f"{table}: {n} runs from {sweep_dir} → {out_dir}")
    args.out.mkdir(parents=True, exist_ok=True)
    if (args.out / "table1" / "runs").is_dir():  # claims.md reads the earlier Table 1 (its random row) first
        (args.out / CLAIMS_FILE).write_text(claims(args.out))
    else:
        print(f"{CLAIMS_FILE}: not written: table1 is not published in {args.out}")
    (args.out / "README.md").write_text(provenance(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
