"""``raft-theory`` (``python -m raft_lightning.theory``): run the three checks, print the report,
optionally write the results as JSON; exit status 0 only if every check passes."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

# The modules, not their functions: a test swaps a check for a smaller one and main() sees it.
from raft_lightning.files import write_atomically
from raft_lightning.theory import bound, printout, tangential
from raft_lightning.theory import correspondence as theorem_5_1_checks


def _as_dict(result: Any) -> dict[str, Any]:
    out = asdict(result)
    out["holds"] = result.holds
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raft-theory",
        description="Check Theorem 4.1, Theorem 5.1 and the tangential-gradient condition numerically.",
    )
    parser.add_argument("--steps", type=int, default=50, help="training steps per Theorem 5.1 trajectory")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The tensors are tiny: one thread is faster than two, and far faster on a shared machine.
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    bound_result = bound.theorem_4_1()
    correspondence_result = theorem_5_1_checks.theorem_5_1(steps=args.steps)
    tangential_result = tangential.tangential_gradients()
    holds = bound_result.holds and bound_result.sharp and correspondence_result.holds and tangential_result.holds
    # CPU time as well: on a machine shared with other jobs, wall-clock time says little.
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(printout.report(bound_result, correspondence_result, tangential_result))
    verdict = "All checks pass" if holds else "SOME CHECKS FAIL"
    print(f"\n{verdict} ({wall:.0f} s wall-clock, {cpu:.0f} s CPU, 1 thread, torch {torch.__version__}).")
    if args.json is not None:
        results = {
            "theorem_4_1": _as_dict(bound_result),
            "theorem_5_1": _as_dict(correspondence_result),
            "tangential": _as_dict(tangential_result),
            "holds": holds,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
        }
        write_atomically(args.json, json.dumps(results, indent=2, default=str))
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
