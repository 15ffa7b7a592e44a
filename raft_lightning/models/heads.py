"""Projector and predictor heads, and the encoder f_θ = projector ∘ backbone."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from raft_lightning.values import integer_errors

INITS = ("random", "identity")  # LinearPredictor: W from PyTorch's default draws, or W = I


class MLPHead(nn.Module):
    """Linear(hidden) → [BatchNorm] → ReLU → Linear(output).

    With ``batch_norm=True`` this is the projector of Appendix C (512 → 128); without it,
    the Appendix C predictor; with it again, the original BYOL predictor of Section 3.
    ``negate_init`` flips the sign of the output layer, so q(x) starts as −q₀(x) for the
    same seed (Theorem 5.1 pairs BYOL' from W₀ with RAFT from −W₀).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        output_dim: int = 128,
        batch_norm: bool = True,
        negate_init: bool = False,
    ) -> None:
        super().__init__()
        # The bias before BatchNorm is redundant, as in BYOL's reference heads.
        layers: list[nn.Module] = [nn.Linear(input_dim, hidden_dim, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [nn.ReLU(), nn.Linear(hidden_dim, output_dim)]
        self.net = nn.Sequential(*layers)
        if negate_init:
            negate_(self.net[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @staticmethod
    def config_errors(**dims: Any) -> list[str]:
        return [e for key, value in dims.items() if key.endswith("_dim") for e in integer_errors(key, value, 1)]


class LinearPredictor(nn.Module):
    """q_w(x) = W x with W ∈ R^{D×D} and no bias (Section 3).

    ``init="random"`` uses PyTorch's default Linear initialisation; ``init="identity"``
    starts at W = I, the apparent collapse solution the paper calls BYOL-LPI.
    """

    def __init__(self, dim: int = 128, init: str = "random", negate_init: bool = False) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"LinearPredictor init must be 'random' or 'identity', got {init!r}")
        self.linear = nn.Linear(dim, dim, bias=False)
        if init == "identity":
            with torch.no_grad():
                self.linear.weight.copy_(torch.eye(dim))
        if negate_init:
            negate_(self.linear)

    @staticmethod
    def config_errors(dim: Any, init: Any, **_: Any) -> list[str]:
        errors = integer_errors("dim", dim, 1)
        if init not in INITS:
            errors.append(f"init={init!r}: choose one of {', '.join(INITS)}")
        return errors

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


@torch.no_grad()
def negate_(layer: nn.Linear) -> None:
    layer.weight.neg_()
    if layer.bias is not None:
        layer.bias.neg_()


class Encoder(nn.Module):
    """f_θ = projector ∘ backbone; returns the backbone features too, for the probe."""

    def __init__(self, backbone: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.backbone(x)  # (B, out_dim)
        return h, self.projector(h)  # (B, out_dim), (B, 128)
