"""The mean teacher, owned by the objectives that have one (objectives/teacher.py), inside real
Lightning fits: the EMA formula, its τ schedule, once per optimiser step, the BatchNorm policy,
the checkpoint; and Algorithm 1's numbers pinned against the path before the refactor."""

from __future__ import annotations

import copy
import math

import lightning as L
import pytest
import torch
from torch import nn

from raft_lightning.losses import byol_loss, byol_prime_loss, raft_loss
from raft_lightning.objectives import EMA, ema_update_
from raft_lightning.run.build import build
from raft_lightning.theory.harness import build_module, fit, smoke_batches
from tests.helpers import fitted


class Recorder(L.Callback):
    """Records (global_step, τ) after every batch: after the optimiser step and the EMA update."""

    def __init__(self):
        self.taus = []

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.taus.append((trainer.global_step, pl_module.current_tau))


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
    cfg = smoke_cfg(f"teacher.schedule={schedule}", "teacher.tau=0.9", "trainer.max_epochs=3")
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
    L.seed_everything(cfg.seed)
    datamodule, model, trainer = build(cfg)
    steps = []
    update = model.after_optimizer_step
    model.after_optimizer_step = lambda step, total: (steps.append((step, total)), update(step, total))
    trainer.fit(model, datamodule=datamodule)
    assert steps == [(1, 2), (2, 2)] and trainer.global_step == 2  # 4 batches, 2 optimiser steps


def test_target_is_the_ema_of_the_online_parameters(smoke_cfg):
    """Replay the EMA from the online weights seen after each step: the target must match."""
    cfg = smoke_cfg("trainer.max_epochs=1", "teacher.tau=0.5")

    class Replay(L.Callback):
        def on_fit_start(self, trainer, pl_module):
            self.expected = [p.detach().clone() for p in pl_module.target.parameters()]

        def on_train_batch_end(self, trainer, pl_module, *args):
            for e, o in zip(self.expected, pl_module.online.parameters()):
                e.mul_(0.5).add_(o.detach(), alpha=0.5)

    replay = Replay()
    model, _ = fitted(cfg, replay)
    assert model.teacher.tau == 0.5
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


def test_teacher_is_in_the_module_and_its_checkpoint_not_a_callback(smoke_cfg, tmp_path):
    cfg = smoke_cfg("trainer.max_epochs=1", "teacher.schedule=cosine")
    model, trainer = fitted(cfg)
    ckpt = torch.load(tmp_path / "run0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(k.startswith("target.") for k in ckpt["state_dict"])
    assert not any("EMA" in k for k in ckpt["callbacks"])  # τ is a function of the step: no state
    assert model.current_tau == model.teacher.tau_at(trainer.global_step, int(trainer.estimated_stepping_batches))


def test_ema_config_errors():
    assert EMA.config_errors(tau=1.0) == ["tau=1.0: must be in [0, 1)"]
    assert EMA.config_errors(tau=-0.1)
    assert EMA.config_errors(schedule="linear") == ["schedule='linear': choose one of constant, cosine"]
    assert EMA.config_errors(final_tau=1.5) == ["final_tau=1.5: must be in [0, 1]"]
    with pytest.raises(ValueError, match="tau=1.5"):
        EMA(tau=1.5)


def test_teacher_free_objectives_get_no_teacher_and_record_no_tau(smoke_cfg):
    from raft_lightning.run.record import RunRecord

    for loss in ("simsiam", "supervised", "random"):
        cfg = smoke_cfg(f"loss={loss}")
        _, model, _ = build(cfg)
        assert not hasattr(model, "target") and not hasattr(model, "teacher"), loss
        record = RunRecord.from_config(cfg, {"loss": loss})
        assert record.tau is None and record.tau_schedule is None, loss
    record = RunRecord.from_config(smoke_cfg("loss=byol"), {"loss": "byol"})
    assert record.tau == 0.99 and record.tau_schedule == "constant"


# --- Algorithm 1's numbers, pinned: the refactor moved the EMA from a callback into the module ---


def old_path(loss_name: str, steps: int) -> dict[str, torch.Tensor]:
    """Algorithm 1 as the code before the teacher moved into the objectives ran it, written out
    here: both views through f_θ and q_w, the target's projections without gradient, the loss,
    Adam's step, then ξ ← τξ + (1−τ)θ (the callback's ``torch._foreach_lerp_``)."""
    loss_fn = {"byol": byol_loss, "byol_prime": byol_prime_loss, "raft": raft_loss}[loss_name]
    module = build_module(loss_name, "mlp", dtype=torch.float32)
    online, predictor = module.online, module.predictor
    target = copy.deepcopy(online).requires_grad_(False)
    torch.testing.assert_close(dict(target.state_dict()), dict(module.target.state_dict()), rtol=0, atol=0)
    optimizer = module.configure_optimizers()
    tau = module.teacher.tau
    for x1, x2, _ in smoke_batches(steps):
        _, f1 = online(x1)
        _, f2 = online(x2)
        p1, p2 = predictor(f1), predictor(f2)
        with torch.no_grad():
            _, z1 = target(x1)
            _, z2 = target(x2)
        loss = loss_fn(p1, p2, z1, z2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), 1.0 - tau)
    return {
        **{f"online.{k}": v for k, v in online.state_dict().items()},
        **{f"target.{k}": v for k, v in target.state_dict().items()},
        **{f"predictor.{k}": v for k, v in predictor.state_dict().items()},
    }


@pytest.mark.parametrize("loss", ["byol", "byol_prime", "raft"])
def test_teacher_methods_give_the_numbers_of_the_old_path_bitwise(loss):
    steps = 3
    expected = old_path(loss, steps)
    module = build_module(loss, "mlp", dtype=torch.float32)
    fit(module, smoke_batches(steps))
    state = {k: v for k, v in module.state_dict().items() if k.split(".")[0] in ("online", "target", "predictor")}
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_an_old_callbacks_ema_override_names_its_new_key():
    from raft_lightning.run.command_line import problems
    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()
    assert problems(["experiment=smoke", "callbacks.ema.tau=0.9"]) == [
        "callbacks.ema.tau=0.9: callbacks.ema is now the teacher group; use teacher.tau=0.9"
    ]
    assert problems(["-m", "experiment=smoke", "callbacks.ema.schedule=cosine,constant"]) == [
        "callbacks.ema.schedule=cosine,constant: callbacks.ema is now the teacher group; "
        "use teacher.schedule=cosine,constant"
    ]
    assert problems(["experiment=smoke", "teacher=null"]) == ["teacher=null: a run needs a teacher; choose one of ema"]
