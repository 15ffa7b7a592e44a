"""The report's data: runs read from their folders (files only, through ``raft_lightning.readers``)
and grouped into rows, one per identity (``raft_lightning.identity``: the recorded config but the
seed and the keys that cannot change a number), with mean ± sample std over seeds. A run whose
config.yaml is missing or damaged is grouped by its summary.json's settings (``SETTING_KEYS``)
instead, and the notes say so. Nothing here formats or draws."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from raft_lightning.files import CONFIG_FILE, SUMMARY_FILE
from raft_lightning.identity import run_identity
from raft_lightning.measures import MEASURES
from raft_lightning.readers import DamagedFile, read_epochs, read_summary
from raft_lightning.report.stats import Stat, mean_std

BASELINES = ("random", "supervised")  # objectives for which the predictor means nothing
METRICS = tuple((m.key, m.title, m.percent) for m in MEASURES)  # (summary key, column title, in percent)
# The settings summary.json names (raft_lightning.summary), in the tables' column order: the first
# five name the paper's rows (the label shows objective, predictor, tangential). They describe a
# row; its runs share them because they share an identity. Summaries older than a key read it as None.
SETTING_KEYS = (
    "objective",
    "predictor",
    "alpha",
    "beta",
    "tangential",
    "data",
    "backbone",
    "max_epochs",
    "tau",
    "tau_schedule",
    "negate_init",
    "pipeline",
    "image_size",
    "lr",
    "batch_size",
)
LABELLED = ("objective", "predictor", "tangential")  # in every row's label already
# The config keys (a prefix ends in ".") that a setting of the label or the tables names: a key
# that differs between rows is left out of the labels where it follows from one of these settings
# (loss.alpha from α, predictor.* from the predictor's option, …). A key missing here costs only a
# longer label, never a wrong row.
NAMED_BY: dict[str, tuple[str, ...]] = {
    "objective": ("loss.",),
    "variant": ("loss.", "predictor."),
    "predictor": ("predictor.",),
    "negate_init": ("predictor.negate_init",),
    "alpha": ("loss.alpha",),
    "beta": ("loss.beta",),
    "tangential": ("loss.tangential",),
    "data": ("data.",),
    "backbone": ("model.",),
    "tau": ("callbacks.ema.tau", "teacher.tau"),
    "tau_schedule": ("callbacks.ema.schedule", "teacher.schedule"),
    "lr": ("optimizer.lr",),
    "batch_size": ("data.batch_size",),
    "max_epochs": ("trainer.max_epochs",),
    "image_size": ("data.image_size",),
    "pipeline": ("data.pipeline",),
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
    problem: str | None = None  # a file of the run that could not be read
    identity: dict[str, Any] | None = None  # raft_lightning.identity of its config.yaml; None: unreadable

    @property
    def setting(self) -> dict[str, Any]:
        s = self.summary
        setting = {name: _value(name, s.get(name)) for name in SETTING_KEYS}
        if s.get("objective") in BASELINES:
            setting["predictor"] = "—"
        return setting

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
    collapsed: bool = False
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
    (listed, never averaged); a damaged metrics.csv costs only its curves; a missing or damaged
    config.yaml makes it grouped by its summary's settings (and listed)."""
    try:
        summary = read_summary(path)
    except DamagedFile as e:
        return Run(path, {"status": "unreadable", "error": str(e)}, problem=str(e))
    run = Run(path, summary)
    problems = []
    try:
        run.epochs = read_epochs(path)
    except DamagedFile as e:
        problems.append(str(e))
    try:
        run.identity = run_identity(path)
    except (FileNotFoundError, DamagedFile) as e:
        reason = f"{CONFIG_FILE} missing" if isinstance(e, FileNotFoundError) else str(e)
        problems.append(f"{reason}: grouped by {SUMMARY_FILE}'s settings ({', '.join(SETTING_KEYS)}) alone")
    run.problem = "; ".join(problems) or None
    return run


def show(value: Any) -> str:
    """A setting value as the tables and figures print it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def varying_keys(rows: Sequence[Row]) -> list[str]:
    """The setting keys whose value is not the same on every row, in ``SETTING_KEYS`` order."""
    return [k for k in SETTING_KEYS if len({r.setting[k] for r in rows}) > 1]


def _variant(row: Row) -> str | None:
    variants = {r.summary.get("variant") for r in row.runs}
    return variants.pop() if len(variants) == 1 else None


def _label(row: Row, extra: Sequence[str], config_keys: Sequence[str]) -> str:
    """The variant's name (or objective/predictor), then the settings in ``extra`` and the config
    keys in ``config_keys`` that tell it apart from other rows: e.g. ``byol/linear (data=cifar10)``,
    ``raft/linear (optimizer.weight_decay=0.1)``; ``—`` for a key the row's config does not have."""
    setting, base = row.setting, _variant(row)
    if base is None:
        objective, predictor, tangential = (setting[k] for k in LABELLED)
        base = objective if objective in BASELINES else f"{'tan' if tangential else ''}{objective}/{predictor}"
    parts = [f"{k}={show(setting[k])}" for k in extra]
    if row.runs[0].identity is not None:
        parts += [f"{k}={show(row.runs[0].identity.get(k))}" for k in config_keys]
    return base + (f" ({', '.join(parts)})" if parts else "")


def _named(key: str, rows: Sequence[Row]) -> bool:
    """Whether the config ``key`` follows, over ``rows``, from a setting that names it (``NAMED_BY``)."""
    for name, keys in NAMED_BY.items():
        if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in keys):
            continue
        value_of = {}
        for row in rows:
            shown = _variant(row) if name == "variant" else row.setting[name]
            if value_of.setdefault(shown, row.runs[0].identity.get(key)) != row.runs[0].identity.get(key):
                break
        else:
            if name != "variant" or None not in value_of:
                return True
    return False


def differing_config_keys(rows: Sequence[Row]) -> list[str]:
    """The config keys (of rows grouped by config) whose value is not the same on every such row
    and does not follow from a setting the label or the tables show."""
    configured = [r for r in rows if r.runs[0].identity is not None]
    keys = sorted({k for r in configured for k in r.runs[0].identity})
    varying = [k for k in keys if len({r.runs[0].identity.get(k, _ABSENT) for r in configured}) > 1]
    return [k for k in varying if not _named(k, configured)]


_ABSENT = object()


def aggregate(runs: list[Run], collapse: DictConfig, order: Sequence[str]) -> list[Row]:
    """The runs whose status is ok, one row per setting; collapsed by the ``collapse`` rule
    (conf/report.yaml); sorted by objective in ``order`` (others after it, by name), then
    predictor, tangential, α, β and the other keys. Labels name the keys (other than α, β, which
    the tables and figures show) whose value varies between rows."""
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        if run.summary.get("status") == "ok":
            groups[run.group].append(run)
    rows = []
    for members in groups.values():
        key = members[0].key
        stats = {}
        for name, _, _ in METRICS:
            values = [r.summary[name] for r in members if r.summary.get(name) is not None]
            if values:
                stats[name] = mean_std(values)
        row = Row(key, members, "", stats)
        if "align" in stats and "uniform" in stats:
            row.collapsed = stats["uniform"][0] > collapse.uniform_above and stats["align"][0] < collapse.align_below
        rows.append(row)
    extra = [k for k in varying_keys(rows) if k not in (*LABELLED, "alpha", "beta")]
    config_keys = differing_config_keys(rows)
    for row in rows:
        row.label = _label(row, extra, config_keys)
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
    at more than one (α, β))."""
    plain = [r for r in rows if r.key[2:4] == (1.0, 1.0) or r.key[0] in BASELINES]
    settings = defaultdict(set)  # objective → the (α, β) it was run at
    for r in rows:
        settings[r.key[0]].add(r.key[2:4])
    varying = [r for r in rows if r.key[0] not in BASELINES and len(settings[r.key[0]]) > 1]
    return plain, varying
