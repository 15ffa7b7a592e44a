from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from experiments.faults.harness import TERMINAL_SIGNALS
from raft_lightning.evaluation.features import single_thread
from raft_lightning.run.resolvers import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "raft_lightning" / "conf"
CARD = ["loss=byol,byol_prime,raft", "predictor=mlp,linear,none", "seed=0,1,2"]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _untracked() -> set[str]:
    """Files in the repository that git neither tracks nor ignores."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
    )
    return {line[3:] for line in done.stdout.splitlines() if line.startswith("??")} if done.returncode == 0 else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[UNTRACKED] = _untracked()
    # The suite's tensors are tiny: one thread is faster than two, and two processes with two
    # threads each on two cores are several times slower than with one (experiments/bench,
    # run_settings). Here and in every CLI run a test starts (they inherit the environment).
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


# A shell starts background jobs with SIGINT and SIGQUIT ignored, and nohup ignores SIGHUP; a run
# leaves an ignored signal ignored (raft_lightning/run/signals.py), as it should for its user. The
# signal tests test the run's handling as from a terminal wherever the suite itself was started.
@pytest.fixture(autouse=True)
def signals_as_from_a_terminal() -> Iterator[None]:
    ignored = [s for s in TERMINAL_SIGNALS if signal.getsignal(s) is signal.SIG_IGN]
    for signum in ignored:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    yield
    for signum in ignored:
        signal.signal(signum, signal.SIG_IGN)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test writes into its tmp_path, never into the repository (a DDP rank once wrote a folder
    named ``<run_dir>`` there, and it was committed): new untracked files fail the session."""
    new = sorted(_untracked() - session.config.stash.get(UNTRACKED, set()))
    if new:
        print(f"\nthe tests wrote into the repository ({ROOT}): " + ", ".join(new[:10]), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


UNTRACKED = pytest.StashKey[set]()


def compose_run(*overrides: str, run_dir: Path) -> DictConfig:
    """The config ``python -m raft_lightning.train`` would run with, its output dir set to
    ``run_dir``, and HydraConfig set as inside a real job (the summary reads its choices)."""
    register_resolvers()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(run_dir)
    cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.fixture
def smoke_cfg(tmp_path):
    """Factory: the smoke preset plus overrides, writing to a fresh directory."""
    counter = iter(range(1000))

    def make(*overrides: str) -> DictConfig:
        return compose_run("experiment=smoke", "logger=none", *overrides, run_dir=tmp_path / f"run{next(counter)}")

    return make


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raft_lightning.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
    )


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread is faster than two, and much faster on a shared machine."""
    with single_thread():
        yield
