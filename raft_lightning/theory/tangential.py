"""Section 5's tangential-gradient condition: what ``cross_model_loss(..., tangential=True)``
changes in the gradients when the outputs are l2-normalised (nothing, up to round-off).

``losses.cross_model_loss`` is looked up at call time, so a test can swap in a wrong surrogate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from raft_lightning import losses
from raft_lightning.theory.harness import build_module, dtype_name, fit, gradients, max_abs, smoke_batches


@dataclass
class GradientComparison:
    on: str
    dtype: str
    max_abs_diff: float  # max |∇ with tangential=True − ∇ with tangential=False|
    max_abs_grad: float  # max |∇ with tangential=False|: the scale

    @property
    def relative(self) -> float:
        return self.max_abs_diff / self.max_abs_grad


@dataclass
class TangentialResult:
    rows: list[GradientComparison]
    # Round-off of one backward pass, relative to the largest gradient entry: a few units of
    # machine epsilon (2.2e-16, 1.2e-7) times the depth of the network.
    tolerance: dict[str, float] = field(default_factory=lambda: {"float64": 1e-12, "float32": 1e-5})

    @property
    def largest(self) -> dict[str, float]:
        return {d: max((r.relative for r in self.rows if r.dtype == d), default=0.0) for d in self.tolerance}

    @property
    def holds(self) -> bool:
        return all(r.relative <= self.tolerance[r.dtype] for r in self.rows)


def tangential_on_random_inputs(dtype: torch.dtype = torch.float64, seed: int = 0) -> GradientComparison:
    """∂/∂p of cross_model_loss(p, z) with and without ``tangential`` for Gaussian p, z (B=256, D=32)."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(256, 32, generator=g, dtype=dtype).requires_grad_()
    z = torch.randn(256, 32, generator=g, dtype=dtype)
    (plain,) = torch.autograd.grad(losses.cross_model_loss(p, z), p)
    (tangential,) = torch.autograd.grad(losses.cross_model_loss(p, z, tangential=True), p)
    on = "∂/∂p of L_cross-model, Gaussian p and z (B=256, D=32)"
    return GradientComparison(on, dtype_name(dtype), (tangential - plain).abs().max().item(), plain.abs().max().item())


def tangential_on_module(loss: str, dtype: torch.dtype = torch.float64, seed: int = 0) -> GradientComparison:
    """Every parameter gradient of ``loss``'s training_step (smoke convnet, MLP predictor, a real
    augmented batch, after 3 training steps so the target lags), with and without ``tangential``."""
    module = build_module(loss, "mlp", "adam", seed=seed, dtype=dtype)
    *warmup, batch = smoke_batches(4, seed)
    fit(module, warmup)  # the real Trainer and EMA update: θ and ξ have moved apart
    grads = {}
    for tangential in (False, True):
        module.tangential = tangential  # the attribute the objective reads; weights unchanged
        grads[tangential] = gradients(module, batch, len(warmup))
    diff = max_abs([a - b for a, b in zip(grads[True], grads[False])])
    on = f"all parameter gradients of {loss} (smoke convnet + MLP predictor, real batch)"
    return GradientComparison(on, dtype_name(dtype), diff, max_abs(grads[False]))


def tangential_gradients(seed: int = 0) -> TangentialResult:
    """Random inputs and the three objectives' modules, in float64 and float32."""
    rows = []
    for dtype in (torch.float64, torch.float32):
        rows.append(tangential_on_random_inputs(dtype, seed))
        rows += [tangential_on_module(loss, dtype, seed) for loss in ("byol", "byol_prime", "raft")]
    return TangentialResult(rows)
