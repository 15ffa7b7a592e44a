"""The report over values a schema-valid run folder may hold but a well-behaved run never writes:
null settings, finite numbers near the float maximum, inf/nan in metrics.csv (a run that
diverged), an embeddings.pt of one point. Each gives a report, never a traceback."""

from __future__ import annotations

import csv
import math
import statistics
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from raft_lightning.report.cli import DEFAULT_CONFIG, report
from raft_lightning.report.stats import mean_std
from tests.conftest import ROOT
from tests.test_report import make_run


@pytest.fixture
def cfg():
    return OmegaConf.load(DEFAULT_CONFIG)


@pytest.mark.parametrize("null", ["predictor", "alpha", "objective", "tangential"])
def test_a_null_setting_sorts_beside_the_others(tmp_path, cfg, null):
    """summary.py allows null for any setting (an older version did not record it)."""
    make_run(tmp_path, "0", seed=0)
    make_run(tmp_path, "1", seed=1, lr=0.1, **{null: None})
    report(tmp_path, tmp_path, cfg)
    assert len(list(csv.DictReader(open(tmp_path / "table1.csv")))) + (null == "alpha") == 2


def test_finite_results_near_the_float_maximum_are_averaged(tmp_path, cfg):
    values = [1e308, 1.7e308]  # fsum's intermediate sum overflows
    mean, std, n = mean_std(values)
    assert (mean, n) == (1.35e308, 2)  # a power-of-two scale is exact
    assert std == pytest.approx(statistics.stdev(values), rel=1e-15)
    assert mean_std([-1.7e308, 1.7e308])[1] == math.inf  # a std beyond the float range
    for seed, align in enumerate(values):
        make_run(tmp_path, str(seed), seed=seed, align=align)
    report(tmp_path, tmp_path, cfg)
    (row,) = csv.DictReader(open(tmp_path / "table1.csv"))
    assert float(row["align_mean"]) == 1.35e308
    assert "- trajectories.png was not drawn: its numbers cannot be plotted" in (tmp_path / "table1.md").read_text()


def test_non_finite_epochs_are_left_out_of_the_curves_and_noted(tmp_path, cfg):
    assert all(math.isnan(x) for x in mean_std([1.0, math.nan])[:2])
    runs = [make_run(tmp_path, str(seed), seed=seed, epochs=4) for seed in (0, 1)]
    for run, cell in zip(runs, ("inf", "nan")):  # as a run that diverged may leave them
        rows = list(csv.reader(open(run / "metrics.csv")))
        rows[2][1:] = [cell] * (len(rows[2]) - 1)
        csv.writer(open(run / "metrics.csv", "w", newline="")).writerows(rows)
    written = report(tmp_path, tmp_path, cfg)
    assert tmp_path / "trajectories.png" in written
    notes = [line for line in (tmp_path / "table1.md").read_text().splitlines() if "not finite" in line]
    assert len(notes) == 1 and "byol/mlp (4)" in notes[0], notes  # epoch 2's L_align and L_uniform, in each run
    from raft_lightning.report.plot import curves
    from raft_lightning.report.rows import aggregate, load_run

    (row,) = aggregate([load_run(run) for run in runs], cfg.collapse, cfg.objective_order)
    assert curves(row, "train/align")[0] == [1, 3, 4]  # the figures draw the epochs every seed has finite


def test_too_few_points_for_a_panel_give_a_note(tmp_path, cfg):
    one = make_run(tmp_path, "one", predictor="mlp")
    many = make_run(tmp_path, "many", predictor="linear")
    torch.save({"projections": torch.randn(1, 2), "labels": torch.zeros(1, dtype=torch.long)}, one / "embeddings.pt")
    torch.save({"projections": torch.randn(9, 2), "labels": torch.arange(9)}, many / "embeddings.pt")
    written = report(tmp_path, tmp_path, cfg)
    assert tmp_path / "representations.png" in written  # the other row's panel
    md = (tmp_path / "table1.md").read_text()
    assert f"no panel in representations.png for byol/mlp: {one / 'embeddings.pt'} holds 1 point(s)" in md


def test_a_write_that_fails_names_its_file(tmp_path):
    """A full disk or a quota (here a file-size limit, EFBIG as a quota gives) while the report
    writes: one line naming the file. The lock's own note of its holder failing to be written
    must not surface at close as an OSError that names nothing (red team B10)."""
    make_run(tmp_path / "sweep", "0")
    limit = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1])); "
        "from raft_lightning.report.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", limit, str(tmp_path / "sweep"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"raft-report: cannot write {out}/") and "File too large" in lines[0], lines
