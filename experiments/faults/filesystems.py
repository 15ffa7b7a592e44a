"""Families "concurrent writers" and "read-only and full filesystems": one writer per folder (the
lock), and a write that cannot happen is one line naming the file while the previous version stays.

Read-only and full file systems are real: a tmpfs mounted for the case (we run as root), remounted
read-only or filled to the last byte; one case limits the file size instead (RLIMIT_FSIZE: the write
fails with EFBIG, as on a quota). Each case takes a fresh folder and returns ``(expected, observed, held)``."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.faults.harness import SMOKE, run, start, summary
from experiments.faults.kit import fill, linear_eval, one_line, remount_read_only, report, run_copy, sweep_copy, tmpfs

Case = Callable[[Path], tuple[str, str, bool]]
RESUME = (*SMOKE, "eval.linear=true", "seed=0")
NO_MOUNT = ("a mounted tmpfs", "not run: mounting a tmpfs needs root", False)


def _wait_running(d: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while summary(d).get("status") != "running" and time.monotonic() < deadline:
        time.sleep(0.05)


def _wait_locked(d: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ((d / ".lock").is_file() and (d / ".lock").read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)


def eval_beside_training(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    training = start(*RESUME, "trainer.max_epochs=12", f"hydra.run.dir={r}")
    _wait_running(r)
    with _paused(training):  # a smoke training may end before the evaluation has started up
        done = linear_eval(r)
    training.communicate(timeout=600)
    s = summary(r)
    clear, line = one_line(done.stdout, "in use by pid")
    held = done.returncode == 1 and clear and training.returncode == 0 and s.get("epochs") == 12
    held = held and s.get("linear_acc") is not None and s.get("status") == "ok"
    return "linear_eval refused; the training finishes and records", line, held


@contextmanager
def _paused(proc: subprocess.Popen) -> Iterator[None]:
    """``proc`` stopped (SIGSTOP) while the block runs, holding its lock: a second command takes
    a minute to start on a loaded machine, by which time a smoke evaluation would have finished
    and let go. Continued (SIGCONT) after, it finishes as it would have."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def training_beside_eval(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    evaluation = start(f"run_dir={r}", "eval.epochs=3000", module="raft_lightning.linear_eval")
    _wait_locked(r)
    with _paused(evaluation):
        done = run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir={r}")
    evaluation.communicate(timeout=600)
    clear, line = one_line(done.stdout, "in use by pid")
    held = done.returncode == 1 and clear and evaluation.returncode == 0 and summary(r).get("epochs") == 2
    return "the training refused; the evaluation records", line, held


def two_evals(d: Path) -> tuple[str, str, bool]:
    r = run_copy(d / "run")
    first = start(f"run_dir={r}", "eval.epochs=3000", module="raft_lightning.linear_eval")
    _wait_locked(r)
    with _paused(first):
        second = linear_eval(r)
    first.communicate(timeout=600)
    clear, line = one_line(second.stdout, "in use by pid")
    return "the second refused; the first records", line, second.returncode == 1 and clear and first.returncode == 0


def report_beside_training(d: Path) -> tuple[str, str, bool]:
    s = sweep_copy(d / "sweep")
    training = start(*RESUME, "trainer.max_epochs=12", f"hydra.run.dir={s / '0'}")
    _wait_running(s / "0")
    with _paused(training):  # a smoke training may end before the report has started up
        done = report(s, "--out", str(d / "out"))
    training.communicate(timeout=600)
    table = (d / "out" / "table1.md").read_text() if (d / "out" / "table1.md").is_file() else ""
    held = done.returncode == 0 and "is running" in table and training.returncode == 0
    return "the running run listed, not averaged", f"rc {done.returncode}, listed: {'is running' in table}", held


def _read_only(command: str) -> Case:
    def case(d: Path) -> tuple[str, str, bool]:
        with tmpfs(d / "mnt", "4m") as mount:
            if mount is None:
                return NO_MOUNT
            s = sweep_copy(mount / "sweep")
            if not remount_read_only(mount):
                return "a read-only mount", "not run: remount refused", False
            if command == "train":  # hydra.run.dir is checked with the command line: refused before Hydra, exit 2
                done, want = run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir={s / '0'}"), 2
            elif command == "linear_eval":
                done, want = linear_eval(s / "0"), 1
            elif command == "report":
                done, want = report(s), 1
            else:  # report --out elsewhere: a read-only sweep is fine to read
                done, want = report(s, "--out", str(d / "out")), 0
            if want == 0:
                return "the report written elsewhere", f"rc {done.returncode}", done.returncode == 0
            clear, line = one_line(done.stdout, "read-only")
            return f"exit {want}, one line: read-only", line, done.returncode == want and clear

    return case


def _full(command: str) -> Case:
    """The disk fills before ``command`` writes; the previous version of each file stays."""

    def case(d: Path) -> tuple[str, str, bool]:
        with tmpfs(d / "mnt", "3m") as mount:
            if mount is None:
                return NO_MOUNT
            if command == "report":
                s, out = sweep_copy(d / "sweep"), mount / "out"
                first = report(s, "--out", str(out))
                if first.returncode != 0:
                    return "a first report", f"rc {first.returncode}", False
                kept = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".lock"}
                fill(mount)
                done = report(s, "--out", str(out))
                now = {name: (out / name).read_bytes() for name in kept}
                words = ("no space left",)
            else:
                r = run_copy(mount / "run")
                kept = {
                    p: p.read_bytes() for p in (r / "summary.json", r / "embeddings.pt", r / "checkpoints/last.ckpt")
                }
                fill(mount)
                if command == "linear_eval":
                    done = linear_eval(r)
                else:
                    done = run(*RESUME, "trainer.max_epochs=3", f"hydra.run.dir={r}")
                now = {p: p.read_bytes() for p in kept}
                words = ("no space left",)
            clear, line = one_line(done.stdout, *words)
            intact = now == kept
            held = done.returncode == 1 and clear and intact
            if command == "train":  # the record may say how it ended, in place: never ``running``
                held = done.returncode == 1 and clear and summary(r).get("status") != "running"
            return "exit 1, one line naming the file; the previous version stays", line, held

    return case


def file_size_limit(d: Path) -> tuple[str, str, bool]:
    """RLIMIT_FSIZE below embeddings.pt's size: its write fails (EFBIG), summary.json's fits."""
    r = run_copy(d / "run")
    before = (r / "embeddings.pt").read_bytes(), (r / "summary.json").read_bytes()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = linear_eval(r, preexec_fn=limit)
    after = (r / "embeddings.pt").read_bytes(), (r / "summary.json").read_bytes()
    clear, line = one_line(done.stdout, "embeddings.pt")
    held = done.returncode == 1 and clear and after == before and not list(r.glob("*.tmp"))
    return "exit 1, one line naming embeddings.pt; both files as they were", line, held


def unwritable_out(d: Path) -> tuple[str, str, bool]:
    s = sweep_copy(d / "sweep")
    shutil.rmtree(s / "1")
    done = report(s, "--out", "/proc/raft-faults-report")
    clear, line = one_line(done.stdout, "raft-report")
    return "exit 1, one line", line, done.returncode == 1 and clear


CONCURRENT: dict[str, Case] = {
    "linear_eval beside a training of the same run": eval_beside_training,
    "a training beside a linear_eval of the same run": training_beside_eval,
    "two linear_evals of one run": two_evals,
    "report while a run of the sweep trains": report_beside_training,
}

FILESYSTEMS: dict[str, Case] = {
    "resume on a read-only mount": _read_only("train"),
    "linear_eval on a read-only mount": _read_only("linear_eval"),
    "report into a read-only sweep": _read_only("report"),
    "report of a read-only sweep, --out elsewhere": _read_only("report elsewhere"),
    "full disk before linear_eval writes": _full("linear_eval"),
    "full disk before report rewrites its figures": _full("report"),
    "full disk before a resumed training": _full("train"),
    "a file size limit (RLIMIT_FSIZE) during linear_eval": file_size_limit,
    "report --out where nothing can be made": unwritable_out,
}
