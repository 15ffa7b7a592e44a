"""Online probe and the per-epoch metrics, inside real Lightning fits (the EMA: test_teacher.py)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from raft_lightning.callbacks import EpochMetrics, OnlineProbe
from raft_lightning.run.build import build
from tests.helpers import fitted


def callback(trainer, cls):
    return next(c for c in trainer.callbacks if isinstance(c, cls))


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


def test_probe_state_is_saved_in_the_checkpoint(smoke_cfg, tmp_path):
    fitted(smoke_cfg("trainer.max_epochs=1"))
    ckpt = torch.load(tmp_path / "run0" / "checkpoints" / "last.ckpt", weights_only=True)
    probe = next(v for k, v in ckpt["callbacks"].items() if k.startswith("OnlineProbe"))
    assert set(probe) == {"classifier", "optimizer", "loss_mean"}  # loss_mean: the epoch's train/probe_loss so far
