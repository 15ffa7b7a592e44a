"""The paper's theory as checks (raft_lightning.theory), and mutants of the losses they must reject."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from raft_lightning import losses
from raft_lightning.contracts import StepOutput
from raft_lightning.objectives import SelfSupervised, WithTeacher
from raft_lightning.run.build import build
from raft_lightning.run.train import train
from raft_lightning.theory import bound, cli, harness
from raft_lightning.theory import correspondence as corr
from raft_lightning.theory import tangential as tang

ORIGINAL = {
    name: getattr(losses, name) for name in ("alignment_loss", "cross_model_loss", "byol_loss", "byol_prime_loss")
}


pytestmark = pytest.mark.usefixtures("one_thread")


# --- Theorem 4.1 -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    x=st.integers(1, 6).flatmap(
        lambda b: arrays("float64", (4, b, 3), elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))
    ),
    alpha=st.floats(1e-3, 1e3),
    beta=st.floats(1e-3, 1e3),
)
def test_theorem_4_1_for_any_inputs_and_weights(x, alpha, beta):
    """Property: L_BYOL ≤ (1/α + 1/β)·L_BYOL' (plain losses), zero rows and ties included."""
    p1, p2, z1, z2 = torch.from_numpy(x).unbind(0)
    lhs = losses.byol_loss(p1, p2, z1, z2)
    rhs = (1 / alpha + 1 / beta) * losses.byol_prime_loss(p1, p2, z1, z2, alpha, beta)
    assert lhs <= rhs * (1 + 1e-12) + 1e-15


def test_theorem_4_1_check_holds_and_is_tight():
    result = bound.theorem_4_1(quick=True)
    assert result.holds and result.sharp, result
    assert [case.on.split(" ")[0] for case in result.cases] == ["random", "adversarial:", "trained"]
    assert all(case.evaluations > 0 and 0 < case.tightest <= 1 for case in result.cases)


def _byol_prime(cross_factor: float = 1.0, sign: float = 1.0, scale: float = 1.0):
    def mutant(p1, p2, z1, z2, alpha=1.0, beta=1.0, tangential=False):
        cross = losses.same_view_cross_model_loss(p1, p2, z1, z2, tangential)
        return scale * (alpha * ORIGINAL["alignment_loss"](p1, p2) + sign * cross_factor * beta * cross)

    return mutant


@pytest.mark.parametrize(
    "name, mutant, verdict",
    [
        ("byol_prime_loss", _byol_prime(cross_factor=0.5), "holds"),  # β·¼[…] instead of β·½[…]
        ("byol_prime_loss", _byol_prime(sign=-1.0), "holds"),  # α·L_align − β·L_cross: RAFT's sign
        ("byol_prime_loss", _byol_prime(scale=2.0), "sharp"),  # a looser bound must be noticed too
        ("byol_loss", lambda p1, p2, z1, z2, tangential=False: 2 * ORIGINAL["byol_loss"](p1, p2, z1, z2), "holds"),
        ("alignment_loss", lambda a, b: -ORIGINAL["alignment_loss"](a, b), "holds"),
    ],
    ids=["cross-factor", "cross-sign", "loose", "byol-factor", "align-sign"],
)
def test_theorem_4_1_check_rejects_wrong_losses(monkeypatch, name, mutant, verdict):
    monkeypatch.setattr(losses, name, mutant)
    result = bound.theorem_4_1(quick=True)
    assert not getattr(result, verdict), result


# --- Theorem 5.1 -------------------------------------------------------------------------------


@pytest.mark.parametrize("predictor", ["linear", "mlp_bn"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_theorem_5_1_trajectories_correspond(predictor, optimizer):
    run = corr.correspondence(predictor, optimizer, tangential=False, steps=6)
    tolerance = corr.CorrespondenceResult.tolerance  # 1e-8: float64 round-off amplified by training
    assert run.max_diff <= tolerance and run.loss_diff <= tolerance, run
    assert run.ema_diff <= tolerance, run  # both targets are the EMA of their θ (Algorithm 1, line 12)
    assert run.theta_moved > 1e-3  # training moved θ far more than the tolerance
    assert run.negated == (["linear.weight"] if predictor == "linear" else ["net.3.weight", "net.3.bias"])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tangential_trajectories_are_bitwise_identical(dtype):
    """With tangential=True every op of the step is exactly odd in the predictor's output sign,
    so the two runs agree bit for bit, in float32 too (docs/theory.md)."""
    run = corr.correspondence("mlp_bn", "adam", tangential=True, dtype=dtype, steps=6)
    assert run.theta_diff == run.bn_diff == run.w_diff == 0.0, run


def test_without_the_sign_flip_there_is_no_correspondence():
    run = corr.correspondence("linear", "adam", tangential=False, steps=6, negate=False)
    assert run.theta_diff > 1e-4 and run.negated == []


def test_theorem_5_1_result_holds_and_needs_the_control():
    result = corr.theorem_5_1(steps=3, predictors=("linear",), optimizers=("adam",), float32_predictors=())
    assert result.holds and result.control_differs and len(result.runs) == 2
    result.control.theta_diff = 0.0  # a check that cannot see a broken correspondence must not pass
    assert not result.holds


def test_adam_and_sgd_are_odd_in_the_gradient():
    """optimizer(−g) moves −w exactly where optimizer(g) moves w: the step Theorem 5.1 needs."""
    for make in (
        lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.1),
        lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, weight_decay=0.1),
    ):
        g = torch.Generator().manual_seed(0)
        w = torch.randn(50, generator=g).requires_grad_()
        v = (-w.detach()).requires_grad_()
        opt_w, opt_v = make([w]), make([v])
        for _ in range(20):
            grad = torch.randn(50, generator=g)
            w.grad, v.grad = grad.clone(), -grad
            opt_w.step(), opt_v.step()
        assert torch.equal(w, -v)


def _raft_mutant(sign: float = -1.0, cross_factor: float = 1.0):
    def raft_loss(p1, p2, z1, z2, alpha=1.0, beta=1.0, tangential=False):
        cross = losses.same_view_cross_model_loss(p1, p2, z1, z2, tangential)
        return alpha * losses.alignment_loss(p1, p2) + sign * cross_factor * beta * cross

    return raft_loss


def _unnormalised_cross_model_loss(p, z, tangential=False):
    return (p - F.normalize(z.detach(), dim=-1)).pow(2).sum(-1).mean()


@pytest.mark.parametrize(
    "target, mutant",
    [
        ("raft_lightning.objectives.raft.raft_loss", _raft_mutant(sign=+1.0)),  # RAFT's − turned into +
        ("raft_lightning.objectives.raft.raft_loss", _raft_mutant(cross_factor=2.0)),  # β·[…] without the ½
        ("raft_lightning.losses.cross_model_loss", _unnormalised_cross_model_loss),  # off the hypersphere
    ],
    ids=["raft-sign", "raft-factor", "unnormalised"],
)
def test_theorem_5_1_check_rejects_wrong_losses(monkeypatch, target, mutant):
    monkeypatch.setattr(target, mutant)
    run = corr.correspondence("linear", "sgd", tangential=False, steps=3)
    assert run.max_diff > 1e-6 or run.loss_diff > 1e-6, run


# --- Theorem 5.1 against broken training code (the Trainer, training_step, the module's EMA) -----


def _training_step(predict_view_1: bool = True, predict_view_2: bool = True):
    """SelfSupervised.training_step, with q_w optionally left out on either view (p = f_θ(·))."""

    def training_step(self, batch, batch_idx):
        x1, x2, labels = batch
        h1, f1 = self.online(x1)
        _, f2 = self.online(x2)
        p1 = self.predictor(f1) if predict_view_1 else f1
        p2 = self.predictor(f2) if predict_view_2 else f2
        with torch.no_grad():
            _, z1 = self.target(x1)
            _, z2 = self.target(x2)
        return StepOutput(loss=self.objective(p1, p2, z1, z2), features=h1.detach(), labels=labels)

    return training_step


def _small_theorem_5_1():
    """Theorem 5.1's check with the fewest steps and runs that still see a broken step: 2 SGD steps,
    linear predictor, float64, no float32 rows and no control (so only the runs decide)."""
    return corr.theorem_5_1(
        steps=2, predictors=("linear",), optimizers=("sgd",), tangential=(False,), float32_predictors=(), control=False
    )


@pytest.mark.parametrize(
    "step, broken",
    [
        (_training_step(), False),  # a faithful copy: the check passes, so the failures below are the breakage's
        (_training_step(predict_view_1=False, predict_view_2=False), True),  # no predictor: −W0 flips nothing
        (_training_step(predict_view_2=False), True),  # the predictor on one view only
    ],
    ids=["intact", "no-predictor", "one-view-predictor"],
)
def test_theorem_5_1_check_rejects_a_wrong_training_step(monkeypatch, step, broken):
    monkeypatch.setattr(SelfSupervised, "training_step", step)
    result = _small_theorem_5_1()
    assert result.holds is not broken, result
    if broken:
        assert result.runs[0].theta_diff > 1e3 * result.tolerance, result  # θ itself parts ways


@torch.no_grad()
def _ema_with_the_wrong_sign(target, online, tau):
    """ξ ← τ·ξ − (1−τ)·θ."""
    for xi, theta in zip(target.parameters(), online.parameters()):
        xi.mul_(tau).sub_((1 - tau) * theta)


@pytest.mark.parametrize("breakage", ["intact", "no-op", "wrong-sign"])
def test_theorem_5_1_check_rejects_a_wrong_ema_update(monkeypatch, breakage):
    """A target updated the same wrong way in both runs keeps θ in step, but it is not Algorithm
    1's mean teacher, so the check must not pass: its |ΔEMA| column sees it."""
    if breakage == "no-op":
        monkeypatch.setattr(WithTeacher, "after_optimizer_step", lambda self, step, total_steps: None)
    elif breakage == "wrong-sign":
        monkeypatch.setattr("raft_lightning.objectives.teacher.ema_update_", _ema_with_the_wrong_sign)
    result = _small_theorem_5_1()
    (run,) = result.runs
    assert run.max_diff <= result.tolerance, run  # the correspondence itself survives either breakage
    if breakage == "intact":
        assert result.holds and run.ema_diff <= result.tolerance, run
    else:
        assert not result.holds and run.ema_diff > 1e3 * result.tolerance, run


# --- The tangential gradient -------------------------------------------------------------------


def test_tangential_gradient_equals_the_plain_one_for_normalised_outputs():
    rows = [tang.tangential_on_random_inputs(torch.float64), tang.tangential_on_module("raft", torch.float64)]
    assert tang.TangentialResult(rows).holds
    assert all(row.relative < 1e-13 and row.max_abs_grad > 1e-4 for row in rows), rows


def _tangential_mutant(inner_factor: float):
    def cross_model_loss(p, z, tangential=False):
        if not tangential:
            return ORIGINAL["cross_model_loss"](p, z)
        n_p, n_z = F.normalize(p, dim=-1), F.normalize(z.detach(), dim=-1)
        lam = (n_p * n_z).sum(-1).detach()
        return (lam * n_p.pow(2).sum(-1) - inner_factor * (n_p * n_z).sum(-1)).mean()

    return cross_model_loss


@pytest.mark.parametrize("inner_factor", [1.0, 3.0])
def test_tangential_check_rejects_a_wrong_surrogate(monkeypatch, inner_factor):
    monkeypatch.setattr(losses, "cross_model_loss", _tangential_mutant(inner_factor))
    assert not tang.TangentialResult([tang.tangential_on_random_inputs(torch.float64)]).holds
    monkeypatch.setattr(losses, "cross_model_loss", _tangential_mutant(2.0))  # the right factor passes
    assert tang.TangentialResult([tang.tangential_on_random_inputs(torch.float64)]).holds


# --- The config flag: loss=raft predictor.negate_init=true against loss=byol_prime ------------------


@pytest.mark.parametrize("predictor", ["linear", "linear_identity", "mlp", "mlp_bn"])
def test_negate_init_keeps_the_random_stream(smoke_cfg, predictor):
    """The predictor is built between the backbone and the projector (build_objective), so
    negate_init must draw exactly what the plain init draws: same θ0, same ξ0, −W0."""
    modules = []
    for overrides in (["loss=byol_prime"], ["loss=raft", "predictor.negate_init=true"]):
        cfg = smoke_cfg(f"predictor={predictor}", "seed=3", *overrides)
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # as train() does, then build()
        modules.append(build(cfg)[1])
    byol_prime, raft = modules
    for net in ("online", "target"):
        a, b = getattr(byol_prime, net).state_dict(), getattr(raft, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
    weights = {k: (v, raft.predictor.state_dict()[k]) for k, v in byol_prime.predictor.state_dict().items()}
    output = {"linear.weight"} if predictor.startswith("linear") else {"net.2.weight", "net.2.bias"}
    if predictor == "mlp_bn":
        output = {"net.3.weight", "net.3.bias"}
    for name, (a, b) in weights.items():
        assert torch.equal(a, -b) if name in output else torch.equal(a, b), name


def _fit(smoke_cfg, *overrides):
    cfg = smoke_cfg("predictor=linear", "seed=4", *overrides)
    summary = train(cfg)
    assert summary["status"] == "ok", summary["error"]
    state = torch.load(Path(cfg.paths.output_dir) / summary["checkpoint"], weights_only=True)["state_dict"]
    return summary, state


@pytest.mark.parametrize("tangential", [False, True])
def test_raft_with_negated_predictor_trains_the_same_encoder_as_byol_prime(smoke_cfg, tangential):
    """A real fit (Trainer, EMA callback, data pipeline), in float64: the encoder ends equal, W opposite.

    The two runs compute the same numbers in another order where the sphere projects the normal
    component out, so they differ by round-off that training amplifies. In float32 that was
    6e-8 to 8e-7 after the smoke run's 8 Adam steps — 1 to 14 times float32's ε (6e-8) — and
    another CPU's vector kernels round differently (a tolerance taken from one machine failed on
    another). In float64 each operation's error is still a few ε64 (1.1e-16) on any CPU, whatever
    its kernels; the same amplification gives ~1.6e-15. So atol = 1e-9 leaves 10⁵ for any
    reduction order and is still far below what it must tell apart: training moves the weights
    by ~2e-3, and RAFT without the flip ends 0.09 away. With tangential=True the step is exactly
    odd in the sign of W: the weights are bitwise equal.
    """
    flag = f"loss.tangential={str(tangential).lower()}"
    summary_b, byol_prime = _fit(smoke_cfg, "loss=byol_prime", flag, "trainer.precision=64-true")
    summary_r, raft = _fit(smoke_cfg, "loss=raft", "predictor.negate_init=true", flag, "trainer.precision=64-true")
    assert (summary_b["negate_init"], summary_r["negate_init"]) == (False, True)
    encoder = [k for k in byol_prime if k.startswith(("online.", "target.")) and byol_prime[k].is_floating_point()]
    assert encoder and byol_prime.keys() == raft.keys() and byol_prime[encoder[0]].dtype == torch.float64
    atol = 0.0 if tangential else 1e-9
    for k in encoder:
        torch.testing.assert_close(byol_prime[k], raft[k], rtol=0, atol=atol, msg=k)
    torch.testing.assert_close(
        byol_prime["predictor.linear.weight"], -raft["predictor.linear.weight"], rtol=0, atol=atol
    )
    # The tolerance is far below how far training moved the encoder's weights from their start.
    start = harness.build_module("byol_prime", "linear", seed=4, dtype=torch.float64).online
    moved = max((byol_prime[f"online.{k}"] - v).abs().max().item() for k, v in start.named_parameters())
    assert moved > 1e5 * max(atol, 1e-9)


def test_report_runs_and_writes_json(tmp_path, monkeypatch, capsys):
    """main() end to end with small settings: report, JSON and exit status."""
    theorem_4_1, theorem_5_1 = bound.theorem_4_1, corr.theorem_5_1
    monkeypatch.setattr(bound, "theorem_4_1", lambda: theorem_4_1(quick=True))
    monkeypatch.setattr(
        corr, "theorem_5_1", lambda steps: theorem_5_1(steps, ("linear",), ("adam",), (False,), float32_predictors=())
    )
    monkeypatch.setattr(
        tang, "tangential_gradients", lambda: tang.TangentialResult([tang.tangential_on_random_inputs()])
    )
    assert cli.main(["--steps", "3", "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("[PASS]") == 3 and "All checks pass" in out and "tightest ratio" in out
    results = json.loads((tmp_path / "t.json").read_text())
    assert results["holds"] and results["theorem_5_1"]["runs"][0]["steps"] == 3
    monkeypatch.setattr(losses, "byol_prime_loss", _byol_prime(sign=-1.0))
    assert cli.main(["--steps", "3"]) == 1
    assert "[FAIL] Theorem 4.1" in capsys.readouterr().out
