"""The loss terms against hand-computed cases, an independent reference, and the paper's claims."""

from __future__ import annotations

import math

import pytest
import torch

from raft_lightning.losses import (
    alignment_loss,
    byol_loss,
    byol_prime_loss,
    cross_model_loss,
    raft_loss,
    uniformity_loss,
)

torch.manual_seed(0)


def batch(*shape, requires_grad=False):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=requires_grad)


def test_alignment_hand_computed():
    a = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[0.0, 5.0], [0.0, 7.0]])
    # row 0: (1,0) vs (0,1) → 2;  row 1: (0,1) vs (0,1) → 0;  mean = 1
    assert alignment_loss(a, b).item() == pytest.approx(1.0)
    assert alignment_loss(a, -a).item() == pytest.approx(4.0)  # antipodal points
    assert alignment_loss(a, 10 * a).item() == pytest.approx(0.0)  # scale-free


def test_uniformity_hand_computed():
    # Two orthogonal unit vectors: one pair at squared distance 2 → log exp(−2·2) = −4.
    z = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    assert uniformity_loss(z).item() == pytest.approx(-4.0)
    assert uniformity_loss(z, t=1.0).item() == pytest.approx(-2.0)
    # Collapse: every row the same point → log mean exp(0) = 0.
    assert uniformity_loss(torch.ones(5, 3)).item() == pytest.approx(0.0, abs=1e-6)


def test_uniformity_matches_reference_over_all_ordered_pairs():
    z = batch(9, 5)
    n = torch.nn.functional.normalize(z, dim=1)
    values = [math.exp(-2 * (n[i] - n[j]).pow(2).sum().item()) for i in range(9) for j in range(9) if i != j]
    assert uniformity_loss(z).item() == pytest.approx(math.log(sum(values) / len(values)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_uniformity_of_16_bit_features_is_that_of_their_float32_values(dtype):
    """Under mixed precision (trainer.precision=bf16-mixed) z can arrive in 16 bits: pdist has no
    bfloat16 kernel on CPU, and every such run failed in its first step. The loss is that of the
    same values in float32, and the gradient reaches the 16-bit z."""
    z = batch(16, 8).to(dtype).requires_grad_()
    value = uniformity_loss(z)
    assert value.dtype == torch.float32 and value.item() == uniformity_loss(z.detach().float()).item()
    value.backward()
    assert z.grad is not None and z.grad.dtype == dtype and bool(torch.isfinite(z.grad.float()).all())


def test_cross_model_hand_computed_and_target_detached():
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    z = torch.tensor([[-2.0, 0.0], [1.0, 1.0]], requires_grad=True)
    loss = cross_model_loss(p, z)
    assert loss.item() == pytest.approx((4.0 + 0.0) / 2)
    loss.backward()
    assert p.grad is not None and z.grad is None


@pytest.mark.parametrize("tangential", [False, True])
@pytest.mark.parametrize("fn", [byol_loss, byol_prime_loss, raft_loss])
def test_no_gradient_reaches_targets(fn, tangential):
    p1, p2 = batch(6, 4, requires_grad=True), batch(6, 4, requires_grad=True)
    z1, z2 = batch(6, 4, requires_grad=True), batch(6, 4, requires_grad=True)
    fn(p1, p2, z1, z2, tangential=tangential).backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_composite_losses_are_their_formulas():
    p1, p2, z1, z2 = (batch(7, 5) for _ in range(4))
    d = lambda a, b: (
        (torch.nn.functional.normalize(a, dim=1) - torch.nn.functional.normalize(b, dim=1)).pow(2).sum(1).mean()
    )  # noqa: E731
    assert byol_loss(p1, p2, z1, z2).item() == pytest.approx(0.5 * (d(p1, z2) + d(p2, z1)).item())
    same_view = 0.5 * (d(p1, z1) + d(p2, z2))
    assert byol_prime_loss(p1, p2, z1, z2, 0.3, 2.0).item() == pytest.approx((0.3 * d(p1, p2) + 2.0 * same_view).item())
    assert raft_loss(p1, p2, z1, z2, 0.3, 2.0).item() == pytest.approx((0.3 * d(p1, p2) - 2.0 * same_view).item())


def test_symmetry_under_swapping_the_views():
    p1, p2, z1, z2 = (batch(8, 6) for _ in range(4))
    for fn in (byol_loss, byol_prime_loss, raft_loss):
        assert fn(p1, p2, z1, z2).item() == pytest.approx(fn(p2, p1, z2, z1).item())
    assert alignment_loss(p1, p2).item() == pytest.approx(alignment_loss(p2, p1).item())


def test_theorem_4_1_upper_bound_on_random_data():
    """L_BYOL ≤ (1/α + 1/β)·L_BYOL' for any α, β > 0 (Theorem 4.1)."""
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        p1, p2, z1, z2 = (torch.randn(16, 8, generator=g, dtype=torch.float64) for _ in range(4))
        alpha, beta = (10 ** (4 * torch.rand(2, generator=g, dtype=torch.float64) - 2)).tolist()
        lhs = byol_loss(p1, p2, z1, z2)
        rhs = (1 / alpha + 1 / beta) * byol_prime_loss(p1, p2, z1, z2, alpha, beta)
        assert lhs <= rhs + 1e-12


def test_tangential_keeps_the_value_and_takes_the_section_5_gradient():
    p = batch(32, 16, requires_grad=True)
    z = p.detach() + 0.5 * batch(32, 16)  # λ well away from 0, where the paper's form is finite
    plain = cross_model_loss(p, z)
    tangential = cross_model_loss(p, z, tangential=True)
    assert tangential.item() == pytest.approx(plain.item())

    (grad,) = torch.autograd.grad(tangential, p)
    n_p, n_z = torch.nn.functional.normalize(p, dim=1), torch.nn.functional.normalize(z, dim=1)
    lam = (n_p * n_z).sum(1).detach()
    paper = ((lam[:, None] * n_p - n_z).pow(2).sum(1) / lam).mean()  # Section 5, written out
    (expected,) = torch.autograd.grad(paper, p)
    torch.testing.assert_close(grad, expected)


def test_tangential_value_is_finite_when_lambda_is_zero():
    p = torch.tensor([[1.0, 0.0]], requires_grad=True)
    z = torch.tensor([[0.0, 1.0]])  # <n(p), n(z)> = 0: the paper's form is 1/0
    loss = cross_model_loss(p, z, tangential=True)
    loss.backward()
    assert loss.item() == pytest.approx(2.0) and torch.isfinite(p.grad).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: alignment_loss(torch.zeros(4, 3), torch.zeros(4, 2)),
            r"a and b must have the same shape, got \(4, 3\) and \(4, 2\)",
        ),
        (lambda: cross_model_loss(torch.zeros(4), torch.zeros(4)), r"p must be a \(B, D\) batch, got shape \(4,\)"),
        (lambda: uniformity_loss(torch.zeros(1, 3)), r"at least 2 rows"),
    ],
)
def test_bad_shapes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
