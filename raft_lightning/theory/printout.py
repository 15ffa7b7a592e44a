"""The text report of the three checks: a [PASS]/[FAIL] verdict per claim, then its numbers."""

from __future__ import annotations

from raft_lightning.theory.bound import UpperBoundResult
from raft_lightning.theory.correspondence import CorrespondenceResult, CorrespondenceRun
from raft_lightning.theory.tangential import TangentialResult


def _verdict(ok: bool) -> str:
    return "[PASS]" if ok else "[FAIL]"


def bound_report(result: UpperBoundResult) -> list[str]:
    lines = [f"{_verdict(result.holds and result.sharp)} Theorem 4.1: L_BYOL ≤ (1/α + 1/β)·L_BYOL' (plain losses)"]
    for case in result.cases:
        lines.append(
            f"  {case.on}\n      {case.evaluations} evaluations, tightest ratio {case.tightest:.8f} "
            f"(α={case.alpha:.3g}, β={case.beta:.3g})"
        )
    lines.append(
        f"  largest ratio L_BYOL / ((1/α+1/β)·L_BYOL') seen: {result.tightest:.8f} "
        f"({'≤' if result.holds else '>'} 1; the bound holds per sample by Cauchy–Schwarz). "
        f"The search came within {1 - result.tightest:.1e} of 1"
        + (", so the constant 1/α + 1/β cannot be lowered." if result.sharp else ": NOT tight, the search failed.")
    )
    return lines


def _run_row(run: CorrespondenceRun) -> str:
    return (
        f"  {run.predictor:<7} {run.optimizer:<5} {str(run.tangential).lower():<6} {run.dtype:<8}"
        f"{run.theta_diff:>10.1e}{run.bn_diff:>10.1e}{run.w_diff:>10.1e}{run.loss_diff:>10.1e}"
        f"{run.ema_diff:>10.1e}{run.theta_moved:>10.2e}"
    )


def correspondence_report(result: CorrespondenceResult) -> list[str]:
    steps = result.runs[0].steps
    lines = [
        f"{_verdict(result.holds)} Theorem 5.1: BYOL' from (θ0, W0) and RAFT from (θ0, −W0) share θ at every "
        f"step, W opposite",
        f"  smoke convnet, same seed, same {steps} augmented batches, one Trainer per run (module's optimiser,",
        "  module's EMA); max over all steps of |Δθ| (online and target parameters), |ΔBN| (their BatchNorm",
        "  statistics), |ΔW| (predictor, output layer negated), |ΔL| = |L_BYOL' − L_RAFT − 4β|, |ΔEMA| =",
        "  |ξ_k − τξ_{k−1} − (1−τ)θ_k| (both runs: the targets are mean teachers); θ moved: how far BYOL' moved θ",
        "  pred    opt   tang   dtype       |Δθ|     |ΔBN|      |ΔW|      |ΔL|    |ΔEMA|  θ moved",
    ]
    lines += [_run_row(run) for run in result.runs + result.float32]
    if result.control is not None:
        lines.append("  control, RAFT from +W0 (no sign flip):")
        lines.append(_run_row(result.control))
    lines.append(
        f"  largest float64 deviation {result.largest:.1e} ({'≤' if result.largest <= result.tolerance else '>'} "
        f"{result.tolerance:.0e})"
        + ("; the control differs, so the check can see a broken correspondence." if result.control_differs else "")
    )
    if not result.control_differs:
        lines.append("  the control does NOT differ: the check cannot tell a broken correspondence from a true one.")
    return lines


def tangential_report(result: TangentialResult) -> list[str]:
    lines = [
        f"{_verdict(result.holds)} Section 5, tangential gradient: ∇ with tangential=True vs plain, "
        "l2-normalised outputs"
    ]
    for row in result.rows:
        lines.append(f"  {row.dtype:<8} {row.on}: max |diff| {row.max_abs_diff:.1e} = {row.relative:.1e} of max |∇|")
    largest = ", ".join(f"{d} {v:.1e}" for d, v in result.largest.items())
    lines.append(
        f"  largest relative difference: {largest} (round-off): n(p) = p/‖p‖ has Jacobian (I − n nᵀ)/‖p‖, "
        "which already removes the normal component the condition drops."
    )
    return lines


def report(bound: UpperBoundResult, correspondence: CorrespondenceResult, tangential: TangentialResult) -> str:
    """The whole report, the three checks separated by blank lines."""
    return "\n".join(
        [*bound_report(bound), "", *correspondence_report(correspondence), "", *tangential_report(tangential)]
    )
