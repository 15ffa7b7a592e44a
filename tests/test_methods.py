"""SimSiam and DirectPred against their papers' definitions, each with an independent reference:
SimSiam's loss written out by hand, its stop-gradient, no teacher in the module or checkpoint;
DirectPred's predictor after a step recomputed with numpy's eigendecomposition, its running
correlation F, and its refusal of any predictor but the linear one."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from raft_lightning.losses import negative_cosine, simsiam_loss
from raft_lightning.models import LinearPredictor, MLPHead, build_backbone
from raft_lightning.objectives import DirectPred, SimSiam

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")

DIM = 8  # projection width: fewer than the 2·16 projections of a batch, so F has full rank


def make(cls, dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    module = cls(
        backbone=build_backbone("convnet", width=4),
        projector=functools.partial(MLPHead, hidden_dim=32, output_dim=DIM),
        predictor=kwargs.pop("predictor", LinearPredictor(DIM)),
        optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        **kwargs,
    )
    return module.to(dtype)


def views(b=16, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x1, x2 = (torch.randn(b, 3, 16, 16, generator=g, dtype=dtype) for _ in range(2))
    return x1, x2, torch.arange(b) % 2


# --- SimSiam ------------------------------------------------------------------------------------


def test_simsiam_loss_is_the_papers_formula():
    """L = ½ D(p1, z2) + ½ D(p2, z1), D(p, z) = −<p/‖p‖₂, z/‖z‖₂> averaged over the batch
    (Chen & He 2021, Eqs. 1 and 3), written out in numpy."""
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(5, 7, generator=g, dtype=torch.float64) for _ in range(4))

    def d(p, z):
        p, z = p.numpy(), z.numpy()
        return -np.mean(np.sum(p * z, axis=1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(z, axis=1)))

    expected = 0.5 * d(p1, z2) + 0.5 * d(p2, z1)
    assert simsiam_loss(p1, p2, z1, z2).item() == pytest.approx(expected, rel=1e-12)
    assert negative_cosine(p1, p1).item() == pytest.approx(-1.0, rel=1e-12)
    with pytest.raises(ValueError, match=r"p and z must have the same shape, got \(5, 7\) and \(5, 6\)"):
        negative_cosine(p1, z1[:, :6])


def test_simsiam_gradient_never_reaches_through_the_target_branch():
    """The step's gradient equals that of ½ D(p1, sg(z2)) + ½ D(p2, sg(z1)) with the stop-gradient
    written out (z detached), and differs from the same loss without it."""
    module = make(SimSiam)
    batch = views()
    module.training_step(batch, 0)["loss"].backward()
    step_grads = [p.grad.clone() for p in module.online.parameters()]

    def grads(stop_gradient: bool):
        module.zero_grad()
        x1, x2, _ = batch
        _, z1 = module.online(x1)
        _, z2 = module.online(x2)
        p1, p2 = module.predictor(z1), module.predictor(z2)
        t1, t2 = (z1.detach(), z2.detach()) if stop_gradient else (z1, z2)
        cos = nn.functional.cosine_similarity
        (-0.5 * cos(p1, t2).mean() - 0.5 * cos(p2, t1).mean()).backward()
        return [p.grad.clone() for p in module.online.parameters()]

    for a, b in zip(step_grads, grads(stop_gradient=True)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)  # float64: summation order only
    assert any(not torch.allclose(a, b) for a, b in zip(step_grads, grads(stop_gradient=False)))


def test_simsiam_has_no_target_no_teacher_and_optimises_online_and_predictor():
    module = make(SimSiam, predictor=MLPHead(DIM, 16, DIM, batch_norm=True))
    assert not hasattr(module, "target") and not hasattr(module, "teacher")
    assert not any(k.startswith("target.") for k in module.state_dict())
    optimised = {id(p) for group in module.configure_optimizers().param_groups for p in group["params"]}
    assert optimised == {id(p) for p in [*module.online.parameters(), *module.predictor.parameters()]}


def test_simsiam_refuses_weights_and_the_tangential_form():
    with pytest.raises(ValueError, match="SimSiam's loss has no weights"):
        make(SimSiam, alpha=2.0)
    with pytest.raises(ValueError, match="tangential=True: SimSiam's loss has no tangential form"):
        make(SimSiam, tangential=True)


# --- DirectPred ---------------------------------------------------------------------------------


def projections(module, batch) -> np.ndarray:
    """The predictor's input f of both views, (2B, D), in float64 numpy."""
    x1, x2, _ = batch
    with torch.no_grad():
        return torch.cat([module.online(x1)[1], module.online(x2)[1]]).numpy()


def numpy_directpred(correlation: np.ndarray, eps: float) -> np.ndarray:
    """Tian et al. 2021, Eq. 18–19: W = U diag(sqrt(s/max s) + ε) Uᵀ, F = U diag(s) Uᵀ."""
    s, u = np.linalg.eigh(correlation)
    p = np.sqrt(np.clip(s, 0, None) / s.max()) + eps
    return u @ np.diag(p) @ u.T


def test_directpred_predictor_after_steps_is_the_eigendecomposition_of_f():
    module = make(DirectPred, rho=0.3, eps=0.01)
    first, second = views(seed=1), views(seed=2)
    f_a = projections(module, first)  # the online network has not moved yet: the step's own f
    module.training_step(first, 0)
    np.testing.assert_allclose(module.correlation.numpy(), f_a.T @ f_a / len(f_a), rtol=1e-12)
    module.after_optimizer_step(1, 2)
    w = module.predictor.linear.weight.detach().numpy()
    # Tolerance: float64 on both sides; F is well conditioned (checked), where W = g(F) is
    # Lipschitz with constant ≤ 1/(2·sqrt(s_min·s_max)), so round-off (~1e-16·‖F‖) moves W by ≪ 1e-10.
    s = np.linalg.eigvalsh(f_a.T @ f_a / len(f_a))
    assert s.min() > 1e-4 * s.max()
    np.testing.assert_allclose(w, numpy_directpred(f_a.T @ f_a / len(f_a), 0.01), rtol=0, atol=1e-10)
    # Second step: F ← ρF + (1−ρ)E[ffᵀ] (the first estimate was E[ffᵀ] itself).
    f_b = projections(module, second)
    module.training_step(second, 1)
    expected_f = 0.3 * (f_a.T @ f_a / len(f_a)) + 0.7 * (f_b.T @ f_b / len(f_b))
    np.testing.assert_allclose(module.correlation.numpy(), expected_f, rtol=1e-12)
    module.after_optimizer_step(2, 2)
    w = module.predictor.linear.weight.detach().numpy()
    np.testing.assert_allclose(w, numpy_directpred(expected_f, 0.01), rtol=0, atol=1e-10)
    assert int(module.correlation_updates) == 2


def test_directpred_predictor_is_not_trained_but_passes_the_gradient_on():
    module = make(DirectPred)
    optimised = {id(p) for group in module.configure_optimizers().param_groups for p in group["params"]}
    assert optimised == {id(p) for p in module.online.parameters()}
    module.training_step(views(), 0)["loss"].backward()
    assert module.predictor.linear.weight.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.online.projector.parameters())
    assert hasattr(module, "target")  # BYOL's mean teacher


def test_directpred_state_holds_f_and_w():
    module = make(DirectPred)
    module.training_step(views(), 0)
    module.after_optimizer_step(1, 1)
    state = module.state_dict()
    assert torch.equal(state["correlation"], module.correlation) and int(state["correlation_updates"]) == 1
    fresh = make(DirectPred)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.predictor.linear.weight, module.predictor.linear.weight)
    assert torch.equal(fresh.correlation, module.correlation)


def test_directpred_refuses_other_predictors_and_bad_constants():
    with pytest.raises(ValueError, match="predictor=MLPHead: DirectPred sets a linear predictor, use predictor=linear"):
        make(DirectPred, predictor=MLPHead(DIM, 16, DIM))
    assert DirectPred.config_errors(rho=1.5) == ["rho=1.5: must be a finite number ≥ 0 and ≤ 1"]
    assert DirectPred.config_errors(eps=-0.1) == ["eps=-0.1: must be a finite number ≥ 0"]


# --- The command line ---------------------------------------------------------------------------


def test_directpred_with_another_predictor_is_refused_in_one_line():
    from raft_lightning.run.command_line import problems
    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()
    assert problems(["experiment=smoke", "loss=directpred"]) == [
        "predictor=mlp: loss=directpred sets a linear predictor from its input's correlation; use predictor=linear"
    ]
    assert problems(["experiment=smoke", "loss=directpred", "predictor=linear"]) == []


@pytest.mark.slow
def test_smoke_runs_of_simsiam_and_directpred(tmp_path):
    """docs/methods.md's commands: both run, SimSiam's checkpoint holds no target network and its
    record no τ; DirectPred's holds the teacher, W_p and F."""
    import json

    from tests.conftest import run_cli

    for name, overrides in (("simsiam", ["loss=simsiam"]), ("directpred", ["loss=directpred", "predictor=linear"])):
        result = run_cli("experiment=smoke", *overrides, f"hydra.run.dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["objective"] == name
        checkpoint = torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)
        state = checkpoint["state_dict"]
        targets = [k for k in state if k.startswith("target.")]
        if name == "simsiam":
            assert targets == [] and summary["tau"] is None
        else:
            assert targets and summary["tau"] == 0.99 and "correlation" in state
            assert int(state["correlation_updates"]) == checkpoint["global_step"] > 0  # one F update a step


# --- a method of one's own ----------------------------------------------------------------------


class PerSample(SimSiam):
    """A user's objective that forgot to average over the batch."""

    def objective(self, p1, p2, z1, z2):
        return (p1 - z2.detach()).pow(2).sum(-1)


def test_an_objective_that_returns_no_scalar_is_named_in_one_line_without_its_values():
    module = make(PerSample)
    with pytest.raises(ValueError) as caught:
        module.training_step(views(), 0)
    message = str(caught.value)
    assert message == (
        "PerSample.objective returned a tensor of shape (16,): "
        "it must return the loss as a scalar tensor (e.g. .mean())"
    )
