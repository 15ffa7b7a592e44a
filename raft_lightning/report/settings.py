"""The report's settings: conf/report.yaml with ``--config FILE`` merged over it, checked before
anything is read or written.

The keys a file may set are report.yaml's own (the file is the schema of names: an added key is
no setting, whatever it looks like); the types and ranges are ``RULES`` below, one per leaf of
report.yaml (tests/test_report_settings.py keeps the two in step). Each problem is one line,
``key=value: what is allowed``, and every problem is listed, not only the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf._utils import get_yaml_loader  # OmegaConf.load's own loader; no public name
from omegaconf.errors import OmegaConfBaseException

from raft_lightning.report.embeddings import MIN_POINTS
from raft_lightning.report.rows import METRICS, SOURCES


class SettingsError(ValueError):
    """A ``--config`` file the report cannot use; ``errors`` holds one line per problem."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        # One line each, even where a key of the file holds a line break.
        self.errors = [f"--config {path}: {' '.join(e.split())}" for e in errors]
        super().__init__("\n".join(self.errors))


def load_settings(defaults_file: Path, path: Path) -> DictConfig:
    """``defaults_file`` (conf/report.yaml) with the file at ``path`` merged over it (a list
    replaces a list, as in OmegaConf; the file may hold no interpolation); raises ``SettingsError`` listing
    every problem of the file."""
    defaults = OmegaConf.to_container(OmegaConf.load(defaults_file))
    merged = _merge(defaults, _read(path))
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(merged), resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as e:  # ${...} to nothing, or ??? left unset
        where = f"{e.full_key}: " if getattr(e, "full_key", None) else ""
        raise SettingsError(path, [where + str(e).strip().splitlines()[0]]) from None
    errors = problems(resolved, defaults)
    if errors:
        raise SettingsError(path, errors)
    return OmegaConf.create(resolved)


def _read(path: Path) -> dict[Any, Any]:
    """The file's mapping, as written (no interpolation resolved); one line when it cannot be read,
    is not YAML, is no mapping of named settings, or holds what a settings file may not."""
    if path.exists() and not path.is_file():  # a pipe or a device would block the read, or never end
        raise SettingsError(path, [f"{'a folder' if path.is_dir() else 'not a regular file'}: expected {MAPPING}"])
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # enough to know it is too long: a file growing as it is read is bounded too
    except OSError as e:
        raise SettingsError(path, [f"cannot be read ({e.strerror or e})"]) from None
    if len(raw) > MAX_BYTES:
        raise SettingsError(path, [f"over {MAX_BYTES} bytes: expected {MAPPING}, under {MAX_BYTES >> 10} KiB"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(path, ["not a text file (UTF-8)"]) from None
    try:
        # Aliases first, without building anything: a few hundred bytes of nested aliases expand
        # to billions of values once built (a "billion laughs"); a settings file writes values out.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise SettingsError(path, ["anchors and aliases (&name, *name) are not read: write each value out"])
        loaded = yaml.load(text, Loader=get_yaml_loader())  # OmegaConf's YAML, as Hydra's (1e-3 a number)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
        raise SettingsError(path, [f"not valid YAML{where}: {problem}"]) from None
    if loaded is None:  # an empty file: the defaults
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(path, [f"expected {MAPPING}, found {_show(loaded)}"])
    errors = _written_out(loaded)
    if errors:
        raise SettingsError(path, errors)
    return loaded


MAX_BYTES = 64 << 10  # report.yaml is 4 KiB
MAPPING = "a mapping of settings as in conf/report.yaml"


def _written_out(node: Any, at: str = "") -> list[str]:
    """Keys that are names, and values that are values: an interpolation (``${...}``) would read
    the environment or other keys when resolved, and a settings file is data."""
    if isinstance(node, list):
        return [e for i, item in enumerate(node) for e in _written_out(item, f"{at}[{i}]")]
    if not isinstance(node, dict):
        if isinstance(node, str) and "${" in node:
            return [f"{at}={_show(node)}: an interpolation; a settings file holds values, written out"]
        return []
    errors = []
    for key, value in node.items():
        if not isinstance(key, str):
            errors.append(f"{at + '.' if at else ''}{_show(key)}: a key that is not a name (a setting's name is text)")
            continue
        errors += _written_out(value, f"{at}.{key}" if at else key)
    return errors


def _merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base``: mappings key by key, anything else replaced. Done on plain
    containers so that a mapping given a list (or a list a mapping) is a checked value, not an
    OmegaConf merge error that names no key."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    return {**base, **{k: _merge(base[k], v) if k in base else v for k, v in over.items()}}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# The checks: each returns what is allowed, or None when ``value`` is fine.
Check = Callable[[Any], "str | None"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def negative_number(value: Any) -> str | None:
    """L_uniform is ≤ 0 (0 with every point in one place): a threshold at or above 0 judges no row collapsed."""
    return None if _is_number(value) and value < 0 else "expected a finite number below 0 (L_uniform is at most 0)"


def count(low: int, high: int | None = None) -> Check:
    """An integer ≥ ``low`` (below it the figure or measurement has nothing to show) and, where
    memory grows with it, ≤ ``high``."""

    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= (high or value)
        return None if ok else f"expected an integer ≥ {low}" + (f" and ≤ {high}" if high else "")

    return check


# Points whose pairs are all computed (L_uniform, the cosine histogram): N² values, 0.4 GB at 10 000.
MAX_PAIRED_POINTS = 10_000
MAX_BINS = 10_000  # a histogram's bins, far finer than a figure shows
MAX_SPECTRA = 1_000  # lines in one panel


def names(allowed: Collection[str] | None, empty: bool) -> Check:
    """A list of distinct strings, each one of ``allowed`` (None: any string)."""
    what = "strings" if allowed is None else ", ".join(allowed)
    expected = f"expected a {'' if empty else 'non-empty '}list of {what}, each once"

    def check(value: Any) -> str | None:
        if not isinstance(value, list) or (not value and not empty):
            return expected
        known = all(isinstance(v, str) and (allowed is None or v in allowed) for v in value)
        return None if known and len(set(value)) == len(value) else expected

    return check


def mapping(value: Any) -> str | None:
    # One line for the mapping: its entries' problems are in paper_problems.
    return None if isinstance(value, dict) else "expected a mapping of mark to its text"


def listing(value: Any) -> str | None:
    # One line for the list: its entries' problems are in paper_problems.
    return None if isinstance(value, list) else f"expected a list of mappings of {', '.join(PAPER_ENTRY)}"


RULES: dict[str, Check] = {
    "collapse.uniform_above": negative_number,
    "collapse.sources": names(tuple(SOURCES), empty=False),  # rows.judge_collapse reads these only
    "collapse.embeddings_points": count(2, MAX_PAIRED_POINTS),  # L_uniform is over pairs
    "table.columns": names(tuple(key for key, _, _ in METRICS), empty=False),  # tables.write_table's METRIC
    "figures.representation_bins": count(1, MAX_BINS),
    "figures.max_points": count(MIN_POINTS, MAX_PAIRED_POINTS),  # fewer: embeddings.attach_embeddings draws none
    "figures.cosine_bins": count(1, MAX_BINS),
    "figures.spectrum_epochs": count(1, MAX_SPECTRA),
    "figures.early_steps": count(1),  # a limit on the steps drawn, nothing allocated by it
    "paper.linear_acc": listing,
    "paper.footnotes": mapping,
    "objective_order": names(None, empty=True),
}
# A paper figure: the row it belongs to (tables.paper_figure compares these three with the row's
# settings), the text shown, and an optional footnote mark.
PAPER_ENTRY: dict[str, tuple[type, bool]] = {  # key → (type, required)
    "objective": (str, True),
    "predictor": (str, True),
    "tangential": (bool, True),
    "value": (str, True),
    "mark": (str, False),
}
TYPE_NAMES = {str: "a string", bool: "true or false"}


def problems(cfg: dict[Any, Any], defaults: dict[Any, Any], prefix: str = "") -> list[str]:
    """Every problem of the merged settings ``cfg`` against report.yaml's ``defaults``."""
    errors = []
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        default = defaults.get(key, _ABSENT) if isinstance(key, str) else _ABSENT
        if default is _ABSENT:
            where = f"of {prefix[:-1]} " if prefix else ""
            allowed = ", ".join(f"{prefix}{k}" for k in defaults)
            errors.append(f"{dotted}={_show(value)}: not a setting {where}(the settings: {allowed})")
        elif dotted in RULES:
            wrong = RULES[dotted](value)
            errors += [f"{dotted}={_show(value)}: {wrong}"] if wrong else []
        elif not isinstance(value, dict):
            errors.append(f"{dotted}={_show(value)}: expected a mapping of {', '.join(default)}")
        else:
            errors += problems(value, default, f"{dotted}.")
    paper = cfg.get("paper")
    if not prefix and isinstance(paper, dict):
        errors += paper_problems(paper.get("linear_acc"), paper.get("footnotes"))
    return errors


_ABSENT = object()


def paper_problems(entries: Any, notes: Any) -> list[str]:
    """Each ``paper.linear_acc`` entry shaped as report.yaml's, its mark one of ``paper.footnotes``
    (a mark without a footnote would point the reader at nothing); each footnote a text."""
    notes = notes if isinstance(notes, dict) else {}
    errors = [
        f"paper.footnotes.{k}={_show(v)}: expected a text (a string) under a mark (a string)"
        for k, v in notes.items()
        if not (isinstance(k, str) and isinstance(v, str))
    ]
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        at = f"paper.linear_acc[{i}]"
        if not isinstance(entry, dict):
            errors.append(f"{at}={_show(entry)}: expected a mapping of {', '.join(PAPER_ENTRY)}")
            continue
        for key in [k for k in entry if k not in PAPER_ENTRY]:
            errors.append(f"{at}.{key}={_show(entry[key])}: not a setting (the settings: {', '.join(PAPER_ENTRY)})")
        for key, (kind, required) in PAPER_ENTRY.items():
            if key not in entry:
                errors += [f"{at}.{key}: missing, expected {TYPE_NAMES[kind]}"] if required else []
            elif not isinstance(entry[key], kind):
                errors.append(f"{at}.{key}={_show(entry[key])}: expected {TYPE_NAMES[kind]}")
        mark = entry.get("mark")
        if isinstance(mark, str) and mark not in notes:
            errors.append(f"{at}.mark={_show(mark)}: expected a mark of paper.footnotes ({', '.join(map(str, notes))})")
    return errors
