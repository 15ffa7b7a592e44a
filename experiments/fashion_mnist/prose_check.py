"""The checks on the prose written by hand about the verdicts (docs/results.md, between
PROSE_BEGIN and PROSE_END): every number in it is one claims.json holds, at the precision shown
and for the claims its paragraph names, and every verdict it states is claims.json's
(``tests/test_verdicts.py`` runs them on the committed page)."""

from __future__ import annotations

import math
import re
from typing import Any

# Prose written by hand about the verdicts (where the paper does not reproduce, and why it might
# not) sits between these marks in docs/results.md: every number in it must be one claims.json
# holds, at the precision shown (``unsourced_numbers``; tests/test_verdicts.py checks).
PROSE_BEGIN = "<!-- prose on the verdicts: every number in it is claims.json's (tests/test_verdicts.py) -->"
PROSE_END = "<!-- end of the prose on the verdicts -->"
# A number standing alone: not part of a name (c6, claims_table3, Figure 5a's "5a", 1e-15's parts).
# A decimal is a number whatever follows it ("9.3pp"); an integer only where no letter or digit
# follows ("c6", "5a" are names). A sign is −, -, – or +; a leading dot (".72") is a decimal.
_SIGN, _EXP = r"[−–+-]?", r"(?:[eE][−–-]?\d+)?"
NUMBER = re.compile(rf"(?<![\w.])(?:{_SIGN}(?:\d+\.\d+|\.\d+){_EXP}(?![\d.])|{_SIGN}\d+{_EXP}(?![\w.]*\d|[A-Za-z_]))")
# What NUMBER cannot read, so that a number is never hidden from the check: a decimal comma,
# vulgar fractions and superscripts, digits grouped by a thin or no-break space.
UNREADABLE = re.compile(r"\d,\d|[½¼¾⅓⅔⁰¹²³⁴⁵⁶⁷⁸⁹⁻]|\d[\u2009\u202f\u00a0]\d")


def prose_block(text: str) -> str | None:
    """The hand-written prose between PROSE_BEGIN and PROSE_END, or None when there is none, or
    when either mark is there more than once (a second end mark would hide what follows it)."""
    if text.count(PROSE_BEGIN) != 1 or text.count(PROSE_END) != 1:
        return None
    start, end = text.find(PROSE_BEGIN), text.find(PROSE_END)
    return text[start + len(PROSE_BEGIN) : end] if start < end else None


def _source_numbers(node: Any) -> set[float]:
    found: set[float] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += list(item.keys()) + list(item.values())
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and math.isfinite(item):
            found.add(float(item))
        elif isinstance(item, str):
            found |= {_value(t) for t in NUMBER.findall(item)}
    return found


def _as_shown(x: float, token: str) -> float:
    """``x`` at the precision ``token`` shows: its decimals, or its mantissa's in 1.5e-07 form."""
    mantissa, _, exponent = token.lower().partition("e")
    digits = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return float(f"{x:.{digits}e}") if exponent else round(x, digits)


def _value(token: str) -> float:
    return float(token.replace("−", "-").replace("–", "-"))


def unsourced_numbers(prose: str, source: Any) -> list[str]:
    """Each number in ``prose`` that ``source`` (claims.json) does not hold at the precision the
    prose shows it with: as it is, or in percent (74.95 % of an accuracy 0.7495; a number followed
    by % only so); a number shown without a sign may also be a magnitude (a gap "3.4 points" of a
    difference −0.034), one shown with a sign must have it. A number written so that it cannot be
    read (a decimal comma, ½, a superscript, a thin space between digits) is named as it stands."""
    numbers = _source_numbers(source)
    missing = [f"unreadable: {prose[max(m.start() - 8, 0) : m.end() + 8]!r}" for m in UNREADABLE.finditer(prose)]
    for match in NUMBER.finditer(prose):
        token = match.group()
        percent = re.match(r"\s?%", prose[match.end() :]) is not None
        signed = {100 * x for x in numbers} | (set() if percent else numbers)
        candidates = signed if token[0] in "−–+-" else signed | {abs(x) for x in signed}
        if _as_shown(_value(token), token) not in {_as_shown(x, token) for x in candidates}:
            missing.append(token)
    return missing


# A paragraph on a claim says its verdict first ("`c1` is not reproduced", "`c8` and `tangential`
# are reproduced"); anywhere in the prose such a statement (the id in backticks, bold or bare,
# or "claim 3"; "is", "remains", "was" with an adverb or none) must be the claim's verdict in
# claims.json, and a verdict "by the literal/standardised protocol" that protocol's.
_VERDICT = r"(not\s+reproduced|reproduced|inconclusive|not\s+decided)"
_VERB = r"\s+(?:is|are|remains?|stays?|was|were)(?:\s+(?!not\b)[a-z]+)?\s+"
_PROTOCOL = re.compile(
    r"(not\s+reproduced|reproduced|inconclusive)\s+(?:by|under|with)\s+the\s+(?:paper's\s+)?(literal|standardi[sz]ed)"
)


def _ids(claims: dict[str, Any]) -> tuple[dict[str, str], str]:
    by_id = {claim.split("_", 1)[0]: claim for claim in claims}
    bare = "|".join(sorted(map(re.escape, by_id), key=len, reverse=True)) or "(?!)"
    one = rf"(?:[*_]{{0,2}}`[a-z0-9]+`[*_]{{0,2}}|[*_]{{0,2}}\b(?:{bare}|claim\s+\d)\b[*_]{{0,2}})"
    return by_id, rf"{one}(?:(?:,\s+and\s+|,\s+|\s+and\s+){one})*"


def _named(text: str, by_id: dict[str, str]) -> list[str]:
    found = re.findall(r"`([a-z0-9]+)`|\b(claim\s+\d)\b|\b([a-z0-9]+)\b", text)
    ids = [a or ("c" + b.split()[-1] if b else c) for a, b, c in found]
    return [i for i in ids if i in by_id or re.fullmatch(r"c\d", i)]


def misstated_verdicts(prose: str, claims: dict[str, Any]) -> list[str]:
    """Each verdict the prose states that claims.json does not give, and each paragraph that
    opens on a claim without stating its verdict there."""
    by_id, ids = _ids(claims)
    stated = re.compile(ids + _VERB + _VERDICT)
    problems = []
    for paragraph in re.split(r"\n\s*\n", prose.strip()):
        opening = paragraph.lstrip(" >-*_\n")
        subject = _named(opening[: re.match(ids, opening).end()], by_id) if re.match(ids, opening) else []
        if subject and not stated.match(opening.lstrip()) and not stated.match(paragraph.lstrip(" >-\n")):
            problems.append(f"{opening[:40]!r}…: a paragraph on a claim opens with its verdict")
        for match in stated.finditer(paragraph):
            said = " ".join(match.group(1).split())
            for i in _named(match.group()[: match.start(1) - match.start()], by_id):
                verdict = claims[by_id[i]]["verdict"] if i in by_id else None
                if verdict is None or not (verdict == said or said == "not decided" and verdict.startswith(said)):
                    problems.append(f"`{i}` {said}: claims.json says {verdict!r}")
        for match in _PROTOCOL.finditer(paragraph):
            said = " ".join(match.group(1).split())
            protocol = "linear_acc_literal" if match.group(2) == "literal" else "linear_acc"
            for i in subject:
                by_protocol = claims[by_id[i]].get("by_protocol", {}) if i in by_id else {}
                if by_protocol.get(protocol) != said:
                    problems.append(f"`{i}` {said} by {protocol}: claims.json says {by_protocol.get(protocol)!r}")
    return problems


def unsourced_by_paragraph(prose: str, claims: dict[str, Any]) -> list[str]:
    """``unsourced_numbers`` paragraph by paragraph, each against the claims it names: a paragraph
    that names claims by their short id in backticks (`c6`, `fig5a`: the key up to its first "_")
    may quote only those claims' numbers — claims.json holds hundreds, and a number edited in the
    prose would too easily be another claim's at the precision shown; one that names none, any
    claim's. Each missing number is given as "number (in the paragraph naming …)"."""
    by_id = {claim.split("_", 1)[0]: claim for claim in claims}
    missing = []
    for paragraph in re.split(r"\n\s*\n", prose):
        named = [by_id[i] for i in re.findall(r"`([a-z0-9]+)`", paragraph) if i in by_id]
        source = {c: claims[c] for c in named} if named else claims
        # The ids themselves ("c6", "fig5a") are names, not numbers: NUMBER leaves them out.
        where = f" (in the paragraph naming {', '.join(named)})" if named else ""
        missing += [f"{n}{where}" for n in unsourced_numbers(paragraph, source)]
    return missing
