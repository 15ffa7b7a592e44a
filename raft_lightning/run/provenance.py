"""Which code made a run, and on what: summary.json's ``git_sha``, ``git_dirty``, ``versions`` and
the CPU model in ``device`` (the same seed gives the same numbers on the same machine; another
CPU's kernels round differently).

The commit is read only where the package is a checkout of raft-lightning, i.e. where the top of
its git work tree is the folder that holds ``raft_lightning/``. Installed anywhere else (a wheel in
a virtual environment, perhaps inside your own repository) the commit is unknown, null: never the
commit of another repository that happens to contain the environment.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

PACKAGE = Path(__file__).resolve().parents[1]  # raft_lightning/
CODE = ("raft_lightning", "hydra_plugins")  # what a run executes, relative to the checkout


def _git(package: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=package, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version(package: Path = PACKAGE) -> tuple[str | None, bool | None]:
    """(the checkout's commit, whether the code differs from it: a changed, staged or new file
    under ``CODE``), or (None, None) where ``package`` is not a raft-lightning checkout."""
    top = _git(package, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != package.resolve().parent:
        return None, None
    sha = _git(package, "rev-parse", "HEAD")
    if not sha:
        return None, None
    status = _git(Path(top), "status", "--porcelain", "--", *CODE)  # paths from the checkout's top
    return sha, None if status is None else bool(status)


def versions() -> dict[str, str]:
    import lightning

    return {"torch": torch.__version__, "lightning": lightning.__version__}


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (its architecture where it does not say)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown"
