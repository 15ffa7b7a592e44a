"""The command line: ``python -m experiments.bench --out bench.json [--quick] [--device cuda]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import experiments.bench as bench
from experiments.bench.harness import environment

COMMAND = "python -m experiments.bench"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repeats: under 2 minutes on 2 cores")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: cuda adds augment_device and train_step")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--only", nargs="*", help="run only these entries")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(f"--out {args.out}: a folder; give the JSON file to write")
    args.out.parent.mkdir(parents=True, exist_ok=True)  # before measuring: a result must have somewhere to go
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    torch.set_num_threads(args.threads)
    quick = args.quick
    workers = min(args.threads, os.cpu_count() or 1)
    cpu = environment(torch.device("cpu"), args.threads)
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "augment": lambda: {**bench.bench_augment(1024 if quick else 4096, 3 if quick else 5, workers), **cpu},
        "lightning_overhead": lambda: {**bench.bench_lightning_overhead(26 if quick else 62), **cpu},
        "ema": lambda: {**bench.bench_ema(20 if quick else 50, 5 if quick else 9, torch.device("cpu")), **cpu},
        "monitors": lambda: {**bench.bench_monitors(2 if quick else 3, 3, quick=quick), **cpu},
        "run_settings": lambda: {**bench.bench_run_settings(1 if quick else 2, quick=quick), **cpu},
    }
    if device.type == "cuda":
        gpu = environment(device, args.threads)
        jobs["ema_device"] = lambda: {**bench.bench_ema(50, 9, device), **gpu}
        jobs["augment_device"] = lambda: {**bench.bench_augment_device(device, 4096, 3), **gpu}
        jobs["train_step"] = lambda: {**bench.bench_train_step(device, 200 if quick else 400, 30), **gpu}
    results: dict[str, Any] = {
        "command": " ".join([COMMAND, *(argv if argv is not None else sys.argv[1:])]),
        "load_average_before": os.getloadavg(),
    }
    for name, job in jobs.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        results[name] = job()
        results[name]["seconds"] = time.perf_counter() - start
        print(f"{name}: {_line(results[name])}", flush=True)
    results["load_average_after"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _line(result: dict[str, Any]) -> str:
    if "settings" in result:
        return (
            ", ".join(
                f"{name}: {s['median_s']:.3g} s ×{s['speedup']:.2f}{'' if s['repeatable'] else ' (not repeatable)'}"
                if "median_s" in s
                else f"{name}: {s['unavailable']}"
                for name, s in result["settings"].items()
            )
            + f"; fastest repeatable: {result['fastest_repeatable']}"
        )
    if "ratio" not in result:
        return ", ".join(f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float))
    text = f"{result['baseline']:.4g} → {result['candidate']:.4g} {result['unit']}, ratio {result['ratio']:.2f}"
    return text + (f", overhead {result['overhead_pct']:.1f} %" if "overhead_pct" in result else "")


if __name__ == "__main__":
    main()
