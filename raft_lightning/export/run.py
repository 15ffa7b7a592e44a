"""A run folder → the backbone record (``export.backbone``), everything read through
``raft_lightning.readers``: the checkpoint with ``weights_only=True``, config.yaml parsed and
never built (only its ``model.backbone`` and ``data`` values are read), summary.json checked
against its schema."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from raft_lightning import data
from raft_lightning.data.folder import FolderError, read_folder
from raft_lightning.data.lazy import FolderImages
from raft_lightning.data.stats import folder_statistics
from raft_lightning.export.backbone import backbone_record, online_backbone
from raft_lightning.files import CONFIG_FILE, SUMMARY_FILE, previous_of
from raft_lightning.models import BACKBONES
from raft_lightning.readers import (
    CHECKPOINT_EXPECTED,
    DamagedFile,
    checkpoint_epochs,
    read_checkpoint,
    read_config,
    read_summary,
    recorded_data_files,
)
from raft_lightning.summary import RESULT_KEYS

CHECKPOINT = Path("checkpoints") / "last.ckpt"  # the run's newest weights (paths.last_checkpoint)
log = logging.getLogger(__name__)
BUILD_BACKBONE = "raft_lightning.models.build_backbone"
BUILDERS = (BUILD_BACKBONE, "raft_lightning.models.backbones.build_backbone")  # one function, two import paths
# The datamodules the package's data configs name, by _target_: their fixed statistics are class
# attributes, looked up here, never by importing what a folder's config names.
DATAMODULES = {f"raft_lightning.data.{name}": getattr(data, name) for name in data.__all__}


class CannotExport(ValueError):
    """The run holds nothing raft-export can write: one line says why."""


def architecture(cfg: DictConfig) -> dict[str, Any]:
    """``{"name": ..., settings}`` of the run's backbone: one of the package's, or ``CannotExport``."""
    known = f"the package's backbones only ({BUILD_BACKBONE} with name one of {', '.join(BACKBONES)})"
    model = cfg.get("model") if OmegaConf.is_dict(cfg) else None
    backbone = model.get("backbone") if OmegaConf.is_dict(model) else None
    if not OmegaConf.is_dict(backbone):
        shown = "missing" if backbone is None and not OmegaConf.is_dict(model) else repr(backbone)
        raise CannotExport(f"model.backbone={shown}: a mapping with _target_ and name; raft-export writes {known}")
    node = OmegaConf.to_container(backbone, resolve=False)
    target = node.pop("_target_", None)
    if target not in BUILDERS:  # another builder: never imported here, whatever it names
        raise CannotExport(f"model.backbone._target_={target!r}: raft-export writes {known}")
    if not isinstance(node.get("name"), str) or node["name"] not in BACKBONES:
        raise CannotExport(f"model.backbone.name={node.get('name')!r}: raft-export writes {known}")
    return node


def normalization(cfg_data: DictConfig, recorded: Any = None) -> dict[str, list[float]]:
    """The per-channel mean and std the run normalised its images with: the data config's own
    (``data.mean`` / ``data.std``), else its datamodule's fixed ones, else (an image folder with
    ``mean: null``) those its summary recorded (``recorded``: its ``data_files``), else, for a run
    recorded before there were any, the statistics of its training images, from the cache the run filled."""
    mean, std = cfg_data.get("mean"), cfg_data.get("std")
    if mean is None and isinstance(recorded, dict) and recorded.get("mean") is not None:
        mean, std = recorded["mean"], recorded.get("std")
    if mean is None:
        source = DATAMODULES.get(cfg_data.get("_target_"))
        mean, std = getattr(source, "mean", None), getattr(source, "std", None)
    if mean is None and cfg_data.get("_target_") == "raft_lightning.data.ImageFolderDataModule":
        root = cfg_data.get("root")
        try:
            folder = read_folder(root, cfg_data.val_fraction, cfg_data.split_seed)
            mean, std = folder_statistics(FolderImages(root, folder.train_files, cfg_data.image_size))
        except (FolderError, OSError) as e:
            raise CannotExport(
                f"data.root={root!r}: the run normalised with statistics of these images (data.mean: null), "
                f"which cannot be read here ({e})"
            ) from None
    if mean is None:
        raise CannotExport(f"data._target_={cfg_data.get('_target_')!r}: no normalisation known for this data")
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def export_record(run_dir: Path) -> dict[str, Any]:
    """The backbone record of the run in ``run_dir``. Raises ``FileNotFoundError`` (no config,
    summary or checkpoint), ``DamagedFile`` or ``CannotExport``."""
    for name in (CONFIG_FILE, SUMMARY_FILE):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing; nothing to export")
    cfg = read_config(run_dir)
    summary = read_summary(run_dir)
    checkpoint, state = newest_weights(run_dir)
    newest = checkpoint == run_dir / CHECKPOINT
    # The record's measures are of last.ckpt's weights: beside the one before it they would be
    # another epoch's, so none is carried (null: not measured for these weights).
    results = {key: summary.get(key) if newest else None for key in RESULT_KEYS}
    epochs = summary.get("epochs") if newest else checkpoint_epochs(state)
    weights = online_backbone(state["state_dict"])
    if not weights:
        raise DamagedFile(checkpoint, "no online.backbone.* weights", CHECKPOINT_EXPECTED)
    image_size = cfg.data.get("image_size")
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
        raise DamagedFile(run_dir / CONFIG_FILE, f"data.image_size={image_size!r}", "an integer ≥ 1")
    return backbone_record(
        weights,
        architecture(cfg),
        checkpoint,
        image_size=image_size,
        normalization=normalization(cfg.data, recorded_data_files(summary.get("data_files"), state, checkpoint)),
        config=OmegaConf.to_container(read_config(run_dir, portable_form=True)),
        results=results,
        status=summary.get("status"),
        epochs=epochs,
    )


def newest_weights(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The run's newest readable checkpoint and its state: last.ckpt, else the one before it
    (last.prev.ckpt, said in a warning), as a resume or an evaluation would take. Nothing in the
    folder is moved: an export only reads it."""
    checkpoint = run_dir / CHECKPOINT
    previous = previous_of(checkpoint)
    try:
        return checkpoint, read_checkpoint(checkpoint)
    except (FileNotFoundError, DamagedFile) as e:
        why = e.problem if isinstance(e, DamagedFile) else "missing"
        if isinstance(e, FileNotFoundError) and checkpoint.with_name(checkpoint.name + ".damaged").exists():
            why += f" (set aside as {checkpoint.name}.damaged)"
        if not previous.is_file():
            if isinstance(e, DamagedFile):
                raise
            raise FileNotFoundError(f"{checkpoint}: {why}; nothing to export") from None
    try:
        state = read_checkpoint(previous)
    except DamagedFile as e:
        raise DamagedFile(previous, f"{e.problem}, and {CHECKPOINT.name}: {why}", CHECKPOINT_EXPECTED) from None
    log.warning("%s: %s; exporting %s, after %s epoch(s)", checkpoint, why, previous.name, checkpoint_epochs(state))
    return previous, state
