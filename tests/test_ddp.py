"""trainer=ddp: two CPU processes (gloo) per run, inside a Hydra multirun."""

from __future__ import annotations

import csv
import json
import time

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm
from omegaconf import OmegaConf

from raft_lightning.files import RUN_DIR_MARK
from raft_lightning.readers import unrebased
from raft_lightning.run import ddp
from raft_lightning.run.build import build_objective
from raft_lightning.run.ddp import RunDDPStrategy, slurm_plugins
from raft_lightning.run.record import save_config
from raft_lightning.run.train import train
from raft_lightning.run.validation import config_errors
from tests.conftest import ROOT, compose_run, run_cli


@pytest.mark.slow
def test_each_run_of_a_sweep_trains_once_per_rank_in_its_own_dir(tmp_path):
    result = run_cli(
        "-m",
        "experiment=smoke",
        "logger=none",
        "trainer=ddp",
        "trainer.accelerator=cpu",  # 2 processes, gloo
        "seed=0,1",
        "+callbacks.ranks._target_=tests.helpers.RecordRanks",
        "+callbacks.ranks.dir=${paths.output_dir}",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Two runs, each in its own directory, nothing else: rank 1 did not launch the sweep again.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1", "multirun.yaml"]
    pids = set()
    for run in ("0", "1"):
        run_dir = tmp_path / run
        starts = [line.split() for line in (run_dir / "fit_starts.txt").read_text().splitlines()]
        assert sorted(rank for rank, _ in starts) == ["0", "1"]  # one fit per rank
        pids.update(pid for _, pid in starts)
        ranks = [torch.load(run_dir / f"target_rank{r}.pt") for r in (0, 1)]
        for part in ("target", "online", "probe"):  # the EMA teacher, the student, the probe (all-gathered)
            a, b = (rank[part] for rank in ranks)
            assert all(torch.equal(a[k], b[k]) for k in a), (run, part)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["seed"] == int(run) and summary["epochs"] == 2
        assert [row["epoch"] for row in csv.DictReader(open(run_dir / "metrics.csv"))] == ["1", "2"]
        assert not list(run_dir.glob("traceback*"))
    assert len(pids) == 3  # one sweep process (rank 0 of both runs) and a fresh rank 1 for each run


def test_sync_batchnorm_is_configured_for_ddp_and_refused_on_cpu(tmp_path):
    # Build the Trainer without fitting: torch's SyncBatchNorm only runs on GPUs (the real
    # SyncBatchNorm run needs one; none was available while this was written).
    cfg = compose_run(
        "experiment=smoke",
        "logger=none",
        "trainer=ddp",
        "trainer.sync_batchnorm=true",
        "predictor=mlp_bn",
        run_dir=tmp_path,
    )
    trainer = instantiate(cfg.trainer, accelerator="cpu")
    assert isinstance(trainer.strategy, RunDDPStrategy) and trainer.num_devices == 2
    assert isinstance(trainer.strategy._layer_sync, TorchSyncBatchNorm)
    model = trainer.strategy._layer_sync.apply(build_objective(cfg))
    for part in (model.online, model.target, model.predictor):  # the teacher's BatchNorm too
        kinds = {type(m).__name__ for m in part.modules() if "BatchNorm" in type(m).__name__}
        assert kinds == {"SyncBatchNorm"}, kinds

    cpu = compose_run(
        "experiment=smoke",
        "logger=none",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.sync_batchnorm=true",
        run_dir=tmp_path / "cpu",
    )
    message = "trainer.sync_batchnorm=True: SyncBatchNorm runs on GPUs only"
    assert any(message in e for e in config_errors(cpu))
    summary = train(cpu)
    assert summary["status"] == "failed" and message in summary["error"] and summary["epochs"] == 0


def test_slurm_plugins_turn_lightnings_requeue_off_inside_slurm_jobs_only(monkeypatch):
    for key in ("SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(key, raising=False)
    assert slurm_plugins() == []  # a single run with launcher=slurm runs here, not in SLURM
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    (environment,) = slurm_plugins()
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue is False


@pytest.mark.slow
def test_a_failure_on_rank_1_ends_the_run_within_a_minute_naming_the_rank(tmp_path):
    start = time.monotonic()
    result = run_cli(
        "experiment=smoke",
        "logger=none",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=3",
        "+callbacks.boom._target_=tests.helpers.RaiseAt",
        "+callbacks.boom.step=3",
        "+callbacks.boom.rank=1",
        f"hydra.run.dir={tmp_path}",
        "trainer.strategy.timeout_s=20",  # the default is 60; the test need not wait that long
    )
    elapsed = time.monotonic() - start
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (
        summary["status"] == "failed"
        and "after rank 1 failed: RuntimeError: injected failure at step 3" in summary["error"]
    )
    assert result.returncode == 1 and elapsed < 120, (elapsed, result.stderr[-2000:])


def test_rank_1_trains_from_the_runs_config_with_its_paths_made_absolute(tmp_path, monkeypatch):
    # config.yaml says <run_dir>/… (the folder can move); read as it lies, a rank ≥ 1 once wrote
    # <run_dir>/fit_starts.txt and traceback.rank1.txt into its working directory, the repository.
    run_dir = tmp_path / "run"
    cfg = compose_run(
        "experiment=smoke",
        "logger=none",
        "+callbacks.ranks._target_=tests.helpers.RecordRanks",
        f"+callbacks.ranks.dir={run_dir}",
        run_dir=run_dir,
    )
    run_dir.mkdir()
    save_config(cfg, run_dir)
    assert f"{RUN_DIR_MARK}/checkpoints" in (run_dir / "config.yaml").read_text()
    trained = []
    monkeypatch.setattr("raft_lightning.run.train.train", trained.append)
    ddp.main([str(run_dir / "config.yaml")])
    (rebuilt,) = trained
    assert unrebased(rebuilt) == []
    assert rebuilt.paths.output_dir == str(run_dir)
    assert rebuilt.callbacks.ranks.dir == str(run_dir)


def test_a_config_with_run_dir_marks_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    cfg = compose_run("experiment=smoke", "logger=none", run_dir=run_dir)
    run_dir.mkdir()
    save_config(cfg, run_dir)
    monkeypatch.chdir(tmp_path / "run")
    summary = train(OmegaConf.load(run_dir / "config.yaml"))  # the portable form, as rank 1 once read it
    assert summary["status"] == "refused"
    assert "=<run_dir>" in summary["error"] and "read_config" in summary["error"]
    assert not (run_dir / RUN_DIR_MARK).exists()
    assert not (ROOT / RUN_DIR_MARK).exists()
