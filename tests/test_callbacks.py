"""EMA target update, online probe and the per-epoch metrics, inside real Lightning fits."""

from __future__ import annotations

import copy
import math

import lightning as L
import pytest
import torch
from torch import nn

from raft_lightning.callbacks import EMA, EpochMetrics, OnlineProbe, ema_update_
from raft_lightning.run.build import build


class Recorder(L.Callback):
    """Records (global_step, τ) after every batch, placed after the EMA callback."""

    def __init__(self):
        self.taus = []

    def on_train_batch_end(self, trainer, pl_module, *args):
        ema = next(c for c in trainer.callbacks if isinstance(c, EMA))
        self.taus.append((trainer.global_step, ema.current_tau))


def fitted(cfg, *extra):
    L.seed_everything(cfg.seed)
    datamodule, model, trainer = build(cfg)
    trainer.callbacks.extend(extra)
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def callback(trainer, cls):
    return next(c for c in trainer.callbacks if isinstance(c, cls))


def test_ema_update_is_the_paper_formula_in_place():
    torch.manual_seed(0)
    online, target = nn.Linear(4, 3), nn.Linear(4, 3)
    before = copy.deepcopy(target)
    ptrs = [p.data_ptr() for p in target.parameters()]
    ema_update_(target, online, tau=0.9)
    for t, b, o in zip(target.parameters(), before.parameters(), online.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)
    assert [p.data_ptr() for p in target.parameters()] == ptrs  # updated in place, never rebound


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_tau_follows_its_curve_step_by_step(smoke_cfg, schedule):
    cfg = smoke_cfg(f"callbacks.ema.schedule={schedule}", "callbacks.ema.tau=0.9", "trainer.max_epochs=3")
    recorder = Recorder()
    fitted(cfg, recorder)
    total = 3 * (cfg.data.train_size // cfg.data.batch_size)
    assert [step for step, _ in recorder.taus] == list(range(1, total + 1))
    for step, tau in recorder.taus:
        expected = 0.9 if schedule == "constant" else 1 - 0.1 * (math.cos(math.pi * step / total) + 1) / 2
        assert tau == pytest.approx(expected, abs=1e-12)
    if schedule == "cosine":
        assert recorder.taus[-1][1] == pytest.approx(1.0)


def test_ema_runs_once_per_optimiser_step_under_gradient_accumulation(smoke_cfg):
    cfg = smoke_cfg("trainer.max_epochs=1", "+trainer.accumulate_grad_batches=2")
    model, trainer = fitted(cfg)
    assert callback(trainer, EMA).state_dict()["last_step"] == trainer.global_step == 2


def test_target_is_the_ema_of_the_online_parameters(smoke_cfg):
    """Replay the EMA from the online weights seen after each step: the target must match."""
    cfg = smoke_cfg("trainer.max_epochs=1", "callbacks.ema.tau=0.5")

    class Replay(L.Callback):
        def on_fit_start(self, trainer, pl_module):
            self.expected = [p.detach().clone() for p in pl_module.target.parameters()]

        def on_train_batch_end(self, trainer, pl_module, *args):
            for e, o in zip(self.expected, pl_module.online.parameters()):
                e.mul_(0.5).add_(o.detach(), alpha=0.5)

    replay = Replay()
    model, _ = fitted(cfg, replay)
    for e, t in zip(replay.expected, model.target.parameters()):
        torch.testing.assert_close(t, e)


def test_batchnorm_policy_target_buffers_come_from_its_own_forward_passes(smoke_cfg):
    cfg = smoke_cfg("trainer.max_epochs=1")
    L.seed_everything(0)
    datamodule, model, trainer = build(cfg)
    start = {k: v.clone() for k, v in model.target.named_buffers()}
    # The EMA update alone leaves every buffer untouched ...
    ema_update_(model.target, model.online, 0.5)
    assert all(torch.equal(v, start[k]) for k, v in model.target.named_buffers())
    # ... while training moves them, through the target's own train-mode forward passes,
    # to values that are not the online network's.
    trainer.fit(model, datamodule=datamodule)
    target, online = dict(model.target.named_buffers()), dict(model.online.named_buffers())
    means = [k for k in target if k.endswith("running_mean")]
    assert means and all(not torch.equal(target[k], start[k]) for k in means)
    assert any(not torch.allclose(target[k], online[k]) for k in means)
    assert all(target[k].item() == trainer.global_step * 2 for k in target if k.endswith("num_batches_tracked"))


def test_ema_state_is_saved_in_the_checkpoint(smoke_cfg, tmp_path):
    cfg = smoke_cfg("trainer.max_epochs=1", "callbacks.ema.schedule=cosine")
    model, trainer = fitted(cfg)
    ckpt = torch.load(tmp_path / "run0" / "checkpoints" / "last.ckpt", weights_only=False)
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("EMA"))
    assert state == callback(trainer, EMA).state_dict() and state["last_step"] == trainer.global_step
    assert any(k.startswith("target.") for k in ckpt["state_dict"])
    probe = next(v for k, v in ckpt["callbacks"].items() if k.startswith("OnlineProbe"))
    assert set(probe) == {"classifier", "optimizer", "loss_mean"}  # loss_mean: the epoch's train/probe_loss so far


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_probe_gradient_never_reaches_the_encoder(smoke_cfg):
    datamodule, model, trainer = build(smoke_cfg())
    datamodule.setup("fit")
    probe = callback(trainer, OnlineProbe)
    probe.setup(trainer, model, "fit")
    x1, x2, y = next(iter(datamodule.train_dataloader()))
    outputs = model.training_step((x1, x2, y), 0)
    before = probe.classifier.weight.detach().clone()
    probe.on_train_batch_end(trainer, model, outputs, (x1, x2, y), 0)
    assert not torch.equal(probe.classifier.weight, before)  # the probe learned ...
    assert all(p.grad is None for p in model.parameters())  # ... and the encoder saw nothing


def test_probe_reads_the_online_encoder_not_the_target(smoke_cfg):
    cfg = smoke_cfg("trainer.max_epochs=1")
    model, trainer = fitted(cfg)
    with torch.no_grad():  # poison the teacher: a probe reading it would see NaN
        for p in model.target.parameters():
            p.fill_(float("nan"))
    results = trainer.validate(model, datamodule=trainer.datamodule, verbose=False)
    assert 0 <= results[0]["val/probe_acc"] <= 1
    x, _ = next(iter(trainer.datamodule.val_dataloader()))
    model.eval()
    torch.testing.assert_close(model.validation_step((x, _), 0)["features"], model.online.backbone(x))


def test_epoch_metrics_has_one_row_per_epoch(smoke_cfg, tmp_path):
    cfg = smoke_cfg("trainer.max_epochs=3")
    _, trainer = fitted(cfg)
    rows = callback(trainer, EpochMetrics).rows
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert {"train/loss", "train/align", "train/cross", "train/uniform", "train/tau", "val/probe_acc"} <= set(row)
    text = (tmp_path / "run0" / "metrics.csv").read_text().splitlines()
    assert text[0].startswith("epoch,step,") and len(text) == 4


class StepLosses(L.Callback):
    """Per epoch: the loss of every step, and the probe's running loss sum and weight after it."""

    def __init__(self):
        self.losses, self.probe_sums = {}, {}

    def on_train_batch_end(self, trainer, pl_module, outputs, *args):
        self.losses.setdefault(trainer.current_epoch, []).append(float(outputs["loss"]))
        probe = callback(trainer, OnlineProbe).loss_mean
        self.probe_sums[trainer.current_epoch] = (float(probe.mean_value), float(probe.weight))


def test_epoch_metrics_are_means_over_every_step_of_their_epoch(smoke_cfg):
    # Lightning is handed each epoch-mean Metric once per epoch; the values must still cover
    # every step of that epoch, and only that epoch.
    steps = StepLosses()
    _, trainer = fitted(smoke_cfg("trainer.max_epochs=3"), steps)
    rows = callback(trainer, EpochMetrics).rows
    assert len(rows) == 3
    for epoch, row in enumerate(rows):
        losses = steps.losses[epoch]
        assert len(losses) == 4
        assert row["train/loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
        total, weight = steps.probe_sums[epoch]
        assert weight == 4 * 32  # this epoch's samples only: reset between epochs
        assert row["train/probe_loss"] == pytest.approx(total / weight, rel=1e-5)


def test_ema_config_errors():
    assert EMA.config_errors(tau=1.0) == ["tau=1.0: must be in [0, 1)"]
    assert EMA.config_errors(tau=-0.1)
    assert EMA.config_errors(schedule="linear") == ["schedule='linear': choose one of constant, cosine"]
    with pytest.raises(ValueError, match="tau=1.5"):
        EMA(tau=1.5)


def test_knn_monitor_runs_every_n_epochs_and_at_the_last(smoke_cfg):
    from raft_lightning.callbacks import KNNMonitor

    calls = []

    class Spy(KNNMonitor):
        def on_validation_epoch_end(self, trainer, pl_module):
            before = trainer.callback_metrics.get("val/knn_acc")
            super().on_validation_epoch_end(trainer, pl_module)
            calls.append(trainer.callback_metrics.get("val/knn_acc") is not before)

    cfg = smoke_cfg("trainer.max_epochs=5", "callbacks.knn.every_n_epochs=2", "data.train_size=64")
    L.seed_everything(0)
    datamodule, model, trainer = build(cfg)
    trainer.callbacks = [Spy(every_n_epochs=2) if isinstance(c, KNNMonitor) else c for c in trainer.callbacks]
    trainer.fit(model, datamodule=datamodule)
    assert calls == [False, True, False, True, True]  # epochs 2 and 4, and the last
