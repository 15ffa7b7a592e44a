"""summary.json, metrics.csv (and steps.csv), spectra.csv and wandb_id: the run's record, its epochs (and
steps), its held-out spectra and its W&B id."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from raft_lightning.files import METRICS_FILE, SUMMARY_FILE, WANDB_ID_FILE
from raft_lightning.measures import MEASURES, summarised
from raft_lightning.readers.base import WANDB_ID, DamagedFile, first_line, present, short, text_of
from raft_lightning.summary import FROM_CONFIG, problems

SUMMARY_EXPECTED = "a run record as raft-lightning writes it (raft_lightning/summary.py)"


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's record, checked against the schema; None when there is no summary.json."""
    path = Path(run_dir) / SUMMARY_FILE
    if not present(path, run_dir, SUMMARY_EXPECTED):
        return None
    try:
        saved = json.loads(text_of(path, SUMMARY_EXPECTED))
    except (ValueError, RecursionError) as e:
        if isinstance(e, DamagedFile):
            raise
        raise DamagedFile(path, f"not JSON ({first_line(e)})", SUMMARY_EXPECTED) from None
    found = problems(saved)
    if found:
        raise DamagedFile(
            path, "; ".join(found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3 else ""), SUMMARY_EXPECTED
        )
    return saved


EPOCHS_EXPECTED = "a CSV of numbers with a header row (callbacks.EpochMetrics)"


def read_epochs(run_dir: str | Path, name: str = METRICS_FILE) -> list[dict[str, float]]:
    """metrics.csv as one dict per epoch (empty cells left out); [] when there is none. With
    ``name=files.STEPS_FILE``, steps.csv as one dict per recorded step."""
    path = Path(run_dir) / name
    if not present(path, run_dir, EPOCHS_EXPECTED):
        return []
    text = text_of(path, EPOCHS_EXPECTED)
    if text and not text.endswith("\n"):  # its writers end every row with one; a cut one may still parse
        raise DamagedFile(path, "its last line has no line break: the file was cut off mid-row", EPOCHS_EXPECTED)
    lines = text.splitlines()
    try:
        reader = csv.reader(lines)
        header = next(reader, None)
        if not header or any(not h or h.strip() != h for h in header) or len(set(header)) != len(header):
            raise DamagedFile(path, f"header {short(header)} is not a list of distinct names", EPOCHS_EXPECTED)
        rows = []
        for number, cells in enumerate(reader, start=2):
            if len(cells) != len(header):
                raise DamagedFile(
                    path, f"line {number} has {len(cells)} cells, the header {len(header)}", EPOCHS_EXPECTED
                )
            row = {}
            for key, cell in zip(header, cells):
                if cell != "":
                    try:
                        row[key] = float(cell)
                    except ValueError:
                        raise DamagedFile(
                            path, f"line {number}, {key}={short(cell)} is not a number", EPOCHS_EXPECTED
                        ) from None
            if name == METRICS_FILE and rows and row.get("epoch", math.inf) <= rows[-1].get("epoch", -math.inf):
                # a row written twice, or out of order: the figures would draw an epoch that never was
                raise DamagedFile(path, f"line {number}, epoch {row['epoch']:g} does not increase", EPOCHS_EXPECTED)
            rows.append(row)
    except csv.Error as e:
        raise DamagedFile(path, first_line(e), EPOCHS_EXPECTED) from None
    return rows


def unlike_its_epochs(
    summary: dict[str, Any], rows: list[dict[str, float]] | None, last_epochs: int | None
) -> list[str]:
    """What a finished run's summary.json says other than its metrics.csv gives: its ``epochs``
    against the number of rows, and each ``last`` and ``window`` result against
    ``measures.summarised`` of the rows over the window ``last_epochs`` (None, a record that
    did not keep its window: the ``window`` results are not compared). Compared exactly: the
    writer computes the results from the same rows in memory, and both files keep each float's
    shortest repr, which reads back as the same number. Empty where they agree, or where there
    is nothing to compare: a record that is not ``ok`` (a run in progress writes its rows before
    its record) or no metrics.csv (``rows`` None: an encoder that never trained). A metrics.csv
    without rows under a record that counts epochs is a difference."""
    if summary.get("status") != "ok" or rows is None:
        return []
    if not rows:
        epochs = summary.get("epochs")
        return [f"epochs {epochs!r} against no rows"] if isinstance(epochs, int) and epochs > 0 else []
    found = [] if summary.get("epochs") == len(rows) else [f"epochs {summary.get('epochs')!r} against {len(rows)} rows"]
    windowed = {m.key for m in MEASURES if m.how == "window"}
    for key, value in summarised(rows, last_epochs or 1).items():
        said = summary.get(key)
        if key in windowed and last_epochs is None:
            continue
        if said != value and not (_nan(said) and _nan(value)):
            found.append(f"{key} {said!r} against {value!r}")
    return found


def unlike_its_config(summary: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Each setting a run's summary.json says other than its config.yaml (``config``: dotted key
    → value, ``identity.flatten``), by ``summary.FROM_CONFIG``. Not compared: a field the record
    lacks or a key the config lacks (an older version wrote neither), and a null teacher setting
    (a method without a teacher records none, whatever ``teacher`` holds). A null on one side only
    is a difference. Numbers compare exactly as numbers (1 and 1.0 agree, with no overflow), a
    bool only with a bool."""
    found = []
    for field, key in FROM_CONFIG.items():
        if field not in summary or key not in config:
            continue
        said, given = summary[field], config[key]
        if said is None and field in ("tau", "tau_schedule"):
            continue
        if not _same_setting(said, given):
            found.append(f"{field} {said!r} against {key}={given!r}")
    return found


def _same_setting(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b  # int == float is exact in Python: 1 == 1.0, and 10**400 == 1e308 is False, never an error


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


NETWORKS, LAYERS = ("online", "target"), ("backbone", "projector")


def read_wandb_id(run_dir: str | Path) -> str | None:
    """The run's W&B id, or None when there is none or it is not one (then a new one is made)."""
    path = Path(run_dir) / WANDB_ID_FILE
    try:
        text = path.read_text(errors="replace").strip() if path.is_file() else ""
    except OSError:
        return None
    return text if WANDB_ID.fullmatch(text) else None
