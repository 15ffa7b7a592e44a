"""train(): the summary, the metrics file, determinism, and what a run that goes wrong leaves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from raft_lightning.run.provenance import cpu_model
from raft_lightning.run.train import train

SCHEMA = {
    "objective": str,
    "predictor": str,
    "backbone": str,
    "data": str,
    "seed": int,
    "alpha": float,
    "beta": float,
    "tangential": bool,
    "tau": float,
    "lr": float,
    "batch_size": int,
    "max_epochs": int,
    "epochs": int,
    "align": float,
    "uniform": float,
    "probe_acc": float,
    "linear_acc": type(None),
    "status": str,
    "error": type(None),
    "wall_time_s": float,
    "checkpoint": str,
    "git_sha": (str, type(None)),
    "git_dirty": (bool, type(None)),
    "versions": dict,
    "device": str,
    "data_files": type(None),  # a dataset's fixed files; an image folder's: tests/test_data_sources.py
}


def run_dir(cfg) -> Path:
    return Path(cfg.paths.output_dir)


def test_summary_schema_and_metrics_file(smoke_cfg):
    cfg = smoke_cfg("loss=raft", "predictor=linear", "seed=2", "trainer.max_epochs=3")
    summary = train(cfg)
    on_disk = json.loads((run_dir(cfg) / "summary.json").read_text())
    assert on_disk == summary
    assert set(SCHEMA) <= set(summary)
    for key, kind in SCHEMA.items():
        assert isinstance(summary[key], kind), (key, summary[key])
    assert (summary["objective"], summary["predictor"], summary["backbone"], summary["data"]) == (
        "raft",
        "linear",
        "convnet",
        "synthetic_tiny",
    )
    assert summary["status"] == "ok" and summary["seed"] == 2 and summary["epochs"] == summary["max_epochs"] == 3
    assert summary["versions"]["torch"] == torch.__version__ and summary["device"] == f"cpu ({cpu_model()})"
    assert 0 <= summary["probe_acc"] <= 1 and (run_dir(cfg) / summary["checkpoint"]).is_file()
    rows = list(csv.DictReader(open(run_dir(cfg) / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert summary["align"] == pytest.approx(sum(float(r["train/align"]) for r in rows) / 3)
    assert summary["uniform"] == pytest.approx(sum(float(r["train/uniform"]) for r in rows) / 3)
    assert summary["probe_acc"] == pytest.approx(float(rows[-1]["val/probe_acc"]))


def test_align_and_uniform_average_the_last_ten_epochs(smoke_cfg):
    cfg = smoke_cfg("trainer.max_epochs=12", "data.train_size=64")
    summary = train(cfg)
    rows = list(csv.DictReader(open(run_dir(cfg) / "metrics.csv")))
    assert len(rows) == 12
    assert summary["align"] == pytest.approx(sum(float(r["train/align"]) for r in rows[2:]) / 10)


def test_same_seed_same_numbers(smoke_cfg):
    first, second, other = (train(smoke_cfg(f"seed={s}", "loss=byol_prime")) for s in (5, 5, 6))
    keys = ("align", "uniform", "probe_acc")
    assert [first[k] for k in keys] == [second[k] for k in keys]
    assert [first[k] for k in keys] != [other[k] for k in keys]


def test_same_seed_same_weights(smoke_cfg, tmp_path):
    a, b = smoke_cfg("seed=1"), smoke_cfg("seed=1")
    train(a), train(b)
    wa = torch.load(run_dir(a) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    wb = torch.load(run_dir(b) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_nonfinite_loss_is_diverged_not_failed(smoke_cfg):
    # β ≤ the largest float32 (validation refuses more), β·L_cross (≈ 2 at the start) overflows it
    cfg = smoke_cfg("loss=raft", "loss.beta=3e38")
    summary = train(cfg)
    assert summary["status"] == "diverged" and "loss became -inf" in summary["error"], summary
    assert json.loads((run_dir(cfg) / "summary.json").read_text())["status"] == "diverged"


def test_a_loss_that_stops_being_finite_between_checks_is_caught_at_the_epochs_end(smoke_cfg):
    """With the guard checking every 100 steps, a run of 4-step epochs is checked at each epoch's
    last step: it used to finish ok, its summary.json full of NaN that every reader refuses."""
    from raft_lightning.readers import read_summary

    cfg = smoke_cfg("optimizer.lr=1e12", "callbacks.divergence.check_every_n_steps=100")
    summary = train(cfg)
    assert summary["status"] == "diverged", summary
    assert summary["error"] == (
        "loss became nan at epoch 1, step 3 (first seen there: checked every 100 steps and at each epoch's last, "
        "it may have stopped being finite at any step from 1)"
    )
    assert read_summary(run_dir(cfg))["status"] == "diverged"
    assert not (run_dir(cfg) / "checkpoints" / "last.ckpt").exists()  # no epoch ended on those weights


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        # a regular check that finds it names the steps since the last check, as the epoch's last does
        (("callbacks.divergence.check_every_n_steps=3",), "step 3 (first seen there: checked every 3 steps"),
        # validation in mid-epoch: its checkpoint would have held the weights of an unchecked step
        (("callbacks.divergence.check_every_n_steps=100", "+trainer.val_check_interval=2"), "weights not finite"),
    ],
)
def test_no_checkpoint_of_a_diverged_run_holds_weights_that_are_not_finite(smoke_cfg, settings, error):
    from raft_lightning.readers import read_checkpoint

    cfg = smoke_cfg("optimizer.lr=1e12", *settings)
    summary = train(cfg)
    assert summary["status"] == "diverged" and error in summary["error"], summary
    for path in (run_dir(cfg) / "checkpoints").glob("*.ckpt"):
        read_checkpoint(path)  # refuses weights that are not finite


def test_a_probe_that_diverges_is_the_runs_divergence(smoke_cfg):
    """The online probe's classifier is trained state too: a probe whose weights stop being finite
    made an ok run with a probe accuracy read off NaN weights, and a checkpoint of them."""
    probe = ("callbacks.probe.optimizer._target_=torch.optim.SGD", "callbacks.probe.optimizer.lr=1e38")
    cfg = smoke_cfg(*probe)
    summary = train(cfg)
    assert summary["status"] == "diverged" and "callbacks.OnlineProbe" in summary["error"], summary
    assert not (run_dir(cfg) / "checkpoints" / "last.ckpt").exists()
    cfg = smoke_cfg(*probe, "callbacks.checkpoint.every_n_epochs=3")  # no save for the writer to refuse
    summary = train(cfg)
    assert summary["status"] == "diverged" and "at the end of training" in summary["error"], summary


def test_a_record_never_says_ok_beside_a_number_that_is_not_finite(smoke_cfg, monkeypatch):
    """Whatever escaped the guard (a measure of the last epoch, say), ok means finite numbers."""
    import math

    from raft_lightning.readers import read_summary
    from raft_lightning.run.record import RunRecord

    real = RunRecord.summarise

    def summarise(self, rows):
        real(self, rows)
        if rows:
            self.results["uniform_projector"] = math.nan

    monkeypatch.setattr(RunRecord, "summarise", summarise)
    cfg = smoke_cfg()
    summary = train(cfg)
    assert summary["status"] == "diverged" and summary["error"] == (
        "uniform_projector nan at the end of training: not finite"
    ), summary
    assert read_summary(run_dir(cfg))["status"] == "diverged"


def test_a_run_that_raises_is_failed_with_its_error(smoke_cfg):
    cfg = smoke_cfg("+callbacks.boom._target_=tests.helpers.RaiseAt", "+callbacks.boom.step=3")
    summary = train(cfg)
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: injected failure at step 3"
    assert "Traceback" in (run_dir(cfg) / "traceback.txt").read_text()
    assert summary["checkpoint"] is None  # it failed in its first epoch, before any checkpoint


def test_fewer_images_than_one_batch_is_caught_before_training(smoke_cfg):
    cfg = smoke_cfg("data.train_size=16")  # fewer images than one batch of 32
    summary = train(cfg)
    assert summary["status"] == "failed" and summary["epochs"] == 0
    assert "data.batch_size=32: more than the 16 training images (data.train_size)" in summary["error"]
    assert not (run_dir(cfg) / "traceback.txt").exists()


def test_invalid_config_fails_before_training(smoke_cfg):
    cfg = smoke_cfg("teacher.tau=2")
    summary = train(cfg)
    assert summary["status"] == "failed" and "teacher.tau=2: must be in [0, 1)" in summary["error"]
    assert summary["epochs"] == 0 and summary["checkpoint"] is None
    assert not (run_dir(cfg) / "traceback.txt").exists()


def test_wandb_logger_runs_offline_without_an_account(smoke_cfg, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = smoke_cfg("logger=wandb", "trainer.max_epochs=1")
    assert cfg.logger.wandb.mode == "offline"
    summary = train(cfg)
    assert summary["status"] == "ok", summary["error"]
    assert list((run_dir(cfg) / "wandb").glob("offline-run-*"))
