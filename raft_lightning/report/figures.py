"""The report's figures: training trajectories (paper Figures 4, 5) and representations on the
circle (Figure 3) with the histogram of their cosine similarities, each as PNG and as vector PDF
(report.plot). Matplotlib with the Agg backend: files only. The monitors' figures are in report.training."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from raft_lightning.measures import ALIGN, UNIFORM  # noqa: E402
from raft_lightning.report.plot import Line, panel_title, plot_groups, save, seeds_phrase  # noqa: E402
from raft_lightning.report.rows import Row, show, varying_keys  # noqa: E402

PANELS = ((ALIGN, "L_align(q∘f_θ)"), (UNIFORM, "L_uniform(f_θ)"))
CLASS_NAMES = {  # the label order of the datasets' test sets
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "fashion_mnist": ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"),
}
RING_IN, RING_PEAK = 1.08, 0.42  # the density ring starts at this radius; its widest point is this wide


def line_groups(plain: list[Row], varying: list[Row]) -> tuple[dict[str, list[Line]], dict[str, list[Line]]]:
    """Figure 4's grouping: per objective, a line per predictor (its hue); Figure 5's: per
    (objective, predictor), a line per (α, β) (an ordered hue). The random encoder has no curves
    (it never trains): it is the reference line of the panels that compare against it."""
    by_objective: dict[str, list[Line]] = defaultdict(list)
    for row in plain:
        s = row.setting
        if s["objective"] != "random":
            by_objective[s["objective"]].append((row.label, (s["predictor"], s["tangential"]), row))
    by_predictor: dict[str, list[Line]] = defaultdict(list)
    for row in varying:
        s = row.setting
        by_predictor[row.label].append((f"α = {show(s['alpha'])}, β = {show(s['beta'])}", (s["alpha"], s["beta"]), row))
    return by_objective, by_predictor


def trajectories(plain: list[Row], varying: list[Row], out_dir: Path) -> list[Path]:
    """Figure 4: per objective, one line per predictor (row). Figure 5: per (objective, predictor),
    one line per (α, β), coloured in the order of (α, β). Lines are the mean, shaded bands ± one
    sample std over seeds; the title says how many."""
    by_objective, by_predictor = line_groups(plain, varying)
    return [
        *plot_groups(by_objective, PANELS, out_dir / "trajectories", f"Training trajectories ({seeds_phrase(plain)})"),
        *plot_groups(
            by_predictor,
            PANELS,
            out_dir / "trajectories_alpha_beta",
            f"Trajectories over (α, β) ({seeds_phrase(varying)})",
            ordered=True,
        ),
    ]


def circle_points(projections: torch.Tensor) -> torch.Tensor:
    """Figure 3's view: l2-normalise, PCA to 2-D, back onto the unit circle; (N, 2) unit vectors."""
    x = F.normalize(projections.double(), dim=1)
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    return F.normalize(x @ v[:2].T, dim=1)


def circle_density(projections: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The points of ``circle_points`` as a density per angle bin (centres, density with mean 1:
    1 is what a uniform spread gives)."""
    xy = circle_points(projections)
    angles = torch.atan2(xy[:, 1], xy[:, 0])
    counts = torch.histc(angles, bins=bins, min=-math.pi, max=math.pi)
    centres = -math.pi + (torch.arange(bins) + 0.5) * (2 * math.pi / bins)
    return centres, counts * bins / counts.sum()


def draw_panel(ax: plt.Axes, projections: torch.Tensor, labels: torch.Tensor, bins: int):
    """One Figure 3 panel on a polar ``ax``: the points on the unit circle coloured by class, the
    density ring outside it (width ∝ density, widest at ``RING_PEAK``) and a dashed circle where
    the ring's edge would run for a uniform spread. Returns the scatter (its colours are the classes')."""
    xy = circle_points(projections)
    order = torch.randperm(len(xy), generator=torch.Generator().manual_seed(1))  # no class always drawn on top
    angles = torch.atan2(xy[order, 1], xy[order, 0]).numpy()
    classes = labels[order].numpy()
    colours = plt.get_cmap("tab10")(classes % 10)  # RGBA per point: class c has tab10's colour c
    points = ax.scatter(angles, np.ones_like(angles), color=colours, s=7, alpha=0.7, lw=0)
    theta, density = circle_density(projections, bins)
    peak = max(float(density.max()), 1.0)
    theta, density = torch.cat([theta, theta[:1]]).numpy(), torch.cat([density, density[:1]]).numpy()
    ax.fill_between(theta, RING_IN, RING_IN + RING_PEAK * density / peak, color="0.35", alpha=0.55, lw=0)
    ring = np.linspace(0, 2 * math.pi, 200)
    ax.plot(ring, np.full_like(ring, RING_IN + RING_PEAK / peak), color="black", ls="--", lw=0.7)
    ax.plot(ring, np.ones_like(ring), color="0.6", lw=0.5, zorder=0)
    ax.set_ylim(0, RING_IN + RING_PEAK + 0.05)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.spines["polar"].set_visible(False)
    ax.text(0.5, 0.0, f"peak density {peak:.1f}× uniform", transform=ax.transAxes, ha="center", fontsize=7)
    return points


def pairwise_cosines(projections: torch.Tensor) -> torch.Tensor:
    """The cosine similarity of every pair i < j of projections (N(N−1)/2,): what the circle's
    renormalised PCA discards. All near 1: collapsed into one direction; spread around 0: spread out."""
    x = F.normalize(projections.double(), dim=1)
    rows, cols = torch.triu_indices(len(x), len(x), offset=1)
    return (x @ x.T)[rows, cols]


def draw_cosines(ax: plt.Axes, projections: torch.Tensor, bins: int) -> None:
    cosines = pairwise_cosines(projections).numpy()
    ax.hist(cosines, bins=bins, range=(-1, 1), density=True, color="0.35", alpha=0.8, lw=0)
    ax.axvline(float(cosines.mean()), color="black", lw=0.8, ls="--")
    ax.set_xlim(-1, 1)
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.set_yticks([])
    ax.set_xlabel("cos(z_i, z_j)", fontsize=7, labelpad=1)
    ax.tick_params(labelsize=7)
    ax.text(0.02, 0.95, f"mean {cosines.mean():.2f}", transform=ax.transAxes, va="top", fontsize=7)


def representations(rows: list[Row], out_dir: Path, cfg: DictConfig) -> list[Path]:
    """Figure 3: one polar panel per row with embeddings (tables.embeddings_notes lists the others),
    in table order, titled with the row's label and the seed it shows, and under it the histogram
    of pairwise cosine similarities of the same projections, which keeps the scale the circle
    discards (a collapsed row looks spread on the circle, and a spike at 1 here); one class legend."""
    panels = [(row, row.embeddings) for row in rows if row.embeddings is not None]
    if not panels:
        return []
    varying = varying_keys([row for row, _ in panels])
    cols = min(len(panels), 4)
    rows_n = math.ceil(len(panels) / cols)
    width = 2.9
    fig = plt.figure(figsize=(width * cols, 4.0 * rows_n + 1.2), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.08)  # room between the title, the panels' titles and the legend
    grid = fig.add_gridspec(2 * rows_n, cols, height_ratios=[3, 1] * rows_n)
    classes = sorted({int(c) for _, (_, labels) in panels for c in labels})
    for i, (row, (projections, labels)) in enumerate(panels):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[2 * r, c], projection="polar")
        draw_panel(ax, projections, labels, cfg.representation_bins)
        seed = row.embeddings_from.summary.get("seed")
        ax.set_title(panel_title(row, varying, f"seed {seed}", width, 9), fontsize=9)
        draw_cosines(fig.add_subplot(grid[2 * r + 1, c]), projections, cfg.cosine_bins)
    datas = {row.setting["data"] for row, _ in panels}
    names = CLASS_NAMES.get(datas.pop(), ()) if len(datas) == 1 else ()
    cmap = plt.get_cmap("tab10")
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=cmap(c % 10)) for c in classes]
    texts = [names[c] if c < len(names) else f"class {c}" for c in classes]
    handles += [Patch(color="0.35", alpha=0.55), Line2D([], [], color="black", ls="--", lw=0.7)]
    texts += ["ring width ∝ density per angle", "ring edge for a uniform spread"]
    fig.suptitle(
        "Test representations f_θ(x): l2-normalised, PCA to 2-D, on the unit circle (one seed each);\n"
        "below, the pairwise cosine similarities of the same projections (dashed: their mean)",
        fontsize=10,
    )
    fig.legend(handles, texts, loc="outside lower center", ncol=min(len(texts), 6), frameon=False, fontsize=8)
    return save(fig, out_dir / "representations")
