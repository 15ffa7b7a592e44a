"""launcher=slurm against a real SLURM: the one-node cluster of experiments/slurm/local_cluster.sh,
started here if it is not running (installing slurm-wlm and munge needs root) and stopped again
only if this module started it. If it cannot start, the tests fail with the daemons' logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from raft_lightning.run.train import train
from tests.conftest import ROOT, compose_run, run_cli
from tests.helpers import logged_steps
from tests.test_resume import SMOKE, STEP
from tests.wandb_records import offline_runs

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CLUSTER = ROOT / "experiments" / "slurm" / "local_cluster.sh"


@pytest.fixture(scope="module")
def slurm_cluster():
    was_up = subprocess.run([CLUSTER, "status"], capture_output=True).returncode == 0
    if not was_up:
        start = subprocess.run([CLUSTER, "start"], capture_output=True, text=True, timeout=900)
        if start.returncode != 0:
            pytest.fail(f"the local SLURM did not start:\n{start.stdout}\n{start.stderr}", pytrace=False)
    yield
    if not was_up:
        subprocess.run([CLUSTER, "stop"], capture_output=True, timeout=120)


def summaries(sweep_dir):
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")}


def test_a_sweep_runs_as_a_slurm_job_array_and_a_failing_run_does_not_stop_it(slurm_cluster, tmp_path):
    # Run #1 raises in the middle of epoch 2 (step 6 of 8); run #0 finishes in its own job.
    result = run_cli(
        "-m",
        *SMOKE,
        "logger=none",
        "launcher=slurm_local",
        "+callbacks.boom._target_=tests.helpers.RaiseAt",
        "+callbacks.boom.step=1000,6",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 1, result.stderr[-3000:]
    runs = summaries(tmp_path)
    assert {k: r["status"] for k, r in runs.items()} == {"0": "ok", "1": "failed"}
    assert runs["1"]["error"] == "RuntimeError: injected failure at step 6"
    assert "1 run(s) did not finish" in result.stderr
    assert runs["0"]["epochs"] == 2 and runs["1"]["epochs"] == 1
    # Nothing the failed run had written is lost: its first epoch's row, checkpoint and the traceback.
    failed = tmp_path / "1"
    assert len((failed / "metrics.csv").read_text().splitlines()) == 2
    assert torch.load(failed / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4
    assert "injected failure" in (failed / "traceback.txt").read_text()
    # Each run was a task of one SLURM array job (submitit's folders are named <array id>_<task>).
    tasks = sorted(p.name for p in (tmp_path / ".submitit").iterdir() if p.is_dir() and "_" in p.name)
    assert len(tasks) == 2 and len({t.split("_")[0] for t in tasks}) == 1
    for task, outcome in zip(tasks, ("run finished", "run failed")):
        assert outcome in job_log(tmp_path, task)


def job_log(sweep_dir, task: str) -> str:
    """What the SLURM job printed (submitit's per-task stdout and stderr)."""
    return "".join((sweep_dir / ".submitit" / task / f"{task}_0_log.{kind}").read_text() for kind in ("out", "err"))


def test_a_preempted_job_is_requeued_by_submitit_and_resumes_exactly(slurm_cluster, tmp_path):
    """SIGUSR2 (what SLURM sends before the time limit) in the middle of epoch 2: the run saves a
    checkpoint, submitit requeues the job, the job resumes in the same directory and the same
    W&B run, and ends with the numbers of an uninterrupted run."""
    sweep, run_dir = tmp_path / "sweep", tmp_path / "sweep" / "0"
    smoke = list(SMOKE)
    command = [
        sys.executable,
        "-m",
        "raft_lightning.train",
        "-m",
        *smoke,
        "launcher=slurm_local",
        "logger=wandb",
        f"hydra.sweep.dir={sweep}",
        "+callbacks.kill._target_=tests.helpers.SignalAt",
        f"+callbacks.kill.step={STEP}",
        "+callbacks.kill.external=true",
        f"+callbacks.kill.marker={tmp_path / 'marker'}",
        "+callbacks.env._target_=tests.helpers.RecordEnvironment",
        f"+callbacks.env.path={tmp_path / 'environment.txt'}",
        "+callbacks.steps._target_=tests.helpers.StepLog",
        f"+callbacks.steps.path={tmp_path / 'steps.txt'}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}  # offline by default
    sweep_proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    while not (tmp_path / "marker").exists():
        assert sweep_proc.poll() is None and time.monotonic() < deadline, sweep_proc.communicate()[0][-3000:]
        time.sleep(0.2)
    (job,) = [p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()]  # one run: a plain job, no array
    subprocess.run(["scancel", f"--signal={signal.SIGUSR2.name[3:]}", job], check=True)
    out = sweep_proc.communicate(timeout=600)[0]
    assert sweep_proc.returncode == 0, out[-3000:]

    log = job_log(sweep, job)
    assert "Caught signal SIGUSR2" in log and f"Requeued job {job.split('_')[0]}" in log, log[-3000:]
    # Lightning ran as a SLURM job with its own requeue off: submitit's requeue is the only one.
    assert (tmp_path / "environment.txt").read_text().split() == ["SLURMEnvironment", "auto_requeue=False"]
    assert "Handling auto-requeue signal" not in log
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["resumed_from"] == "checkpoints/last.ckpt"
    # The requeued job trained only the steps after the checkpoint: from scratch it would log 1..8 again.
    assert logged_steps(tmp_path / "steps.txt") == list(range(1, 9))

    first, second = offline_runs(run_dir)  # one W&B run, continued: same id, same group
    assert first["id"] == second["id"] and first["group"] == second["group"] == "sweep"
    assert first["preempting"] and first["exit_code"] == 0 and second["exit_code"] == 0

    # launcher=slurm_local runs a job with one torch thread per CPU it was given (one): the
    # reference must too, since the sums of a convolution depend on how many threads share them.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = train(compose_run(*smoke, "logger=none", run_dir=tmp_path / "reference"))
    finally:
        torch.set_num_threads(threads)
    for key in ("epochs", "align", "uniform", "probe_acc"):
        assert summary[key] == reference[key], key
    a = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)
