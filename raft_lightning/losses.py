"""Loss terms of BYOL, BYOL' and RAFT (Shi et al., "Run Away From your Teacher"), and SimSiam's.

Every function takes (B, D) batches and l2-normalises them itself, n(v) = v / ||v||,
because the paper's representation space is the unit hypersphere (Section 2.1).

Names of the arguments, and what they are in the paper:

    p1, p2   online predictions q_w(f_θ(t1(x))), q_w(f_θ(t2(x)))   the paper's z_1, z_2
    z1, z2   target projections  f_ξ(t1(x)),      f_ξ(t2(x))        the paper's z'_1, z'_2

Index 1 / 2 is the augmented view t1 / t2. Targets never receive gradient: every function
that takes a target detaches it, so no caller can leak gradient into the mean teacher.

    >>> p1, p2, z1, z2 = (torch.randn(8, 128) for _ in range(4))
    >>> raft_loss(p1, p2, z1, z2, alpha=1.0, beta=1.0).shape
    torch.Size([])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(name: str, x: Tensor) -> None:
    if x.dim() != 2:
        raise ValueError(f"{name} must be a (B, D) batch, got shape {tuple(x.shape)}")


def _check_pair(names: str, a: Tensor, b: Tensor) -> None:
    first, second = names.split(",")
    _check(first, a)
    _check(second, b)
    if a.shape != b.shape:
        raise ValueError(f"{first} and {second} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _squared_distance(a: Tensor, b: Tensor) -> Tensor:
    """||n(a_i) − n(b_i)||² per row, (B,)."""
    return (F.normalize(a, dim=-1) - F.normalize(b, dim=-1)).pow(2).sum(dim=-1)


def alignment_loss(a: Tensor, b: Tensor) -> Tensor:
    """L_align = mean_i ||n(a_i) − n(b_i)||²   (Definition 2.1).

    Both arguments are online outputs of the two views and both receive gradient.
    Shapes: a, b (B, D) → scalar in [0, 4].
    """
    _check_pair("a,b", a, b)
    return _squared_distance(a, b).mean()


def uniformity_loss(z: Tensor, t: float = 2.0) -> Tensor:
    """L_uniform = log mean_{i≠j} exp(−t ||n(z_i) − n(z_j)||²)   (Definition 2.2, t = 2).

    Lower is more uniform; 0 means every row maps to the same point (collapse).
    Shapes: z (B, D) with B ≥ 2 → scalar in [−4t, 0].
    """
    _check("z", z)
    if z.shape[0] < 2:
        raise ValueError(f"uniformity_loss needs at least 2 rows, got shape {tuple(z.shape)}")
    if z.dtype in (torch.float16, torch.bfloat16):
        # Under mixed precision z can arrive in 16 bits: pdist has no bfloat16 kernel on CPU, and a
        # squared distance near 0 (collapse, the case the measure is for) keeps 3 digits in 16 bits.
        z = z.float()
    # pdist lists each unordered pair once; the mean over i≠j is the same by symmetry.
    sq_dist = torch.pdist(F.normalize(z, dim=-1)).pow(2)  # (B(B−1)/2,)
    return torch.logsumexp(-t * sq_dist, dim=0) - math.log(sq_dist.numel())


def cross_model_loss(p: Tensor, z: Tensor, tangential: bool = False) -> Tensor:
    """L_cross-model = mean_i ||n(p_i) − n(z_i)||²   (Definition 4.1); z is detached.

    With ``tangential=True`` the gradient is that of the Section 5 form

        mean_i ||λ_i n(p_i) − n(z_i)||² / λ_i,   λ_i = stopgrad(<n(p_i), n(z_i)>),

    while the returned value stays the plain one. The Section 5 form equals
    mean_i [λ_i ||n(p_i)||² − 2 <n(p_i), n(z_i)> + 1/λ_i]; the 1/λ_i term is a constant
    under stopgrad, unbounded as λ_i → 0 (and λ_i ≈ 0 at initialisation), so it is left
    out: the surrogate below has the same gradient and never divides by λ.

    Shapes: p, z (B, D) → scalar in [0, 4].
    """
    _check_pair("p,z", p, z)
    z = z.detach()
    plain = _squared_distance(p, z).mean()
    if not tangential:
        return plain
    n_p, n_z = F.normalize(p, dim=-1), F.normalize(z, dim=-1)
    lam = (n_p * n_z).sum(dim=-1).detach()  # (B,)
    surrogate = (lam * n_p.pow(2).sum(dim=-1) - 2 * (n_p * n_z).sum(dim=-1)).mean()
    return plain.detach() + (surrogate - surrogate.detach())


def byol_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, tangential: bool = False) -> Tensor:
    """L_BYOL = ½ [L_cross-model(p1, z2) + L_cross-model(p2, z1)]   (Section 2.2, views crossed)."""
    return 0.5 * (cross_model_loss(p1, z2, tangential) + cross_model_loss(p2, z1, tangential))


def same_view_cross_model_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, tangential: bool = False) -> Tensor:
    """½ [L_cross-model(p1, z1) + L_cross-model(p2, z2)]: the symmetrised cross-model term of
    BYOL' and RAFT (Section 4.1, "for the sake of symmetry")."""
    return 0.5 * (cross_model_loss(p1, z1, tangential) + cross_model_loss(p2, z2, tangential))


def byol_prime_loss(
    p1: Tensor,
    p2: Tensor,
    z1: Tensor,
    z2: Tensor,
    alpha: float = 1.0,
    beta: float = 1.0,
    tangential: bool = False,
) -> Tensor:
    """L_BYOL' = α·L_align(p1, p2) + β·½ [L_cross-model(p1, z1) + L_cross-model(p2, z2)]
    (Definition 4.2). Theorem 4.1: L_BYOL ≤ (1/α + 1/β)·L_BYOL'."""
    return alpha * alignment_loss(p1, p2) + beta * same_view_cross_model_loss(p1, p2, z1, z2, tangential)


def raft_loss(
    p1: Tensor,
    p2: Tensor,
    z1: Tensor,
    z2: Tensor,
    alpha: float = 1.0,
    beta: float = 1.0,
    tangential: bool = False,
) -> Tensor:
    """L_RAFT = α·L_align(p1, p2) − β·½ [L_cross-model(p1, z1) + L_cross-model(p2, z2)]
    (Definition 4.3): align the two views, run away from the mean teacher."""
    return alpha * alignment_loss(p1, p2) - beta * same_view_cross_model_loss(p1, p2, z1, z2, tangential)


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """D(p, z) = −mean_i <n(p_i), n(z_i)>   (SimSiam, Chen & He 2021, Eq. 1); z is detached
    (the stop-gradient of their Eq. 3). Equals ½ L_cross-model(p, z) − 1.

    Shapes: p, z (B, D) → scalar in [−1, 1].
    """
    _check_pair("p,z", p, z)
    return -(F.normalize(p, dim=-1) * F.normalize(z.detach(), dim=-1)).sum(dim=-1).mean()


def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
    """L_SimSiam = ½ D(p1, sg(z2)) + ½ D(p2, sg(z1))   (Chen & He 2021, Eq. 3), where z1, z2 are
    the online projections f_θ(t1(x)), f_θ(t2(x)) themselves and sg the stop-gradient: no mean
    teacher, no EMA. Shapes: (B, D) each → scalar in [−1, 1]."""
    return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))
