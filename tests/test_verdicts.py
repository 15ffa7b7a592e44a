"""Issue 23's verdict engine (experiments/fashion_mnist/verdicts.py) on synthetic runs: each
primitive where its rule holds, where its opposite is established and where neither; the claims
end to end on run folders written here in the writers' formats; the Markdown's round trip."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from experiments.fashion_mnist import verdicts as v
from experiments.fashion_mnist.claims_section import GENERATED, brief, pasted, render
from experiments.fashion_mnist.prose_check import (
    NUMBER,
    PROSE_BEGIN,
    PROSE_END,
    misstated_verdicts,
    prose_block,
    unsourced_by_paragraph,
    unsourced_numbers,
)
from raft_lightning import files as files_module
from raft_lightning.report.rows import Run
from raft_lightning.report.stats import one_sample, welch_one_sided

ROOT = Path(__file__).resolve().parents[1]


def sel(name: str, **per_seed: list[float]) -> v.Sel:
    """A row from per-seed summary values (no files: the primitives read summaries only)."""
    s = v.Sel(name, "table1", {})
    for i, seed in enumerate(v.SEEDS):
        s.runs[seed] = Run(Path(name), {"status": "ok", "seed": seed, **{k: x[i] for k, x in per_seed.items()}})
    return s


# ---------------------------------------------------------------------------------------------
# report.stats' one-sided tests against scipy's.


hundredths = st.integers(-1000, 1000).map(lambda x: x / 100)  # spreads far from round-off


@given(
    st.lists(hundredths, min_size=2, max_size=5),
    st.lists(hundredths, min_size=2, max_size=5),
    st.floats(-3, 3),
)
@settings(max_examples=40, deadline=None)
@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy's, on a side with no spread
def test_welch_one_sided_is_scipys(a, b, shift):
    for alternative in ("less", "greater"):
        ours = welch_one_sided(a, b, alternative, shift)
        shifted = [x - shift for x in a]
        if ours.p is None:  # no spread on either side: no test (scipy's gives nan)
            assert len(set(a)) == 1 and len(set(b)) == 1
            continue
        ref = scipy_stats.ttest_ind(shifted, b, equal_var=False, alternative=alternative)
        assert ours.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-9, abs=1e-9)


def test_one_sample_is_scipys():
    values = [0.1, 0.4, 0.25]
    for alternative in ("less", "greater"):
        ref = scipy_stats.ttest_1samp(values, 0.2, alternative=alternative)
        assert one_sample(values, 0.2, alternative).p == pytest.approx(ref.pvalue, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# collapsed(row): rules.yaml's threshold (-0.25, conf/report.yaml's too), align < 0.1 where measured.


def test_the_verdicts_collapse_threshold_is_the_reports():
    """Frozen with the rules, so an edit of conf/report.yaml cannot move a verdict; equal to the
    report's, so the tables and claims.json judge a row alike."""
    from omegaconf import OmegaConf

    from experiments.fashion_mnist.selection import ALIGN_BELOW
    from raft_lightning.report.cli import DEFAULT_CONFIG

    assert v.UNIFORM_ABOVE == -0.25 == OmegaConf.load(DEFAULT_CONFIG).collapse.uniform_above
    assert "> -0.25 and mean align < 0.1" in v.RULES.read_text() and ALIGN_BELOW == 0.1


def test_collapsed_held_failed_neither():
    near_zero = sel("a", uniform_projector=[-0.05, -0.06, -0.04], align=[0.01, 0.02, 0.015])
    spread = sel("b", uniform_projector=[-2.0, -2.1, -1.9], align=[0.5, 0.6, 0.55])
    # the point rule decides "held"; the other side needs p < 0.05, so a wide row is neither
    above = sel("c", uniform_projector=[-0.1, -0.5, -0.05], align=[0.01, 0.02, 0.015])  # mean -0.217
    under = sel("d", uniform_projector=[-0.1, -0.5, -0.2], align=[0.01, 0.02, 0.015])  # mean -0.267
    assert v.collapsed(near_zero)["outcome"] == v.HELD
    assert v.collapsed(spread)["outcome"] == v.FAILED
    assert v.collapsed(under)["outcome"] == v.NEITHER
    assert v.collapsed(above)["outcome"] == v.HELD
    assert v.collapsed(spread, negate=True)["outcome"] == v.HELD
    assert v.collapsed(near_zero, negate=True)["outcome"] == v.FAILED
    assert v.collapsed(above, negate=True)["outcome"] == v.NEITHER
    assert v.collapsed(under, negate=True)["outcome"] == v.HELD


def test_collapsed_reads_align_where_measured_only():
    # L_uniform near 0 but align large: rules.yaml's rule says not collapsed
    aligned_badly = sel("a", uniform_projector=[-0.05, -0.06, -0.04], align=[0.5, 0.6, 0.55])
    assert v.collapsed(aligned_badly)["outcome"] == v.FAILED
    # the random encoder has no align: judged on L_uniform alone
    random = sel("random", uniform_projector=[-0.05, -0.06, -0.04], align=[None, None, None])
    assert v.collapsed(random)["outcome"] == v.HELD


def test_missing_value_is_neither():
    part = v.collapsed(sel("a", uniform_projector=[-0.05, None, -0.04], align=[0.01, 0.02, 0.015]))
    assert part["outcome"] == v.NEITHER and "2 of 3" in part["note"]


@pytest.mark.parametrize("negate", [False, True])
def test_align_missing_in_some_seeds_is_not_dropped_from_the_rule(negate):
    """With L_align large in the seeds that have it, L_uniform alone would say collapsed: the rule
    counts every seed, so the row is undecided, not judged on L_uniform alone."""
    part = v.collapsed(sel("a", uniform_projector=[-0.05, -0.06, -0.04], align=[0.5, 0.6, None]), negate=negate)
    assert part["outcome"] == v.NEITHER and "align measured in 2 of 3" in part["note"], part


def test_a_nan_is_not_a_value_any_test_can_use():
    """A NaN in a row (no ok run writes one today) leaves a part undecided: it used to make
    "not collapsed" and "not below" hold."""
    nan_u = sel("a", uniform_projector=[-2.0, math.nan, -2.1], align=[0.5, 0.6, 0.55])
    assert v.collapsed(nan_u, negate=True)["outcome"] == v.NEITHER
    low, nan_acc = sel("low", linear_acc=[0.70, 0.71, 0.705]), sel("n", linear_acc=[0.75, math.nan, 0.76])
    for negate in (False, True):
        assert v.below(low, nan_acc, "linear_acc", negate=negate)["outcome"] == v.NEITHER
        assert v.below(nan_acc, low, "linear_acc", negate=negate)["outcome"] == v.NEITHER
    assert v.same(low, nan_acc, "linear_acc", 0.015)["outcome"] == v.NEITHER


# ---------------------------------------------------------------------------------------------
# below(A, B, m) and same(A, B, m, d).


def test_below_held_failed_neither():
    low, high = sel("low", linear_acc=[0.70, 0.71, 0.705]), sel("high", linear_acc=[0.75, 0.76, 0.755])
    mixed = sel("mixed", linear_acc=[0.70, 0.78, 0.74])
    assert v.below(low, high, "linear_acc")["outcome"] == v.HELD
    assert v.below(high, low, "linear_acc")["outcome"] == v.FAILED
    assert v.below(mixed, high, "linear_acc")["outcome"] == v.NEITHER
    # not below: held unless below is established, never neither
    assert v.below(high, low, "linear_acc", negate=True)["outcome"] == v.HELD
    assert v.below(low, high, "linear_acc", negate=True)["outcome"] == v.FAILED
    assert v.below(mixed, high, "linear_acc", negate=True)["outcome"] == v.HELD
    # ...unless there is no test at all: two rows without spread have no p-value
    flat_a, flat_b = sel("fa", linear_acc=[0.7, 0.7, 0.7]), sel("fb", linear_acc=[0.7, 0.7, 0.7])
    assert v.below(flat_a, flat_b, "linear_acc", negate=True)["outcome"] == v.NEITHER


def test_below_shift():
    a, b = sel("a", uniform_projector=[-2.0, -2.01, -1.99]), sel("b", uniform_projector=[-1.9, -1.91, -1.89])
    assert v.below(a, b, "uniform_projector")["outcome"] == v.HELD  # 0.1 below
    assert v.below(a, b, "uniform_projector", shift=-0.15)["outcome"] == v.FAILED  # not 0.15 below


def test_same_held_failed_neither():
    base = sel("base", linear_acc=[0.750, 0.752, 0.748])
    close = sel("close", linear_acc=[0.751, 0.753, 0.749])
    far = sel("far", linear_acc=[0.700, 0.702, 0.698])
    noisy = sel("noisy", linear_acc=[0.72, 0.78, 0.75])
    assert v.same(close, base, "linear_acc", 0.015)["outcome"] == v.HELD
    assert v.same(far, base, "linear_acc", 0.015)["outcome"] == v.FAILED
    assert v.same(noisy, base, "linear_acc", 0.015)["outcome"] == v.NEITHER


values3 = st.lists(st.floats(0.5, 0.9), min_size=3, max_size=3)


@given(values3, values3)
@settings(max_examples=60, deadline=None)
def test_same_symmetric_and_below_never_both_ways(a, b):
    A, B = sel("A", linear_acc=a), sel("B", linear_acc=b)
    assert v.same(A, B, "linear_acc", 0.015)["outcome"] == v.same(B, A, "linear_acc", 0.015)["outcome"]
    ab, ba = v.below(A, B, "linear_acc")["outcome"], v.below(B, A, "linear_acc")["outcome"]
    assert not (ab == v.HELD and ba == v.HELD)
    assert (ab == v.HELD) == (ba == v.FAILED)  # the opposite of below(A, B) is below(B, A)


# ---------------------------------------------------------------------------------------------
# Per-seed thresholds (c3, c7), Spearman (c6), verdicts.


def test_threshold_held_failed_neither():
    assert v.threshold("t", [0.3, 0.4, 0.5], 0.1, "above")["outcome"] == v.HELD
    assert v.threshold("t", [0.01, 0.02, 0.03], 0.1, "above")["outcome"] == v.FAILED
    assert v.threshold("t", [0.3, 0.05, 0.5], 0.1, "above")["outcome"] == v.NEITHER
    assert v.threshold("t", [0.3, 0.05, 0.5], 0.1, "above", need=2)["outcome"] == v.HELD
    # short of the seeds it needs, it cannot hold however many seeds are added: only the opposite can come
    settle = v.threshold("t", [0.3, 0.05, 0.5], 0.1, "above")["settle"]
    assert settle.startswith("cannot hold (2 of 3 meet it, 3 needed); more seeds could establish the opposite")


def test_spearman_exact():
    betas = list(v.BETAS)
    rho, greater, less = v.spearman_exact(betas, [1, 2, 3, 4, 5, 6, 7])
    assert rho == pytest.approx(1.0) and greater == pytest.approx(1 / 5040) and less == pytest.approx(1.0)
    rows = lambda ys: [sel(f"r{i}", align=[y, y, y]) for i, y in enumerate(ys)]  # noqa: E731
    assert v.increases(rows([1, 2, 3, 4, 5, 6, 7]), betas, "align")["outcome"] == v.HELD
    assert v.increases(rows([7, 6, 5, 4, 3, 2, 1]), betas, "align")["outcome"] == v.FAILED
    assert v.increases(rows([1, 7, 2, 6, 3, 5, 4]), betas, "align")["outcome"] == v.NEITHER
    # the exact null distribution: p of ρ ≥ 0.75 for 7 points is 0.0272 (tables of Spearman's ρ)
    rho, greater, _ = v.spearman_exact(betas, [2, 1, 3, 4, 6, 5, 7])
    assert rho == pytest.approx(1 - 6 * 4 / (7 * 48)) and greater < 0.05


def cond(*outcomes: str, protocol: str | None = None) -> dict:
    return {"parts": [{"outcome": o, **({"protocol": protocol} if protocol else {})} for o in outcomes]}


def test_verdict_rule():
    assert v.verdict([cond(v.HELD), cond(v.HELD, v.HELD)]) == v.REPRODUCED
    assert v.verdict([cond(v.HELD), cond(v.HELD, v.NEITHER)]) == v.INCONCLUSIVE
    assert v.verdict([cond(v.NEITHER), cond(v.FAILED)]) == v.NOT_REPRODUCED
    both = [
        cond(v.HELD),
        {
            "parts": cond(v.HELD, protocol="linear_acc")["parts"]
            + cond(v.NEITHER, protocol="linear_acc_literal")["parts"]
        },
    ]
    assert v.verdict(both) == v.INCONCLUSIVE
    assert v.verdict(both, "linear_acc") == v.REPRODUCED
    # a part that does not count (kNN beside the linear protocols) changes nothing
    assert v.combine([{"outcome": v.HELD}, {"outcome": v.FAILED, "counts": False}]) == v.HELD


# ---------------------------------------------------------------------------------------------
# Run folders in the writers' formats (run.record: summary.json, config.yaml; callbacks:
# metrics.csv with epoch,step,<series>; steps.csv with step (0-based global step),epoch,<short names>).


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def write_run(root: Path, sweep: str, job: str, summary: dict, epochs=(), steps=()) -> Path:
    run = root / sweep / "runs" / job
    run.mkdir(parents=True)
    setting = {k: summary.get(k) for k in ("variant", "objective", "predictor", "beta", "negate_init", "tangential")}
    full = {"status": "ok", "tags": [], "epochs": 30, **v.expected_setting(sweep), **summary}
    (run / "summary.json").write_text(json.dumps(full))
    config = {
        "seed": summary["seed"],
        "variant": setting["variant"],
        "loss": {"name": setting["objective"], "beta": setting["beta"], "tangential": setting["tangential"]},
        "predictor": {"name": setting["predictor"], "negate_init": setting["negate_init"]},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    if epochs:
        write_csv(run / "metrics.csv", list(epochs))
    if steps:
        write_csv(run / "steps.csv", list(steps))
    return run


TABLE1 = {  # variant: (objective, predictor, uniform_projector, align, linear_acc, literal, knn)
    # kNN reverses the order: reported beside the linear protocols, it does not decide
    "byol_np": ("byol", "none", -0.05, 0.01, 0.70, 0.69, 0.80),
    "random": ("random", "mlp", -1.5, None, 0.75, 0.74, 0.70),
}


def kept_table1(root: Path, variants=TABLE1) -> None:
    for variant, (objective, predictor, u, a, lin, lit, knn) in variants.items():
        for seed in v.SEEDS:
            jitter = 0.002 * (seed - 1)
            write_run(
                root,
                "table1",
                f"seed={seed},variant={variant}",
                {
                    "variant": variant,
                    "objective": objective,
                    "predictor": predictor,
                    "seed": seed,
                    "beta": 1.0,
                    "alpha": 1.0,
                    "tangential": False,
                    "negate_init": False,
                    "uniform_projector": u + jitter,
                    "align": None if a is None else a + jitter / 10,
                    "linear_acc": lin + jitter,
                    "linear_acc_literal": lit + jitter,
                    "knn_acc": knn + jitter,
                },
            )


def test_what_would_settle_names_only_parts_that_count():
    counted = {"outcome": v.NEITHER, "settle": "more seeds for linear_acc"}
    reported = {"outcome": v.NEITHER, "settle": "more seeds for knn_acc", "counts": False}
    conditions = [{"rule": "same(X, Y)", "parts": [counted, reported], "outcome": v.combine([counted, reported])}]
    assert v.would_settle(conditions) == ["same(X, Y): more seeds for linear_acc"]


def test_c1_from_run_folders(tmp_path):
    kept_table1(tmp_path)
    d = v.decide_claim(
        v.Kept(tmp_path), "c1_byol_np_collapses_below_random", v.load_rules()["c1_byol_np_collapses_below_random"]
    )
    assert d["verdict"] == v.REPRODUCED, d
    assert [c["outcome"] for c in d["conditions"]] == [v.HELD] * 3
    knn = d["conditions"][2]["parts"][2]
    assert knn["metric"] == "knn_acc" and knn["outcome"] == v.FAILED and knn["counts"] is False
    assert d["rule"] == v.load_rules()["c1_byol_np_collapses_below_random"]["reproduced_if"]
    assert d["by_protocol"] == {"linear_acc": v.REPRODUCED, "linear_acc_literal": v.REPRODUCED}


@pytest.mark.parametrize("sweep", ["table1", "table3", "claim3", "tangential", "fig5a", "long"])
def test_the_claims_setting_is_what_each_claims_preset_records(tmp_path, sweep):
    from hydra.core.hydra_config import HydraConfig

    from experiments.fashion_mnist.keep import SWEEPS
    from raft_lightning.run.record import RunRecord
    from tests.conftest import compose_run

    assert sweep in SWEEPS
    cfg = compose_run(f"experiment=claims_{sweep}", run_dir=tmp_path / "run")
    recorded = RunRecord.from_config(cfg, dict(HydraConfig.get().runtime.choices)).as_dict()
    assert {k: recorded[k] for k in v.expected_setting(sweep)} == v.expected_setting(sweep)


def test_a_run_from_elsewhere_or_a_damaged_one_in_the_kept_runs_is_named_not_read(tmp_path):
    """A smoke run copied over a claims run's folder, or a damaged summary.json: the claim is not
    decided, and the verdict says which folder and why (it read the first, and counted the
    second as missing without a word)."""
    kept_table1(tmp_path)
    smoke = tmp_path / "table1" / "runs" / "seed=0,variant=byol_np" / "summary.json"
    smoke.write_text(json.dumps({**json.loads(smoke.read_text()), "data": "synthetic_tiny", "max_epochs": 2}))
    (tmp_path / "table1" / "runs" / "seed=1,variant=random" / "summary.json").write_text('{"status": "ok", "objec')
    d = v.decide_claim(
        v.Kept(tmp_path), "c1_byol_np_collapses_below_random", v.load_rules()["c1_byol_np_collapses_below_random"]
    )
    assert d["verdict"].startswith("not decided: runs missing (4 of 6 ok); "), d["verdict"]
    assert (
        "byol_np: seed=0,variant=byol_np has data='synthetic_tiny', max_epochs=2: not a claims_table1 run"
        in (d["verdict"])
    )
    assert d["verdict"].count("table1/runs/seed=1,variant=random cannot be read: ") == 1, d["verdict"]


def test_literal_protocol_reversal_is_named(tmp_path):
    kept_table1(tmp_path, {**TABLE1, "byol_np": ("byol", "none", -0.05, 0.01, 0.70, 0.80, 0.65)})
    d = v.decide_claim(
        v.Kept(tmp_path), "c1_byol_np_collapses_below_random", v.load_rules()["c1_byol_np_collapses_below_random"]
    )
    assert d["verdict"] == v.NOT_REPRODUCED
    assert d["by_protocol"] == {"linear_acc": v.REPRODUCED, "linear_acc_literal": v.NOT_REPRODUCED}


def test_missing_runs_not_decided(tmp_path):
    kept_table1(tmp_path)
    (tmp_path / "table1" / "runs" / "seed=2,variant=random" / "summary.json").write_text(
        json.dumps({"status": "failed", "seed": 2, "variant": "random", "objective": "random"})
    )
    d = v.decide_claim(
        v.Kept(tmp_path), "c1_byol_np_collapses_below_random", v.load_rules()["c1_byol_np_collapses_below_random"]
    )
    assert d["verdict"] == "not decided: runs missing (5 of 6 ok)"


def steps_of(first: float, peak: float, peak_step: int) -> list[dict]:
    rows = []
    for step in range(v.DENSE_STEPS + 50):
        u = first + (peak - first) * min(step, peak_step) / peak_step - 0.001 * max(0, step - peak_step)
        rows.append({"step": step, "epoch": step // 78 + 1, "loss": 0.1, "align": 0.1, "cross": 0.1, "uniform": u})
    return rows


def test_c3_from_steps(tmp_path):
    for variant, peak in (("byol_lpi", -0.1), ("byol_lp", -0.7)):
        for seed in v.SEEDS:
            peak_s = peak + 0.01 * seed
            epochs = [
                {"epoch": e, "step": 78 * e, "monitor/uniform_projector": peak_s if e <= 3 else -1.0}
                for e in range(1, 31)
            ]
            write_run(
                tmp_path,
                "claim3",
                f"seed={seed},variant={variant}",
                {
                    "variant": variant,
                    "objective": "byol",
                    "predictor": "linear",
                    "seed": seed,
                    "beta": 1.0,
                    "tangential": False,
                    "negate_init": False,
                    "uniform_projector": -1.0 - 0.01 * seed,
                },
                epochs=epochs,
                steps=steps_of(-0.8, peak_s, 200 + seed),
            )
    d = v.decide_claim(
        v.Kept(tmp_path),
        "c3_lpi_initial_collapse_then_recovery",
        v.load_rules()["c3_lpi_initial_collapse_then_recovery"],
    )
    assert [c["outcome"] for c in d["conditions"]] == [v.HELD] * 4, d
    assert d["verdict"] == v.REPRODUCED
    assert d["phase_length"]["numbers"]["max_step"] == [201, 202, 203]
    assert d["conditions"][0]["parts"][0]["per_seed"] == pytest.approx([0.7, 0.71, 0.72])


@pytest.mark.parametrize("mlp_late", [-0.004, 0.005])  # slower; turned back (the slope changed sign)
def test_c7_slopes(tmp_path, mlp_late):
    """LP at a constant rate, MLP slowing or turning back: both reproduce the claim. Turning back
    has no |log ratio|, the rule's first measure; the amended one is 1 there."""

    def curve(early: float, late: float) -> list[dict]:
        u, rows = -1.0, []
        for e in range(1, 101):
            u += early if e <= 60 else late
            rows.append({"epoch": e, "step": 78 * e, "monitor/uniform_projector": u})
        return rows

    for variant, late in (("byol_lp", -0.010), ("byol_mlp", mlp_late)):
        for seed in v.SEEDS:
            write_run(
                tmp_path,
                "long",
                f"seed={seed},variant={variant}",
                {
                    "variant": variant,
                    "objective": "byol",
                    "predictor": "linear",
                    "seed": seed,
                    "beta": 1.0,
                    "tangential": False,
                    "negate_init": False,
                    "uniform_projector": -2.0,
                },
                epochs=curve(-0.01, late * (1 + 0.05 * seed)),
            )
    d = v.decide_claim(
        v.Kept(tmp_path), "c7_constant_rate_linear_predictor", v.load_rules()["c7_constant_rate_linear_predictor"]
    )
    ratios = [x["ratio"] for x in d["conditions"][0]["parts"][0]["per_seed"]]
    assert ratios == pytest.approx([1.0, 1.05, 1.1], rel=1e-6)
    mlp = d["conditions"][1]["parts"][0]["byol_mlp_runs"]
    assert all((x["rate_change"] == 1.0) == (mlp_late > 0) for x in mlp), mlp
    assert d["verdict"] == v.REPRODUCED, d
    assert d["amended"].startswith("2026-12-04, before any claims_long run existed")
    assert "(amended 2026-12-04: claims.json says why)" in render({"c7": d})


def tangential_runs(root: Path, raft_offset: float) -> None:
    for variant in ("byol_prime_lp", "raft_lp"):
        for negate in (False, True):
            for seed in v.SEEDS:
                epochs = []
                for e in range(1, 31):
                    base = {
                        "train/loss": 1.0 / e + 0.1 * seed,
                        "train/uniform": -1 - 0.01 * e - 0.01 * seed * e,
                        "val/knn_acc": 0.6 + 0.01 * seed,
                    }
                    if variant == "raft_lp":  # L_RAFT = L_BYOL′ − 4β, and the offset under test on one series
                        base = {
                            **base,
                            "train/loss": base["train/loss"] - 4.0,
                            "train/uniform": base["train/uniform"] + raft_offset * (1 + 0.1 * seed),
                        }
                    epochs.append({"epoch": e, "step": 78 * e, **base})
                write_run(
                    root,
                    "tangential",
                    f"negate={negate},seed={seed},variant={variant}",
                    {
                        "variant": variant,
                        "objective": variant.split("_lp")[0],
                        "predictor": "linear",
                        "seed": seed,
                        "beta": 1.0,
                        "tangential": True,
                        "negate_init": negate,
                        "uniform_projector": -1.5,
                    },
                    epochs=epochs,
                )


# train/uniform's seed spread is 0.01·epoch: least 0.01 (epoch 1), largest 0.3 (epoch 30); the
# rule compares with the least, so 0.05 (above it in every seed, significantly) fails.
@pytest.mark.parametrize(("offset", "outcome"), [(0.0, v.HELD), (0.005, v.HELD), (0.05, v.FAILED), (0.5, v.FAILED)])
def test_theorem51_pairs(tmp_path, offset, outcome):
    tangential_runs(tmp_path, offset)
    d = v.decide_claim(v.Kept(tmp_path), "theorem51_training_scale", v.load_rules()["theorem51_training_scale"])
    part = d["conditions"][0]["parts"][0]
    assert part["outcome"] == outcome, part
    assert part["train/uniform"]["per_seed"][0]["bitwise"] == (offset == 0.0)
    assert part["train/loss"]["per_seed"][0]["max_abs_diff"] < 1e-12  # compared with the 4β offset
    assert "outcome" in d["mirrored_pair"]["numbers"]


def test_every_rule_has_a_decider_and_round_trip(tmp_path):
    """Every claim of rules.yaml is decided (here: not decided, runs missing, but c1), and the
    CLI's claims.json renders to exactly the verdicts.md it writes beside it."""
    assert set(v.load_rules()) == set(v.CLAIMS)
    kept_table1(tmp_path / "kept")
    out = tmp_path / "claims.json"
    assert v.main(["--kept", str(tmp_path / "kept"), "--out", str(out)]) == 0
    claims = json.loads(out.read_text())
    assert list(claims) == list(v.load_rules())
    assert claims["c1_byol_np_collapses_below_random"]["verdict"] == v.REPRODUCED
    assert claims["c5_raft"]["verdict"].startswith("not decided: runs missing (3 of 12 ok)")
    md = (tmp_path / "verdicts.md").read_text()
    assert md == render(claims)
    assert "| c1_byol_np_collapses_below_random | reproduced |" in md


GENERATED_TABLE = f"{GENERATED}\n\n| a | b |\n|---|---|\n| x | y |\n"


@given(
    before=st.text(alphabet="ab |\n#", max_size=40),
    after=st.text(alphabet="ab |\n#", max_size=40),
    rows=st.lists(st.text(alphabet="xyz ", max_size=5), min_size=1, max_size=4),
)
def test_pasting_replaces_the_one_generated_table_and_nothing_else(before, after, rows):
    """Whatever surrounds it, the marked table is replaced whole (however many rows the old one
    had) and the text around it is kept; pasting the same table again changes nothing."""
    old = GENERATED + "\n\n| a | b |\n" + "".join(f"| {r} |\n" for r in rows)  # its header, other rows
    before = before if before.endswith("\n") or not before else before + "\n"
    after = "\n" + after  # the table ends at the first line that is not a row
    page = pasted(before + old + after, GENERATED_TABLE)
    assert page == before + GENERATED_TABLE + after
    assert pasted(page, GENERATED_TABLE) == page


@pytest.mark.parametrize(
    ("page", "says"),
    [
        (GENERATED + "\n\n| model | seeds |\n|---|---|\n| byol | 3 |\n", "is not this one"),
        ("no table here\n", "found 0"),
        (GENERATED_TABLE + "\n" + GENERATED_TABLE, "found 2"),
        (GENERATED + "\n\ntext, not a row\n", "is not a table row"),
        (GENERATED + "\n", "is not a table row"),
    ],
)
def test_a_page_without_one_generated_table_is_not_pasted(page, says):
    with pytest.raises(ValueError, match=says):
        pasted(page, GENERATED_TABLE)


def test_paste_writes_both_pages_or_neither(tmp_path, monkeypatch, capsys):
    """--paste: the results page gets verdicts.md's table and the README the brief one, with
    claims.json; a page without its marked table, or one that cannot be written, is one line,
    exit 1, and nothing is written (claims.json neither)."""
    results = tmp_path / "results" / "fashion_mnist"
    kept_table1(results / "claims")
    old = {  # each page's table as an earlier claims.json gave it: the header its renderer writes
        "docs/results.md": (
            f"{GENERATED}\n\n| claim | verdict | key numbers | rule |\n|---|---|---|---|\n| c1 | old | — | — |\n"
        ),
        "README.md": f"{GENERATED}\n\n| the paper says | verdict here |\n|---|---|\n| old | old |\n",
    }
    for name in v.PAGES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n\n{old[name]}\nend\n")
    monkeypatch.setattr(v, "ROOT", tmp_path)
    out = results / "claims.json"
    assert v.main(["--paste"]) == 2  # the repository's own claims.json is not tmp_path's
    assert "--paste: the pages show the committed" in capsys.readouterr().err
    paste = ["--kept", str(results / "claims"), "--out", str(out), "--paste"]
    assert v.main(paste) == 0
    claims = json.loads(out.read_text())
    assert (tmp_path / "docs/results.md").read_text() == f"# docs/results.md\n\n{render(claims)}\nend\n"
    assert (tmp_path / "README.md").read_text() == f"# README.md\n\n{brief(claims)}\nend\n"

    def files():
        return {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    out.write_text("{}")  # a stale claims.json: it stays as it is when the paste cannot be done
    (tmp_path / "README.md").write_text("no table\n")
    before = files()
    assert v.main(paste) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"--paste: {tmp_path / 'README.md'}: expected one table"), err
    assert files() == before
    (tmp_path / "README.md").write_text(f"# README.md\n\n{old['README.md']}\nend\n")
    before = files()
    real = files_module.new_temp_beside
    monkeypatch.setattr(
        files_module,
        "new_temp_beside",
        lambda path: real(path) if path.name != "README.md" else (_ for _ in ()).throw(PermissionError(1, "denied")),
    )
    assert v.main(paste) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write {tmp_path / 'README.md'}" in err and "nothing was written" in err
    assert files() == before


def test_paste_keeps_a_pages_windows_line_ends():
    page = "a\r\n\r\n" + GENERATED_TABLE.replace("\n", "\r\n") + "\r\nb\r\n"
    assert pasted(page, GENERATED_TABLE) == page


def test_a_kept_folder_with_no_sweep_is_refused(tmp_path, capsys):
    """An empty --kept, or a sweep's own folder, would decide every claim "runs missing"."""
    (tmp_path / "table1" / "runs").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    for kept in (tmp_path / "empty", tmp_path / "table1"):
        assert v.main(["--kept", str(kept), "--out", str(tmp_path / "c.json")]) == 2
        assert "holds none of keep.py's sweep folders" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("out", ["folder", "verdicts.md", "a_file/claims.json"])
def test_an_out_that_cannot_be_claims_json_is_one_line(tmp_path, capsys, out):
    """A folder, a name that verdicts.md would overwrite, a file where a folder should be: one
    line, nothing written (they were tracebacks, or verdicts.md over claims.json)."""
    kept = tmp_path / "kept"
    (kept / "table1").mkdir(parents=True)
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    status = v.main(["--kept", str(kept), "--out", str(tmp_path / out)])
    err = capsys.readouterr().err
    assert status in (1, 2) and err.count("\n") == 1 and err.startswith(f"--out={tmp_path / out}: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder", "kept"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"c1_byol_np', "JSONDecodeError"),
        ("[]", "expected an object of claims, found list"),
        ('{"c1": {"verdict": "held"}}', "c1: not a claim of rules.yaml"),
        ("\udcff", "UnicodeDecodeError"),
    ],
)
def test_claims_section_names_a_damaged_claims_json_in_one_line(tmp_path, capsys, text, says):
    from experiments.fashion_mnist.claims_section import main as section

    path = tmp_path / "claims.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert section(["--claims", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"--claims={path}: not claims.json") and says in err, err


def test_claims_section_refuses_a_claim_whose_parts_are_not_verdicts_pys(tmp_path, capsys):
    from experiments.fashion_mnist.claims_section import main as section

    kept_table1(tmp_path / "kept")
    claims = json.loads(v.dumps(v.decide(tmp_path / "kept")))
    del claims["c1_byol_np_collapses_below_random"]["conditions"][0]["parts"][0]["outcome"]
    claims["c2_predictor_form_changes_little"]["verdict"] = "\x1b[2Jheld"
    (tmp_path / "claims.json").write_text(json.dumps(claims))
    assert section(["--claims", str(tmp_path / "claims.json")]) == 1
    err = capsys.readouterr().err
    assert "c1_byol_np_collapses_below_random: its conditions are not as verdicts.py writes them (KeyError" in err
    assert "c2_predictor_form_changes_little: verdict='\\x1b[2Jheld': expected one of" in err and "\x1b" not in err


def test_bad_kept_one_line(tmp_path, capsys):
    assert v.main(["--kept", str(tmp_path / "nope"), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("--kept=")


COMMITTED = ROOT / "results" / "fashion_mnist" / "claims.json"


def test_the_readmes_brief_is_each_claims_sentence_and_its_verdict():
    rules = v.load_rules()
    claims = {c: {"verdict": v.INCONCLUSIVE} for c in rules}
    first = next(iter(rules))
    claims[first] = {"verdict": v.NOT_REPRODUCED, "by_protocol": {"linear_acc": "held", "linear_acc_literal": "failed"}}
    rows = [line for line in brief(claims).splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(rules)
    assert rows[0] == f"| {rules[first]['paper']} | not reproduced (linear_acc: held, linear_acc_literal: failed) |"
    assert all(row.endswith("| inconclusive |") for row in rows[1:])
    claims[first] = {"verdict": "a | b"}
    assert "| a \\| b |" in brief(claims)  # a cell cannot split the row


@pytest.mark.skipif(not COMMITTED.is_file(), reason="claims.json not committed yet: the claims sweeps have not run")
def test_committed_section_is_regenerated():
    """verdicts.md is claims.json rendered, claims.json the kept runs decided, and the results
    page carries verdicts.md as it is (no verdict or number in its table typed by hand)."""
    claims = json.loads(COMMITTED.read_text())
    assert COMMITTED.with_name("verdicts.md").read_text() == render(claims)
    assert render(claims) in (ROOT / "docs" / "results.md").read_text()
    assert COMMITTED.with_name(v.BRIEF).read_text() == brief(claims)
    assert brief(claims) in (ROOT / "README.md").read_text()  # the README's short form, as generated
    for page, make in v.PAGES.items():  # one generated table per page, and it is this one whole
        text = (ROOT / page).read_text()
        assert pasted(text, {"render": render, "brief": brief}[make](claims)) == text, page
    assert claims == json.loads(v.dumps(v.decide(v.KEPT)))


@pytest.mark.skipif(not COMMITTED.is_file(), reason="claims.json not committed yet: the claims sweeps have not run")
def test_the_prose_on_the_verdicts_quotes_claims_json_only():
    """The hand-written paragraphs on the verdicts (where the paper does not reproduce, what was
    checked, which setting could explain it) are there, and each number in them is claims.json's."""
    claims = json.loads(COMMITTED.read_text())
    prose = prose_block((ROOT / "docs" / "results.md").read_text())
    assert prose is not None and prose.strip(), f"docs/results.md: no prose between {PROSE_BEGIN} and {PROSE_END}"
    assert unsourced_by_paragraph(prose, claims) == []
    assert misstated_verdicts(prose, claims) == []


@pytest.mark.skipif(not COMMITTED.is_file(), reason="claims.json not committed yet: the claims sweeps have not run")
def test_every_claim_is_decided_and_has_its_paragraph():
    """Issue 23's end: each claim of rules.yaml has a verdict of the three (none "not decided"),
    and the prose names each by its short id (`c7`, `fig5a`), so none is left unsaid."""
    claims = json.loads(COMMITTED.read_text())
    assert list(claims) == list(v.load_rules())
    verdicts = (v.REPRODUCED, v.NOT_REPRODUCED, v.INCONCLUSIVE)
    assert {c: d["verdict"] for c, d in claims.items() if d["verdict"].split(" (")[0] not in verdicts} == {}
    prose = prose_block((ROOT / "docs" / "results.md").read_text())
    assert [c for c in claims if f"`{c.split('_')[0]}`" not in prose] == []


def test_the_readmes_words_on_the_rules_are_the_rules():
    """The README's paragraph above its verdicts table quotes numbers of rules.yaml only (the
    margin, the threshold): an edited "±1.5 points" would misstate every equivalence verdict."""
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[: readme.index(GENERATED)].rstrip().rsplit("\n\n", 1)[1]
    assert "decided by a rule written before its runs" in paragraph
    text = v.RULES.read_text()
    rules = {float(n.replace("−", "-")) for n in NUMBER.findall(text)}
    shown = [n for n in NUMBER.findall(paragraph) if float(n.replace("−", "-")) not in rules]
    assert shown == [], shown
    margin = re.search(r"accuracy d = ([\d.]+) points", text).group(1)  # small integers match anything: say which
    assert f"±{margin} points" in paragraph


def test_a_paragraph_naming_a_claim_quotes_that_claims_numbers_only():
    claims = {"c1_x": {"difference": -0.0341}, "c6_y": {"mean": 0.518}, "fig5a_z": {"p": 0.02}}
    prose = "`c1` is 3.4 points below.\n\n`c6` and `fig5a`: 0.518, p 0.02.\n\nNo name: 3.4 and 0.518."
    assert unsourced_by_paragraph(prose, claims) == []
    assert unsourced_by_paragraph("`c1` at 0.518, 3.4", claims) == ["0.518 (in the paragraph naming c1_x)"]


def test_a_stated_verdict_must_be_the_claims():
    claims = {"c1_x": {"verdict": "not reproduced"}, "c8_y": {"verdict": "reproduced"}}
    claims["fig5a_z"] = {"verdict": "not decided: runs missing (0 of 21 ok)"}
    good = "`c1` is not reproduced, see `c8`.\n\n`c8` and `fig5a` are reproduced"
    assert misstated_verdicts(good, claims) == [
        "`fig5a` reproduced: claims.json says 'not decided: runs missing (0 of 21 ok)'"
    ]
    assert misstated_verdicts("`c1`, `c8` and `fig5a` are not decided", claims) == [
        "`c1` not decided: claims.json says 'not reproduced'",
        "`c8` not decided: claims.json says 'reproduced'",
    ]
    assert misstated_verdicts("`c1` is reproduced.", claims) == ["`c1` reproduced: claims.json says 'not reproduced'"]
    assert misstated_verdicts("`c8` holds here.", claims) == [
        "'`c8` holds here.'…: a paragraph on a claim opens with its verdict"
    ]
    assert misstated_verdicts("Text; `c1` is not reproduced and `c9` is reproduced.", claims) == [
        "`c9` reproduced: claims.json says None"
    ]


def test_a_sign_shown_must_be_the_sources_and_1e_notation_is_a_number():
    claims = {"c1": {"u": -0.057, "p": 9.87e-7}}
    assert unsourced_numbers("−0.057, 0.057 (its magnitude), p 9.9e-7, 9.87e-07", claims) == []
    assert unsourced_numbers("−0.157 and 9.8e-7 and 2e-6 are not; 1e-6 is", claims) == ["−0.157", "9.8e-7", "2e-6"]
    assert unsourced_numbers("−3.3 points", {"c1": {"d": 0.033}}) == ["−3.3"]


def test_verdicts_stated_in_other_words_or_marks_are_read_too():
    """Red team 43's edits: a bold id, a bare one, "claim 1", an adverb, a line break, and the
    protocols of a split verdict swapped."""
    claims = {
        "c1_x": {"verdict": "not reproduced"},
        "c5_y": {
            "verdict": "not reproduced",
            "by_protocol": {"linear_acc": "inconclusive", "linear_acc_literal": "not reproduced"},
        },
        "c8_z": {"verdict": "reproduced"},
    }
    for text in [
        "**`c1`** is reproduced.",
        "Text. `c1` remains reproduced.",
        "Text; `c1` is therefore reproduced.",
        "Text: c8 is not reproduced.",
        "Text: claim 1 is reproduced.",
        "`c8` is not\nreproduced.",
    ]:
        assert misstated_verdicts(text, claims), text
    swapped = "`c5` is not reproduced by the standardised protocol and inconclusive by the paper's literal one."
    assert misstated_verdicts(swapped, claims) == [
        "`c5` not reproduced by linear_acc: claims.json says 'inconclusive'",
        "`c5` inconclusive by linear_acc_literal: claims.json says 'not reproduced'",
    ]
    right = "`c5` is not reproduced by the paper's literal protocol and inconclusive by the standardised one."
    assert misstated_verdicts(right, claims) == []
    assert misstated_verdicts("**`c1`** is not reproduced; `c1` is therefore not reproduced.", claims) == []


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("against .9495", [".9495"]),  # a leading dot is a decimal
        ("by 9.3pp", ["9.3"]),  # a decimal glued to letters is a number
        ("L_uniform +0.057", ["+0.057"]),  # a plus sign is a sign
        ("L_uniform –0.058", ["–0.058"]),  # so is an en dash
        ("0.7168 % of it", ["0.7168"]),  # a number followed by % is a percent
        ("±2,5 points", ["unreadable: '±2,5 points'", "2", "5"]),
        ("71\u200968 %", ["unreadable: '71\\u200968 %'", "71", "68"]),
        ("½ a point", ["unreadable: '½ a point'"]),
    ],
)
def test_numbers_written_to_slip_past_are_read_or_named(text, missing):
    claims = {"c1": {"acc": 0.7168, "u": -0.057}}
    assert unsourced_numbers(text, claims) == missing
    assert unsourced_numbers("0.7168 and 71.68 % and −0.057 and .7168 and 0.057", claims) == []


def test_a_second_end_mark_does_not_hide_prose():
    assert prose_block(f"{PROSE_BEGIN}\nchecked\n{PROSE_END}\nhidden 9.9\n{PROSE_END}") is None
    assert prose_block(f"{PROSE_BEGIN}\na\n{PROSE_BEGIN}\nb\n{PROSE_END}") is None


def test_a_number_the_claims_do_not_hold_is_named():
    """As a difference, its magnitude, a percent, at the precision shown; a name's digits are no number."""
    claims = {"c1": {"difference": -0.0341, "p": 0.0081, "uniform": [-0.7612, -0.628], "acc": 0.74951}}
    claims["c1"]["rule"] = "tau = 0.996"
    good = "3.4 points below (p = 0.008), L_uniform −0.761 → −0.628, 74.95 %, τ = 0.996; c6, Figure 5a, table3"
    assert unsourced_numbers(good, claims) == []
    assert unsourced_numbers("3.5 points, p = 0.009, 74.96 %, −0.76 1 → 0.6281", claims) == [
        "3.5", "0.009", "74.96", "0.6281"
    ]  # fmt: skip
    text = f"before {PROSE_BEGIN}\nthe prose 3.4\n{PROSE_END} after 9.9"
    assert prose_block(text) == "\nthe prose 3.4\n" and prose_block("no marks") is None


def test_clean_makes_json_strict():
    assert json.loads(v.dumps({"a": [math.nan, math.inf, 1.0]})) == {"a": ["nan", "inf", 1.0]}


@pytest.mark.slow
def test_the_batchnorm_measurement_of_the_random_encoder_reads_the_monitors_value_first(tmp_path):
    """experiments.fashion_mnist.batchnorm's eval-mode L_uniform(z) is the monitors' own number for
    the same untrained network and held-out batch (bitwise: the same computation), its batch-
    statistics one is another (the initial running statistics are not the batch's), and measuring
    changes no running statistic."""
    import torch

    from experiments.fashion_mnist.batchnorm import measure, two_ways
    from raft_lightning.run.build import build
    from raft_lightning.run.train import train
    from tests.conftest import compose_run

    overrides = ("experiment=smoke", "loss=random", "predictor=linear", "logger=none")
    summary = train(compose_run(*overrides, "seed=1", run_dir=tmp_path / "run"))
    measured = measure(1, overrides)
    # Lightning's self.log holds the monitors' float64 value as a float32 tensor: the summary's is it, rounded.
    as_logged = float(torch.tensor(measured["eval_mode"], dtype=torch.float32))
    assert as_logged == summary["uniform_projector"], (measured, summary["uniform_projector"])
    assert measured["batch_statistics"] != measured["eval_mode"]
    model = build(compose_run(*overrides, run_dir=tmp_path / "other"))[1]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(64, 3, 16, 16)
    first = two_ways(model, x)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running statistics too
    assert (
        two_ways(model, x) == first and model.training == build(compose_run(*overrides, run_dir=tmp_path))[1].training
    )


def test_the_gap_between_two_runs_pairs_their_epochs_not_their_rows():
    """kNN every 2 epochs: a run that left the epochs between empty and one that repeated its last
    value hold the same measurements; their gap is 0, not the gap between epoch 4 and epoch 3."""
    from types import SimpleNamespace

    from experiments.fashion_mnist.claims import run_gap

    blank = SimpleNamespace(epochs=[{"epoch": 1}, {"epoch": 2, "k": 0.5}, {"epoch": 3}, {"epoch": 4, "k": 0.7}])
    repeated = SimpleNamespace(
        epochs=[{"epoch": 1}, {"epoch": 2, "k": 0.5}, {"epoch": 3, "k": 0.5}, {"epoch": 4, "k": 0.7}]
    )
    assert run_gap(blank, repeated, "k") == 0.0


def test_a_source_string_with_an_en_dash_or_plus_sign_is_read_not_a_crash():
    """claims.json's strings are read with the prose's NUMBER, whose signs include – and +."""
    assert unsourced_numbers("−0.5 and 2", {"c1": {"rule": "from –0.5 to +2"}}) == []
