"""Faults of run folders, disks, data files and the tools that read runs afterwards."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from experiments.faults.harness import SMOKE, inject, run, start, summary

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def changed_config(d: Path) -> tuple[str, str, bool]:
    run(*SMOKE, "trainer.max_epochs=1", f"hydra.run.dir={d}")
    before = (d / "summary.json").read_bytes()
    refused = run(*SMOKE, "trainer.max_epochs=1", "loss=byol_prime", "loss.beta=2", f"hydra.run.dir={d}")
    line = next((x for x in refused.stdout.splitlines() if "another config" in x), "")
    ok = refused.returncode == 1 and "loss.beta: 1.0 → 2" in line and (d / "summary.json").read_bytes() == before
    return "refused, naming the keys; the record untouched", line[line.find("(") : line.find("(") + 90], ok


def changed_seed(d: Path) -> tuple[str, str, bool]:
    run(*SMOKE, "trainer.max_epochs=1", f"hydra.run.dir={d}")
    refused = run(*SMOKE, "trainer.max_epochs=1", "seed=1", f"hydra.run.dir={d}")
    ok = refused.returncode == 1 and "seed: 0 → 1" in refused.stdout and summary(d)["seed"] == 0
    return "refused, naming seed", "refused" if ok else refused.stdout[-120:], ok


def two_writers(d: Path) -> tuple[str, str, bool]:
    # Long enough that the first is still training when the second has started up (seconds of
    # imports): 64 steps an epoch, not the smoke size's 4.
    longer = (*SMOKE, "trainer.max_epochs=15", "data.train_size=1024", f"hydra.run.dir={d}")
    first = start(*longer)
    deadline = time.monotonic() + 120
    while summary(d).get("status") != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run(*longer)
    out = first.communicate(timeout=300)[0]
    ok = second.returncode == 1 and "is in use by pid" in second.stdout and first.returncode == 0
    ok = ok and summary(d)["status"] == "ok" and summary(d)["epochs"] == 15
    return (
        "the second refused; the first finishes",
        f"second rc {second.returncode}, first {summary(d)['status']}",
        ok and bool(out),
    )


def stale_lock(d: Path) -> tuple[str, str, bool]:
    first = start(*SMOKE, "trainer.max_epochs=30", f"hydra.run.dir={d}")
    deadline = time.monotonic() + 120
    while not (d / "metrics.csv").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()
    first.wait()
    again = run(*SMOKE, "trainer.max_epochs=30", f"hydra.run.dir={d}")
    ok = again.returncode == 0 and summary(d)["status"] == "ok"
    return "a killed holder leaves no lock behind", f"rerun {summary(d)['status']}", ok


def full_disk(d: Path) -> tuple[str, str, bool]:
    """A real full disk: the run folder on a 4 MB tmpfs that a callback fills during epoch 2."""
    mount = Path("/mnt") / f"raft-faults-{d.name}"
    mount.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True).returncode:
        return "clear error, earlier files intact", "not run: mounting a tmpfs needs root", False
    try:
        folder, filler = mount / "run", mount / "filler"
        args = (*SMOKE, *("trainer.max_epochs=2",), f"hydra.run.dir={folder}")
        fill = inject("fill", "FillDiskAt", step=6, path=filler, marker=d.parent / f"{d.name}-m")
        full = run(*args, *fill)
        message = summary(folder).get("error") or ""
        intact = (folder / "checkpoints" / "last.ckpt").is_file() and (folder / "metrics.csv").is_file()
        filler.unlink()
        again = run(*args, *fill)
        s = summary(folder)
        ok = full.returncode == 1 and "no space left" in message.lower() and intact
        ok = ok and again.returncode == 0 and s["status"] == "ok" and s["resumed_from"] is not None
        return "clear error, earlier files intact; rerun resumes", message[:110], ok
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)


def corrupt_fashion_mnist(d: Path) -> tuple[str, str, bool]:
    d.mkdir(parents=True, exist_ok=True)
    for f in FASHION_MNIST.glob("*.gz"):
        shutil.copy(f, d / f.name)
    damaged = d / "train-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:500])  # truncated
    done = run("experiment=demo", "logger=none", f"data.root={d}", "trainer.max_epochs=1", f"hydra.run.dir={d / 'run'}")
    error = summary(d / "run").get("error") or ""
    ok = done.returncode == 1 and str(damaged) in error and "expected a gzipped uint8 IDX file" in error
    return "failed, naming the file and what was expected", error[:110], ok


def corrupt_cifar10(d: Path) -> tuple[str, str, bool]:
    folder = d / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batch = {"data": [[0] * 3072] * 4, "labels": [0, 1, 2, 3]}
    for name in ("batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"):
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    tiny = ("data=cifar10", "model=convnet", "trainer=cpu", "logger=none", "data.batch_size=4", "data.image_size=32")
    done = run(*tiny, "trainer.max_epochs=1", "data.num_workers=0", f"data.root={d}", f"hydra.run.dir={d / 'run'}")
    error = summary(d / "run").get("error") or ""
    ok = done.returncode == 1 and str(folder / "data_batch_3") in error and "CIFAR-10 python batch" in error
    return "failed, naming the file and what was expected", error[:110], ok


def _report_with(damage: str) -> Callable:
    def case(d: Path) -> tuple[str, str, bool]:
        run("-m", *SMOKE, "trainer.max_epochs=1", "seed=0,1,2", f"hydra.sweep.dir={d}")
        if damage == "summary.json":
            (d / "1" / "summary.json").write_text('{"status": "ok", "objec')
        else:
            (d / "2" / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage\n1,2\x00")
        done = run(str(d), module="raft_lightning.report")
        table = (d / "table1.md").read_text() if (d / "table1.md").is_file() else ""
        listed = "is unreadable" in table if damage == "summary.json" else "2/metrics.csv: not UTF-8" in table
        ok = done.returncode == 0 and listed and "Traceback" not in done.stdout
        return "the report lists it under the table and goes on", f"rc {done.returncode}, listed: {listed}", ok

    return case


def linear_eval_without_run_dir(d: Path) -> tuple[str, str, bool]:
    done = run(module="raft_lightning.linear_eval")
    lines = done.stdout.strip().splitlines()
    ok = done.returncode == 2 and len(lines) == 1 and "run_dir" in lines[0]
    return "one line naming run_dir", lines[-1][:100] if lines else "", ok


def linear_eval_wrong_run_dir(d: Path) -> tuple[str, str, bool]:
    target = d / "no-such-run"
    done = run(f"run_dir={target}", module="raft_lightning.linear_eval")
    lines = done.stdout.strip().splitlines()
    ok = done.returncode == 2 and len(lines) == 1 and "not a run folder" in lines[0] and not target.exists()
    return "one line; no folder created", lines[-1][:100] if lines else "", ok
