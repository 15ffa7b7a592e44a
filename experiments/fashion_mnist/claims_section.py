"""The results section's Markdown, generated from claims.json (``verdicts.py``) so that no number
in the prose is typed by hand: one table row per claim with its verdict, its key numbers and its
rule in a phrase. ``python -m experiments.fashion_mnist.claims_section [--claims FILE]`` prints it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from experiments.fashion_mnist.verdicts import INCONCLUSIVE, NOT_REPRODUCED, OUT, REPRODUCED, load_rules
from raft_lightning.readers import printable

PHRASES = {  # rules.yaml's rule of each claim in a phrase (the whole rule is in claims.json)
    "c1_byol_np_collapses_below_random": (
        "BYOL-NP collapsed, random not, BYOL-NP below random (one-sided Welch, both linear protocols)"
    ),
    "c2_predictor_form_changes_little": "no predictor form collapses; each within ±1.5 points of BN-MLP (TOST)",
    "c3_lpi_initial_collapse_then_recovery": (
        "LPI's step-level L_uniform rises > 0.1, to > −0.25 in ≥ 2 of 3 seeds, recovers by > 0.3; LP rises less"
    ),
    "c4_byol_prime_like_byol": "BYOL′-NP collapsed; BYOL′-X within ±1.5 points of BYOL-X (TOST)",
    "c5_raft": (
        "RAFT-LP not collapsed and within ±1.5 points of BYOL-LP; RAFT-NP not collapsed, not significantly above random"
    ),
    "c6_table3_beta": (
        "RAFT-NP collapsed at β = 0.01, not at β ≥ 1, L_align rising with β (Spearman); RAFT-LP never collapsed"
    ),
    "c7_constant_rate_linear_predictor": (
        "late/early L_uniform slope ratio in [0.67, 1.5] for LP; its rate change below MLP's"
    ),
    "c8_tanbyol_lp_like_byol_lp": "TanBYOL-LP not collapsed; within ±1.5 points, ±0.15 L_uniform of BYOL-LP (TOST)",
    "fig5a_byol_prime_np_beta": "BYOL′-NP collapsed at every β",
    "tangential_none_collapse": "tangential BYOL′-LP, RAFT-LP and TanBYOL-LP not collapsed",
    "fig3a_supervised_uniformity": "supervised not collapsed, its L_uniform not significantly 0.15 below BYOL-MLP's",
    "theorem51_training_scale": (
        "BYOL′(W) and RAFT(−W), tangential: per-epoch curves bitwise equal or within the seed spread"
    ),
}


def _g(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else x if isinstance(x, str) else f"{x:.{digits}g}"


def key_numbers(part: dict[str, Any]) -> str:
    """One part's test in a few numbers: what the verdict rests on."""
    test, outcome = part.get("test", ""), part["outcome"]
    if "difference" in part:
        tests = [v for k, v in part.items() if isinstance(v, dict) and "p" in v]
        if "tost" in part:
            p = max((t["p"] for t in part["tost"].values() if t["p"] is not None), default=None)
            return f"{test}: diff {_g(part['difference'])}, TOST p {_g(p)} ({outcome})"
        p = tests[0]["p"] if tests else None
        return f"{test}: diff {_g(part['difference'])}, one-sided p {_g(p)} ({outcome})"
    if "uniform_projector" in part and isinstance(part["uniform_projector"], dict):
        return f"{test}: L_uniform(z) {_g(part['uniform_projector']['mean'])} ({outcome})"
    if "rho" in part:
        return f"{test}: ρ {_g(part['rho'], 2)}, exact p {_g(part['p_greater'])} ({outcome})"
    if "per_seed" in part and "seeds_meeting" in part:
        values = ", ".join(_g(v) for v in part["per_seed"])
        return f"{test}: per seed {values}, {part['seeds_meeting']} of {len(part['per_seed'])} meet it ({outcome})"
    if "seeds_inside" in part:
        values = ", ".join(_g(x["ratio"]) for x in part["per_seed"])
        return f"{test}: ratios {values} ({outcome})"
    if "A" in part:
        p = part["below (A < B)"]["p"]
        return f"{test}: means {_g(part['A']['mean'])} vs {_g(part['B']['mean'])}, p {_g(p)} ({outcome})"
    return f"{test} ({outcome}{': ' + part['note'] if 'note' in part else ''})"


def _cell(text: str) -> str:
    return printable(
        text.replace("|", "\\|").replace("\n", " "), limit=10_000
    )  # no control character reaches a terminal


def problems(claims: Any) -> list[str]:
    """What makes ``claims`` other than a claims.json as verdicts.py writes it (empty: it renders)."""
    if not isinstance(claims, dict):
        return [f"expected an object of claims, found {type(claims).__name__}"]
    rules = load_rules()
    errors = [f"{printable(str(c), 60)}: not a claim of rules.yaml" for c in claims if c not in rules]
    errors += [f"{c}: missing" for c in rules if c not in claims]
    for claim in [c for c in rules if c in claims]:
        verdict = claims[claim].get("verdict") if isinstance(claims[claim], dict) else None
        if not (isinstance(verdict, str) and (verdict in VERDICTS or verdict.startswith("not decided"))):
            errors.append(f"{claim}: verdict={printable(repr(verdict), 60)}: expected one of {', '.join(VERDICTS)}")
            continue
        try:
            render({claim: claims[claim]})
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            why = f"{type(e).__name__}: {printable(str(e), 120)}"
            errors.append(f"{claim}: its conditions are not as verdicts.py writes them ({why})")
    return errors


VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, "not decided: …")


GENERATED = "<!-- generated by python -m experiments.fashion_mnist.verdicts from claims.json: do not edit -->"


def _table(columns: list[str]) -> list[str]:
    return [GENERATED, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _verdict(d: dict[str, Any]) -> str:
    """The verdict, and each linear protocol's where they differ."""
    verdict = d["verdict"]
    if "by_protocol" in d and len(set(d["by_protocol"].values())) > 1:
        verdict += " (" + ", ".join(f"{p}: {v}" for p, v in d["by_protocol"].items()) + ")"
    return verdict


def render(claims: dict[str, Any]) -> str:
    """The Markdown section: a table, one row per claim, in the order ``claims`` has (verdicts.py
    writes rules.yaml's)."""
    lines = _table(["claim", "verdict", "key numbers", "rule"])
    for claim, d in claims.items():
        numbers = "; ".join(
            key_numbers(p) for c in d.get("conditions", []) for p in c["parts"] if p.get("counts", True)
        )
        rule = PHRASES.get(claim, "") + (
            f" (amended {d['amended'].split(',')[0]}: claims.json says why)" if "amended" in d else ""
        )
        lines.append(f"| {_cell(claim)} | {_cell(_verdict(d))} | {_cell(numbers) or '—'} | {_cell(rule)} |")
    return "\n".join(lines) + "\n"


def brief(claims: dict[str, Any]) -> str:
    """The README's short form: each claim as the paper says it (rules.yaml's ``paper``) and its
    verdict, nothing else; the numbers are on the results page (``render``)."""
    rules = load_rules()
    lines = _table(["the paper says", "verdict here"])
    lines += [f"| {_cell(rules[claim]['paper'])} | {_cell(_verdict(d))} |" for claim, d in claims.items()]
    return "\n".join(lines) + "\n"


def pasted(page: str, generated: str) -> str:
    """``page`` with its one generated table (the GENERATED line, blank lines, the table's rows)
    replaced by ``generated`` (``render`` or ``brief``): how verdicts.py --paste keeps the results
    page and the README what claims.json gives. ValueError where the page has no such table, or
    more than one, so that nothing is pasted in the wrong place."""
    lines = page.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == GENERATED]
    if len(starts) != 1:
        raise ValueError(f"expected one table marked {GENERATED}, found {len(starts)}")
    end = starts[0] + 1
    while end < len(lines) and not lines[end].strip():
        end += 1
    if end == len(lines) or not lines[end].startswith("|"):
        raise ValueError(f"the line after {GENERATED} and its blank lines is not a table row")
    header = next(line for line in generated.splitlines() if line.startswith("|"))
    if lines[end].rstrip("\r\n") != header:  # another table under the mark: never replaced
        raise ValueError(f"the table after {GENERATED} is not this one (its header is not {header!r})")
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    if lines[starts[0]].endswith("\r\n"):  # a page kept with Windows line ends keeps them
        generated = generated.replace("\r\n", "\n").replace("\n", "\r\n")
    return "".join(lines[: starts[0]]) + generated + "".join(lines[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.fashion_mnist.claims_section")
    parser.add_argument("--claims", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.claims.is_file():
        print(
            f"--claims={args.claims}: no such file (python -m experiments.fashion_mnist.verdicts writes it)",
            file=sys.stderr,
        )
        return 2
    try:
        claims = json.loads(args.claims.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(
            f"--claims={args.claims}: not claims.json as verdicts.py writes it ({type(e).__name__}: {e})",
            file=sys.stderr,
        )
        return 1
    if errors := problems(claims):
        print(
            f"--claims={args.claims}: not claims.json as verdicts.py writes it: " + "; ".join(errors), file=sys.stderr
        )
        return 1
    sys.stdout.write(render(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
