"""logger=wandb: offline by default, one W&B run per run of a sweep, all in the sweep's group."""

from __future__ import annotations

import csv

import pytest

from raft_lightning.run.tracking import run_id
from tests.conftest import run_cli
from tests.wandb_records import offline_runs

pytest.importorskip("wandb")


@pytest.mark.slow
def test_a_sweep_logs_one_offline_wandb_run_per_run_in_one_group(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline must be the default, not the environment's
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    sweep = tmp_path / "table1"
    small = ("data.train_size=64", "data.val_size=32", "data.batch_size=16")
    result = run_cli("-m", "experiment=smoke", *small, "logger=wandb", "loss=byol,raft", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    ids = set()
    for num, objective in (("0", "byol"), ("1", "raft")):
        (run,) = offline_runs(sweep / num)  # finished between runs: the second did not reuse the first
        assert run["id"] == run_id(str(sweep / num)) and run["group"] == "table1"
        assert run["name"] == f"loss={objective}" and run["project"] == "raft-lightning"  # what the sweep varies
        assert set(run["tags"]) == {f"objective={objective}", "predictor=mlp", "seed=0", "alpha=1.0", "beta=1.0"}
        config = run["config"]  # the full resolved config, and the options it was composed from
        assert config["choices"]["loss"] == objective and config["loss"]["_target_"].endswith(("BYOL", "RAFT"))
        assert config["paths"]["output_dir"] == str(sweep / num) and config["trainer"]["max_epochs"] == 2
        logged = [row["train/align"] for row in run["history"] if "train/align" in row]
        rows = list(csv.DictReader(open(sweep / num / "metrics.csv")))
        assert logged == [float(row["train/align"]) for row in rows] and len(logged) == 2
        assert [row["val/probe_acc"] for row in run["history"] if "val/probe_acc" in row] == [
            float(row["val/probe_acc"]) for row in rows
        ]
        assert run["exit_code"] == 0
        ids.add(run["id"])
    assert len(ids) == 2
