"""The report on hand-made summaries (numbers known) and on a real smoke sweep."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from scipy import stats as scipy_stats

from raft_lightning.losses import uniformity_loss
from raft_lightning.report.cli import DEFAULT_CONFIG, main, report
from raft_lightning.report.figures import circle_density
from raft_lightning.report.rows import aggregate, load_runs
from raft_lightning.report.stats import describe, welch
from tests.conftest import ROOT


def make_run(
    root,
    name,
    objective="byol",
    predictor="mlp",
    seed=0,
    status="ok",
    alpha=1.0,
    beta=1.0,
    align=0.5,
    uniform=-2.0,
    probe=0.5,
    linear=None,
    data="fashion_mnist",
    epochs=3,
    error=None,
    **setting,
):
    run = root / name
    run.mkdir(parents=True)
    summary = {
        "objective": objective,
        "variant": None,
        "predictor": predictor,
        "backbone": "convnet",
        "data": data,
        "seed": seed,
        "alpha": alpha,
        "beta": beta,
        "tangential": False,
        "status": status,
        "error": error,
        "align": align,
        "uniform": uniform,
        "probe_acc": probe,
        "knn_acc": None,
        "linear_acc": linear,
        "checkpoint": None,
        **setting,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train/align", "train/uniform"])
        for e in range(1, epochs + 1):
            w.writerow([e, align + 0.1 * (epochs - e), uniform + 0.1 * e])
    return run


@pytest.fixture
def cfg():
    return OmegaConf.load(DEFAULT_CONFIG)


def rows_of(md_path):
    return [
        line for line in md_path.read_text().splitlines() if line.startswith("| ") and not line.startswith("| model")
    ]


def test_mean_and_sample_std_over_seeds(tmp_path, cfg):
    aligns, linears = [0.2, 0.4, 0.9], [0.70, 0.75, 0.77]
    for s, (a, l) in enumerate(zip(aligns, linears)):
        make_run(tmp_path, f"r{s}", seed=s, align=a, linear=l)
    report(tmp_path, tmp_path, cfg)
    (row,) = list(csv.DictReader(open(tmp_path / "table1.csv")))
    assert int(row["seeds"]) == 3
    assert float(row["align_mean"]) == pytest.approx(statistics.fmean(aligns))
    assert float(row["align_std"]) == pytest.approx(statistics.stdev(aligns))  # ddof = 1
    assert float(row["linear_acc_std"]) == pytest.approx(statistics.stdev(linears))
    # The 95 % interval of the mean, from scipy directly: t_{0.975, 2} · s / √3.
    low, high = scipy_stats.t.interval(0.95, 2, loc=statistics.fmean(aligns), scale=scipy_stats.sem(aligns))
    assert float(row["align_ci95"]) == pytest.approx((high - low) / 2, rel=1e-12)
    assert row["align_seeds"] == "0.2;0.4;0.9" and row["align_n"] == "3"  # every seed's value, in path order
    (md,) = rows_of(tmp_path / "table1.md")
    assert f"{statistics.fmean(aligns):.3f} ± {(high - low) / 2:.3f}" in md
    linear_ci = scipy_stats.t.ppf(0.975, 2) * scipy_stats.sem(linears)
    assert f"{100 * statistics.fmean(linears):.2f} ± {100 * linear_ci:.2f}" in md


def test_the_interval_and_welch_against_a_hand_computation():
    # [0.2, 0.4, 0.9]: mean 0.5, s² = (0.09 + 0.01 + 0.16) / 2 = 0.13. With 2 degrees of freedom
    # the t quantile has a closed form, t_p = (2p − 1) √(2 / (4p(1 − p))): t_{0.975} = 0.95 √(2 / 0.0975)
    # = 4.3027 (printed t tables: 4.303), so the half-width is t · √0.13 / √3.
    stat = describe([0.2, 0.4, 0.9])
    assert (stat.mean, stat.n) == (pytest.approx(0.5, abs=1e-15), 3)
    assert stat.std == pytest.approx(0.13**0.5, rel=1e-14)
    assert stat.ci95 == pytest.approx(0.95 * (2 / 0.0975) ** 0.5 * (0.13 / 3) ** 0.5, rel=1e-12)
    assert describe([0.7]).ci95 is None and describe([0.7]).std is None
    # Welch, a = [1, 2, 3], b = [2, 4, 6, 8]: s_a²/n_a = 1/3, s_b²/n_b = (20/3)/4 = 5/3, se² = 2,
    # t = (2 − 5)/√2, df = 4 / ((1/3)²/2 + (5/3)²/3) = 216/53.
    diff = welch([1, 2, 3], [2, 4, 6, 8])
    assert diff.diff == -3 and diff.df == pytest.approx(216 / 53, rel=1e-13)
    assert diff.p == pytest.approx(2 * scipy_stats.t.sf(3 / 2**0.5, 216 / 53), rel=1e-12)
    assert diff.ci95 == pytest.approx(scipy_stats.t.ppf(0.975, 216 / 53) * 2**0.5, rel=1e-12)
    # … and scipy's own Welch test on other data.
    a, b = [0.61, 0.64, 0.66, 0.60], [0.70, 0.72, 0.69]
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    ours = welch(a, b)
    assert ours.p == pytest.approx(reference.pvalue, rel=1e-10) and ours.df == pytest.approx(reference.df, rel=1e-12)
    low, high = reference.confidence_interval(0.95)
    assert ours.diff - ours.ci95 == pytest.approx(low, rel=1e-10)
    assert ours.diff + ours.ci95 == pytest.approx(high, rel=1e-10)
    assert welch([1.0], [2.0, 3.0]).p is None and welch([1.0, 1.0], [2.0, 2.0]).p is None  # nothing to test


def test_a_single_seed_shows_no_plus_minus(tmp_path, cfg):
    make_run(tmp_path, "r0", align=0.25)
    report(tmp_path, tmp_path, cfg)
    (md,) = rows_of(tmp_path / "table1.md")
    assert "| 1 | 0.250 |" in md and "±" not in md


def test_rows_are_split_by_objective_predictor_and_weights(tmp_path, cfg):
    for s in range(2):
        make_run(tmp_path, f"a{s}", "byol", "mlp", seed=s)
        make_run(tmp_path, f"b{s}", "byol", "none", seed=s)
        for beta in (0.1, 1.0, 10.0):
            make_run(tmp_path, f"r{beta}{s}", "raft", "linear", seed=s, beta=beta)
    written = report(tmp_path, tmp_path, cfg)
    assert len(rows_of(tmp_path / "table1.md")) == 3  # byol/mlp, byol/none, raft/linear at (1, 1)
    assert len(rows_of(tmp_path / "table3.md")) == 3  # raft/linear at β = 0.1, 1, 10
    assert tmp_path / "trajectories_alpha_beta.png" in written


def test_failed_diverged_running_and_missing_runs_are_listed_not_averaged(tmp_path, cfg):
    make_run(tmp_path, "0", seed=0, align=0.3)
    make_run(tmp_path, "1", seed=1, status="failed", align=9.0, error="Traceback...\nValueError: boom")
    make_run(tmp_path, "2", seed=2, status="diverged", align=9.0, error="loss became nan at epoch 2, step 7")
    make_run(tmp_path, "3", seed=3, status="running", align=9.0)
    OmegaConf.save(
        OmegaConf.create({"hydra": {"sweeper": {"params": {"seed": "0,1,2,3,4"}}, "overrides": {"task": []}}}),
        tmp_path / "multirun.yaml",
    )
    report(tmp_path, tmp_path, cfg)
    text = (tmp_path / "table1.md").read_text()
    (md,) = rows_of(tmp_path / "table1.md")
    assert "| 1 | 0.300 |" in md  # only the ok run is in the mean
    assert "the sweep has 5, 1 not started yet" in text
    assert "is failed: ValueError: boom" in text and "is diverged: loss became nan" in text and "is running" in text


def test_a_copied_run_is_listed_not_averaged_as_a_second_seed(tmp_path, cfg):
    make_run(tmp_path, "a", seed=0, align=0.2)
    make_run(tmp_path, "b", seed=1, align=0.4)
    make_run(tmp_path, "c", seed=0, align=9.0)  # seed 0 again: a copy of a, edited, or made twice
    report(tmp_path, tmp_path, cfg)
    (row,) = list(csv.DictReader(open(tmp_path / "table1.csv")))
    assert row["seeds"] == "2" and row["align_n"] == "2" and row["align_seeds"] == "0.2;0.4"
    notes = (tmp_path / "table1.md").read_text().replace(str(tmp_path) + "/", "")
    assert "not averaged: c has the setting and seed of a" in notes


def test_collapse_is_marked_by_the_configured_rule(tmp_path, cfg):
    make_run(tmp_path, "np", "byol", "none", align=0.02, uniform=-0.05, uniform_projector=-0.04)  # collapsed
    make_run(tmp_path, "mlp", "byol", "mlp", align=0.05, uniform=-0.1, uniform_projector=-2.5)  # held-out spread
    make_run(tmp_path, "raft", "raft", "none", align=0.8, uniform=-0.2)  # no monitors: training batches
    make_run(tmp_path, "lp", "raft", "linear", align=0.05, uniform=-0.9)  # spreading: not near 0
    report(tmp_path, tmp_path, cfg)
    rows = {row["predictor"] + row["objective"]: row for row in csv.DictReader(open(tmp_path / "table1.csv"))}
    assert {k: r["collapsed"] for k, r in rows.items()} == {
        "nonebyol": "True",
        "mlpbyol": "False",  # the held-out measurement wins over the training batches' −0.1
        "noneraft": "True",
        "linearraft": "False",
    }
    assert rows["mlpbyol"]["collapse_source"] == "uniform_projector"
    assert rows["noneraft"]["collapse_source"] == "uniform"
    md = (tmp_path / "table1.md").read_text()
    assert "**-0.040**" in md and "**yes** (-0.040, held-out)" in md and "**yes** (-0.200, training)" in md
    assert "above -0.25 (conf/report.yaml)" in md
    cfg.collapse.uniform_above = -0.01  # the rule lives in the config
    report(tmp_path, tmp_path, cfg)
    assert "True" not in (tmp_path / "table1.csv").read_text()


def test_the_random_row_is_judged_from_a_measurement(tmp_path, cfg):
    """The random encoder never trains (no training-batch L_uniform): its verdict reads the
    monitors' held-out value, or, in runs from before them, L_uniform of its embeddings.pt."""
    for s in range(2):
        make_run(
            tmp_path, f"new/r{s}", "random", "mlp", seed=s, epochs=0, align=None, uniform=None, uniform_projector=-0.09
        )
    old = make_run(tmp_path, "old/r0", "random", "mlp", epochs=0, align=None, uniform=None, data="cifar10")
    clustered = torch.randn(300, 8, generator=torch.Generator().manual_seed(0)) * 0.05 + 1  # near one point
    torch.save({"projections": clustered, "labels": torch.arange(300) % 10}, old / "embeddings.pt")
    make_run(tmp_path, "old/r1", "random", "mlp", seed=1, epochs=0, align=None, uniform=None, data="cifar10")  # none
    make_run(tmp_path, "none/r0", "random", "mlp", epochs=0, align=None, uniform=None, data="stl10")  # nothing measured
    report(tmp_path, tmp_path, cfg)
    rows = {row["data"]: row for row in csv.DictReader(open(tmp_path / "table1.csv"))}
    assert rows["fashion_mnist"]["collapsed"] == "True"
    assert rows["fashion_mnist"]["collapse_source"] == "uniform_projector"
    assert rows["cifar10"]["collapse_source"] == "embeddings" and rows["cifar10"]["collapsed"] == "True"
    expected = uniformity_loss(clustered.double())  # Definition 2.2 on every test projection (300 < max)
    assert float(rows["cifar10"]["collapse_uniform"]) == pytest.approx(float(expected), rel=1e-12)
    assert rows["stl10"]["collapsed"] == "" and rows["stl10"]["collapse_source"] == ""
    md = (tmp_path / "table1.md").read_text()
    assert "— (not measured)" in md and "test set, n = 1)" in md  # one of the row's two seeds had embeddings.pt


def test_paper_numbers_and_below_random_marking(tmp_path, cfg):
    make_run(tmp_path, "bn", "byol", "mlp_bn", linear=0.66, data="cifar10")
    make_run(tmp_path, "np", "byol", "none", linear=0.20, data="cifar10")
    make_run(tmp_path, "rand", "random", "mlp", linear=0.43, data="cifar10", epochs=0, align=None, uniform=None)
    report(tmp_path, tmp_path, cfg)
    md = (tmp_path / "table1.md").read_text()
    assert "68.08 ± 0.84†" in md and "20.92 ± 1.29" in md and "42.74 ± 0.41" in md
    assert "**20.00**" in md and "**66.00**" not in md  # below the random baseline: bold
    assert "normalization" in md  # the mlp_bn footnote
    assert "Bold kNN or linear accuracy: below the random baseline's mean." in md
    (tmp_path / "rand" / "summary.json").unlink()  # without a random encoder, the legend says nothing is marked
    report(tmp_path, tmp_path, cfg)
    md = (tmp_path / "table1.md").read_text()
    assert "**20.00**" not in md and "Bold kNN" not in md and "No accuracy is bold: no random encoder" in md


def test_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"raft-report: {tmp_path}: no summary.json"


def test_a_sweep_with_no_ok_run_says_so_and_writes_nothing(tmp_path, capsys):
    """Every run diverged, failed, unreadable or still running: no row to print, so the report
    says how many runs it found of the sweep's, names each one with its status (a damaged one
    too, and no terminal control character from a file) and exits 1; it used to print an empty
    "written:" and exit 0."""
    make_run(tmp_path, "a", seed=0, status="diverged", align=9.0, error="loss became nan at epoch 1, step 1")
    make_run(tmp_path, "b", seed=1, status="running", align=9.0)
    make_run(tmp_path, "c", seed=2, status="failed", align=9.0, error="Traceback\nValueError: \x1b[2Jboom")
    (tmp_path / "d" / "summary.json").parent.mkdir()
    (tmp_path / "d" / "summary.json").write_text('{"status": "ok", "objec')
    OmegaConf.save(
        OmegaConf.create({"hydra": {"sweeper": {"params": {"seed": "0,1,2,3,4"}}, "overrides": {"task": []}}}),
        tmp_path / "multirun.yaml",
    )
    out = tmp_path / "report"
    for command in ([str(tmp_path), "--out", str(out)], [str(tmp_path), "--compare", "1", "2"]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.startswith(
            f"raft-report: {tmp_path}: no run has finished ok; 4 run(s) found (1 diverged, 1 failed, 1 running, "
            "1 unreadable); the sweep has 5, 1 not started yet."
        ), err
        assert f"\n  {tmp_path / 'a'}: diverged: loss became nan at epoch 1, step 1\n" in err
        assert f"\n  {tmp_path / 'b'}: running\n" in err
        assert f"\n  {tmp_path / 'c'}: failed: ValueError: ?[2Jboom\n" in err
        assert f"\n  {tmp_path / 'd'}: unreadable: " in err and "summary.json" in err
        assert len(err.strip().splitlines()) == 5 and not out.exists()


def test_circle_density_of_two_clusters():
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([1.0, 0, 0]) + 0.01 * torch.randn(100, 3, generator=g)
    b = torch.tensor([-1.0, 0, 0]) + 0.01 * torch.randn(100, 3, generator=g)
    theta, density = circle_density(torch.cat([a, b]), bins=36)
    assert density.mean().item() == pytest.approx(1.0)
    assert (density > 0).sum() <= 4  # two opposite clumps, nothing in between


def test_rows_without_embeddings_get_no_panel_and_a_note(tmp_path, cfg):
    with_embeddings = make_run(tmp_path, "mlp", "byol", "mlp")
    make_run(tmp_path, "none", "byol", "none")
    projections = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    torch.save(
        {"projections": projections, "labels": torch.zeros(50, dtype=torch.long)}, with_embeddings / "embeddings.pt"
    )
    written = report(tmp_path, tmp_path, cfg)
    assert tmp_path / "representations.png" in written
    md = (tmp_path / "table1.md").read_text()
    assert "no panel in representations.png, for 1 row(s)" in md and "raft-linear-eval run_dir=<run>" in md
    assert f"- byol/none (α = 1, β = 1): e.g. {tmp_path / 'none'}" in md and "- byol/mlp (" not in md


def test_without_any_embeddings_there_is_no_representations_figure(tmp_path, cfg):
    make_run(tmp_path, "r0")
    assert tmp_path / "representations.png" not in report(tmp_path, tmp_path, cfg)


def test_the_report_reads_files_only(tmp_path):
    make_run(tmp_path, "r0")
    code = (
        "import sys; from raft_lightning.report.cli import main; main(sys.argv[1:]); "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['raft_lightning', p] for p in ('run', 'objectives', 'models', 'evaluation', 'linear_eval', 'train'))); "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def header_of(md_path):
    return next(line for line in md_path.read_text().splitlines() if line.startswith("| model"))


def test_runs_on_two_datasets_are_separate_rows_with_a_data_column(tmp_path, cfg):
    for s in range(2):
        make_run(tmp_path, f"f{s}", seed=s, align=0.2, data="fashion_mnist")
        make_run(tmp_path, f"c{s}", seed=s, align=0.8, data="cifar10")
    report(tmp_path, tmp_path, cfg)
    table = list(csv.DictReader(open(tmp_path / "table1.csv")))
    assert sorted((r["data"], float(r["align_mean"]), r["seeds"]) for r in table) == [
        ("cifar10", 0.8, "2"),
        ("fashion_mnist", 0.2, "2"),
    ]
    assert "| data |" in header_of(tmp_path / "table1.md")
    assert {md.split(" | ")[0] for md in rows_of(tmp_path / "table1.md")} == {
        "| byol/mlp (data=cifar10)",
        "| byol/mlp (data=fashion_mnist)",
    }


def test_any_other_setting_key_splits_rows_too(tmp_path, cfg):
    make_run(tmp_path, "a", tau=0.99, tau_schedule="cosine")
    make_run(tmp_path, "b", seed=1, tau=0.99, tau_schedule="constant")
    report(tmp_path, tmp_path, cfg)
    assert len(rows_of(tmp_path / "table1.md")) == 2 and "| tau_schedule |" in header_of(tmp_path / "table1.md")


def test_constant_settings_are_in_the_header_line_not_columns(tmp_path, cfg):
    # Changed format: α, β, tangential (and objective, q_w when constant) used to be columns.
    for beta in (0.1, 1.0):
        make_run(tmp_path, f"b{beta}", "raft", "linear", beta=beta, data="synthetic", lr=0.0003)
    report(tmp_path, tmp_path, cfg)
    lines = (tmp_path / "table3.md").read_text().splitlines()
    assert lines[0].startswith("All rows: objective = raft, q_w = linear, α = 1, tangential = no, data = synthetic")
    assert "lr = 0.0003" in lines[0] and "β =" not in lines[0] and "not recorded: max_epochs, tau," in lines[0]
    header = header_of(tmp_path / "table3.md")
    assert header.startswith("| model | β | seeds | L_align |")
    assert "| α |" not in header and "tangential" not in header and "data" not in header
    assert "paper (CIFAR-10, %)" not in header  # no row has a paper figure


def test_the_footnote_only_with_a_row_that_carries_its_mark(tmp_path, cfg):
    make_run(tmp_path, "bn", "byol", "mlp_bn", linear=0.66, data="fashion_mnist")  # no paper figure off CIFAR-10
    report(tmp_path, tmp_path, cfg)
    assert "normalization" not in (tmp_path / "table1.md").read_text()
    make_run(tmp_path, "bn10", "byol", "mlp_bn", linear=0.66, data="cifar10")
    report(tmp_path, tmp_path, cfg)
    md = (tmp_path / "table1.md").read_text()
    assert md.count("normalization") == 1 and "68.08 ± 0.84†" in md


def test_the_tan_byol_lp_note_only_with_that_row(tmp_path, cfg):
    make_run(tmp_path, "lp", "byol", "linear")
    make_run(tmp_path, "tan_raft", "raft", "linear", tangential=True)
    report(tmp_path, tmp_path, cfg)
    assert "TanBYOL-LP" not in (tmp_path / "table1.md").read_text()
    make_run(tmp_path, "tan", "byol", "linear", tangential=True)
    report(tmp_path, tmp_path, cfg)
    md = (tmp_path / "table1.md").read_text()
    assert "trains as BYOL-LP" in md and "docs/theory.md" in md
    marked = [line for line in rows_of(tmp_path / "table1.md") if "‡" in line]
    assert len(marked) == 1 and marked[0].startswith("| tanbyol/linear‡ |")


def with_config(run, **keys):
    """A config.yaml beside the run's summary: the report keys rows on it (raft_lightning.identity)."""
    seed = json.loads((run / "summary.json").read_text())["seed"]
    config = {
        "seed": seed,
        "loss": {"_target_": "raft_lightning.objectives.BYOL", "alpha": 1.0, "beta": 1.0, "tangential": False},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.0003},
        "data": {"seed": seed, "num_workers": seed},  # ${seed}, and a key that changes no number
        "paths": {"output_dir": str(run)},
        "record": {"last_epochs": 10},
    }
    for dotted, value in keys.items():
        node = config
        *parents, leaf = dotted.split("__")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    OmegaConf.save(OmegaConf.create(config), run / "config.yaml")
    return run


def test_a_run_that_differs_only_in_a_new_config_key_is_its_own_row(tmp_path, cfg):
    for s in range(2):
        with_config(make_run(tmp_path, f"plain{s}", seed=s, align=0.2))
        with_config(make_run(tmp_path, f"decay{s}", seed=s, align=0.8), optimizer__weight_decay=0.1)
    report(tmp_path, tmp_path, cfg)
    table = {r["model"]: r for r in csv.DictReader(open(tmp_path / "table1.csv"))}
    assert sorted(table) == ["byol/mlp", "byol/mlp (optimizer.weight_decay=0.1)"]  # the plain run has no such key
    assert float(table["byol/mlp (optimizer.weight_decay=0.1)"]["align_mean"]) == pytest.approx(0.8)
    assert {r["seeds"] for r in table.values()} == {"2"}  # the seed, data.seed, paths, num_workers: one row


def test_a_run_without_a_readable_config_is_grouped_by_its_summary_and_listed(tmp_path, cfg):
    with_config(make_run(tmp_path, "a", seed=0))
    make_run(tmp_path, "b", seed=1)
    (with_config(make_run(tmp_path, "c", seed=2)) / "config.yaml").write_text("loss: ${oops}\n")
    report(tmp_path, tmp_path, cfg)
    md = (tmp_path / "table1.md").read_text()
    assert len(rows_of(tmp_path / "table1.md")) == 2  # a by its config; b and c by their summaries
    assert "config.yaml missing: grouped by summary.json's settings" in md
    assert "interpolations at loss" in md


def test_the_caption_names_the_window_the_runs_recorded(tmp_path, cfg):
    make_run(tmp_path, "a", last_epochs=5)
    report(tmp_path, tmp_path, cfg)
    assert "means over each run's last 5 epochs of training batches;" in (tmp_path / "table1.md").read_text()
    with_config(make_run(tmp_path, "b", seed=1), record__last_epochs=7)  # an older record: in its config only
    report(tmp_path, tmp_path, cfg)
    assert "means over each run's last 5 or 7 epochs of training batches;" in (tmp_path / "table1.md").read_text()


def test_compare_prints_each_difference_with_its_interval_and_welch_p(tmp_path, capsys):
    a_linear, b_linear = [0.70, 0.74, 0.75], [0.60, 0.66]
    for s, v in enumerate(a_linear):
        make_run(tmp_path, f"a{s}", "byol", "mlp", seed=s, linear=v, align=0.1 * (s + 1))
    for s, v in enumerate(b_linear):
        make_run(tmp_path, f"b{s}", "byol", "none", seed=s, linear=v, align=0.5)
    assert main([str(tmp_path), "--compare", "byol/mlp", "1"]) == 0  # by label, by index (table order)
    out = capsys.readouterr().out
    reference = scipy_stats.ttest_ind(a_linear, b_linear, equal_var=False)
    low, high = reference.confidence_interval(0.95)
    diff = statistics.fmean(a_linear) - statistics.fmean(b_linear)
    assert "A = byol/mlp (3 seed(s)), B = byol/none (2 seed(s))" in out
    assert f"= {100 * diff:+.2f}, 95 % CI [{100 * low:+.2f}, {100 * high:+.2f}], p = {reference.pvalue:.3g}" in out
    assert "L_align: 0.200 − 0.500 = -0.300, 95 % CI [" in out  # only A's seeds vary: still an interval
    assert "L_uniform: -2.000 − -2.000 = +0.000, no interval (no spread on either side)" in out
    assert not list(tmp_path.glob("table*"))  # --compare writes nothing


def test_compare_names_the_rows_when_one_is_unknown(tmp_path, capsys):
    make_run(tmp_path, "a", "byol", "mlp")
    for beta in (0.1, 1.0):
        make_run(tmp_path, f"r{beta}", "raft", "linear", beta=beta)
    assert main([str(tmp_path), "--compare", "byol/mlp", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no row 'nope'" in err
    # numbered as printed: Table 1 (byol/mlp, raft/linear at β = 1), then the rest of Table 3
    assert "0 = byol/mlp; 1 = raft/linear [α=1, β=1]; 2 = raft/linear [α=1, β=0.1]" in err
    assert main([str(tmp_path), "--compare", "raft/linear [α=1, β=0.1]", "3"]) == 2  # index past the end
    assert main([str(tmp_path), "--compare", "raft/linear [α=1, β=0.1]", "1"]) == 0
    assert "B = raft/linear [α=1, β=1]" in capsys.readouterr().out


def test_the_command_writes_into_out(tmp_path, capsys):
    make_run(tmp_path / "sweep", "r0")
    assert main([str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "table1.md").is_file() and (tmp_path / "report" / "trajectories.pdf").is_file()
    assert "spectra.png: skipped, no run has spectra.csv" in capsys.readouterr().out


def test_a_setting_only_some_rows_record_stays_out_of_the_labels(tmp_path, cfg):
    """τ is None for the random encoder (it has no teacher): that absence tells no row apart (the
    objective does), so no label repeats "tau=0.99"; the τ column still shows it. Where a summary
    from an older version lacks τ beside the same row with it, the label keeps τ to tell them apart."""
    teacher = {"tau": 0.99, "tau_schedule": "constant"}
    make_run(tmp_path / "t", "a", "byol", "mlp", **teacher)
    make_run(tmp_path / "t", "b", "byol", "none", **teacher)
    make_run(tmp_path / "t", "r", "random", "mlp", epochs=0, align=None, uniform=None, tau=None, tau_schedule=None)
    rows = aggregate(load_runs(tmp_path / "t"), cfg.collapse, cfg.objective_order)
    assert sorted(r.label for r in rows) == ["byol/mlp", "byol/none", "random"]
    report(tmp_path / "t", tmp_path / "t", cfg)
    table = tmp_path / "t" / "table1.md"
    assert "| τ |" in header_of(table) and "tau=" not in table.read_text()
    make_run(tmp_path / "o", "old", "byol", "mlp")  # recorded before τ was: None
    make_run(tmp_path / "o", "new", "byol", "mlp", seed=1, **teacher)
    rows = aggregate(load_runs(tmp_path / "o"), cfg.collapse, cfg.objective_order)
    assert len({r.label for r in rows}) == 2 and any("tau=0.99" in r.label for r in rows)


def test_labels_name_a_setting_only_where_the_row_has_it_and_never_repeat(tmp_path, cfg):
    """τ differs between the BYOL rows: their labels say it; the random encoder has none, so its
    label says nothing of it. Two rows whose τ prints alike (0.99 and 0.9900001) still get
    different labels (their folder)."""
    for tau in (0.9, 0.99, 0.9900001):
        make_run(tmp_path, f"tau{tau}", tau=tau, tau_schedule="constant")
    make_run(tmp_path, "rand", "random", "mlp", epochs=0, align=None, uniform=None, tau=None, tau_schedule=None)
    labels = sorted(r.label for r in aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order))
    assert labels == [
        "byol/mlp (tau=0.9)",
        "byol/mlp (tau=0.99) [tau0.9900001]",
        "byol/mlp (tau=0.99) [tau0.99]",
        "random",
    ]
    for sweep, tau in (("a", 0.99), ("b", 0.9900001)):  # two sweeps' folders of one name: the path tells
        make_run(tmp_path / "sweeps" / sweep, "0", tau=tau)
    labels = sorted(r.label for r in aggregate(load_runs(tmp_path / "sweeps"), cfg.collapse, cfg.objective_order))
    assert labels == ["byol/mlp (tau=0.99) [a/0]", "byol/mlp (tau=0.99) [b/0]"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["byol", "random", "simsiam"]),
            st.sampled_from([None, 0.99, 0.9900001]),  # values that print alike, and absence
            st.sampled_from([None, "yes", True]),
        ),
        min_size=2,
        max_size=6,
        unique=True,
    )
)
def test_no_two_rows_share_a_label(tmp_path_factory, cfg, rows):
    root = tmp_path_factory.mktemp("rows")
    for i, (objective, tau, schedule) in enumerate(rows):
        make_run(root, f"r{i}", objective, tau=tau, tau_schedule=schedule)
    found = aggregate(load_runs(root), cfg.collapse, cfg.objective_order)
    assert len({r.label for r in found}) == len(found)


def test_points_left_out_of_any_figure_are_noted(tmp_path, cfg):
    """A value that is not finite in a series the monitors' figures draw (kNN accuracy, effective
    rank in metrics.csv; the first steps in steps.csv), not only the trajectories', is one note."""
    for seed in (0, 1):
        make_run(tmp_path, f"r{seed}", seed=seed)
    run = tmp_path / "r0"
    (run / "metrics.csv").write_text(
        "epoch,train/align,train/uniform,val/knn_acc,monitor/rank_projector\n1,0.5,-2,0.8,inf\n2,0.4,-2,nan,7\n"
    )
    (run / "steps.csv").write_text("step,epoch,loss\n0,1,0.5\n1,1,nan\n")
    report(tmp_path, tmp_path, cfg)
    text = (tmp_path / "table1.md").read_text()
    assert "figures leave out points whose value is not finite" in text and "(3)" in text, text


def test_a_row_collapsed_only_in_eval_mode_says_its_training_batches_disagree(tmp_path, cfg):
    """Held-out L_uniform near 0 (eval mode: BatchNorm's running statistics) while the training
    batches are spread: the verdict stands by the rule, and one note says the sources disagree."""
    for seed in (0, 1):
        make_run(tmp_path, f"lag{seed}", seed=seed, uniform=-1.9, uniform_projector=-0.05)
        make_run(tmp_path, f"flat{seed}", seed=seed, predictor="none", uniform=-0.01, uniform_projector=-0.02)
    report(tmp_path, tmp_path, cfg)
    text = (tmp_path / "table1.md").read_text()
    notes = [line for line in text.splitlines() if "but not by its training batches" in line]
    assert len(notes) == 1 and "byol/mlp" in notes[0] and "(-0.050, eval mode" in notes[0], notes
