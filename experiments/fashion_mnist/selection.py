"""What issue 23's rules read: the rules' constants, a row of kept runs (``Sel``: the `ok`
runs of one sweep matching a setting, by seed) and the kept runs themselves (``Kept``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raft_lightning.readers import printable
from raft_lightning.report.rows import Run, load_runs
from raft_lightning.report.stats import describe

ROOT = Path(__file__).resolve().parents[2]


RULES = Path(__file__).with_name("rules.yaml")


KEPT = ROOT / "results" / "fashion_mnist" / "claims"


OUT = ROOT / "results" / "fashion_mnist" / "claims.json"


SEEDS = (0, 1, 2)  # rules.yaml: "a row is one setting over seeds 0, 1, 2"


# What every claims run shares (conf/experiment/claims_fmnist.yaml, and claims_long's 100 epochs),
# as summary.json records it: a kept run that differs is not one of them (a smoke run copied in,
# say), and a claim that would read it is not decided. test_verdicts composes each preset to check.
CLAIMS_SETTING = {"data": "fashion_mnist", "backbone": "convnet", "batch_size": 128, "image_size": 28}
MAX_EPOCHS = {"long": 100}  # the other sweeps: 30


def expected_setting(sweep: str) -> dict[str, Any]:
    return {**CLAIMS_SETTING, "max_epochs": MAX_EPOCHS.get(sweep, 30)}


ALPHA = 0.05


HELD, FAILED, NEITHER = "held", "failed", "neither"


REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


PROTOCOLS = ("linear_acc", "linear_acc_literal")


# rules.yaml's margins; accuracies are stored as fractions, so 1.5 points is 0.015.
MARGINS = {"linear_acc": 0.015, "linear_acc_literal": 0.015, "knn_acc": 0.015, "uniform_projector": 0.15, "align": 0.02}


# rules.yaml's collapse rule, frozen with it: mean uniform_projector > −0.25 and mean align < 0.1.
# The report reads its threshold from conf/report.yaml, which a user may change; test_verdicts
# checks that the two agree, so the tables and the verdicts judge a row alike.
UNIFORM_ABOVE, ALIGN_BELOW = -0.25, 0.1


DENSE_STEPS = 500  # c3: "steps 1..500", the dense steps.csv rows (global steps 0..499)


EPOCH_STEPS = 390  # c3's phase length unit: the paper's epoch of 390 steps


C3_RISE, C3_RECOVERY = 0.1, 0.3


C7_WINDOWS = ((31, 60), (61, 100))


C7_RANGE = (0.67, 1.5)


T51_SERIES = ("train/loss", "train/uniform", "val/knn_acc")


BETAS = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class Sel:
    """One row of a rule: the ``ok`` runs of ``sweep`` whose summary matches ``match``, by seed."""

    name: str
    sweep: str
    match: dict[str, Any]
    runs: dict[int, Run] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(s in self.runs for s in SEEDS)

    def values(self, key: str) -> list[float]:
        """summary[key] per seed, in seed order (seeds whose run lacks it left out)."""
        return [float(self.runs[s].summary[key]) for s in SEEDS if self.runs[s].summary.get(key) is not None]


def _matches(summary: dict[str, Any], match: dict[str, Any]) -> bool:
    for key, want in match.items():
        have = summary.get(key)
        if isinstance(want, float):
            if not isinstance(have, (int, float)) or float(have) != want:
                return False
        elif have != want:
            return False
    return True


class Kept:
    """The kept runs, read once per sweep through ``report.rows.load_runs``."""

    def __init__(self, kept: Path) -> None:
        self.kept, self._runs = Path(kept), {}

    def runs(self, sweep: str) -> list[Run]:
        if sweep not in self._runs:
            folder = self.kept / sweep / "runs"
            self._runs[sweep] = load_runs(folder) if folder.is_dir() else []
        return self._runs[sweep]

    def select(self, name: str, sweep: str, **match: Any) -> Sel:
        sel = Sel(name, sweep, match)
        for run in self.runs(sweep):  # it may be one of this row's: the verdict waits for it
            if run.summary.get("status") == "unreadable":
                sel.problems.append(f"{sweep}/runs/{run.path.name} cannot be read: {printable(run.problem or '')}")
        found = [r for r in self.runs(sweep) if r.summary.get("status") == "ok" and _matches(r.summary, match)]
        for run in list(found):
            want = expected_setting(sweep)
            if wrong := [f"{k}={run.summary.get(k)!r}" for k, v in want.items() if run.summary.get(k) != v]:
                sel.problems.append(f"{name}: {run.path.name} has {', '.join(wrong)}: not a claims_{sweep} run")
                found.remove(run)
        for run in found:
            seed = run.summary.get("seed")
            if seed in sel.runs:
                sel.problems.append(f"{name}: two ok runs of seed {seed} ({sel.runs[seed].path.name}, {run.path.name})")
            elif seed in SEEDS:
                sel.runs[seed] = run
        groups = {r.group for r in sel.runs.values()}
        if len(groups) > 1:  # the same summary settings but another config: not one row
            sel.problems.append(f"{name}: its runs differ in config (report.rows grouping), not one setting")
        return sel


def _num(x: float | None) -> float | None:
    return None if x is None else float(x)


def _stat(values: list[float]) -> dict[str, Any]:
    s = describe(values)
    return {"values": list(s.values), "mean": s.mean, "ci95": s.ci95}


def _sig(test: Any) -> bool:
    return test.p is not None and test.p < ALPHA


def _test(test: Any) -> dict[str, Any]:
    return {"estimate": test.estimate, "t": _num(test.t), "df": _num(test.df), "p": _num(test.p)}


def undecided(test: str, note: str, settle: str, **numbers: Any) -> dict[str, Any]:
    """A part that its runs cannot decide: why (``note``), and what would (``settle``)."""
    return {"test": test, "outcome": NEITHER, "note": note, "settle": settle, **numbers}


def _incomplete(test: str, sel: Sel, key: str) -> dict[str, Any] | None:
    """An undecided part unless every seed has a finite ``key`` (a NaN would make any test pass or fail)."""
    n = sum(math.isfinite(value) for value in sel.values(key))
    if n == len(SEEDS):
        return None
    return undecided(
        test, f"{key} measured in {n} of {len(SEEDS)} runs of {sel.name}", f"runs of {sel.name} that record {key}"
    )


Rows = dict[str, Sel]
