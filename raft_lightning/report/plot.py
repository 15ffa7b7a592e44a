"""What the report's figures share: saving (PNG + vector PDF, same data → same bytes), text from
run files made safe to draw, colours (ordered parameters on an ordered scale), titles that say how
many seeds, and the panel grid of curves over training with reference lines."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from raft_lightning.files import write_atomically  # noqa: E402
from raft_lightning.readers import printable  # noqa: E402
from raft_lightning.report.rows import Row, Run, ordered, show  # noqa: E402
from raft_lightning.report.stats import mean_std  # noqa: E402

DPI = 150
ORDERED = "viridis"  # ordered values (β, τ, epochs): dark → light in the order of the value
ORDERED_SPAN = 0.9  # viridis's last tenth is a yellow that vanishes on white
REFERENCE = {"color": "0.35", "ls": ":", "lw": 1.2}  # the random encoder's line

Panel = tuple[str, str]  # (series key, axis title)
Line = tuple[str, object, Row]  # (legend label, hue, row)


def save(fig: plt.Figure, stem: Path) -> list[Path]:
    """PNG and vector PDF, each drawn into memory and written atomically: a failed write (a full
    disk) leaves the previous figure whole. No creation date: the same runs give the same bytes."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    try:
        for path, options in zip(paths, ({"dpi": DPI}, {"metadata": {"CreationDate": None}})):
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


def panel_title(row: Row, varying: Sequence[str], last_line: str, width_in: float, fontsize: float) -> str:
    """A panel's title: the row's label with α and β where they differ between the panels, wrapped
    to the panel's width (a long label would run into the next panel's title), then ``last_line``."""
    names = {"alpha": "α", "beta": "β"}
    weights = ", ".join(f"{names[k]} = {show(row.setting[k])}" for k in names if k in varying)
    return wrap(plain(row.label) + (f", {weights}" if weights else ""), width_in, fontsize) + "\n" + last_line


def wrap(text: str, width_in: float, fontsize: float) -> str:
    """``text`` in lines no wider than ``width_in`` inches at ``fontsize``, each line measured as it
    grows, in the font the figures use (a W is three times an i: counting characters would not
    do): broken after a space or a comma where one is near, else inside a word."""
    prop = FontProperties(size=fontsize)
    limit, lines, line = 0.92 * width_in * 72, [], ""  # points, a margin for the glyphs' side bearings
    for char in text:
        candidate = line + char
        if line and _TEXT_PATH.get_text_width_height_descent(candidate, prop, ismath=False)[0] > limit:
            cut = max(line.rfind(" "), line.rfind(","))
            if cut > len(line) // 2:  # a word boundary in the line's second half: break there
                lines.append(line[: cut + 1].rstrip())
                line = line[cut + 1 :].lstrip() + char
            else:
                lines.append(line)
                line = char
        else:
            line = candidate
    return "\n".join([*lines, line])


_TEXT_PATH = TextToPath()


def seeds_phrase(rows: Sequence[Row], what: str = "mean ± sample std") -> str:
    """ "1 seed", "mean ± sample std over 3 seeds", or "… over 1–3 seeds (n per line)"."""
    counts = sorted({row.seeds for row in rows})
    if not counts:
        return "no runs"
    if counts == [1]:
        return "1 seed"
    if len(counts) == 1:
        return f"{what} over {counts[0]} seeds"
    return f"{what} over {counts[0]}–{counts[-1]} seeds (n per line)"


def ordered_colours(values: Sequence) -> dict:
    """One colour per distinct value, along viridis in sorted order (rank, not magnitude: β = 0.01
    and 0.1 are as far apart as 1 and 10)."""
    distinct = sorted(set(values), key=sort_key)
    cmap = plt.get_cmap(ORDERED)
    span = max(len(distinct) - 1, 1)
    return {v: cmap(ORDERED_SPAN * i / span) for i, v in enumerate(distinct)}


def sort_key(value: Any) -> Any:
    """Values (or tuples of them, as (α, β)) in an order total over what a summary may hold: a
    setting an older version did not record is None, first."""
    if isinstance(value, tuple):
        return tuple(sort_key(v) for v in value)
    return ordered(value)


def colours(hues: Sequence, ordered: bool) -> dict:
    if ordered:
        return ordered_colours(hues)
    return {hue: plt.get_cmap("tab10")(i % 10) for i, hue in enumerate(dict.fromkeys(hues))}


def epochs_of(run: Run, key: str) -> list[tuple[float, float]]:
    """(epoch number from 1, value) of metrics.csv's rows that have ``key``: the row's own epoch
    (a series measured every few epochs, kNN, starts late), its position in files without one."""
    return [(e.get("epoch", i + 1), e[key]) for i, e in enumerate(run.epochs) if key in e]


def curves(
    row: Row, key: str, points: Callable[[Run, str], list[tuple[float, float]]] = epochs_of
) -> tuple[list[float], list[float], list[float]]:
    """x, the mean and the sample std over the row's seeds, at the x every seed with the series has."""
    series = [dict(points(run, key)) for run in row.runs]
    series = [s for s in series if s]
    if not series:
        return [], [], []
    xs = sorted(set.intersection(*(set(s) for s in series)))
    # A point where a seed's value is not finite (a run that diverged) is no number to draw:
    # left out (tables.curve_notes names the rows that lose points).
    xs = [x for x in xs if all(math.isfinite(s[x]) for s in series)]
    stats = [mean_std([s[x] for s in series]) for x in xs]
    return xs, [m for m, _, _ in stats], [std or 0.0 for _, std, _ in stats]


def plot_groups(
    groups: dict[str, list[Line]],
    panels: Sequence[Panel],
    stem: Path,
    title: str,
    *,
    ordered: bool = False,
    references: dict[str, float] | None = None,
    points: Callable[[Run, str], list[tuple[float, float]]] = epochs_of,
    xlabel: str = "epoch",
) -> list[Path]:
    """One row of panels per group, y shared per column, the group's legend beside it; a line per
    (label, hue, row), one colour per hue across groups (ordered hues on ``ORDERED``), mean and a
    ± std band; ``references`` draws a dotted line at the random encoder's value on a panel's key.
    Panels no row has data for are left out; nothing at all: no figure ([])."""
    panels = [p for p in panels if any(curves(r, p[0], points)[0] for lines in groups.values() for *_, r in lines)]
    groups = {g: ls for g, ls in groups.items() if any(curves(r, k, points)[0] for *_, r in ls for k, _ in panels)}
    if not groups or not panels:
        return []
    rows = [r for lines in groups.values() for *_, r in lines]
    counts = {r.seeds for r in rows}
    colour = colours([hue for lines in groups.values() for _, hue, _ in lines], ordered)
    size = (5.25 * len(panels), 2.6 * len(groups) + 0.4)
    fig, axes = plt.subplots(
        len(groups), len(panels), figsize=size, squeeze=False, sharex=True, sharey="col", layout="constrained"
    )
    for (group, lines), ax_row in zip(groups.items(), axes):
        for (key, name), ax in zip(panels, ax_row):
            drawn = False
            for label, hue, row in lines:
                xs, mean, std = curves(row, key, points)
                if xs:
                    drawn = True
                    n = f" (n = {row.seeds})" if len(counts) > 1 else ""
                    marker = "o" if len(xs) < 12 else None
                    ax.plot(xs, mean, color=colour[hue], lw=1.6, marker=marker, ms=3, label=plain(label) + n)
                    ax.fill_between(xs, np.subtract(mean, std), np.add(mean, std), color=colour[hue], alpha=0.2, lw=0)
            if not drawn:  # e.g. ‖W − I‖ for a group without a linear predictor: no empty frame
                ax.set_axis_off()
                ax.text(
                    0.5,
                    0.5,
                    f"{name}:\nnot measured for these rows",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="0.4",
                )
                continue
            if references and key in references:
                ax.axhline(references[key], label="random encoder", **REFERENCE)
            ax.set_ylabel(name)
            ax.set_title(plain(group), fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3, lw=0.5)
        handles, labels = ax_row[-1].get_legend_handles_labels()
        for ax in ax_row[:-1]:  # a reference line drawn only on another panel still needs its entry
            for handle, label in zip(*ax.get_legend_handles_labels()):
                if label not in labels:
                    handles, labels = [*handles, handle], [*labels, label]
        ax_row[-1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    for column in axes.T:  # the lowest drawn panel of each column carries its x axis
        drawn = [ax for ax in column if ax.axison]
        if drawn:
            drawn[-1].set_xlabel(xlabel)
            drawn[-1].tick_params(labelbottom=True)
    fig.suptitle(title, fontsize=11)
    return save(fig, stem)
