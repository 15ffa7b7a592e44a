"""Every config group composes and instantiates; presets hold; bad values get one clear message."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from raft_lightning.train import build_objective
from raft_lightning.validation import config_errors
from tests.conftest import CONF, compose_run

OPTIONS = {
    group: sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    for group in ("model", "predictor", "loss", "optimizer", "data", "trainer", "callbacks", "logger", "experiment")
}


def test_the_groups_have_the_options_the_paper_needs():
    assert OPTIONS["loss"] == ["byol", "byol_prime", "raft"]
    assert OPTIONS["predictor"] == ["linear", "linear_identity", "mlp", "mlp_bn", "none"]
    assert OPTIONS["model"] == ["convnet", "resnet18", "resnet18_cifar"]
    assert {"cifar10", "fashion_mnist", "synthetic"} <= set(OPTIONS["data"])
    assert {"paper", "smoke", "demo"} <= set(OPTIONS["experiment"])


def test_defaults_are_the_papers_setting(tmp_path):
    cfg = compose_run(run_dir=tmp_path)
    assert cfg.model.backbone.name == "resnet18" and cfg.data._target_.endswith("CIFAR10DataModule")
    assert cfg.data.image_size == 96 and cfg.data.batch_size == 128
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 3e-4 and cfg.optimizer.weight_decay == 0
    assert cfg.trainer.max_epochs == 300 and cfg.callbacks.ema.tau == 0.996 and cfg.callbacks.ema.schedule == "constant"
    assert cfg.model.projector.hidden_dim == 512 and cfg.model.projector.output_dim == 128
    assert cfg.predictor.batch_norm is False and cfg.predictor.hidden_dim == 512
    paper = compose_run("experiment=paper", run_dir=tmp_path)
    assert paper.model == cfg.model and paper.data == cfg.data and paper.optimizer == cfg.optimizer


@pytest.mark.parametrize("model", OPTIONS["model"])
@pytest.mark.parametrize("predictor", OPTIONS["predictor"])
def test_model_and_predictor_options_build(model, predictor, tmp_path):
    cfg = compose_run(f"model={model}", f"predictor={predictor}", "loss=raft", run_dir=tmp_path)
    module = build_objective(cfg)
    size = 32 if model != "resnet18" else 64
    x = torch.randn(2, 3, size, size)
    module.eval()
    h, f = module.online(x)
    assert f.shape == (2, 128) and module.predictor(f).shape == (2, 128)


@pytest.mark.parametrize("loss", OPTIONS["loss"])
def test_loss_options_pick_their_module(loss, tmp_path):
    cfg = compose_run(f"loss={loss}", "model=convnet", run_dir=tmp_path)
    module = build_objective(cfg)
    assert type(module).__name__ == {"byol": "BYOL", "byol_prime": "BYOLPrime", "raft": "RAFT"}[loss]


@pytest.mark.parametrize("group", ["optimizer", "trainer", "logger", "data"])
def test_other_groups_instantiate(group, tmp_path):
    for option in OPTIONS[group]:
        cfg = compose_run(f"{group}={option}", run_dir=tmp_path)
        node = cfg[group]
        if group == "optimizer":
            instantiate(node)([torch.nn.Parameter(torch.zeros(1))])
        elif group == "logger":
            assert all(instantiate(n) is not None for n in (node or {}).values())
        elif group == "data":
            dm = instantiate(node)
            assert dm.batch_size == node.batch_size
        else:
            assert instantiate(node, accelerator="cpu").max_epochs == node.max_epochs


@pytest.mark.parametrize("experiment", OPTIONS["experiment"])
def test_experiments_compose_and_validate(experiment, tmp_path):
    cfg = compose_run(f"experiment={experiment}", run_dir=tmp_path)
    errors = config_errors(cfg)
    assert errors == [] or all("CIFAR-10 not found" in e for e in errors)  # CIFAR-10 is absent here


def test_smoke_composes_with_every_predictor_and_loss(tmp_path):
    for loss in OPTIONS["loss"]:
        for predictor in OPTIONS["predictor"]:
            cfg = compose_run("experiment=smoke", f"loss={loss}", f"predictor={predictor}", run_dir=tmp_path)
            assert config_errors(cfg) == []
            build_objective(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("loss.alpha=-1", "loss.alpha=-1: must be a finite number ≥ 0"),
        ("loss.beta=nan", "loss.beta=nan: must be a finite number ≥ 0"),
        ("loss.alpha=2", "loss.alpha=2, beta=1.0: BYOL's loss has no weights"),
        ("callbacks.ema.tau=1.0", "callbacks.ema.tau=1.0: must be in [0, 1)"),
        ("callbacks.ema.tau=-0.5", "callbacks.ema.tau=-0.5: must be in [0, 1)"),
        ("data.batch_size=1", "data.batch_size=1: must be an integer ≥ 2"),
        ("model.backbone.name=vgg", "model.backbone.name='vgg': unknown backbone; choose one of resnet18"),
        ("data.root=/nonexistent", "data.root='/nonexistent': CIFAR-10 not found there"),
        ("trainer.max_epochs=-1", "trainer.max_epochs=-1: must be an integer ≥ 0"),
    ],
)
def test_bad_values_get_one_clear_message(override, message, tmp_path):
    data = [] if override.startswith("data.root") else ["data=synthetic"]
    cfg = compose_run(*data, override, run_dir=tmp_path)
    errors = config_errors(cfg)
    assert len(errors) == 1 and errors[0].startswith(message), errors
