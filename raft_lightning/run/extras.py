"""Optional parts of the install: what needs an extra, and one clear message when it is missing.

``pip install raft-lightning`` is enough to train, evaluate and report; SLURM (through
hydra-submitit-launcher), W&B and TensorBoard are extras, so that a laptop or a login node does not pull
them in. Without an extra, the option that needs it says so before anything starts, instead of
Hydra's "Could not find 'hydra/launcher/submitit_slurm'" or an ImportError inside a run.
"""

from __future__ import annotations

import importlib.util

# extra → (the module it provides, what needs it)
EXTRAS = {
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "SLURM and submitit launchers"),
    "wandb": ("wandb", "the W&B logger"),
    "tensorboard": ("tensorboard", "the TensorBoard logger"),
}
LAUNCHER_KEYS = ("launcher", "hydra/launcher")  # the command-line keys that pick a launcher


def installed(extra: str) -> bool:
    module = EXTRAS[extra][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (hydra_plugins) is missing
        return False


def missing_message(key: str, value: str, extra: str) -> str:
    return f"{key}={value}: {EXTRAS[extra][1]} need the '{extra}' extra: pip install 'raft-lightning[{extra}]'"


def launcher_choices(overrides: list[str]) -> list[tuple[str, str]]:
    """The ``(key, option)`` of each command-line override that picks a launcher."""
    chosen = []
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.removeprefix("override ").lstrip("+~")
        if sep and key in LAUNCHER_KEYS:
            chosen.append((key, value))
    return chosen


def launcher_errors(overrides: list[str]) -> list[str]:
    """Command-line overrides that choose a submitit launcher while hydra-submitit-launcher is
    missing. Checked before Hydra composes anything: Hydra fails on the missing group first."""
    return [
        missing_message(key, value, "slurm")
        for key, value in launcher_choices(overrides)
        if any(s in value for s in ("slurm", "submitit")) and not installed("slurm")
    ]
