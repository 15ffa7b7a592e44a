"""cfg → objects: the one place that instantiates what a run config describes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from raft_lightning.data import DataNotFoundError
from raft_lightning.files import CONFIG_FILE
from raft_lightning.objectives import SelfSupervised
from raft_lightning.readers import CHECKPOINT_EXPECTED, DamagedFile, read_checkpoint, read_config, untrusted_targets
from raft_lightning.run.checkpoints import AtomicCheckpointIO, NoReadableCheckpoint, resumable
from raft_lightning.run.guard import portable_config
from raft_lightning.run.validation import ConfigError, check_config, gets_teacher


def construct(node: Any, **objects: Any) -> Any:
    """The object a config node describes, handed plain lists and dicts (``_convert_="all"``),
    not OmegaConf's containers: the values its constructor receives are those validation checked
    (``run.validation`` reads plain containers), so a class whose ``config_errors`` the
    constructor calls again judges the same values, and json, ``isinstance(x, list)`` and numpy
    take them. ``objects`` are built objects handed on as they are."""
    return instantiate(node, _convert_="all", **objects)


def build_objective(cfg: DictConfig) -> SelfSupervised:
    """The LightningModule of ``cfg.loss``, handed a ready backbone, projector factory,
    predictor, optimiser factory, the speed settings of ``cfg.fast`` and, for an objective with a
    mean teacher, its EMA rule ``cfg.teacher`` (a teacher-free objective gets none)."""
    teacher = {"teacher": construct(cfg.teacher)} if gets_teacher(cfg) else {}
    backbone = construct(cfg.model.backbone)
    if not isinstance(getattr(backbone, "out_dim", None), int):  # any class takes **kwargs; not any is a backbone
        raise ConfigError(
            [
                f"model.backbone._target_={cfg.model.backbone._target_!r}: built a {type(backbone).__name__} "
                "without out_dim (the width of the features the projector takes; models.build_backbone's have it)"
            ]
        )
    return construct(
        cfg.loss,
        backbone=backbone,
        projector=construct(cfg.model.projector),
        predictor=construct(cfg.predictor),
        optimizer=construct(cfg.optimizer),
        **teacher,
        # run folders from before the fast group have none; validation.BUILT_WITH names these keywords
        **cfg.get("fast", {}),
    )


def build(cfg: DictConfig, run_dir: Path | None = None) -> tuple[L.LightningDataModule, SelfSupervised, L.Trainer]:
    """Data, objective and a Trainer with the configured callbacks and loggers. Its checkpoints
    carry the run's portable config (for the folder's guard) when ``run_dir`` is given."""
    datamodule = construct(cfg.data)
    model = build_objective(cfg)
    callbacks = [construct(node) for node in (cfg.get("callbacks") or {}).values() if node is not None]
    loggers = [construct(node) for node in (cfg.get("logger") or {}).values() if node is not None]
    # Every save goes through AtomicCheckpointIO (run/checkpoints.py), whatever else is configured.
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    run_config = portable_config(cfg, run_dir) if run_dir is not None else None
    plugins = [*(instantiate(trainer_cfg.pop("plugins", None)) or []), AtomicCheckpointIO(run_config)]
    # Built objects handed to the Trainer as they are, not through instantiate (which would turn a
    # dataclass callback back into a config), and its settings as plain values (max_time={hours: 1}).
    make_trainer = instantiate(trainer_cfg, _partial_=True, _convert_="all")
    trainer = make_trainer(callbacks=callbacks, logger=loggers or False, plugins=plugins)
    return datamodule, model, trainer


def build_data(cfg: DictConfig, recorded: dict[str, Any] | None = None) -> L.LightningDataModule:
    """The run's datamodule, set up: for evaluating a run outside its training, on the data as
    the run recorded it (``recorded``: its summary's ``data_files``; ``DataChanged`` otherwise)."""
    datamodule = construct(cfg.data)
    datamodule.as_recorded(recorded)
    datamodule.setup("fit")
    return datamodule


class UntrustedConfig(ValueError):
    """A run folder's config names code that is not the package's own."""


def load_run(
    run_dir: Path, trusted: frozenset[str] = frozenset(), data_root: str | None = None
) -> tuple[DictConfig, SelfSupervised, Path]:
    """A run rebuilt from its folder, which is data: its config (read, never resolved; built only
    if every ``_target_`` is the package's own or in ``trusted``, and valid), its objective with
    the weights of its newest readable checkpoint (``weights_only``; last.prev.ckpt when last.ckpt
    is damaged), and that checkpoint's path; ``data_root``: where its data are now, if they moved.
    Raises ``FileNotFoundError`` (not a run, no checkpoint), ``DamagedFile``, ``UntrustedConfig``,
    ``ConfigError``, ``NoReadableCheckpoint`` or ``DataNotFoundError``."""
    cfg = read_config(run_dir)
    untrusted = untrusted_targets(cfg, trusted)
    if untrusted:
        names = ", ".join(untrusted[:4])
        raise UntrustedConfig(
            f"{run_dir / CONFIG_FILE} names code that is not raft-lightning's: {names}. Nothing was built; if you "
            "trust the folder, list those targets: trust=[...]"
        )
    if data_root is not None:
        if "root" not in cfg.data:
            raise DataNotFoundError(f"data_root={data_root}: the run's data ({cfg.data._target_}) have no folder")
        with open_dict(cfg.data):
            cfg.data.root = os.path.abspath(data_root)
    check_config(cfg, {})
    try:
        checkpoint = resumable(run_dir / "checkpoints" / "last.ckpt", taking="evaluating")
    except NoReadableCheckpoint as e:  # the way out of a resume (resume=false) is not this one's
        raise NoReadableCheckpoint(
            e.files, "Nothing to evaluate: restore a checkpoint, or train the run again"
        ) from None
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoint (checkpoints/last.ckpt): nothing to evaluate")
    L.seed_everything(cfg.seed, verbose=False)
    model = build_objective(cfg)
    try:
        model.load_state_dict(read_checkpoint(checkpoint)["state_dict"])
    except RuntimeError as e:  # names or shapes that are not this config's model
        first = str(e).strip().splitlines()[0]
        raise DamagedFile(
            checkpoint, f"weights that do not fit the run's config ({first})", CHECKPOINT_EXPECTED
        ) from None
    return cfg, model, checkpoint
