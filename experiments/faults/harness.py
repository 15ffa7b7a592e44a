"""Running the CLI as a user or a cluster would, and reading what it left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ("experiment=smoke", "logger=none", "data.train_size=64", "data.val_size=32", "data.batch_size=16")
ENV = {**os.environ, "HYDRA_FULL_ERROR": "0"}
# A shell starts background jobs with SIGINT and SIGQUIT ignored and nohup ignores SIGHUP; a child
# inherits that, so a signal case would test the launcher's shell instead of the CLI. Every CLI
# child starts with these at their defaults, as from a terminal, wherever the matrix itself runs.
TERMINAL_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)


def as_from_a_terminal(then: Callable[[], Any] | None = None) -> Callable[[], None]:
    """A ``preexec_fn``: the signals at their defaults, then ``then`` (a case's own change)."""

    def reset() -> None:
        for signum in TERMINAL_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        if then is not None:
            then()

    return reset


@dataclass
class Outcome:
    case: str
    expected: str
    observed: str
    ok: bool


def command(*args: str, module: str = "raft_lightning.train") -> list[str]:
    return [sys.executable, "-m", module, *args]


def run(
    *args: str, module: str = "raft_lightning.train", timeout: float = 300, cwd: Path = ROOT, **popen: Any
) -> subprocess.CompletedProcess:
    """One CLI invocation to its end: (returncode, stdout + stderr as ``.stdout``). From another
    ``cwd`` the package is found through PYTHONPATH, as an installed one would be."""
    return subprocess.run(
        command(*args, module=module),
        cwd=cwd,
        env={**ENV, "PYTHONPATH": str(ROOT)} if cwd != ROOT else ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **{**popen, "preexec_fn": as_from_a_terminal(popen.get("preexec_fn"))},
    )


def start(*args: str, module: str = "raft_lightning.train") -> subprocess.Popen:
    return subprocess.Popen(
        command(*args, module=module),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=as_from_a_terminal(),
    )


def wait_for(path: Path, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the run ended before {path.name} appeared:\n{proc.stdout.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)


def kill(proc: subprocess.Popen, sig: int, timeout: float = 300) -> tuple[int, str]:
    proc.send_signal(sig)
    out = proc.communicate(timeout=timeout)[0]
    return proc.returncode, out


def summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def signal_name(returncode: int) -> str:
    return signal.Signals(-returncode).name if returncode < 0 else f"rc {returncode}"


def inject(name: str, target: str, **params: Any) -> list[str]:
    """Overrides that add one of the test suite's fault-injection callbacks (tests/helpers.py)."""
    return [
        f"+callbacks.{name}._target_=tests.helpers.{target}",
        *(f"+callbacks.{name}.{k}={v}" for k, v in params.items()),
    ]


def steps_of(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.is_file() else []
