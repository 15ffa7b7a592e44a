"""Checks of a composed run config, before anything is built or trained.

Every ``_target_`` that knows its own constraints exposes ``config_errors(**params)``
returning messages of the form ``name=value: what is allowed``; this module walks the config,
asks each one, and prefixes the config path, e.g. ``loss.alpha=-1: must be a finite number ≥ 0``.
The classes call the same function in their constructors, so the rules live in one place.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from raft_lightning.run.extras import installed, missing_message


class ConfigError(ValueError):
    """The run's configuration is invalid; the message lists every problem."""


def _params(node: DictConfig) -> dict[str, Any]:
    """The node's own parameters, resolved; those that cannot resolve yet (paths that need the
    run's Hydra context) are left out, since no check reads them."""
    params = {}
    for key in node:
        if str(key).startswith("_"):
            continue
        try:
            value = node[key]
            params[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        except InterpolationResolutionError:
            continue
    return params


def config_errors(cfg: DictConfig) -> list[str]:
    nodes = {"model.backbone": cfg.model.backbone, "loss": cfg.loss, "data": cfg.data}
    nodes.update({f"callbacks.{name}": node for name, node in (cfg.get("callbacks") or {}).items()})
    errors = []
    for path, node in nodes.items():
        if not OmegaConf.is_dict(node) or "_target_" not in node:
            continue
        try:
            target = get_object(node._target_)
        except Exception as e:  # an import error or a typo in _target_
            errors.append(f"{path}._target_={node._target_!r}: cannot be imported ({e})")
            continue
        check = getattr(target, "config_errors", None)
        if check is not None:
            errors += [f"{path}.{message}" for message in check(**_params(node))]
        if path == "loss" and check is not None and OmegaConf.is_dict(cfg.get("fast")):
            # The speed settings are the objective's constructor arguments, grouped apart.
            errors += [f"fast.{message}" for message in check(**_params(cfg.fast))]
    if cfg.trainer.get("sync_batchnorm") and cfg.trainer.get("accelerator") == "cpu":
        # torch would raise deep inside the first forward pass ("SyncBatchNorm ... GPU modules").
        errors.append("trainer.sync_batchnorm=True: SyncBatchNorm runs on GPUs only; set trainer.accelerator=gpu")
    for name, node in (cfg.get("logger") or {}).items():
        if "WandbLogger" in str(node.get("_target_", "")) and not installed("wandb"):
            errors.append(missing_message(f"logger.{name}", "WandbLogger", "wandb"))
    max_epochs = cfg.trainer.get("max_epochs")
    if not isinstance(max_epochs, int) or max_epochs < 0:
        errors.append(f"trainer.max_epochs={max_epochs!r}: must be an integer ≥ 0")
    return errors


def check_config(cfg: DictConfig) -> None:
    errors = config_errors(cfg)
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
