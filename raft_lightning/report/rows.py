"""The report's data: runs read from their folders (files only, through ``raft_lightning.readers``)
and grouped into rows, one per identity (``raft_lightning.identity``: the recorded config but the
seed and the keys that cannot change a number), with mean, sample std and 95 % interval over seeds
(``stats``), and each row's collapse verdict from one measurement named in conf/report.yaml. A run
whose config.yaml is missing or damaged is grouped by its summary.json's settings (``SETTING_KEYS``)
instead, and the notes say so. Nothing here formats or draws."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from raft_lightning.files import CONFIG_FILE, METRICS_FILE, SUMMARY_FILE
from raft_lightning.identity import flatten, identity
from raft_lightning.losses import uniformity_loss
from raft_lightning.measures import MEASURES
from raft_lightning.readers import (
    DamagedFile,
    read_config,
    read_embeddings,
    read_epochs,
    read_spectra,
    read_steps,
    read_summary,
    unlike_its_config,
    unlike_its_epochs,
)
from raft_lightning.readers.curves import Spectra
from raft_lightning.report.labels import (  # noqa: F401 (re-exported: the tables and figures name them here)
    BASELINES,
    LABELLED,
    NAMED_BY,
    SETTING_KEYS,
    differing_config_keys,
    labels,
    show,
    varying_keys,
)
from raft_lightning.report.stats import Stat, describe

METRICS = tuple((m.key, m.title, m.percent) for m in MEASURES)  # (summary key, column title, in percent)
# Where a row's collapse verdict can be read from (conf/report.yaml `collapse.sources` orders them):
EMBEDDINGS_SOURCE = "embeddings"  # computed here: L_uniform of the test projections in embeddings.pt
SOURCES = {
    "uniform_projector": "L_uniform of z on the held-out batch (monitors)",
    EMBEDDINGS_SOURCE: "L_uniform of z on the test set (embeddings.pt)",
    "uniform": "L_uniform of z on training batches (last-epochs mean)",
}
FLOATS, INTS, BOOLS = ("alpha", "beta", "tau", "lr"), ("max_epochs", "image_size", "batch_size"), ("tangential",)


def _value(name: str, value: Any) -> Any:
    """A summary's value as a hashable, comparable setting value (None when missing)."""
    if value is None:
        return None
    if name in FLOATS:
        return float(value)
    if name in INTS:
        return int(value)
    if name in BOOLS or isinstance(value, bool):
        return bool(value)
    return value if isinstance(value, (str, int, float)) else json.dumps(value, sort_keys=True)


@dataclass
class Run:
    path: Path
    summary: dict[str, Any]
    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)  # steps.csv (monitors)
    spectra: Spectra = field(default_factory=dict)  # spectra.csv (monitors)
    problem: str | None = None  # a file of the run that could not be read
    identity: dict[str, Any] | None = None  # raft_lightning.identity of its config.yaml; None: unreadable
    duplicate_of: Run | None = None  # an earlier run (path order) of the same setting and seed: not averaged

    @property
    def setting(self) -> dict[str, Any]:
        s = self.summary
        setting = {name: _value(name, s.get(name)) for name in SETTING_KEYS}
        if s.get("objective") in BASELINES:
            setting["predictor"] = "—"
        return setting

    @property
    def last_epochs(self) -> int | None:
        """The window of the run's ``window`` measures: summary.json's ``last_epochs``, or its
        config's ``record.last_epochs`` (records older than the field), or None: not recorded."""
        value = self.summary.get("last_epochs")
        if value is None and self.identity is not None:
            value = self.identity.get("record.last_epochs")
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def key(self) -> tuple:
        """The setting's values in ``SETTING_KEYS`` order (objective, predictor, α, β, tangential first)."""
        return tuple(self.setting.values())

    @property
    def group(self) -> tuple:
        """What runs are averaged by: the config's identity, or (without a readable config.yaml)
        the summary's settings."""
        if self.identity is not None:
            return ("config", *self.identity.items())
        return ("summary", *self.setting.items())


@dataclass
class Row:
    key: tuple
    runs: list[Run]
    label: str
    stats: dict[str, Stat]
    collapsed: bool | None = None  # None: no source of the rule was measured on every run
    collapse: Stat | None = None  # the L_uniform the verdict reads, over the row's runs
    collapse_source: str | None = None  # its key in SOURCES
    embeddings: tuple[Any, Any] | None = None  # Figure 3's (projections, labels): attach_embeddings
    embeddings_from: Run | None = None  # the run they are from
    no_panel: str | None = None  # why its runs' embeddings.pt give no Figure 3 panel (too few points)

    @property
    def setting(self) -> dict[str, Any]:
        return dict(zip(SETTING_KEYS, self.key))

    @property
    def seeds(self) -> int:
        return len({r.summary.get("seed") for r in self.runs})


def load_runs(sweep_dir: Path) -> list[Run]:
    """Every run folder (one with a summary.json) under ``sweep_dir``, in path order. A run whose
    summary.json cannot be read is kept as ``unreadable`` (listed, never averaged); one whose
    metrics.csv cannot be read keeps its summary's numbers and loses only its curves."""
    return [load_run(p.parent) for p in sorted(sweep_dir.rglob(SUMMARY_FILE))]


def load_run(path: Path) -> Run:
    """A run folder as the report uses it: a damaged summary.json makes the run ``unreadable``
    (listed, never averaged); a damaged metrics.csv, steps.csv or spectra.csv costs only the
    curves it holds; a missing or damaged config.yaml makes it grouped by its summary's settings
    (and listed)."""
    try:
        summary = read_summary(path)
    except DamagedFile as e:
        return Run(path, {"status": "unreadable", "error": str(e)}, problem=str(e))
    run = Run(path, summary)
    problems, unread = [], set()
    for name, read in (("epochs", read_epochs), ("steps", read_steps), ("spectra", read_spectra)):
        try:
            setattr(run, name, read(path))
        except DamagedFile as e:
            problems.append(str(e))
            unread.add(name)
    try:
        config = read_config(path, portable_form=True)
        run.identity = identity(config)
        if unlike := unlike_its_config(summary, flatten(config)):
            # The tables group by config.yaml and print summary.json's settings: one was edited.
            problems.append(f"{SUMMARY_FILE} is not what {CONFIG_FILE} says: {', '.join(unlike)}")
    except (FileNotFoundError, DamagedFile) as e:
        reason = f"{CONFIG_FILE} missing" if isinstance(e, FileNotFoundError) else str(e)
        problems.append(f"{reason}: grouped by {SUMMARY_FILE}'s settings ({', '.join(SETTING_KEYS)}) alone")
    # None: no metrics.csv, or a damaged one (named above): nothing to hold the record to.
    rows = run.epochs if (path / METRICS_FILE).exists() and "epochs" not in unread else None
    if unlike := unlike_its_epochs(summary, rows, run.last_epochs):
        # One of the two was changed after the run (its writer computes both from the same rows):
        # the tables read summary.json, the figures metrics.csv, so they would not show one run.
        problems.append(f"{SUMMARY_FILE} is not what {METRICS_FILE} gives: {', '.join(unlike)}")
    run.problem = "; ".join(problems) or None
    return run


def embeddings_uniformity(run: Run, max_points: int) -> float | None:
    """L_uniform (t = 2, Definition 2.2) of the run's test projections, at most ``max_points`` of
    them (a fixed random subset); None without a readable embeddings.pt (damage is the run's problem)."""
    try:
        saved = read_embeddings(run.path)
    except DamagedFile as e:
        run.problem = run.problem or str(e)
        return None
    if saved is None:
        return None
    projections = saved[0].double()
    if len(projections) < 2:  # L_uniform is over pairs: one point measures nothing
        return None
    if len(projections) > max_points:
        projections = projections[torch.randperm(len(projections), generator=torch.Generator().manual_seed(0))]
        projections = projections[:max_points]
    return float(uniformity_loss(projections))


def judge_collapse(row: Row, collapse: DictConfig) -> None:
    """The verdict from the first source in ``collapse.sources`` measured on every run of the row,
    else on some of them (e.g. one seed's embeddings.pt): collapsed when its mean L_uniform is
    above ``collapse.uniform_above``."""
    measured = {}
    for source in collapse.sources:
        if source == EMBEDDINGS_SOURCE:
            values = [embeddings_uniformity(run, collapse.embeddings_points) for run in row.runs]
        else:
            values = [run.summary.get(source) for run in row.runs]
        measured[source] = [v for v in values if v is not None]
        if len(measured[source]) == len(row.runs):
            break
    complete = [s for s, values in measured.items() if values and len(values) == len(row.runs)]
    partial = [s for s, values in measured.items() if values]
    if complete or partial:
        source = (complete or partial)[0]
        row.collapse, row.collapse_source = describe(measured[source]), source
        row.collapsed = row.collapse.mean > collapse.uniform_above


def aggregate(runs: list[Run], collapse: DictConfig, order: Sequence[str]) -> list[Row]:
    """The runs whose status is ok, one row per setting; judged by the ``collapse`` rule
    (conf/report.yaml, ``judge_collapse``); sorted by objective in ``order`` (others after it, by name), then
    predictor, tangential, α, β and the other keys. Labels name the keys (other than α, β, which
    the tables and figures show) whose value varies between rows."""
    groups: dict[tuple, list[Run]] = defaultdict(list)
    first_of: dict[tuple, Run] = {}
    for run in runs:
        if run.summary.get("status") == "ok":
            # One run per seed: a copied folder, or the same run made twice, is not a second sample.
            first = first_of.setdefault((run.group, repr(run.summary.get("seed"))), run)
            if first is run:
                groups[run.group].append(run)
            else:
                run.duplicate_of = first
    rows = []
    for members in groups.values():
        key = members[0].key
        stats = {}
        for name, _, _ in METRICS:
            values = [r.summary[name] for r in members if r.summary.get(name) is not None]
            if values:
                stats[name] = describe(values)
        row = Row(key, members, "", stats)
        judge_collapse(row, collapse)
        rows.append(row)
    for row, label in zip(rows, labels(rows)):
        row.label = label
    rank = {objective: i for i, objective in enumerate(order)}

    def sort_key(r: Row) -> tuple:
        s = r.setting
        rest = tuple((s[k] is not None, str(s[k])) for k in SETTING_KEYS[5:])
        head = (rank.get(s["objective"], len(rank)), *(ordered(s[k]) for k in LABELLED), *map(ordered, r.key[2:4]))
        return (*head, rest, r.label, str(r.runs[0].group))  # the last two: rows that differ in config only

    return sorted(rows, key=sort_key)


def ordered(value: Any) -> tuple:
    """A setting value as a sort key that compares with any other: a summary may hold null for
    any setting (one an older version did not record), so None sorts first, then numbers
    (booleans among them; NaN after them), then text."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (int, float)):
        return (2, 0.0, "") if math.isnan(value) else (1, float(value), "")
    return (3, 0.0, str(value))


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Table 1's rows (α = β = 1, and the baselines) and Table 3's (every row of an objective run
    at more than one (α, β), and every row away from α = β = 1: a sweep at one other weight is
    still reported, with its α and β)."""
    plain = [r for r in rows if r.key[2:4] == (1.0, 1.0) or r.key[0] in BASELINES]
    settings = defaultdict(set)  # objective → the (α, β) it was run at
    for r in rows:
        settings[r.key[0]].add(r.key[2:4])
    varying = [
        r for r in rows if r.key[0] not in BASELINES and (len(settings[r.key[0]]) > 1 or r.key[2:4] != (1.0, 1.0))
    ]
    return plain, varying


def row_names(rows: Sequence[Row]) -> list[str]:
    """Each row's name for ``--compare``: its label, with α and β added where rows share a label
    (Table 3's rows differ only in them)."""
    counts = defaultdict(int)
    for row in rows:
        counts[row.label] += 1
    return [
        row.label if counts[row.label] == 1 else f"{row.label} [α={show(row.key[2])}, β={show(row.key[3])}]"
        for row in rows
    ]
