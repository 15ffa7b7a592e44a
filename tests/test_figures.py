"""The report's figures: files written (PNG and vector PDF) and Figure 3's points class-coloured
on the unit circle."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from omegaconf import OmegaConf

from raft_lightning.report import figures as figures_module
from raft_lightning.report import plot, training
from raft_lightning.report.cli import DEFAULT_CONFIG, report
from raft_lightning.report.embeddings import attach_embeddings
from raft_lightning.report.figures import circle_points, draw_panel, pairwise_cosines, representations, trajectories
from raft_lightning.report.rows import aggregate, load_runs, split
from raft_lightning.report.training import spectra, training_figures
from tests.monitored_runs import monitored_run
from tests.test_report import make_run, with_config


@pytest.fixture
def cfg():
    return OmegaConf.load(DEFAULT_CONFIG)


def embeddings(run, n=300, classes=10, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=g)
    projections = 3 * centres[labels] + torch.randn(n, dim, generator=g)
    torch.save({"projections": projections, "labels": labels}, run / "embeddings.pt")
    return projections, labels


def test_figures_are_written_as_png_and_vector_pdf(tmp_path, cfg):
    for s in range(2):
        embeddings(make_run(tmp_path, f"a{s}", "byol", "linear", seed=s, epochs=5))
        for beta in (0.5, 1.0):
            make_run(tmp_path, f"b{beta}{s}", "raft", "linear", seed=s, beta=beta, epochs=5)
    written = report(tmp_path, tmp_path, cfg)
    for name in ("trajectories", "trajectories_alpha_beta", "representations"):
        for suffix in ("png", "pdf"):
            assert tmp_path / f"{name}.{suffix}" in written
        pdf = (tmp_path / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # vector: no raster image inside


def test_circle_points_are_unit_vectors():
    projections = 5 * torch.randn(200, 12, generator=torch.Generator().manual_seed(0)) + 2
    xy = circle_points(projections)
    assert xy.shape == (200, 2)
    assert torch.allclose(xy.norm(dim=1), torch.ones(200, dtype=xy.dtype))


def test_the_points_are_coloured_by_class(tmp_path):
    projections, labels = embeddings(tmp_path, classes=10)
    fig = plt.figure()
    points = draw_panel(fig.add_subplot(projection="polar"), projections, labels, bins=36)
    colours = {tuple(c) for c in points.get_facecolors().round(decimals=6)}
    assert len(points.get_offsets()) == 300 and len(colours) == 10
    offsets = points.get_offsets()  # polar (θ, r): every point on the unit circle, its class's colour
    assert (offsets[:, 1] == 1).all()
    plt.close(fig)
    fig = plt.figure()
    points = draw_panel(fig.add_subplot(projection="polar"), projections, labels % 3, bins=36)
    assert len({tuple(c) for c in points.get_facecolors().round(decimals=6)}) == 3
    plt.close(fig)


def test_up_to_max_points_test_images_per_panel(tmp_path, cfg):
    assert cfg.figures.max_points >= 1000
    embeddings(make_run(tmp_path, "a"), n=2500)
    (row,) = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    attach_embeddings([row], cfg.figures.max_points)
    projections, labels = row.embeddings
    assert len(projections) == len(labels) == cfg.figures.max_points
    assert len(labels.unique()) == 10  # a random subset, not the first classes of a sorted file


# --- the monitors' figures ----------------------------------------------------------------------

MONITOR_FIGURES = ("accuracy", "rank", "first_steps", "spectra")


@pytest.mark.slow  # every figure drawn twice: ~40 s of CPU
def test_monitor_figures_are_written_and_regenerate_byte_identical(tmp_path, cfg):
    for s in range(2):
        monitored_run(tmp_path / "runs", f"lp{s}", "byol", "linear", seed=s)
        monitored_run(tmp_path / "runs", f"rand{s}", "random", "mlp", seed=s)
    first = report(tmp_path / "runs", tmp_path / "a", cfg)
    second = report(tmp_path / "runs", tmp_path / "b", cfg)
    for name in (*MONITOR_FIGURES, "representations", "trajectories"):
        for suffix in ("png", "pdf"):
            assert tmp_path / "a" / f"{name}.{suffix}" in first
        pdf = (tmp_path / "a" / f"{name}.pdf").read_bytes()
        assert b"/Subtype /Image" not in pdf and b"CreationDate" not in pdf  # vector, no date
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        if a.suffix in (".png", ".pdf"):
            assert a.read_bytes() == b.read_bytes(), a.name  # same runs, same bytes


def test_a_figure_regenerates_byte_identical_png_and_vector_pdf_without_a_date(tmp_path, cfg):
    monitored_run(tmp_path, "lp", "byol", "linear")
    (row,) = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = spectra([row], tmp_path / "a", count=2)[0]
    second = spectra([row], tmp_path / "b", count=2)[0]
    assert [p.name for p in first] == ["spectra.png", "spectra.pdf"]
    assert first[1].read_bytes().startswith(b"%PDF") and b"CreationDate" not in first[1].read_bytes()
    assert b"/Subtype /Image" not in first[1].read_bytes()  # vector
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_old_runs_skip_the_monitor_figures_with_one_line_each(tmp_path, cfg):
    make_run(tmp_path, "old", "byol", "linear")
    written = report(tmp_path, tmp_path, cfg)
    assert not [p for p in written if p.stem in MONITOR_FIGURES]
    text = (tmp_path / "table1.md").read_text()
    for name in MONITOR_FIGURES:
        assert len([line for line in text.splitlines() if f"- {name}.png: skipped" in line]) == 1


def captured(monkeypatch):
    """The figures plot_groups hands to save, kept open for inspection."""
    figures = {}
    monkeypatch.setattr(plot, "save", lambda fig, stem: (figures.__setitem__(stem.name, fig), [stem])[1])
    return figures


def test_ordered_parameters_get_an_ordered_colour_scale(tmp_path, cfg, monkeypatch):
    betas = (10.0, 0.01, 1.0, 0.1)  # written out of order
    for beta in betas:
        make_run(tmp_path, f"b{beta}", "raft", "linear", beta=beta)
    rows = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    figures = captured(monkeypatch)
    trajectories([], rows, tmp_path)
    legend = figures["trajectories_alpha_beta"].axes[-1].get_legend()
    by_label = {t.get_text(): h.get_color() for t, h in zip(legend.get_texts(), legend.legend_handles)}
    viridis = plt.get_cmap("viridis")
    for i, beta in enumerate(sorted(betas)):  # viridis in the order of β, evenly: 0.01 is not hidden under 0.1
        assert tuple(by_label[f"α = 1, β = {beta:g}"]) == viridis(plot.ORDERED_SPAN * i / 3)
    assert plot.ordered_colours([3, 1, 2]) == {v: viridis(plot.ORDERED_SPAN * (v - 1) / 2) for v in (1, 2, 3)}


def test_titles_say_how_many_seeds(tmp_path, cfg, monkeypatch):
    for s in range(3):
        make_run(tmp_path, f"a{s}", "byol", "mlp", seed=s)
    make_run(tmp_path, "b0", "byol", "none")
    rows = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    figures = captured(monkeypatch)
    trajectories(rows[:1], [], tmp_path)
    assert "mean ± sample std over 3 seeds" in figures["trajectories"]._suptitle.get_text()
    trajectories(rows[1:], [], tmp_path / "one")
    assert figures["trajectories"]._suptitle.get_text() == "Training trajectories (1 seed)"
    assert plot.seeds_phrase(rows) == "mean ± sample std over 1–3 seeds (n per line)"


def test_the_random_encoder_is_a_reference_line_where_a_panel_compares(tmp_path, cfg, monkeypatch):
    monitored_run(tmp_path, "lp", "byol", "linear")
    monitored_run(tmp_path, "rand", "random", "mlp", seed=1)
    rows = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    plain_rows, varying = split(rows)
    figures = captured(monkeypatch)
    training_figures(plain_rows, varying, rows, tmp_path, cfg.figures)
    knn, probe = figures["accuracy"].axes
    (line,) = [line for line in knn.get_lines() if line.get_linestyle() == ":"]
    assert line.get_ydata()[0] == pytest.approx(0.61)  # the random encoder's kNN accuracy (seed 1)
    rank_h, _ = figures["rank"].axes
    (line,) = [line for line in rank_h.get_lines() if line.get_linestyle() == ":"]
    assert line.get_ydata()[0] == pytest.approx(4.0)  # its rank_backbone
    (step_loss, *_) = figures["first_steps"].axes
    (curve,) = step_loss.get_lines()
    assert max(curve.get_xdata()) < cfg.figures.early_steps and len(curve.get_xdata()) > 40  # the dense window


def test_pairwise_cosines_show_the_scale_the_circle_discards():
    g = torch.Generator().manual_seed(0)
    collapsed = torch.ones(50, 8) + 0.01 * torch.randn(50, 8, generator=g)
    spread = torch.randn(50, 8, generator=g)
    assert pairwise_cosines(collapsed).min() > 0.99 and len(pairwise_cosines(collapsed)) == 50 * 49 // 2
    assert abs(float(pairwise_cosines(spread).mean())) < 0.1
    x = torch.nn.functional.normalize(spread.double(), dim=1)
    assert float(pairwise_cosines(spread)[0]) == pytest.approx(float(x[0] @ x[1]), rel=1e-14)


def test_a_panel_no_row_of_its_group_measures_is_no_empty_frame(tmp_path, cfg, monkeypatch):
    """‖W − I‖ exists for linear predictors only: the BYOL-MLP group's panel says so instead of
    drawing an empty frame with a y-range; the RAFT-LP group's panel has its curve."""
    monitored_run(tmp_path, "mlp", "byol", "mlp")
    monitored_run(tmp_path, "lp", "raft", "linear")
    rows = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    figures = captured(monkeypatch)
    training_figures(*split(rows), rows, tmp_path, cfg.figures)
    byol, raft = figures["first_steps"].axes[:3], figures["first_steps"].axes[3:]
    assert [ax.axison for ax in byol] == [True, True, False] and not byol[2].get_lines()
    assert "not measured" in byol[2].texts[0].get_text()
    assert all(ax.axison and ax.get_lines() for ax in raft)
    # The other way round (the group without W below): the drawn panel above carries the x axis.
    figures.clear()
    monitored_run(tmp_path / "swap", "lp", "byol", "linear")
    monitored_run(tmp_path / "swap", "mlp", "raft", "mlp")
    rows = aggregate(load_runs(tmp_path / "swap"), cfg.collapse, cfg.objective_order)
    training_figures(*split(rows), rows, tmp_path / "swap", cfg.figures)
    byol, raft = figures["first_steps"].axes[:3], figures["first_steps"].axes[3:]
    assert not raft[2].axison and byol[2].get_xlabel() == "step"
    figures["first_steps"].canvas.draw()
    assert any(t.get_text() for t in byol[2].get_xticklabels())


def test_panel_titles_of_long_labels_do_not_run_into_each_other(tmp_path, cfg, monkeypatch):
    """The spectra's and representations' panel titles wrap to the panel's width: drawn, no two
    titles of one figure overlap, however long the labels (a config key in every label)."""
    for i, predictor in enumerate(("mlp", "linear", "none")):
        run = monitored_run(tmp_path, predictor, "byol", predictor, seed=0)
        # wide glyphs: a wrap that counts characters, not their width, lets these run together
        with_config(
            run, optimizer__weight_decay_of_a_long_configuration_key=0.1 * i, optimizer__note="W" * 60 + "ABC"[i]
        )
    rows = aggregate(load_runs(tmp_path), cfg.collapse, cfg.objective_order)
    attach_embeddings(rows, cfg.figures.max_points)
    assert all(len(r.label) > 120 for r in rows)
    figures = captured(monkeypatch)
    monkeypatch.setattr(training, "save", plot.save)
    monkeypatch.setattr(figures_module, "save", plot.save)
    spectra(rows, tmp_path, cfg.figures.spectrum_epochs)
    representations(rows, tmp_path, cfg.figures)
    for name in ("spectra", "representations"):
        fig = figures[name]
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
        assert len(boxes) == 3, name
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]), name
