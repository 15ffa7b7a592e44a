"""The report's row labels: the paper's name of a row (its variant, or objective/predictor) and
the settings and config keys that tell it apart from the other rows of the same table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

Row = Any  # raft_lightning.report.rows.Row, which imports this module: named, not imported

BASELINES = ("random", "supervised")  # objectives for which the predictor means nothing
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


def labels(rows: Sequence[Row]) -> list[str]:
    """Each row's label, in ``rows`` order: the name, then the settings (beyond ``LABELLED``, α and
    β) and config keys that tell it apart, each where the row has it. A row without a key (τ of
    the random encoder or SimSiam, which have no teacher; a config key others added) says nothing
    of it: the objective, or the other rows' labels, already do. Should that make two rows' labels
    equal (a summary from a version that did not record the key), absent keys are shown as —; and
    rows whose values print the same (0.99 and 0.9900001, 'yes' and true) are told apart by their
    first run's folder, so that no two rows ever share a label and weights (α, β, which the tables
    and figures show beside it)."""
    keys = [k for k in varying_keys(rows) if k not in (*LABELLED, "alpha", "beta")]
    valued = [k for k in keys if len({r.setting[k] for r in rows} - {None}) > 1]
    config_keys = differing_config_keys(rows)
    weights = [(r.setting["alpha"], r.setting["beta"]) for r in rows]  # beside every label: columns, titles
    found = list(zip((_label(r, valued, config_keys, absent=False) for r in rows), weights))
    if len(set(found)) < len(rows):
        fuller = list(zip((_label(r, keys, config_keys, absent=True) for r in rows), weights))
        found = fuller if len(set(fuller)) > len(set(found)) else found
    shared = {named for named in found if found.count(named) > 1}
    if not shared:
        return [label for label, _ in found]
    # Each row's first run is its own folder: its path below the folders they all share names it.
    root = os.path.commonpath([os.fspath(r.runs[0].path) for r in rows])
    return [
        f"{named[0]} [{os.path.relpath(row.runs[0].path, root)}]" if named in shared else named[0]
        for named, row in zip(found, rows)
    ]


def _variant(row: Row) -> str | None:
    variants = {r.summary.get("variant") for r in row.runs}
    return variants.pop() if len(variants) == 1 else None


def _label(row: Row, extra: Sequence[str], config_keys: Sequence[str], absent: bool) -> str:
    """The variant's name (or objective/predictor), then the settings in ``extra`` and the config
    keys in ``config_keys`` that tell it apart from other rows: e.g. ``byol/linear (data=cifar10)``,
    ``raft/linear (optimizer.weight_decay=0.1)``; a key the row does not have (None) is left out,
    or, with ``absent``, shown as ``—``."""
    setting, base = row.setting, _variant(row)
    if base is None:
        objective, predictor, tangential = (setting[k] for k in LABELLED)
        base = objective if objective in BASELINES else f"{'tan' if tangential else ''}{objective}/{predictor}"
    values = [(k, setting[k]) for k in extra]
    if row.runs[0].identity is not None:
        values += [(k, row.runs[0].identity.get(k)) for k in config_keys]
    parts = [f"{k}={show(v)}" for k, v in values if absent or v is not None]
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
