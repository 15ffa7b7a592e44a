"""summary.json's schema: ``Summary``'s fields, documented once, here, and the check every reader
applies to a file it did not write (``problems``). The writer is ``run.record.RunRecord``.

The results (``align``, ``uniform``, the accuracies, …) are declared in ``raft_lightning.measures``
and stored as top-level keys beside the fields below.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Union

from raft_lightning.measures import MEASURES

# The fields that copy one config key (run.record.RunRecord.from_config reads them there;
# readers.unlike_its_config holds a record to its config.yaml by this table; tests/test_identity.py
# checks that the two agree). tau and tau_schedule are the teacher's, null for a method without one.
FROM_CONFIG = {
    "negate_init": "predictor.negate_init",
    "backbone": "model.backbone.name",
    "seed": "seed",
    "alpha": "loss.alpha",
    "beta": "loss.beta",
    "tangential": "loss.tangential",
    "tau": "teacher.tau",
    "tau_schedule": "teacher.schedule",
    "lr": "optimizer.lr",
    "batch_size": "data.batch_size",
    "max_epochs": "trainer.max_epochs",
    "image_size": "data.image_size",
    "pipeline": "data.pipeline",
    "last_epochs": "record.last_epochs",
}
STATUSES = ("running", "ok", "diverged", "failed", "interrupted")
FINISHED = ("ok", "diverged")  # outcomes that training the same config again would only repeat


@dataclasses.dataclass
class Summary:
    """One run, as summary.json holds it. Numbers are final-epoch values unless a measure says
    otherwise: nothing is selected on the test set."""

    # What was asked: the run's setting (its whole config is config.yaml beside it); null where a
    # value was not of its kind (the run then failed validation) or an older version did not record it.
    objective: str | None  # the `loss` option: byol, byol_prime, raft, simsiam, directpred, random, supervised
    variant: str | None  # the `variant` option (a named row of the paper's table), or null
    predictor: str | None  # the `predictor` option
    negate_init: bool | None  # the predictor's output layer starts negated (Theorem 5.1's −W0)
    backbone: str | None
    data: str | None  # the `data` option
    seed: int | None
    alpha: float | None
    beta: float | None
    tangential: bool | None
    tau: float | None  # the EMA rate, null for a method without a teacher
    tau_schedule: str | None  # constant (the paper) or cosine (BYOL)
    lr: float | None
    batch_size: int | None
    max_epochs: int | None  # configured
    tags: list[str]  # the run's `tags=[...]`
    image_size: int | None
    pipeline: str | None  # torchvision (per sample) or batched: the same distributions, other random draws
    last_epochs: int = 10  # the window of the `window` measures (record.last_epochs; the paper: 10)
    # What it got: `epochs` completed, then the measures (raft_lightning.measures) as top-level keys.
    epochs: int = 0
    linear_eval: dict[str, Any] | None = None  # the evaluation settings linear_acc was measured with
    # How it went.
    status: str = "running"  # one of STATUSES; interrupted runs resume
    error: str | None = None
    wall_time_s: float | None = None  # of the last attempt
    checkpoint: str | None = None  # relative to the run folder
    resumed_from: str | None = None  # the checkpoint the last attempt continued from
    signal: str | None = None  # the signal that interrupted it, or that came as it ended by itself (ok, diverged)
    git_sha: str | None = None  # the checkout's commit; null where the package is installed, not checked out
    git_dirty: bool | None = None  # the checkout's code differed from git_sha (uncommitted changes)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    device: str | None = None
    # data=image_folder: the folder as the run read it (train_images, val_images; digest: sha256 of
    # each image's name, label, size and first and last 4 KiB; mean, std: the statistics it
    # normalised with). Evaluation, export and a resume use these statistics, and evaluation and a
    # resume refuse a folder whose digest differs; null for a dataset's fixed files.
    data_files: dict[str, Any] | None = None


FIELDS = {f.name: f for f in dataclasses.fields(Summary)}
HINTS = typing.get_type_hints(Summary)
RESULT_KEYS = tuple(m.key for m in MEASURES)


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if (origin or hint) is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else isinstance(value, list)
    if (origin or hint) is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    return {list: "a list", dict: "an object"}.get(origin or hint, str(hint))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def problems(saved: Any) -> list[str]:
    """What is wrong with a summary.json's content, as ``key=value: expected ...`` (empty: usable).

    Required: an object with a known ``status`` and an integer ``seed``; every known key, when
    present, of its declared type; results finite numbers or null (a diverged run's may be NaN:
    they are not averaged). Unknown keys are allowed (a newer version may write more)."""
    if not isinstance(saved, dict):
        return [f"expected a JSON object, found {type(saved).__name__}"]
    errors = []
    if saved.get("status") not in STATUSES:
        errors.append(f"status={_show(saved.get('status'))}: expected one of {', '.join(STATUSES)}")
    if "seed" not in saved:
        errors.append("seed: missing")
    for key, value in saved.items():
        if key in FIELDS and not _fits(value, HINTS[key]):
            errors.append(f"{key}={_show(value)}: expected {_describe(HINTS[key])}")
        elif key in RESULT_KEYS and value is not None:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or (not math.isfinite(value) and saved.get("status") not in ("diverged", "failed")):
                errors.append(f"{key}={_show(value)}: expected a finite number or null")
    checkpoint = saved.get("checkpoint")
    if isinstance(checkpoint, str) and (checkpoint.startswith("/") or ".." in checkpoint.split("/")):
        errors.append(f"checkpoint={_show(checkpoint)}: expected a path inside the run folder")
    if isinstance(saved.get("data_files"), dict):
        errors += data_files_problems(saved["data_files"])
    return errors


def data_files_problems(files: dict[str, Any]) -> list[str]:
    """``data_files`` as the run writes it: its statistics are used to normalise images again."""
    errors = []
    for key in ("train_images", "val_images"):
        if not (_fits(files.get(key), int) and files[key] >= 0):
            errors.append(f"data_files.{key}={_show(files.get(key))}: expected an integer ≥ 0")
    digest = files.get("digest")
    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        errors.append(f"data_files.digest={_show(digest)}: expected a sha256 (64 hexadecimal digits)")
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        if key not in files:
            errors.append(f"data_files.{key}: missing (null where the statistics were not known)")
            continue
        value = files[key]
        if value is not None and not (
            isinstance(value, list) and len(value) == 3 and all(_fits(v, float) and v > low for v in value)
        ):
            more = ", each > 0" if key == "std" else ""
            errors.append(f"data_files.{key}={_show(value)}: expected null or 3 finite numbers{more}")
    return errors
