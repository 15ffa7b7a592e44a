"""The fault matrix itself (make faults): its size and families, its counts line, and that its
checks tell a clear refusal from a run that trained, and a survived fault from a lost one (one
case of each kind, as the matrix runs them)."""

from __future__ import annotations

import json

import pytest

from experiments.faults import bad_inputs, exits, folders
from experiments.faults.__main__ import FAMILIES, FAULTS, counts_line
from experiments.faults.harness import Outcome
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ISSUE_20_FAMILIES = {
    "untrusted files",
    "portability",
    "exit codes",
    "signals",
    "damaged readers",
    "concurrent writers",
    "read-only and full filesystems",
}


def test_the_matrix_has_the_cases_and_families_the_docs_count():
    assert len(bad_inputs.BAD_INPUTS) >= 60 and len(FAULTS) >= 24
    keys = {key.split(".")[0] for _, key in bad_inputs.BAD_INPUTS}
    assert {"loss", "optimizer", "predictor", "callbacks", "eval", "data", "model", "trainer", "fast"} <= keys
    assert set(FAMILIES) == ISSUE_20_FAMILIES
    assert all(len(found) >= 4 for found in FAMILIES.values())
    total = len(bad_inputs.BAD_INPUTS) + len(FAULTS) + sum(len(found) for found in FAMILIES.values())
    assert total >= 101 + 40  # issue 20: at least 40 more cases than its 101
    names = [name for found in FAMILIES.values() for name in found] + list(FAULTS)
    assert len(names) == len(set(names))  # each case once, under one family


def test_the_counts_line_counts_each_family_and_the_whole():
    ok, lost = Outcome("a", "e", "o", True), Outcome("b", "e", "o", False)
    line = counts_line([ok, ok], [ok], {"signals": [ok, lost], "portability": [ok]})
    assert line == (
        "2 bad inputs: 2 clear before training; 1 faults: 1 survived, nothing lost; "
        "3 family cases (signals 1/2, portability 1/1): 2 held; 6 cases, 5 held"
    )


def test_a_bad_input_is_refused_and_a_good_one_is_not_counted_as_refused(tmp_path):
    assert bad_inputs.check(("optimizer.lr=-1",), "optimizer.lr", tmp_path / "bad").ok
    trained = bad_inputs.check(("trainer.max_epochs=1",), "trainer.max_epochs", tmp_path / "good")
    assert not trained.ok and trained.observed.startswith("TRAINED")


def test_a_fault_case_survives(tmp_path):
    expected, observed, ok = folders.changed_seed(tmp_path / "run")
    assert ok, observed


def test_a_family_case_holds(tmp_path):
    expected, observed, ok = exits.EXIT_CODES["report over an empty folder"](tmp_path / "case")
    assert ok, observed


MEASURED = ROOT / "experiments" / "faults" / "measured" / "faults.json"


def test_the_published_counts_line_is_the_measured_runs_own():
    """README.md and docs/reliability.md quote the counts line of the last full `make faults`
    run (its --out file, committed); the line is recomputed from that file's outcomes, so a
    number edited in the docs, or an outcome edited in the file, fails here."""
    measured = json.loads(MEASURED.read_text())
    outcomes = {k: [Outcome(**o) for o in measured[k]] for k in ("bad", "faults")}
    families = {name: [Outcome(**o) for o in found] for name, found in measured["families"].items()}
    line = counts_line(outcomes["bad"], outcomes["faults"], families)
    assert measured["counts"] == line
    assert set(families) == set(FAMILIES) and len(outcomes["faults"]) == len(FAULTS)
    assert len(outcomes["bad"]) == len(bad_inputs.BAD_INPUTS)
    for doc in (ROOT / "README.md", ROOT / "docs" / "reliability.md"):
        assert line in " ".join(doc.read_text().split()), f"{doc.name} does not quote the measured counts line"
    # where and when, as the run recorded them (measured_on), quoted beside the line
    where = measured["measured"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"({where['cores']}-core {where['cpu']}, {where['date']})" in readme
    reliability = " ".join((ROOT / "docs" / "reliability.md").read_text().split())
    said = (
        f"**Last measured** ({where['date']}, {where['cores']}-core {where['cpu']}, on commit {where['commit'][:7]}"
        + (" with uncommitted changes" if where["dirty"] else "")
    )
    assert said in reliability and f", {where['seconds']} s" in reliability, said


def test_the_families_run_on_the_code_before_them_is_quoted_as_measured():
    """docs/reliability.md quotes the family cases' run on 1806061 (before issue 20's fixes):
    its counts line is recomputed from the committed outcomes, and most cases failed there."""
    measured = json.loads((MEASURED.parent / "families_1806061.json").read_text())
    families = {name: [Outcome(**o) for o in found] for name, found in measured["families"].items()}
    line = counts_line([], [], families)
    assert measured["counts"] == line and set(families) == set(FAMILIES)
    held = sum(o.ok for found in families.values() for o in found)
    assert held <= len(FAMILY_CASES) // 4  # the families find what the code before them got wrong
    assert line in " ".join((ROOT / "docs" / "reliability.md").read_text().split())


FAMILY_CASES = [name for found in FAMILIES.values() for name in found]
