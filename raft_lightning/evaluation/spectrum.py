"""Collapse instruments: pure functions of a batch of features (N, D) or of a linear predictor W.

Complete collapse (every image to one point) shows in L_uniform → 0 and the std of the
l2-normalised features → 0; dimensional collapse (Jing et al. 2022) in the singular-value
spectrum and its effective rank. The predictor's measures follow DirectPred (Tian et al. 2021).
Every function returns NaN, never raises, for features or weights that are not finite: a
diverged or collapsed run is measured, not crashed. Formulas and references: docs/instruments.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from raft_lightning.losses import uniformity_loss

RANKME_EPS = 1e-7  # Garrido et al. 2023 (RankMe), Eq. 1: p_k = σ_k / ‖σ‖₁ + ε


def _nan(like: Tensor) -> Tensor:
    return torch.full((), math.nan, dtype=like.dtype, device=like.device)


def _finite(x: Tensor) -> bool:
    return x.numel() > 0 and bool(torch.isfinite(x).all())


def singular_values(z: Tensor) -> Tensor:
    """σ_1 ≥ … ≥ σ_min(N,D) of the feature matrix z (N, D) as it is (not centred: RankMe's
    matrix), NaN everywhere when z is not finite."""
    if not _finite(z):
        return torch.full((min(z.shape),), math.nan, dtype=z.dtype, device=z.device)
    return torch.linalg.svdvals(z)


def effective_rank(s: Tensor, eps: float = RANKME_EPS) -> Tensor:
    """RankMe = exp(−Σ_k p_k log p_k), p_k = σ_k / ‖σ‖₁ + ε (Garrido et al. 2023), of singular
    values s: ≈ k for k equal non-zero values, 1 for one; in [1, len(s)] up to ε. NaN when s is
    not finite or all zero (no direction at all)."""
    if not _finite(s) or not bool(s.sum() > 0):
        return _nan(s)
    p = s / s.sum() + eps
    return torch.exp(-(p * torch.log(p)).sum())


def normalized_std(z: Tensor) -> Tensor:
    """mean_d std_i(n(z_i)_d): the std of the l2-normalised features over the batch, averaged over
    the D dimensions (lightly's ``std_of_l2_normalized``). ≈ 1/√D for features spread over the
    sphere, 0 when every row points the same way. Unbiased std (N − 1)."""
    if not _finite(z) or z.shape[0] < 2:
        return _nan(z)
    return F.normalize(z, dim=-1).std(dim=0).mean()


def uniformity(z: Tensor, t: float = 2.0) -> Tensor:
    """L_uniform (Definition 2.2, ``losses.uniformity_loss``), NaN when z is not finite."""
    if not _finite(z) or z.shape[0] < 2:
        return _nan(z)
    return uniformity_loss(z, t)


def identity_distance(w: Tensor) -> Tensor:
    """‖W − I‖_F / √d: 0 at BYOL-LPI's start (W = I), ≈ 1 for a W of PyTorch's default draws."""
    if not _finite(w):
        return _nan(w)
    eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
    return torch.linalg.matrix_norm(w - eye) / math.sqrt(w.shape[0])


def asymmetry(w: Tensor) -> Tensor:
    """‖W − Wᵀ‖_F / ‖W‖_F: 0 for a symmetric W (DirectPred's analysis assumes one), 2 for an
    antisymmetric one, ≈ √2 for i.i.d. entries (PyTorch's initialisation); NaN for W = 0."""
    if not _finite(w):
        return _nan(w)
    return torch.linalg.matrix_norm(w - w.T) / torch.linalg.matrix_norm(w)


def correlation(f: Tensor) -> Tensor:
    """F = E[f fᵀ] = fᵀf / N, (D, D): the (uncentred) correlation of the predictor's input f (N, D)."""
    return f.T @ f / f.shape[0]


def eigen_alignment(w: Tensor, f: Tensor) -> Tensor:
    """How far the eigenvectors of F = E[f fᵀ] (f: the predictor's input, (N, D)) are
    eigenvectors of W: mean_j |⟨φ_j, W φ_j⟩| / ‖W φ_j‖ over the eigenvectors φ_j of F.

    Each term is the |cos| of the angle between φ_j and its image W φ_j: 1 for every j exactly
    when W shares F's eigenvectors (DirectPred's alignment, Tian et al. 2021, Section 4 and
    Fig. 3), < 1 for a rotated W. Unlike pairing eigenvectors by the rank of their eigenvalues,
    it needs no eigendecomposition of W (not symmetric: complex eigenvectors) and no order of
    equal eigenvalues. A direction that W sends to 0 counts 0."""
    if not (_finite(w) and _finite(f)):
        return _nan(w)
    _, phi = torch.linalg.eigh(correlation(f.to(w.dtype)))  # columns φ_j, (D, D)
    w_phi = w @ phi  # columns W φ_j
    cos = (phi * w_phi).sum(dim=0).abs() / torch.linalg.vector_norm(w_phi, dim=0).clamp_min(torch.finfo(w.dtype).tiny)
    return cos.mean()
