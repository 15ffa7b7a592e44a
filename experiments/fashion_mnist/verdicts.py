"""Issue 23's verdicts: every claim of ``rules.yaml`` decided on the kept claims runs by the rule
written before them. ``python -m experiments.fashion_mnist.verdicts [--kept DIR] [--out FILE]``
writes ``claims.json`` and, beside it, ``verdicts.md`` (``claims_section.render``) and
``verdicts_brief.md``; with ``--paste`` also their tables in docs/results.md and README.md.

A rule is a list of conditions; each condition here is one or more *parts* (one test each), and
each part ends ``held``, ``failed`` (its opposite established at p < 0.05) or ``neither``. How each
kind of part tests its opposite (rules.yaml's header: "a condition's opposite established (the
opposite test at p < 0.05)"):

- ``collapsed(X)``: held when mean uniform_projector > collapse.uniform_above (conf/report.yaml)
  and mean align < 0.1 (where align was measured: the random encoder never trains and has none,
  which is why conf/report.yaml reads L_uniform alone). Opposite (not collapsed) established: a
  one-sample one-sided t-test that mean uniform_projector < the threshold, or mean align > 0.1,
  at p < 0.05. ``not collapsed(X)`` is the mirror: held when the point rule says not collapsed,
  failed when both of collapsed's inequalities are established at p < 0.05.
- ``below(A, B, m)``: held when Welch's one-sided test of mean(A) < mean(B) has p < 0.05; failed
  when the reverse one-sided test (mean(A) > mean(B)) has p < 0.05. ``not below(A, B, m)`` (a
  "not significantly better") is held when below's p ≥ 0.05 and failed when below holds: it is
  never "neither".
- ``same(A, B, m, d)``: held when TOST has both one-sided Welch p < 0.05 (diff > −d and diff < d);
  failed when non-equivalence is established: diff > d or diff < −d at p < 0.05 (one-sided Welch).
- A per-seed threshold ("in each seed …", "in at least 2 of 3 seeds", "in [0.67, 1.5]"): held
  when the per-seed values meet it as stated; failed when a one-sample one-sided t-test on the
  per-seed values puts their mean on the wrong side of the threshold at p < 0.05.
- Spearman (c6): held when ρ > 0 with exact one-sided permutation p < 0.05 (7 points: every
  ordering enumerated); failed when ρ < 0 with the exact "less" p < 0.05.
- Theorem 5.1: held when, for every seed and series, the pair is bitwise equal or max |diff| <
  the least per-epoch 3-seed std; failed when the one-sample test of (max |diff| − that std) > 0
  over the seeds has p < 0.05.

Accuracy parts carry their protocol (``linear_acc``: standardised features; ``linear_acc_literal``:
the paper's raw features); the claim's verdict needs both, and ``by_protocol`` says what each alone gives.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from experiments.fashion_mnist.keep import SWEEPS
from experiments.fashion_mnist.primitives import (  # noqa: F401 - re-exported: the rules' vocabulary, read by tests/test_verdicts.py
    below,
    collapsed,
    increases,
    same,
    spearman_exact,
    threshold,
)
from experiments.fashion_mnist.selection import (  # noqa: F401 - re-exported: the rules' vocabulary, read by tests/test_verdicts.py
    BETAS,
    DENSE_STEPS,
    FAILED,
    HELD,
    INCONCLUSIVE,
    KEPT,
    NEITHER,
    NOT_REPRODUCED,
    OUT,
    PROTOCOLS,
    REPRODUCED,
    ROOT,
    RULES,
    SEEDS,
    UNIFORM_ABOVE,
    Kept,
    Sel,
    expected_setting,
)
from experiments.fashion_mnist.table_claims import (  # noqa: F401 - re-exported: the rules' vocabulary, read by tests/test_verdicts.py
    c1,
    c2,
    c4,
    c5,
    c8,
    fig3a,
    fig5a,
    tangential,
)
from experiments.fashion_mnist.trend_claims import (  # noqa: F401 - re-exported: the rules' vocabulary, read by tests/test_verdicts.py
    c3,
    c6,
    c7,
    theorem51,
)
from raft_lightning.files import write_all_or_none
from raft_lightning.readers import printable

REPOSITORY = ROOT  # where OUT and KEPT are; ROOT: where --paste writes (tests point it elsewhere)

CLAIMS: dict[str, Callable[[Kept], tuple[list[Sel], Callable]]] = {
    "c1_byol_np_collapses_below_random": c1,
    "c2_predictor_form_changes_little": c2,
    "c3_lpi_initial_collapse_then_recovery": c3,
    "c4_byol_prime_like_byol": c4,
    "c5_raft": c5,
    "c6_table3_beta": c6,
    "c7_constant_rate_linear_predictor": c7,
    "c8_tanbyol_lp_like_byol_lp": c8,
    "fig5a_byol_prime_np_beta": fig5a,
    "tangential_none_collapse": tangential,
    "fig3a_supervised_uniformity": fig3a,
    "theorem51_training_scale": theorem51,
}


def combine(parts: list[dict[str, Any]]) -> str:
    """A condition from its counted parts: failed if any failed, held if all held, else neither."""
    outcomes = [p["outcome"] for p in parts if p.get("counts", True)]
    return FAILED if FAILED in outcomes else HELD if all(o == HELD for o in outcomes) else NEITHER


def verdict(conditions: list[dict[str, Any]], protocol: str | None = None) -> str:
    """rules.yaml's header, over the conditions (with ``protocol``: only that accuracy protocol's parts)."""
    outcomes = []
    for c in conditions:
        parts = [p for p in c["parts"] if protocol is None or p.get("protocol") in (None, protocol)]
        outcomes.append(combine(parts))
    if FAILED in outcomes:
        return NOT_REPRODUCED
    return REPRODUCED if all(o == HELD for o in outcomes) else INCONCLUSIVE


def would_settle(conditions: list[dict[str, Any]]) -> list[str]:
    """Per open condition, what would decide its open parts: those that count toward the verdict
    (kNN is reported beside the linear protocols, never counted)."""
    return [
        f"{c['rule']}: "
        + "; ".join(
            p["settle"] for p in c["parts"] if p["outcome"] == NEITHER and "settle" in p and p.get("counts", True)
        )
        for c in conditions
        if c["outcome"] == NEITHER
    ]


def decide_claim(k: Kept, claim: str, rule: dict[str, Any]) -> dict[str, Any]:
    rows, conditions = CLAIMS[claim](k)
    out: dict[str, Any] = {"paper": rule["paper"], "rows": rule["rows"], "rule": rule["reproduced_if"]}
    if "amended" in rule:  # rules.yaml's header: a rule changed says so, with the reason
        out["amended"] = rule["amended"]
    n, ok = len(rows) * len(SEEDS), sum(s.ok for s in rows)
    problems = list(dict.fromkeys(p for s in rows for p in s.problems))  # a sweep's damage once, not per row
    out["runs"] = {s.name: {"sweep": s.sweep, "match": s.match, "ok_seeds": sorted(s.runs)} for s in rows}
    if ok < n or problems:
        out["verdict"] = "not decided: " + "; ".join([f"runs missing ({ok} of {n} ok)"] * (ok < n) + problems)
        return out
    r = {s.name: s for s in rows}
    try:
        parts = conditions(r)
    except ValueError as e:  # a record the rule needs is not in the runs (e.g. no dense steps.csv)
        out["verdict"] = f"not decided: {e}"
        return out
    if len(parts) != len(rule["reproduced_if"]):
        raise AssertionError(f"{claim}: {len(parts)} conditions decided, rules.yaml has {len(rule['reproduced_if'])}")
    out["conditions"] = [
        {"rule": text, "parts": ps, "outcome": combine(ps)} for text, ps in zip(rule["reproduced_if"], parts)
    ]
    out["verdict"] = verdict(out["conditions"])
    if any(p.get("protocol") for c in out["conditions"] for p in c["parts"]):
        out["by_protocol"] = {p: verdict(out["conditions"], p) for p in PROTOCOLS}
    if out["verdict"] == INCONCLUSIVE:
        out["would_settle"] = would_settle(out["conditions"])
    for extra, key in (("behaviour", "behaviour_part"), ("phase", "phase_length"), ("mirrored", "mirrored_pair")):
        if hasattr(conditions, extra):
            out[key] = {
                "rule": rule.get(key, "reported, not part of the verdict"),
                "numbers": getattr(conditions, extra)(r),
            }
    return out


def load_rules(path: Path = RULES) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())["claims"]


def decide(kept: Path, rules: Path = RULES) -> dict[str, Any]:
    """Every claim of ``rules`` decided on the runs kept under ``kept`` (keep.py's layout)."""
    k = Kept(kept)
    claims = load_rules(rules)
    unknown = sorted(set(claims) ^ set(CLAIMS))
    if unknown:
        raise ValueError(f"claims without a decider or rule: {', '.join(unknown)}")
    return {claim: decide_claim(k, claim, rule) for claim, rule in claims.items()}


def clean(value: Any) -> Any:
    """JSON-safe: a non-finite float becomes its name ("nan", "inf"), tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(decided: dict[str, Any]) -> str:
    return json.dumps(clean(decided), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


BRIEF = "verdicts_brief.md"  # the README's short form (claims_section.brief): each claim and its verdict
# --paste: where each generated table is shown (tests/test_verdicts.py checks they are these).
PAGES = {"docs/results.md": "render", "README.md": "brief"}


def main(argv: list[str] | None = None) -> int:
    from experiments.fashion_mnist import claims_section
    from experiments.fashion_mnist.claims_section import brief, pasted, render

    parser = argparse.ArgumentParser(
        prog="python -m experiments.fashion_mnist.verdicts", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--kept", type=Path, default=KEPT, help="the kept claims runs (default: results/fashion_mnist/claims)"
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"claims.json to write; verdicts.md and {BRIEF} are written beside it"
    )
    parser.add_argument(
        "--paste",
        action="store_true",
        help=f"also replace the generated tables in {' and '.join(PAGES)} (under the repository root)",
    )
    args = parser.parse_args(argv)
    if not args.kept.is_dir():
        print(f"--kept={args.kept}: not a folder (expected keep.py's results/fashion_mnist/claims)", file=sys.stderr)
        return 2
    if not any((args.kept / sweep).is_dir() for sweep in SWEEPS):  # every claim would read "runs missing"
        print(f"--kept={args.kept}: holds none of keep.py's sweep folders ({', '.join(SWEEPS)})", file=sys.stderr)
        return 2
    if args.out.suffix != ".json" or args.out.is_dir():  # verdicts.md goes beside it: never over it
        print(f"--out={args.out}: expected a .json file to write (verdicts.md is written beside it)", file=sys.stderr)
        return 2
    committed = (ROOT / OUT.relative_to(REPOSITORY), ROOT / KEPT.relative_to(REPOSITORY))
    if args.paste and (args.out.resolve(), args.kept.resolve()) != tuple(p.resolve() for p in committed):
        # The pages show the committed claims.json: pasted from another, they would not be its.
        print(
            f"--paste: the pages show the committed {committed[0]} decided on {committed[1]}; "
            "leave --out and --kept out to paste",
            file=sys.stderr,
        )
        return 2
    text = dumps(decide(args.kept))
    claims = json.loads(text)
    files: dict[Path, str | bytes] = {
        args.out: text,
        args.out.with_name("verdicts.md"): render(claims),
        args.out.with_name(BRIEF): brief(claims),
    }
    for name, make in PAGES.items() if args.paste else ():  # every page read and checked before any write
        page = ROOT / name
        try:
            files[page] = pasted(page.read_bytes().decode("utf-8"), getattr(claims_section, make)(claims)).encode()
        except (OSError, UnicodeDecodeError, ValueError) as e:
            print(f"--paste: {page}: {printable(str(e), 300)}; nothing was written", file=sys.stderr)
            return 1
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_all_or_none(files)
    except OSError as e:  # NotWritten too: a folder in the way, a file where a folder should be, no space
        print(f"--out={args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    for claim, d in claims.items():
        print(f"{claim}: {d['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
