"""The fault matrix itself (make faults): its size, and that its checks tell a clear refusal from a
run that trained, and a survived fault from a lost one (one case of each kind, as the matrix runs them)."""

from __future__ import annotations

import pytest

from experiments.faults import bad_inputs, folders
from experiments.faults.__main__ import FAULTS

pytestmark = pytest.mark.slow


def test_the_matrix_has_the_cases_the_readme_counts():
    assert len(bad_inputs.BAD_INPUTS) >= 60 and len(FAULTS) >= 24
    keys = {key.split(".")[0] for _, key in bad_inputs.BAD_INPUTS}
    assert {"loss", "optimizer", "predictor", "callbacks", "eval", "data", "model", "trainer", "fast"} <= keys


def test_a_bad_input_is_refused_and_a_good_one_is_not_counted_as_refused(tmp_path):
    assert bad_inputs.check(("optimizer.lr=-1",), "optimizer.lr", tmp_path / "bad").ok
    trained = bad_inputs.check(("trainer.max_epochs=1",), "trainer.max_epochs", tmp_path / "good")
    assert not trained.ok and trained.observed.startswith("TRAINED")


def test_a_fault_case_survives(tmp_path):
    expected, observed, ok = folders.changed_seed(tmp_path / "run")
    assert ok, observed
