"""python -m experiments.faults [--only bad|faults] [--jobs N] [--out faults.json]"""

from __future__ import annotations

import argparse
import json
import re
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from experiments.faults import bad_inputs, cases, folders
from experiments.faults.harness import Outcome

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


def run_fault(name: str, root: Path) -> Outcome:
    # Hydra reads a comma in an override as a sweep: folder names keep letters, digits, - and _.
    folder = root / "faults" / re.sub(r"[^A-Za-z0-9_-]+", "_", name)
    try:
        expected, observed, ok = FAULTS[name](folder)
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
    parser.add_argument("--only", choices=("bad", "faults"))
    parser.add_argument("--jobs", type=int, default=2, help="bad inputs checked at once (each is a process)")
    parser.add_argument("--out", type=Path, help="also write the outcomes as JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    bad, faults = [], []
    with tempfile.TemporaryDirectory(prefix="raft-faults-") as tmp:
        root = Path(tmp)
        if args.only != "faults":
            with ThreadPoolExecutor(args.jobs) as pool:
                jobs = [(o, k, root / "bad" / str(i)) for i, (o, k) in enumerate(bad_inputs.BAD_INPUTS)]
                bad = list(pool.map(lambda job: bad_inputs.check(*job), jobs))
            print(table("Bad inputs", bad))
        if args.only != "bad":
            faults = [run_fault(name, root) for name in FAULTS]  # one at a time: several time signals
            print(table("Faults", faults))
    counts = (
        f"{len(bad)} bad inputs: {sum(o.ok for o in bad)} clear before training; "
        f"{len(faults)} faults: {sum(o.ok for o in faults)} survived, nothing lost"
    )
    print(f"\n{counts}  ({time.perf_counter() - start:.0f} s)")
    if args.out:
        args.out.write_text(
            json.dumps(
                {"counts": counts, "bad": [o.__dict__ for o in bad], "faults": [o.__dict__ for o in faults]}, indent=1
            )
        )
    return 0 if all(o.ok for o in bad + faults) else 1


if __name__ == "__main__":
    raise SystemExit(main())
