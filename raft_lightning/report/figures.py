"""The report's figures: training trajectories (paper Figures 4, 5) and representations on the
circle (Figure 3). Matplotlib with the Agg backend: files only, no display needed."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from raft_lightning.report.rows import Row, mean_std  # noqa: E402

PANELS = (("train/align", "L_align(q∘f_θ)"), ("train/uniform", "L_uniform(f_θ)"))


def _curves(row: Row, key: str) -> tuple[list[int], list[float], list[float]]:
    """Per-epoch mean and sample std over the row's seeds (epochs every seed reached)."""
    series = [[e[key] for e in run.epochs if key in e] for run in row.runs]
    series = [s for s in series if s]
    if not series:
        return [], [], []
    n = min(len(s) for s in series)
    stats = [mean_std([s[i] for s in series]) for i in range(n)]
    return list(range(1, n + 1)), [mean for mean, _, _ in stats], [std or 0.0 for _, std, _ in stats]


def _plot_groups(groups: dict[str, list[tuple[str, Row]]], path: Path, title: str) -> Path | None:
    groups = {g: lines for g, lines in groups.items() if any(_curves(r, PANELS[0][0])[0] for _, r in lines)}
    if not groups:
        return None
    fig, axes = plt.subplots(len(groups), 2, figsize=(10, 3 * len(groups)), squeeze=False)
    for (group, lines), ax_row in zip(groups.items(), axes):
        for (key, name), ax in zip(PANELS, ax_row):
            for label, row in lines:
                epochs, mean, std = _curves(row, key)
                if epochs:
                    ax.plot(epochs, mean, label=label)
                    ax.fill_between(
                        epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2
                    )
            ax.set_title(f"{group}: {name}")
            ax.set_xlabel("epoch")
        ax_row[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def trajectories(plain: list[Row], varying: list[Row], out_dir: Path) -> list[Path]:
    """Figure 4: per objective, one line per predictor. Figure 5: per (objective, predictor), one
    line per (α, β). Shaded bands are ± one sample std over seeds."""
    by_objective: dict[str, list[tuple[str, Row]]] = defaultdict(list)
    for row in plain:
        by_objective[row.key[0]].append((row.label, row))
    by_predictor: dict[str, list[tuple[str, Row]]] = defaultdict(list)
    for row in varying:
        by_predictor[f"{row.key[0]}, q_w={row.key[1]}"].append((f"α={row.key[2]:g}, β={row.key[3]:g}", row))
    written = [
        _plot_groups(by_objective, out_dir / "trajectories.png", "Training trajectories (mean ± std over seeds)"),
        _plot_groups(by_predictor, out_dir / "trajectories_alpha_beta.png", "Trajectories over (α, β)"),
    ]
    return [p for p in written if p is not None]


def _embeddings(row: Row, max_points: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Test projections f_θ(x) and labels of the row's first run with an embeddings.pt (saved by
    the linear evaluation); None when no run of the row has one: the report reads files only."""
    path = row.embeddings
    if path is None:
        return None
    saved = torch.load(path, weights_only=True)
    return saved["projections"][:max_points], saved["labels"][:max_points]


def circle_density(projections: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 3's view: l2-normalise, PCA to 2-D, back onto the unit circle; density per angle
    (mean 1 over the bins)."""
    x = F.normalize(projections.double(), dim=1)
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    xy = x @ v[:2].T  # (N, 2)
    angles = torch.atan2(xy[:, 1], xy[:, 0])
    counts = torch.histc(angles, bins=bins, min=-math.pi, max=math.pi)
    centres = -math.pi + (torch.arange(bins) + 0.5) * (2 * math.pi / bins)
    return centres, counts * bins / counts.sum()


def representations(rows: list[Row], out_dir: Path, cfg: DictConfig) -> list[Path]:
    """Figure 3: one polar panel per row with embeddings (tables.embeddings_notes lists the others)."""
    panels = [(row.label, e) for row in rows if (e := _embeddings(row, cfg.max_points)) is not None]
    if not panels:
        return []
    cols = min(len(panels), 4)
    rows_n = math.ceil(len(panels) / cols)
    fig = plt.figure(figsize=(3.2 * cols, 3.4 * rows_n))
    for i, (label, (projections, _)) in enumerate(panels):
        ax = fig.add_subplot(rows_n, cols, i + 1, projection="polar")
        theta, density = circle_density(projections, cfg.representation_bins)
        theta = torch.cat([theta, theta[:1]])
        density = torch.cat([density, density[:1]])
        width = 0.35 * density / max(float(density.max()), 1e-9)
        ax.fill_between(theta.numpy(), 1.0, (1.0 + width).numpy(), alpha=0.6)
        ax.plot(theta.numpy(), [1.0] * len(theta), color="black", lw=0.5)
        ax.set_ylim(0, 1.4)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_title(label, fontsize=9)
    fig.suptitle("Test representations f_θ(x): PCA to 2-D, on the circle; ring width = density")
    fig.tight_layout()
    path = out_dir / "representations.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
