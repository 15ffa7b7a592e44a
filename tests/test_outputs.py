"""What a researcher sees: step-level curves, a W&B run with the results, one line per run, the
project's --help, and a linear evaluation that a constant feature cannot blow up."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import pytest
import torch

from raft_lightning.evaluation.linear import linear_accuracy
from raft_lightning.run.train import train
from tests.conftest import ROOT, run_cli
from tests.wandb_records import offline_runs

SMALL = ("experiment=smoke", "data.train_size=64", "data.val_size=32", "data.batch_size=16")  # 4 steps an epoch
STEP_SERIES = ("train_step/loss", "train_step/align", "train_step/uniform", "train_step/cross", "train_step/probe_loss")


def test_csv_log_has_step_level_series_every_log_every_n_steps(smoke_cfg):
    cfg = smoke_cfg(*SMALL[1:], "logger=csv", "trainer.log_every_n_steps=2", "trainer.max_epochs=2")
    assert train(cfg)["status"] == "ok"
    rows = list(csv.DictReader(open(f"{cfg.paths.output_dir}/csv/metrics.csv")))
    stepped = [r for r in rows if r.get("train_step/loss")]
    assert [int(r["step"]) for r in stepped] == [1, 3, 5, 7]  # Lightning's 0-based step of every 2nd step
    assert all(r[key] for r in stepped for key in STEP_SERIES)
    assert len([r for r in rows if r.get("train/align")]) == 2  # the epoch means as before


@pytest.mark.slow
def test_wandb_run_has_step_rows_final_results_and_a_new_id_in_a_cleaned_folder(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep = tmp_path / "sweep"
    args = ("-m", *SMALL, "logger=[csv,wandb]", "trainer.log_every_n_steps=1", "tags=[ablation]", "eval.linear=true")
    first = run_cli(*args, "eval.epochs=2", f"hydra.sweep.dir={sweep}")
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = offline_runs(sweep / "0")
    assert len([h for h in run["history"] if "train_step/loss" in h]) == 8  # every step of 2 epochs
    assert "ablation" in run["tags"] and "objective=byol" in run["tags"]
    final = {k.removeprefix("final/"): v for k, v in run["summary"].items() if k.startswith("final/")}
    assert final["status"] == "ok" and final["epochs"] == 2
    assert {"align", "uniform", "probe_acc", "knn_acc", "linear_acc"} <= set(final)
    assert (sweep / "0" / "csv" / "metrics.csv").is_file()  # logger=[csv,wandb]: both
    shutil.rmtree(sweep)  # what `make demo` does before it runs
    again = run_cli(*args, "eval.epochs=2", f"hydra.sweep.dir={sweep}")
    assert again.returncode == 0, again.stderr[-3000:]
    (rerun,) = offline_runs(sweep / "0")
    assert rerun["id"] != run["id"]  # a new run, not merged into the old one when synced


def test_each_run_prints_one_result_line_with_its_numbers(smoke_cfg, caplog):
    cfg = smoke_cfg("trainer.max_epochs=1", "eval.linear=true", "eval.epochs=2")
    with caplog.at_level("INFO", logger="raft_lightning.run.train"):
        summary = train(cfg)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run finished:")]
    assert f"L_align {summary['align']:.3f}" in line and f"linear {100 * summary['linear_acc']:.1f}%" in line
    assert str(cfg.paths.output_dir) in line


@pytest.mark.slow
def test_a_sweep_ends_with_its_runs_and_no_lightning_boilerplate(tmp_path):
    result = run_cli("-m", *SMALL, "loss=byol,raft", "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert f"sweep {tmp_path}: 2 run(s): 2 ok" in out and f"raft-report {tmp_path}" in out
    assert "💡 Tip" not in out and "LeafSpec" not in out and "The `srun` command" not in out


def test_help_lists_the_groups_the_card_command_and_the_presets():
    done = subprocess.run(
        [sys.executable, "-m", "raft_lightning.train", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    for text in ("loss: byol, byol_prime, raft, random, supervised", "predictor=mlp,linear,none", "experiment=smoke"):
        assert text in done.stdout, text


def test_a_constant_feature_is_not_blown_up_by_standardisation():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    informative = labels[:, None].float() + 0.3 * torch.randn(400, 1, generator=g)
    constant = torch.zeros(400, 1)  # constant on the training split...
    train_x = torch.cat([informative, constant], 1)
    test_x = torch.cat([informative, torch.full((400, 1), 0.01)], 1)  # ...and 0.01 on the test split
    accuracy = linear_accuracy(train_x, labels, test_x, labels, num_classes=2, epochs=30, lr=1e-2)
    clean = linear_accuracy(train_x[:, :1], labels, test_x[:, :1], labels, num_classes=2, epochs=30, lr=1e-2)
    assert accuracy > 0.8 and abs(accuracy - clean) < 0.05  # with std + 1e-6 the 0.01 became 10 000
