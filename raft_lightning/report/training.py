"""The figures of what the monitors record (callbacks.monitors): accuracy and effective rank over
training with the random encoder's value as a reference line (the paper's Figure 4c), the first
optimiser steps (claim 3's window) from steps.csv, and the singular-value spectra from spectra.csv.
A figure whose data no run has (runs from before the monitors) is skipped with one line, never drawn
empty."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from omegaconf import DictConfig

from raft_lightning.report.figures import line_groups
from raft_lightning.report.plot import REFERENCE, Run, ordered_colours, panel_title, plot_groups, save, seeds_phrase
from raft_lightning.report.rows import Row, varying_keys
from raft_lightning.report.stats import ACCURACY, RANK, STEPS

SPECTRUM_LAYER = ("online", "projector")  # drawn along training; the backbone's at the end, dashed


def _random(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.setting["objective"] == "random"), None)


def _references(random: Row | None, panels) -> dict[str, float]:
    """The random encoder's summary value for each panel's series (``val/knn_acc`` → ``knn_acc``)."""
    if random is None:
        return {}
    found = {}
    for series, _ in panels:
        key = series.split("/", 1)[1]
        if key in random.stats:
            found[series] = random.stats[key].mean
    return found


def _over_training(name: str, panels, what: str, plain_rows, varying, out_dir: Path, rows) -> tuple[list[Path], str]:
    by_objective, by_predictor = line_groups(plain_rows, varying)
    references = _references(_random(rows), panels)
    written = [
        *plot_groups(
            by_objective, panels, out_dir / name, f"{what} ({seeds_phrase(plain_rows)})", references=references
        ),
        *plot_groups(
            by_predictor,
            panels,
            out_dir / f"{name}_alpha_beta",
            f"{what} over (α, β) ({seeds_phrase(varying)})",
            ordered=True,
            references=references,
        ),
    ]
    return written, ("" if written else f"{name}.png: skipped, no run has {' or '.join(k for k, _ in panels)}")


def _early(limit: int):
    def points(run: Run, key: str) -> list[tuple[float, float]]:
        return [(s["step"], s[key]) for s in run.steps if key in s and s["step"] < limit]

    return points


def _spectrum(runs: list[Run], key: tuple[str, str], epoch: int) -> np.ndarray | None:
    """The mean over seeds of σ_i at ``epoch`` (the seeds that have it, the shortest length)."""
    found = [run.spectra[key][epoch] for run in runs if epoch in run.spectra.get(key, {})]
    if not found:
        return None
    k = min(len(s) for s in found)
    return np.mean([s[:k] for s in found], axis=0)


def spectra(rows: list[Row], out_dir: Path, count: int) -> tuple[list[Path], str]:
    """A panel per row with spectra: the online projector's singular values (log) at the last epoch
    and ``count`` − 1 evenly before it (light = later), the backbone's at the last epoch dashed and
    the random encoder's projector dotted. Dimensional collapse is a spectrum that falls to ~0
    after a few indices; complete collapse, one value."""
    drawn = [
        r for r in rows if r.setting["objective"] != "random" and any(SPECTRUM_LAYER in run.spectra for run in r.runs)
    ]
    if not drawn:
        return [], "spectra.png: skipped, no run has spectra.csv"
    random = _random(rows)
    reference = None
    if random is not None:
        epochs = sorted({e for run in random.runs for e in run.spectra.get(SPECTRUM_LAYER, {})})
        reference = _spectrum(random.runs, SPECTRUM_LAYER, epochs[-1]) if epochs else None
    cols = min(len(drawn), 4)
    rows_n = -(-len(drawn) // cols)
    width, varying = 3.3, varying_keys(drawn)
    fig, axes = plt.subplots(
        rows_n, cols, figsize=(width * cols, 2.8 * rows_n + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(drawn) :]:
        ax.set_visible(False)
    for row, ax in zip(drawn, axes.flat):
        epochs = sorted({e for run in row.runs for e in run.spectra.get(SPECTRUM_LAYER, {})})
        # From the last epoch back: one spectrum is the last epoch's, more reach the first evenly.
        chosen = sorted({epochs[round(i)] for i in np.linspace(len(epochs) - 1, 0, min(count, len(epochs)))})
        colour = ordered_colours(chosen)
        for epoch in chosen:
            values = _spectrum(row.runs, SPECTRUM_LAYER, epoch)
            ax.semilogy(np.arange(1, len(values) + 1), values, color=colour[epoch], lw=1.3, label=f"z, epoch {epoch}")
        backbone = _spectrum(row.runs, ("online", "backbone"), epochs[-1])
        if backbone is not None:
            ax.semilogy(np.arange(1, len(backbone) + 1), backbone, color="black", ls="--", lw=1, label="h, last epoch")
        if reference is not None:
            ax.semilogy(np.arange(1, len(reference) + 1), reference, label="random encoder, z", **REFERENCE)
        seeds = f"{row.seeds} seed" + ("s" if row.seeds > 1 else "")
        ax.set_title(panel_title(row, varying, f"mean over {seeds}", width, 8), fontsize=8)
        ax.set_xlabel("index i", fontsize=8)
        ax.set_ylabel("singular value σ_i", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5, which="both")
        ax.legend(fontsize=6, frameon=False)
    fig.suptitle("Singular values of the held-out batch's representations along training", fontsize=10)
    return save(fig, out_dir / "spectra"), ""


def training_figures(
    plain_rows: list[Row], varying: list[Row], rows: list[Row], out_dir: Path, cfg: DictConfig
) -> tuple[list[Path], list[str]]:
    """Every monitors figure whose data exists; the paths written and one line per skipped figure."""
    written, skipped = [], []
    for name, panels, what in (
        ("accuracy", ACCURACY, "Accuracy over training"),
        ("rank", RANK, "Effective rank (RankMe) over training"),
    ):
        paths, note = _over_training(name, panels, what, plain_rows, varying, out_dir, rows)
        written, skipped = written + paths, skipped + [note] * bool(note)
    by_objective, by_predictor = line_groups(plain_rows, varying)
    limit = cfg.early_steps
    early = [
        *plot_groups(
            by_objective,
            STEPS,
            out_dir / "first_steps",
            f"The first {limit} optimiser steps ({seeds_phrase(plain_rows)})",
            points=_early(limit),
            xlabel="step",
        ),
        *plot_groups(
            by_predictor,
            STEPS,
            out_dir / "first_steps_alpha_beta",
            f"The first {limit} optimiser steps over (α, β) ({seeds_phrase(varying)})",
            ordered=True,
            points=_early(limit),
            xlabel="step",
        ),
    ]
    written += early
    skipped += [] if early else ["first_steps.png: skipped, no run has steps.csv"]
    paths, note = spectra(rows, out_dir, cfg.spectrum_epochs)
    return written + paths, skipped + [note] * bool(note)
