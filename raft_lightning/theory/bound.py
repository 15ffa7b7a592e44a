"""Theorem 4.1 (Appendix G): L_BYOL ≤ (1/α + 1/β)·L_BYOL' for any α, β > 0.

Checked on random inputs, by an adversarial search for the tightest inputs, and on the inputs a
real BYOL training run hands its loss. The losses are looked up in ``raft_lightning.losses`` at
call time, so a test can swap in a wrong one and watch the check reject it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from raft_lightning import losses
from raft_lightning.theory.harness import build_module, fit, smoke_batches


def bound_ratio(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, alpha: Tensor | float, beta: Tensor | float) -> Tensor:
    """L_BYOL / ((1/α + 1/β)·L_BYOL') with the plain losses (tangential=False): ≤ 1 is Theorem 4.1."""
    byol = losses.byol_loss(p1, p2, z1, z2, tangential=False)
    byol_prime = losses.byol_prime_loss(p1, p2, z1, z2, alpha, beta, tangential=False)
    return byol / ((1 / alpha + 1 / beta) * byol_prime)


@dataclass
class BoundCase:
    on: str  # what the inputs were
    evaluations: int  # how many (inputs, α, β) the ratio was computed for
    tightest: float  # the largest ratio seen
    alpha: float  # where it was seen
    beta: float

    def see(self, ratio: float, alpha: float, beta: float) -> None:
        """Count one evaluation, keeping it if it is the tightest so far."""
        self.evaluations += 1
        if ratio > self.tightest:
            self.tightest, self.alpha, self.beta = ratio, alpha, beta


def _unseen(on: str = "") -> BoundCase:
    return BoundCase(on, 0, -math.inf, math.nan, math.nan)


@dataclass
class UpperBoundResult:
    cases: list[BoundCase]
    # float64 round-off of the ratio: ~1e-16 relative for spread-out points, ~1e-13 at the
    # adversarial search's smallest configurations (squared distances down to ~1e-6).
    tolerance: float = 1e-10
    sharpness: float = 1e-3  # the adversarial search must get this close to 1

    @property
    def tightest(self) -> float:
        return max(case.tightest for case in self.cases)

    @property
    def holds(self) -> bool:
        return self.tightest <= 1 + self.tolerance

    @property
    def sharp(self) -> bool:
        """The search came within ``sharpness`` of 1: the bound was tested where it is tight, so a
        loss off by a constant factor in either direction would have been caught."""
        adversarial = [case.tightest for case in self.cases if case.on.startswith("adversarial")]
        return bool(adversarial) and max(adversarial) >= 1 - self.sharpness


def _log_uniform(n: int, low: float, high: float, g: torch.Generator) -> Tensor:
    return torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(low), math.log(high), generator=g))


def bound_on_random_inputs(draws: int = 600, seed: int = 0) -> BoundCase:
    """Gaussian p1, p2, z1, z2 (float64) for batch sizes 1 and 16, dimensions 2, 8, 128, and
    α, β log-uniform in [0.01, 100]; also 'near-collapse' draws where all four are close."""
    g = torch.Generator().manual_seed(seed)
    best = _unseen("random Gaussian inputs (and near-collapsed ones), B∈{1,16}, D∈{2,8,128}, α,β∈[0.01,100]")
    for batch, dim, spread in itertools.product((1, 16), (2, 8, 128), (1.0, 0.05)):
        alphas, betas = _log_uniform(draws, 1e-2, 1e2, g), _log_uniform(draws, 1e-2, 1e2, g)
        for alpha, beta in zip(alphas.tolist(), betas.tolist()):
            centre = torch.randn(1, dim, generator=g, dtype=torch.float64)
            noise = torch.randn(4, batch, dim, generator=g, dtype=torch.float64)
            p1, p2, z1, z2 = (centre + spread * noise).unbind(0)
            best.see(bound_ratio(p1, p2, z1, z2, alpha, beta).item(), alpha, beta)
    return best


def bound_adversarial(starts: int = 8, steps: int = 300, seed: int = 0) -> BoundCase:
    """Gradient ascent (Adam) on the ratio from several random starts (float64), over the inputs
    p1, p2, z1, z2 = c + s·o (a centre c, offsets o and a scale s ≥ 1e-3) and log α, log β;
    the largest ratio at any iterate is kept.

    The supremum, 1, is approached as the four points close in on each other along a line (where
    the sphere is locally flat and Cauchy–Schwarz is an equality), so the search gets a scale of
    its own; its floor keeps the squared distances far above float64 round-off.
    """
    g = torch.Generator().manual_seed(seed)
    best = _unseen(f"adversarial: {starts} starts × {steps} Adam steps maximising the ratio over inputs and α, β")
    shapes = [(1, 8), (4, 8), (1, 32), (1, 2)]  # (B, D)
    for start in range(starts):
        batch, dim = shapes[start % len(shapes)]
        centre = torch.randn(1, batch, dim, generator=g, dtype=torch.float64).requires_grad_()
        offsets = torch.randn(4, batch, dim, generator=g, dtype=torch.float64).requires_grad_()
        log_scale = torch.zeros((), dtype=torch.float64, requires_grad=True)
        log_ab = (2 * torch.randn(2, generator=g, dtype=torch.float64)).requires_grad_()
        optimizer = torch.optim.Adam([centre, offsets, log_scale, log_ab], lr=0.1)
        for _ in range(steps):
            alpha, beta = log_ab.exp().unbind()
            x = centre + log_scale.clamp(min=math.log(1e-3)).exp() * offsets  # (4, B, D)
            ratio = bound_ratio(*x.unbind(0), alpha, beta)
            best.see(ratio.item(), alpha.item(), beta.item())
            optimizer.zero_grad()
            (-ratio).backward()
            optimizer.step()
    return best


def _loss_inputs_while_training(steps: int, seed: int) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """(p1, p2, z1, z2) of every step of a real BYOL fit (smoke convnet, MLP predictor, Adam,
    float32), caught by forward hooks: training_step runs the predictor on view 1, then view 2,
    and the target likewise, and hands exactly these outputs to its loss."""
    module = build_module("byol", "mlp", "adam", seed=seed, dtype=torch.float32)
    predictions: list[Tensor] = []
    projections: list[Tensor] = []

    def keep_prediction(_: nn.Module, __: tuple, p: Tensor) -> None:
        predictions.append(p.detach().double())

    def keep_projection(_: nn.Module, __: tuple, out: tuple[Tensor, Tensor]) -> None:
        projections.append(out[1].detach().double())  # the Encoder returns (h, z)

    hooks = [
        module.predictor.register_forward_hook(keep_prediction),
        module.target.register_forward_hook(keep_projection),
    ]
    try:
        fit(module, smoke_batches(steps, seed))
    finally:
        for hook in hooks:
            hook.remove()
    if not len(predictions) == len(projections) == 2 * steps:
        raise RuntimeError(
            f"expected two predictor and two target passes per step, saw {len(predictions)}, "
            f"{len(projections)} in {steps} steps"
        )
    return [(*predictions[i : i + 2], *projections[i : i + 2]) for i in range(0, 2 * steps, 2)]


def bound_on_trained_model(steps: int = 30, seed: int = 0) -> BoundCase:
    """Train BYOL (smoke convnet, MLP predictor, Adam, float32) for ``steps`` steps and evaluate
    the ratio on every mini-batch's online predictions and target projections, for β/α on a grid."""
    seen = _loss_inputs_while_training(steps, seed)
    # The ratio depends on β/α only (scaling both scales both sides alike): α = 1, β on a grid.
    alpha, betas = 1.0, [10.0**k for k in (-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2)]
    best = _unseen(f"trained model: BYOL, smoke convnet, {steps} mini-batches while training, α=1, β∈[0.01,100]")
    for (p1, p2, z1, z2), beta in itertools.product(seen, betas):
        best.see(bound_ratio(p1, p2, z1, z2, alpha, beta).item(), alpha, beta)
    return best


def theorem_4_1(quick: bool = False, seed: int = 0) -> UpperBoundResult:
    """Theorem 4.1 on random, adversarial and real inputs. ``quick`` shrinks each search."""
    return UpperBoundResult(
        [
            bound_on_random_inputs(draws=40 if quick else 250, seed=seed),
            bound_adversarial(starts=4 if quick else 8, steps=150 if quick else 300, seed=seed),
            bound_on_trained_model(steps=5 if quick else 30, seed=seed),
        ]
    )
