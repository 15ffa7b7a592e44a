"""The report's figures: training trajectories (paper Figures 4, 5) and representations on the
circle (Figure 3), each as PNG and as vector PDF. Matplotlib with the Agg backend: files only."""

from __future__ import annotations

import io
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
from matplotlib.ticker import MaxNLocator  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from raft_lightning.files import write_atomically  # noqa: E402
from raft_lightning.readers import printable  # noqa: E402
from raft_lightning.report.rows import Row, show, varying_keys  # noqa: E402
from raft_lightning.report.stats import CURVES, runs_curve  # noqa: E402

PANELS = tuple(zip(CURVES, ("L_align(q∘f_θ)", "L_uniform(f_θ)")))
DPI = 150
CLASS_NAMES = {  # the label order of the datasets' test sets
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "fashion_mnist": ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"),
}
RING_IN, RING_PEAK = 1.08, 0.42  # the density ring starts at this radius; its widest point is this wide


def _save(fig: plt.Figure, stem: Path) -> list[Path]:
    """PNG and vector PDF, each drawn into memory and written atomically: a failed write (a full
    disk) leaves the previous figure whole."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    try:
        for path, options in zip(paths, ({"dpi": DPI}, {"metadata": {"CreationDate": None}})):  # same runs, same bytes
            buffer = io.BytesIO()
            fig.savefig(buffer, format=path.suffix[1:], bbox_inches="tight", **options)
            write_atomically(path, buffer.getvalue())
    finally:
        plt.close(fig)
    return paths


def plain(text: str) -> str:
    """A label from a run's files, drawn as text: matplotlib would read ``$…$`` as TeX (and fail
    on bad TeX) and a newline as a line break."""
    return printable(" ".join(str(text).split())).replace("$", r"\$")


def _curves(row: Row, key: str) -> tuple[list[int], list[float], list[float]]:
    """Per-epoch mean and sample std over the row's seeds (epochs every seed reached, where every
    seed's value is finite: tables.curve_notes names the rows that lose points)."""
    return runs_curve(row.runs, key)[:3]


def _plot_groups(groups: dict[str, list[tuple[str, object, Row]]], stem: Path, title: str) -> list[Path]:
    """One row of panels (L_align, L_uniform) per group, y shared per column, and the group's legend
    beside it. A line is (label, hue, row): one colour per hue across groups (the predictor in
    Figure 4, (α, β) in Figure 5), so BYOL-LP and BYOL′-LP match; colouring by label ran out of
    tab10's colours with Table 1's 14 rows, and one shared legend then named two rows per colour."""
    groups = {g: lines for g, lines in groups.items() if any(_curves(r, PANELS[0][0])[0] for _, _, r in lines)}
    if not groups:
        return []
    hues = dict.fromkeys(hue for lines in groups.values() for _, hue, _ in lines)
    colour = {hue: plt.get_cmap("tab10")(i % 10) for i, hue in enumerate(hues)}
    size = (10.5, 2.6 * len(groups) + 0.4)
    fig, axes = plt.subplots(
        len(groups), 2, figsize=size, squeeze=False, sharex=True, sharey="col", layout="constrained"
    )
    for (group, lines), ax_row in zip(groups.items(), axes):
        for (key, name), ax in zip(PANELS, ax_row):
            for label, hue, row in lines:
                epochs, mean, std = _curves(row, key)
                if epochs:
                    marker = "o" if len(epochs) < 12 else None
                    ax.plot(epochs, mean, color=colour[hue], lw=1.6, marker=marker, ms=3, label=plain(label))
                    with np.errstate(over="ignore"):  # a band beyond the float range: draw() notes it
                        low, high = np.subtract(mean, std), np.add(mean, std)
                    ax.fill_between(epochs, low, high, color=colour[hue], alpha=0.2, lw=0)
            ax.set_ylabel(name)
            ax.set_title(plain(group), fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3, lw=0.5)
        ax_row[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.suptitle(title, fontsize=11)
    return _save(fig, stem)


def trajectories(plain: list[Row], varying: list[Row], out_dir: Path) -> list[Path]:
    """Figure 4: per objective, one line per predictor (row). Figure 5: per (objective, predictor),
    one line per (α, β). Lines are the mean, shaded bands ± one sample std over seeds."""
    by_objective: dict[str, list[tuple[str, object, Row]]] = defaultdict(list)
    for row in plain:
        s = row.setting
        by_objective[s["objective"]].append((row.label, (s["predictor"], s["tangential"]), row))
    by_predictor: dict[str, list[tuple[str, object, Row]]] = defaultdict(list)
    for row in varying:
        s = row.setting
        by_predictor[row.label].append((f"α = {show(s['alpha'])}, β = {show(s['beta'])}", (s["alpha"], s["beta"]), row))
    band = "(mean ± sample std over seeds)"
    return [
        *_plot_groups(by_objective, out_dir / "trajectories", f"Training trajectories {band}"),
        *_plot_groups(by_predictor, out_dir / "trajectories_alpha_beta", f"Trajectories over (α, β) {band}"),
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


def _title(row: Row, varying: list[str], seed) -> str:
    names = {"alpha": "α", "beta": "β"}
    weights = ", ".join(f"{names[k]} = {show(row.setting[k])}" for k in names if k in varying)
    return f"{plain(row.label)}{f', {weights}' if weights else ''}\nseed {seed}"


def representations(rows: list[Row], out_dir: Path, cfg: DictConfig) -> list[Path]:
    """Figure 3: one polar panel per row with embeddings (tables.embeddings_notes lists the others),
    in table order, titled with the row's label and the seed it shows; one class legend."""
    panels = [(row, row.embeddings) for row in rows if row.embeddings is not None]
    if not panels:
        return []
    varying = varying_keys([row for row, _ in panels])
    cols = min(len(panels), 4)
    rows_n = math.ceil(len(panels) / cols)
    fig = plt.figure(figsize=(2.9 * cols, 3.0 * rows_n + 1.2), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.08)  # room between the title, the panels' titles and the legend
    classes = sorted({int(c) for _, (_, labels) in panels for c in labels})
    for i, (row, (projections, labels)) in enumerate(panels):
        ax = fig.add_subplot(rows_n, cols, i + 1, projection="polar")
        draw_panel(ax, projections, labels, cfg.representation_bins)
        ax.set_title(_title(row, varying, row.embeddings_from.summary.get("seed")), fontsize=9)
    datas = {row.setting["data"] for row, _ in panels}
    names = CLASS_NAMES.get(datas.pop(), ()) if len(datas) == 1 else ()
    cmap = plt.get_cmap("tab10")
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=cmap(c % 10)) for c in classes]
    texts = [names[c] if c < len(names) else f"class {c}" for c in classes]
    handles += [Patch(color="0.35", alpha=0.55), Line2D([], [], color="black", ls="--", lw=0.7)]
    texts += ["ring width ∝ density per angle", "ring edge for a uniform spread"]
    fig.suptitle(
        "Test representations f_θ(x): l2-normalised, PCA to 2-D, on the unit circle",
        fontsize=10,
    )
    fig.legend(handles, texts, loc="outside lower center", ncol=min(len(texts), 6), frameon=False, fontsize=8)
    return _save(fig, out_dir / "representations")


def draw(plain: list[Row], varying: list[Row], rows: list[Row], out_dir: Path, cfg: DictConfig):
    """The figures (drawn before the tables, so that their notes can say what was not drawn) and
    a note line for each that could not be: numbers a run's files may hold but matplotlib cannot
    lay out (finite values near the float maximum overflow its axis limits). The tables hold them."""
    written, notes = [], []
    for name, figure in (
        ("trajectories", lambda: trajectories(plain, varying, out_dir)),
        ("representations", lambda: representations(rows, out_dir, cfg)),
    ):
        try:
            written += figure()
        except (ValueError, OverflowError, FloatingPointError) as e:
            plt.close("all")
            reason = printable(str(e).strip().splitlines()[0] if str(e).strip() else "")
            notes.append(f"- {name}.png was not drawn: its numbers cannot be plotted ({type(e).__name__}: {reason})")
    return written, notes
