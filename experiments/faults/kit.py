"""What the families' cases share: one trained sweep made once and copied per case, planted pickles,
small file systems, and the checks every case makes of what a command printed."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.faults.harness import ROOT, SMOKE, run, summary

_made = threading.Lock()
home: list[Path] = []  # the matrix's temp folder, where the template sweep is made once (set by __main__)


class Planted:
    """A pickle that runs ``touch <marker>`` when loaded: a reader that executes files leaves the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch '{self.marker}'",))


def plant(path: Path, marker: Path, shape: str = "checkpoint") -> None:
    """Write ``path`` as a torch file that holds ``Planted`` where its tensors would be."""
    import torch

    payload = {"state_dict": {"w": Planted(marker)}} if shape == "checkpoint" else {"projections": Planted(marker)}
    torch.save(payload, path)


def template() -> Path:
    """Two seeds of the smoke run, 2 epochs each, linearly evaluated: every file a run folder holds,
    last.prev.ckpt included (record.keep_previous: a finished run drops it by default)."""
    with _made:
        return _sweep(home[-1])


@functools.cache
def _sweep(root: Path) -> Path:
    """Made under the matrix's temp folder, or once in ``$RAFT_FAULTS_TEMPLATE`` and reused from
    there by later matrix runs (running the families one at a time trains it once, not per family)."""
    kept = os.environ.get("RAFT_FAULTS_TEMPLATE")
    sweep = Path(kept) if kept else root / "template"
    if kept and all(summary(sweep / seed).get("status") == "ok" for seed in ("0", "1")):
        return sweep
    done = run(
        "-m",
        *SMOKE,
        "trainer.max_epochs=2",
        "eval.linear=true",
        "record.keep_previous=true",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the template sweep failed: {done.stdout[-300:]}")
    return sweep


def sweep_copy(d: Path) -> Path:
    """A fresh copy of the template sweep (its folders ``0`` and ``1`` and multirun.yaml) at ``d``."""
    shutil.copytree(template(), d, symlinks=True)
    for lock in d.rglob(".lock"):
        lock.unlink()
    return d


def run_copy(d: Path) -> Path:
    """A fresh copy of one trained, evaluated run folder at ``d``."""
    shutil.copytree(template() / "0", d, symlinks=True)
    (d / ".lock").unlink(missing_ok=True)
    return d


def lines_of(out: str) -> list[str]:
    """The lines a user reads: without Lightning's and Hydra's banners."""
    noise = ("GPU available", "TPU available", "HPU available", "LOCAL_RANK", "You are using", "`Trainer.fit`")
    return [x for x in out.strip().splitlines() if x.strip() and not x.startswith(noise)]


def one_line(out: str, *words: str) -> tuple[bool, str]:
    """No traceback, and a line that holds every one of ``words``: (that, the line or the last one)."""
    found = [x for x in lines_of(out) if all(w in x for w in words)]
    shown = (found or lines_of(out) or ["(no output)"])[-1]
    return "Traceback" not in out and bool(found), shown.strip()[:140]


def linear_eval(run_dir: Path | str, *extra: str, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    return run(f"run_dir={run_dir}", "eval.epochs=5", *extra, module="raft_lightning.linear_eval", cwd=cwd, **kw)


def report(sweep: Path, *extra: str, **kw) -> subprocess.CompletedProcess:
    return run(str(sweep), *extra, module="raft_lightning.report", **kw)


@contextmanager
def tmpfs(d: Path, size: str) -> Iterator[Path | None]:
    """A file system of ``size`` mounted at ``d`` (root only: None where mounting is refused)."""
    d.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True)
    try:
        yield d if mounted.returncode == 0 else None
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)


def remount_read_only(d: Path) -> bool:
    return subprocess.run(["mount", "-o", "remount,ro", str(d)], capture_output=True).returncode == 0


def fill(d: Path) -> None:
    """Fill the file system of ``d`` to the last byte."""
    with open(d / "filler", "wb", buffering=0) as f:  # unbuffered: closing has nothing left to fail on
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    with open(d / "filler-small", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
