"""Preemption and resume: a run stopped by a signal mid-epoch and resumed ends exactly where an
uninterrupted run with the same seed ends (CPU, deterministic), weights and metrics alike."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from raft_lightning.data.sampling import EpochSampler
from raft_lightning.run.train import train
from tests.conftest import ROOT, compose_run
from tests.helpers import logged_steps

# 64 images / batch 16 = 4 batches an epoch: step 6 is the 2nd batch of epoch 2, the last epoch,
# so the interrupted epoch's means are among the final metrics.
SMOKE = (
    "experiment=smoke",
    "loss=raft",
    "predictor=linear",
    "trainer.max_epochs=2",
    "data.train_size=64",
    "data.val_size=32",
    "data.batch_size=16",
)
STEP = 6


def kill_at(step: int, marker: Path, external: bool = False, sig: str = "SIGTERM") -> list[str]:
    return [
        "+callbacks.kill._target_=tests.helpers.SignalAt",
        f"+callbacks.kill.step={step}",
        f"+callbacks.kill.marker={marker}",
        f"+callbacks.kill.signal={sig}",
        f"+callbacks.kill.external={str(external).lower()}",
    ]


def step_log(path: Path) -> list[str]:
    return ["+callbacks.steps._target_=tests.helpers.StepLog", f"+callbacks.steps.path={path}"]


def load(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def equal(a, b) -> bool:
    """Exact equality of nested checkpoint contents, tensors included."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return a == b


def assert_same_state(a: dict, b: dict) -> None:
    """Every tensor of the final checkpoints: weights and BatchNorm buffers (online, target,
    predictor), epoch accumulators, optimiser, probe (classifier, optimiser), metric rows."""
    assert a["global_step"] == b["global_step"] and a["epoch"] == b["epoch"]
    for key in ("state_dict", "optimizer_states"):
        assert equal(a[key], b[key]), key
    for name in a["callbacks"]:
        if name.startswith(("OnlineProbe", "EpochMetrics")):
            assert equal(a["callbacks"][name], b["callbacks"][name]), name


def test_sampler_resumes_mid_epoch_once():
    full = [key for key in EpochSampler(20, seed=3, rank=1, world_size=2)]
    sampler = EpochSampler(20, seed=3, rank=1, world_size=2)
    sampler.resume_at(0, 4)
    assert list(sampler) == full[4:] and len(sampler) == 10  # len stays the epoch's: Lightning counts
    assert list(sampler) == full  # only the first pass is shortened
    sampler.resume_at(2, 4)
    sampler.set_epoch(3)  # an end-of-epoch checkpoint: the next epoch starts from its beginning
    assert len(list(sampler)) == 10


@pytest.mark.parametrize(
    "loss",
    [
        "loss=raft",
        # DirectPred's running correlation F (a buffer) and W_p must come back with the checkpoint.
        pytest.param("loss=directpred", marks=pytest.mark.slow),
    ],
)
def test_sigterm_mid_epoch_then_resume_equals_uninterrupted(tmp_path, loss):
    # Lightning's step-level log (logger=csv) must survive the resume too.
    smoke = (*[o for o in SMOKE if not o.startswith("loss=")], loss, "logger=csv")
    reference = train(compose_run(*smoke, run_dir=tmp_path / "reference"))
    assert reference["status"] == "ok"

    run_dir = tmp_path / "interrupted"
    overrides = (*smoke, *kill_at(STEP, tmp_path / "marker"))
    recorded = []

    def owner(signum, frame):  # stands for whoever handled SIGTERM before training (submitit, a shell)
        recorded.append(signum)

    previous = signal.signal(signal.SIGTERM, owner)
    try:
        stopped = train(compose_run(*overrides, run_dir=run_dir))
        # Training's handler is gone again, the owner's is back; train() itself hands nothing on
        # (main() re-raises the signal for the command line).
        assert signal.getsignal(signal.SIGTERM) is owner and not recorded
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM", stopped["error"]
    assert stopped["epochs"] == 1  # epoch 2 was under way
    saved = load(run_dir)
    assert saved["global_step"] == STEP
    assert saved["SyntheticDataModule"] == {"epoch": 1, "batches": STEP - 4}  # where the sampler goes on

    resumed = train(compose_run(*overrides, run_dir=run_dir))
    assert resumed["status"] == "ok" and resumed["resumed_from"] == "checkpoints/last.ckpt"
    for key in ("epochs", "align", "uniform", "probe_acc"):
        assert resumed[key] == reference[key], key
    for log in ("metrics.csv", "csv/metrics.csv"):
        assert (run_dir / log).read_text() == (tmp_path / "reference" / log).read_text(), log
    assert_same_state(load(run_dir), load(tmp_path / "reference"))


def test_finished_runs_are_not_retrained_longer_ones_continue_and_resume_false_starts_over(tmp_path, caplog):
    steps = tmp_path / "steps.txt"
    short = (*SMOKE, "logger=none", *step_log(steps), "trainer.max_epochs=1")
    first = train(compose_run(*short, run_dir=tmp_path / "run"))
    stamp = (tmp_path / "run" / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="raft_lightning.run.train"):
        again = train(compose_run(*short, run_dir=tmp_path / "run"))
    assert again == first  # the summary on disk, untouched
    assert "already finished (ok): not training it again (resume=false does)" in caplog.text
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == stamp

    # More epochs than the finished run had: continue from its last epoch, same as training 2 at once.
    longer = train(compose_run(*SMOKE, "logger=none", *step_log(steps), run_dir=tmp_path / "run"))
    assert logged_steps(steps) == [1, 2, 3, 4, 5, 6, 7, 8]  # epoch 1 once, then only epoch 2
    straight = train(compose_run(*SMOKE, "logger=none", run_dir=tmp_path / "two"))
    assert longer["resumed_from"] == "checkpoints/last.ckpt" and longer["epochs"] == 2
    assert (longer["align"], longer["probe_acc"]) == (straight["align"], straight["probe_acc"])

    over = train(compose_run(*short, "resume=false", run_dir=tmp_path / "run"))
    assert over["status"] == "ok" and over["resumed_from"] is None and over["epochs"] == 1
    assert over["align"] == first["align"]


@pytest.mark.slow
def test_kill_from_the_shell_then_the_same_command_resumes(tmp_path):
    """SIGTERM from outside while epoch 2 runs: the process saves, ends as killed, and the same
    command resumes it to the numbers of an uninterrupted run."""
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "raft_lightning.train",
        *SMOKE,
        "data.num_workers=1",  # the first iterator draws indices at once: the position must be set before
        f"hydra.run.dir={run_dir}",
        *kill_at(STEP, tmp_path / "marker", external=True),
        *step_log(tmp_path / "steps.txt"),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "marker").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == -signal.SIGTERM, out[-3000:]  # killed, as `kill` asked, after saving
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stdout + again.stderr
    # The second process trained only what the first had not: a restart from scratch would log 1..8 again.
    assert logged_steps(tmp_path / "steps.txt") == list(range(1, 9))
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["status"] == "ok" and resumed["epochs"] == 2

    # Uninterrupted, in this process, without workers: data order and augmentations do not depend on either.
    reference = train(compose_run(*SMOKE, "logger=none", run_dir=tmp_path / "reference"))
    assert (resumed["align"], resumed["uniform"], resumed["probe_acc"]) == (
        reference["align"],
        reference["uniform"],
        reference["probe_acc"],
    )
    assert_same_state(load(run_dir), load(tmp_path / "reference"))
