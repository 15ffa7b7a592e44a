"""python -m experiments.faults [--only bad|faults|families] [--family NAME] [--jobs N] [--out faults.json]"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import re
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from experiments.faults import bad_inputs, cases, damaged, exits, filesystems, folders, kit, untrusted
from experiments.faults.harness import Outcome
from raft_lightning.run.provenance import code_version, cpu_model

S = signal.Signals
FAULTS = {
    "last.ckpt truncated": cases._damage("truncated"),
    "last.ckpt random bytes": cases._damage("random bytes"),
    "last.ckpt empty": cases._damage("empty"),
    "both checkpoints damaged": cases.both_damaged,
    "SIGKILL during a checkpoint write, run folder on another filesystem": cases.kill_during_write,
    "SIGKILL mid-epoch": cases.sigkill_mid_epoch,
    **{f"{s.name} mid-epoch": cases._signal_mid_epoch(s) for s in (S.SIGTERM, S.SIGUSR1, S.SIGUSR2, S.SIGINT)},
    **{f"{s.name} at start-up": cases._signal_at_startup(s) for s in (S.SIGTERM, S.SIGUSR1, S.SIGINT)},
    **{
        f"{s.name} during the linear evaluation": cases._signal_in_linear_eval(s)
        for s in (S.SIGTERM, S.SIGUSR1, S.SIGINT)
    },
    "SIGTERM during the random baseline's validation": cases.signal_in_baseline_validation,
    "SIGTERM between the jobs of a local sweep": cases.signal_between_sweep_jobs,
    "SIGTERM during a job of a local sweep": cases.signal_in_later_sweep_job,
    "changed config on resume": folders.changed_config,
    "changed seed on resume": folders.changed_seed,
    "two processes in one run folder": folders.two_writers,
    "a SIGKILLed holder's lock": folders.stale_lock,
    "full disk during training": folders.full_disk,
    "truncated Fashion-MNIST file": folders.corrupt_fashion_mnist,
    "corrupt CIFAR-10 pickle": folders.corrupt_cifar10,
    "report over a corrupt summary.json": folders._report_with("summary.json"),
    "report over a corrupt metrics.csv": folders._report_with("metrics.csv"),
    "linear_eval without run_dir": folders.linear_eval_without_run_dir,
    "linear_eval with a wrong run_dir": folders.linear_eval_wrong_run_dir,
}

# The families of issue 20: each a kind of trouble, its cases invented to find the next one.
FAMILIES = {
    "untrusted files": untrusted.UNTRUSTED,
    "portability": untrusted.PORTABILITY,
    "exit codes": exits.EXIT_CODES,
    "signals": exits.SIGNALS,
    "damaged readers": damaged.DAMAGED,
    "concurrent writers": filesystems.CONCURRENT,
    "read-only and full filesystems": filesystems.FILESYSTEMS,
}


def run_fault(name: str, root: Path, cases_of: dict = FAULTS, where: str = "faults") -> Outcome:
    # Hydra reads a comma in an override as a sweep: folder names keep letters, digits, - and _.
    folder = root / where / re.sub(r"[^A-Za-z0-9_-]+", "_", name)
    try:
        expected, observed, ok = cases_of[name](folder)
    except Exception as e:  # the harness itself tripped: a failure of the case, shown as such
        expected, observed, ok = "survives", f"harness error: {type(e).__name__}: {str(e)[:100]}", False
    return Outcome(name, expected, observed, ok)


def table(title: str, outcomes: list[Outcome]) -> str:
    lines = [f"\n## {title}", "| case | expected | observed | |", "|---|---|---|---|"]
    lines += [
        f"| `{o.case}` | {o.expected} | {o.observed.replace('|', '/')} | {'ok' if o.ok else '**FAIL**'} |"
        for o in outcomes
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.faults", description=__doc__)
    parser.add_argument("--only", choices=("bad", "faults", "families"))
    parser.add_argument("--family", choices=list(FAMILIES), action="append", help="only these families")
    parser.add_argument("--jobs", type=int, default=2, help="bad inputs checked at once (each is a process)")
    parser.add_argument("--out", type=Path, help="also write the outcomes as JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    bad, faults, families = [], [], {}
    with tempfile.TemporaryDirectory(prefix="raft-faults-") as tmp:
        root = Path(tmp)
        kit.home.append(root)
        if args.only in (None, "bad"):
            with ThreadPoolExecutor(args.jobs) as pool:
                jobs = [(o, k, root / "bad" / str(i)) for i, (o, k) in enumerate(bad_inputs.BAD_INPUTS)]
                bad = list(pool.map(lambda job: bad_inputs.check(*job), jobs))
            print(table("Bad inputs", bad))
        if args.only in (None, "faults"):
            faults = [run_fault(name, root) for name in FAULTS]  # one at a time: several time signals
            print(table("Faults", faults))
        if args.only in (None, "families"):
            kit.template()  # the trained sweep every case copies, made once
            for family, found in FAMILIES.items():
                if args.family and family not in args.family:
                    continue
                one = functools.partial(run_fault, root=root, cases_of=found, where="families")
                with ThreadPoolExecutor(args.jobs) as pool:  # each case its own processes and folders
                    families[family] = list(pool.map(one, found))
                print(table(f"Family: {family}", families[family]))
    counts = counts_line(bad, faults, families)
    seconds = round(time.perf_counter() - start)
    print(f"\n{counts}  ({seconds} s)")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "counts": counts,
                    "measured": measured_on(seconds),  # what the docs quote with the line
                    "bad": [o.__dict__ for o in bad],
                    "faults": [o.__dict__ for o in faults],
                    "families": {name: [o.__dict__ for o in found] for name, found in families.items()},
                },
                indent=1,
            )
        )
    return 0 if all(o.ok for o in bad + faults + [o for f in families.values() for o in f]) else 1


def measured_on(seconds: int) -> dict[str, object]:
    """Where and when the matrix ran: the UTC date, the CPU and its usable cores, the commit (and
    whether the code differed from it), and how long the run took."""
    commit, dirty = code_version()
    return {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "commit": commit,
        "dirty": dirty,
        "seconds": seconds,
    }


def counts_line(bad: list[Outcome], faults: list[Outcome], families: dict[str, list[Outcome]]) -> str:
    """``N bad inputs: …; N faults: …; N family cases (family k/n, …): k held; N cases, k held``."""
    family_cases = [o for found in families.values() for o in found]
    everything = bad + faults + family_cases
    each = ", ".join(f"{name} {sum(o.ok for o in found)}/{len(found)}" for name, found in families.items())
    return (
        f"{len(bad)} bad inputs: {sum(o.ok for o in bad)} clear before training; "
        f"{len(faults)} faults: {sum(o.ok for o in faults)} survived, nothing lost; "
        f"{len(family_cases)} family cases ({each}): {sum(o.ok for o in family_cases)} held; "
        f"{len(everything)} cases, {sum(o.ok for o in everything)} held"
    )


if __name__ == "__main__":
    raise SystemExit(main())
