"""The report's tables: table1/table3 as markdown (a header line with the settings every row
shares, columns for the ones that vary, mean ± 95 % interval over seeds, collapsed and
below-random cells in bold, the paper's figure, the collapse verdict and what it read, notes) and
csv (every measure's mean, std, interval, n and per-seed values; every setting key a column), and
the notes under them: which runs are not averaged in, which rows have no embeddings for the figures."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from raft_lightning.files import write_atomically
from raft_lightning.report.rows import METRICS, SETTING_KEYS, SOURCES, Row, Run, show, varying_keys
from raft_lightning.report.stats import EPOCH_SERIES, STEP_SERIES, Stat

TITLES = {"predictor": "q_w", "alpha": "α", "beta": "β", "tau": "τ", "max_epochs": "epochs"}  # others: the key
# The paper highlights accuracies below the random baseline.
COMPARED_TO_RANDOM = ("knn_acc", "linear_acc", "linear_acc_literal")
SOURCE_NAMES = {"uniform_projector": "held-out", "embeddings": "test set", "uniform": "training"}  # in the cells
METRIC = {key: (title, percent) for key, title, percent in METRICS}
TAN_MARK = "‡"
TAN_NOTE = (
    f"{TAN_MARK} TanBYOL-LP (objective byol, linear predictor, tangential = yes): by the project's own theory "
    "check (docs/theory.md, §3, the paper's Section 5 tangential-gradient condition), tangential = True changes "
    "the gradients only by round-off when the outputs are l2-normalised, so TanBYOL-LP trains as BYOL-LP; "
    "differences between the two rows are seed and round-off noise, not an effect of the condition."
)


def md(text: Any) -> str:
    """Text from a run's files inside a markdown table cell or line: one line, no cell break."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def is_tan_byol_lp(row: Row) -> bool:
    s = row.setting
    return (s["objective"], s["predictor"], s["tangential"]) == ("byol", "linear", True)


def paper_figure(row: Row, paper: DictConfig) -> tuple[str, str]:
    """The paper's CIFAR-10 linear accuracy for the row and its footnote mark (conf/report.yaml),
    ("", "") unless the row is at α = β = 1 and all its runs are on CIFAR-10."""
    objective, predictor, alpha, beta, tangential = row.key[:5]
    if (alpha, beta) != (1.0, 1.0) or any(r.summary.get("data") != "cifar10" for r in row.runs):
        return "", ""
    for entry in paper.linear_acc:
        if (entry.objective, entry.predictor, entry.tangential) == (objective, predictor, tangential):
            return entry.value, entry.get("mark", "")
    return "", ""


def window_text(rows: Sequence[Row]) -> str:
    """ "last 10 epochs", as the rows' runs recorded it ("last 5 or 10 epochs" where they differ)."""
    windows = {run.last_epochs for row in rows for run in row.runs}
    known = sorted(w for w in windows if w is not None)
    text = f"last {' or '.join(map(str, known))} epochs" if known else "last epochs"
    return text + (" (a window some runs did not record)" if None in windows else "")


def fmt(stat: Stat | None, percent: bool, seeds: int | None = None) -> str:
    """``mean ± ci95`` (the interval's half-width), ``(n = k)`` when fewer than the row's seeds have it."""
    if stat is None:
        return "—"
    scale, digits = (100, 2) if percent else (1, 3)
    text = f"{stat.mean * scale:.{digits}f}" + (f" ± {stat.ci95 * scale:.{digits}f}" if stat.ci95 is not None else "")
    return text + (f" (n = {stat.n})" if seeds is not None and stat.n < seeds else "")


def verdict(row: Row) -> str:
    """The collapse cell: yes/no, the L_uniform it read and where, or — when nothing was measured."""
    if row.collapsed is None:
        return "— (not measured)"
    word = "**yes**" if row.collapsed else "no"
    n = f", n = {row.collapse.n}" if row.collapse.n < row.seeds else ""
    return f"{word} ({row.collapse.mean:.3f}, {SOURCE_NAMES[row.collapse_source]}{n})"


def header_line(rows: list[Row]) -> str:
    """The settings every row shares, e.g. "All rows: α = 1, β = 1, tangential = no, data = synthetic";
    keys no summary records are named once at the end."""
    constant = [k for k in SETTING_KEYS if k not in varying_keys(rows)]
    shared = [f"{TITLES.get(k, k)} = {show(rows[0].setting[k])}" for k in constant if rows[0].setting[k] is not None]
    missing = [k for k in constant if rows[0].setting[k] is None]
    return "All rows: " + ", ".join(shared) + (f" (not recorded: {', '.join(missing)})" if missing else "") + "."


def _markdown_row(
    row: Row, columns: list[str], metrics: list[str], random: Row | None, paper: DictConfig | None
) -> str:
    cells = [md(row.label) + (TAN_MARK if is_tan_byol_lp(row) else "")]
    cells += [md(show(row.setting[k])) for k in columns] + [str(row.seeds)]
    for name in metrics:
        cell = fmt(row.stats.get(name), METRIC[name][1], row.seeds)
        over_aligned = row.collapsed and name == row.collapse_source
        below_random = (
            name in COMPARED_TO_RANDOM
            and random is not None
            and row is not random
            and name in row.stats
            and name in random.stats
            and row.stats[name].mean < random.stats[name].mean
        )
        cells.append(f"**{cell}**" if over_aligned or below_random else cell)
    if paper is not None:
        cells.append("".join(paper_figure(row, paper)))
    cells.append(verdict(row))
    return "| " + " | ".join(cells) + " |"


STAT_COLUMNS = ("mean", "std", "ci95", "n", "seeds")


def _stat_cells(stat: Stat | None) -> list[Any]:
    """mean, std, ci95, n, and the per-seed values as ``v1;v2;v3`` (in the runs' path order)."""
    if stat is None:
        return [None, None, None, 0, ""]
    return [stat.mean, stat.std, stat.ci95, stat.n, ";".join(repr(v) for v in stat.values)]


def _csv_row(row: Row, paper: DictConfig) -> list[Any]:
    stats = [v for name, _, _ in METRICS for v in _stat_cells(row.stats.get(name))]
    collapse = [row.collapsed, row.collapse.mean if row.collapse else None, row.collapse_source]
    return [row.label, *row.key, row.seeds, *stats, paper_figure(row, paper)[0], *collapse]


def write_table(rows: list[Row], stem: Path, cfg: DictConfig, notes: list[str]) -> list[Path]:
    """``stem``.md and ``stem``.csv; ``cfg`` is the report's config (collapse rule, paper). The
    markdown has a column for each setting key that varies between ``rows`` (the others are in
    the header line) and the paper's column and footnotes only for rows that have them."""
    rule, paper = cfg.collapse, cfg.paper
    random = next((r for r in rows if r.key[0] == "random"), None)
    columns = varying_keys(rows)
    figures = [paper_figure(row, paper) for row in rows]
    marks = {mark for _, mark in figures if mark}
    with_paper = paper if any(value for value, _ in figures) else None
    metrics = [k for k in cfg.table.columns if any(k in row.stats for row in rows)]  # none measured: no column
    header = ["model", *(TITLES.get(k, k) for k in columns), "seeds", *(METRIC[k][0] for k in metrics)]
    header += ["paper (CIFAR-10, %)"] * (with_paper is not None) + ["collapsed (L_uniform of z, from)"]
    lines = [header_line(rows), "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [_markdown_row(row, columns, metrics, random, with_paper) for row in rows]
    sources = dict.fromkeys(row.collapse_source for row in rows if row.collapse_source)
    lines += [
        "",
        "Mean ± half-width of the 95 % confidence interval of the mean over seeds (Student t, n − 1 degrees of "
        "freedom); one seed shows no ±, (n = k) marks a value fewer seeds have. The standard deviations and every "
        "seed's value are in the csv; `raft-report DIR --compare A B` tests a difference. L_align and L_uniform "
        f"are means over each run's {window_text(rows)} of training batches; the held-out monitors and ranks (h: "
        "backbone, z: projector) are end-of-training values on a fixed held-out batch; accuracies are final-epoch "
        "values (nothing is selected on the test set). Runs that differ in any setting but the seed are "
        "separate rows.",
        f"**Collapsed**: the mean L_uniform of the projections z above {rule.uniform_above} (conf/report.yaml), "
        "read for each row from the first of these every run of the row has (else some runs have, n = k): "
        + "; ".join(f"{SOURCE_NAMES[s]} = {SOURCES[s]}" for s in rule.sources if s in SOURCE_NAMES)
        + ". "
        + (f"Here: {', '.join(SOURCE_NAMES[s] for s in sources)}. " if sources else "No row had any. ")
        + "Bold L_uniform: the value the verdict read, when collapsed. "
        + (
            "Bold kNN or linear accuracy: below the random baseline's mean."
            if random is not None
            else "No accuracy is bold: no random encoder is among these runs to be below."
        ),
        *source_notes(rows, rule),
        *(f"{mark} {text}" for mark, text in paper.footnotes.items() if mark in marks),
        *([TAN_NOTE] if any(is_tan_byol_lp(row) for row in rows) else []),
        *notes,
    ]
    markdown, table = stem.with_suffix(".md"), stem.with_suffix(".csv")
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    stat_columns = [f"{k}_{s}" for k, _, _ in METRICS for s in STAT_COLUMNS]
    header = ["model", *SETTING_KEYS, "seeds", *stat_columns, "paper", "collapsed", "collapse_uniform"]
    writer.writerow([*header, "collapse_source"])
    writer.writerows(_csv_row(row, paper) for row in rows)
    write_atomically(markdown, "\n".join(lines) + "\n")
    write_atomically(table, text.getvalue())
    return [markdown, table]


def source_notes(rows: list[Row], rule: DictConfig) -> list[str]:
    """The rows the verdict calls collapsed from an eval-mode source (the held-out batch, the test
    set) whose training batches say otherwise: BatchNorm's running statistics, which eval mode
    uses, lag the batch statistics early in training, and can put z near one point while the same
    network spreads a batch normalised by its own statistics (docs/instruments.md)."""
    notes = []
    for row in rows:
        training = row.stats.get("uniform")
        if not row.collapsed or row.collapse_source == "uniform" or training is None:
            continue
        if training.n == len(row.runs) and training.mean <= rule.uniform_above:
            notes.append(
                f"- {md(row.label)}: collapsed by the {SOURCE_NAMES[row.collapse_source]} L_uniform "
                f"({row.collapse.mean:.3f}, eval mode: BatchNorm's running statistics) but not by its training "
                f"batches ({training.mean:.3f}, batch statistics): running statistics that lag the batch "
                "statistics (a network barely trained) can put z near one point; the accuracies tell which holds"
            )
    return notes


def status_notes(runs: list[Run], expected: int | None) -> list[str]:
    """How many runs were found (and expected), and each one not averaged in, with its error."""
    notes = []
    counts = defaultdict(int)
    for run in runs:
        counts[run.summary.get("status")] += 1
    found = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    total = f"{len(runs)} run(s) found ({found})"
    if expected is not None:
        total += f"; the sweep has {expected}" + (
            f", {expected - len(runs)} not started yet" if expected > len(runs) else ""
        )
    notes.append(total + ".")
    for run in runs:
        status = run.summary.get("status")
        if status != "ok":
            detail = f": {str(run.summary.get('error')).strip().splitlines()[-1]}" if run.summary.get("error") else ""
            notes.append(f"- not averaged: {md(run.path)} is {md(status)}{md(detail)}")
        elif run.duplicate_of is not None:
            notes.append(
                f"- not averaged: {md(run.path)} has the setting and seed of {md(run.duplicate_of.path)} "
                "(one run per seed: a copy is not a second sample)"
            )
        elif run.problem:
            notes.append(f"- not all of {md(run.path)} could be read: {md(run.problem)}")
    return notes


def embeddings_notes(rows: list[Row]) -> list[str]:
    """The rows none of whose runs has embeddings.pt: no panel in representations.png for them
    (the report reads files only; it never rebuilds a model from a checkpoint); and the rows whose
    files hold too few points for one."""
    missing = [row for row in rows if row.embeddings is None and row.no_panel is None]
    notes = [
        f"- no panel in representations.png for {md(row.label)}: {md(row.no_panel)}" for row in rows if row.no_panel
    ]
    if not missing:
        return notes
    notes += [
        f"No embeddings.pt, so no panel in representations.png, for {len(missing)} row(s); "
        "`raft-linear-eval run_dir=<run>` writes it (with `linear_acc`), as `eval.linear=true` does after training:"
    ]
    notes += [
        f"- {md(row.label)} (α = {show(row.key[2])}, β = {show(row.key[3])}): e.g. {md(row.runs[0].path)}"
        for row in missing
    ]
    return notes


def curve_notes(rows: list[Row]) -> list[str]:
    """One line naming the rows whose figures leave out points because a run's value there is not
    finite (inf or nan, as a run that diverged records), in metrics.csv (the trajectories, accuracy
    and rank figures) or steps.csv (the first steps): the figures draw the rest."""
    lost = {row.label: sum(_not_finite(run) for run in row.runs) for row in rows}
    lost = {label: n for label, n in lost.items() if n}
    if not lost:
        return []
    shown = ", ".join(f"{md(label)} ({n})" for label, n in lost.items())
    return [
        "- figures leave out points whose value is not finite (inf or nan) in a run's metrics.csv or "
        f"steps.csv: {shown}"
    ]


def _not_finite(run: Run) -> int:
    """How many of the values the figures would draw from ``run`` are inf or nan."""
    epochs = sum(1 for e in run.epochs for key in EPOCH_SERIES if key in e and not math.isfinite(e[key]))
    return epochs + sum(1 for s in run.steps for key in STEP_SERIES if key in s and not math.isfinite(s[key]))
