"""The report's figures: files written (PNG and vector PDF) and Figure 3's points class-coloured
on the unit circle."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from omegaconf import OmegaConf

from raft_lightning.report.cli import DEFAULT_CONFIG, report
from raft_lightning.report.embeddings import attach_embeddings
from raft_lightning.report.figures import circle_points, draw_panel
from raft_lightning.report.rows import aggregate, load_runs
from tests.test_report import make_run


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
