"""The command line, checked before Hydra starts anything: every problem one line, exit 2.

Hydra itself would report a group set to null, an override it cannot parse or compose, or an
output folder it cannot create with a traceback, and would start a sweep whose later runs have
bad values. Here the command is composed as Hydra will compose it — the single run, or every
run of a sweep (``readers.sweep_jobs``) — and each config validated (``run.validation``), so that
nothing is started unless every run can be.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from raft_lightning.conf import CONF_DIR
from raft_lightning.files import NAME_MAX
from raft_lightning.readers.sweep import glob_overrides, sweep_jobs
from raft_lightning.run.extras import launcher_choices
from raft_lightning.run.validation import config_errors

# Groups every run needs: `group=null` (or `~group`) leaves the run without one.
REQUIRED_GROUPS = (
    "model", "predictor", "loss", "teacher", "optimizer", "data", "trainer", "callbacks", "eval", "paths", "fast"
)  # fmt: skip
# Keys that moved: an old override names where its setting lives now (the mean teacher's EMA was
# a callback, `callbacks.ema`, until it became the objective's own, conf/teacher/).
MOVED = {"callbacks.ema": "teacher"}


def _options(group: str) -> str:
    return ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))


def _one_line(e: BaseException) -> str:
    """Hydra's messages run over a few lines (what failed, why, the options): joined into one."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    lines = lines[: next((i for i, line in enumerate(lines) if line.startswith("Config search path")), None)]
    if not lines:
        return type(e).__name__
    text = lines[0]
    for previous, line in zip(lines, lines[1:]):
        text += (", " if previous.endswith(":") or text.endswith(", " + previous) else " — ") + line
    return text.replace(":, ", ": ")


NOT_A_KEY = re.compile(r"Could not override '([^']+)'")


def _compose_error(e: BaseException, config_name: str, overrides: list[str]) -> str:
    """One line for a failed composition. A key the config does not have gets what the nearest
    group above it has (Hydra's own message suggests ``+key=value``, which would only add a
    setting nothing reads). Composes again inside Hydra's current initialisation, if any."""
    found = NOT_A_KEY.search(str(e))
    text = next((t for t in overrides if found and t.split("=", 1)[0] == found.group(1)), None)
    if text is None:
        return _one_line(e)
    rest = [t for t in overrides if t != text]
    ours = not GlobalHydra.instance().is_initialized()
    try:
        with initialize_config_module("raft_lightning.conf", version_base="1.3") if ours else contextlib.nullcontext():
            cfg = compose(config_name, overrides=rest, return_hydra_config=True)
    except Exception:  # the rest does not compose either: Hydra's message is the one to show
        return _one_line(e)
    finally:
        if ours:
            GlobalHydra.instance().clear()
    parts = found.group(1).split(".")
    for depth in range(len(parts) - 1, -1, -1):  # the nearest group above the key that exists
        where = ".".join(parts[:depth])
        node = OmegaConf.select(cfg, where) if where else cfg
        if isinstance(node, DictConfig):
            keys = ", ".join(str(k) for k in node.keys() if where or k != "hydra") or "nothing"
            # Where adding is meaningful: an argument of the group's class it does not list (checked
            # against the signature), or an entry of an open map (hydra.job.env_set).
            add = (
                f" (if it is an argument of {node._target_} the config does not list: +{text})"
                if "_target_" in node
                else ""
            )
            add = add or (f" (a new entry: +{text})" if len(node) == 0 else "")
            return f"{text}: not a setting; {where or 'the config'} has {keys}{add}"
        if node is not None:
            return f"{text}: not a setting; {where} is a value, not a group of settings"
    return _one_line(e)


def parse(argv: list[str]) -> Any:
    """Hydra's own parser of its flags (private: Hydra has no public one), so that ``-m``,
    ``--config-dir`` and ``--config-name`` mean here what they mean to Hydra."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


def informational(args: Any) -> bool:
    return bool(args.help or args.hydra_help or args.info or args.shell_completion or args.cfg)


def runs_something(argv: list[str]) -> bool:
    """Whether the command trains (else Hydra only prints: help, the config, its info)."""
    return not informational(parse(argv))


def scheduler_errors(argv: list[str]) -> list[str]:
    """A sweep sent to SLURM (``launcher=slurm…`` on the command line) where no SLURM answers:
    one line before anything starts, not submitit's traceback once the jobs are submitted."""
    args = parse(argv)
    if not args.multirun or informational(args):
        return []
    chosen = [f"{key}={value}" for key, value in launcher_choices(args.overrides) if value.startswith("slurm")]
    if not chosen:
        return []
    where = chosen[-1]
    local = "; on one machine, start experiments/slurm/local_cluster.sh (as root) first"
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return [f"{where}: no SLURM here (sbatch not found){local}"]
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"{where}: the SLURM controller does not answer ({e}){local}"]
    if ping.returncode != 0 or "DOWN" in ping.stdout:
        said = (ping.stdout.strip().splitlines() or ["no answer"])[0]
        return [f"{where}: the SLURM controller does not answer (scontrol ping: {said}){local}"]
    return []


def null_groups(overrides: list[Any]) -> list[str]:
    errors = []
    for o in overrides:
        key = o.key_or_group
        deleted = o.is_delete()
        if key in REQUIRED_GROUPS and (deleted or (not o.is_sweep_override() and o.value() is None)):
            shown = f"~{key}" if deleted else f"{key}=null"
            errors.append(f"{shown}: a run needs a {key}; choose one of {_options(key)}")
    return errors


def moved_keys(texts: list[str], overrides: list[Any]) -> list[str]:
    """``callbacks.ema.tau=0.9: moved: use teacher.tau=0.9`` for an override of a moved key."""
    errors = []
    for text, o in zip(texts, overrides):
        key = o.key_or_group
        for old, new in MOVED.items():
            if key == old or key.startswith(old + "."):
                now = new + key[len(old) :]
                value = text.split("=", 1)[1] if "=" in text else ""
                errors.append(f"{text}: {old} is now the {new} group; use {now}={value}".rstrip("="))
    return errors


def folder_errors(path: str, key: str) -> list[str]:
    """The output folder can be made: each name within NAME_MAX bytes, its nearest existing
    parent a writable folder."""
    folder = Path(os.path.abspath(path))
    long = [part for part in folder.parts if len(part.encode()) > NAME_MAX]
    if long:
        return [f"{key}={path[:60]}…: a folder name of {len(long[0].encode())} bytes; at most {NAME_MAX}"]
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"{key}={path}: {existing} is a file, not a folder"]
    if not os.access(existing, os.W_OK | os.X_OK) and not (folder.is_dir() and os.access(folder, os.W_OK)):
        return [f"{key}={path}: {existing} cannot be written (read-only, or no permission)"]
    return []


def _run_config(config_name: str, overrides: list[str], output_key: str | None) -> DictConfig:
    cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # the ${hydra:...} resolver reads this singleton
    if output_key is not None:
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.runtime.output_dir = str(Path(cfg.hydra[output_key].dir).absolute())
    return cfg


def problems(argv: list[str], config_name: str = "train") -> list[str]:
    """Every problem of the command ``argv`` (without the program name), as one line each."""
    args = parse(argv)
    modes = [
        flag
        for flag, on in (("--run", args.run), ("-m", args.multirun), ("--cfg", args.cfg), ("--info", args.info))
        if on
    ]
    if len(modes) > 1 or (modes and args.shell_completion):  # Hydra would raise a ValueError with a traceback
        return [f"{' and '.join(modes)}: one of them at a time (-m runs a sweep; --cfg and --info only print)"]
    if informational(args):  # only prints; --cfg and --info print a composed config: one line if it cannot be
        return compose_problems(argv, config_name, printing=True) if (args.cfg or args.info) else []
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except Exception as e:  # Hydra's OverrideParseException, with a caret diagram under it
        return [f"cannot read the overrides: {_one_line(e)}"]
    errors = moved_keys(args.overrides, parsed) + null_groups(parsed)
    if errors:
        return errors
    overrides = list(args.overrides)
    if args.config_dir:
        overrides.append(f"hydra.searchpath=[file://{os.path.abspath(args.config_dir)}]")
    fixed = [text for text, o in zip(args.overrides, parsed) if not o.is_sweep_override()]
    fixed += overrides[len(args.overrides) :]
    name = args.config_name or config_name
    composed = fixed if args.multirun else overrides  # what _run_config composes below
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("raft_lightning.conf", version_base="1.3"):
            if not args.multirun:
                cfg = _run_config(name, overrides, "run")
                errors = folder_errors(cfg.hydra.runtime.output_dir, "hydra.run.dir")
                return errors + config_errors(cfg, dict(cfg.hydra.runtime.choices))
            base = _run_config(name, fixed, None)
            errors = folder_errors(str(base.hydra.sweep.dir), "hydra.sweep.dir")
            return errors + sweep_problems(name, base, overrides)
    except Exception as e:  # composing: a missing option, a key not in the config, a bad value type
        return [_compose_error(e, name, composed)]
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None


def compose_problems(argv: list[str], config_name: str, printing: bool = False) -> list[str]:
    """The command composed as Hydra will compose it, its failure one line (a key not in the
    config, a bad override): for commands whose config is not a run's (``linear_eval``), and
    for ``--cfg``/``--info`` (``printing``) of a single run."""
    args = parse(argv)
    if (informational(args) and not printing) or args.multirun:
        return []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("raft_lightning.conf", version_base="1.3"):
            _run_config(args.config_name or config_name, list(args.overrides), None)
        return []
    except Exception as e:  # Hydra's and omegaconf's errors have no common base
        return [_compose_error(e, args.config_name or config_name, list(args.overrides))]
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None


def sweep_problems(config_name: str, base: DictConfig, task: list[str]) -> list[str]:
    """Each distinct problem of the sweep's runs once, with the runs that have it."""
    jobs = sweep_jobs(base, task, GlobalHydra.instance().config_loader())  # the loader glob(…) lists options with
    if not jobs:  # Hydra would start nothing and say nothing
        globs = glob_overrides(task)
        return [f"{' '.join(globs) or ' '.join(task)}: matches no option; the sweep has no runs, nothing was started"]
    found: dict[str, list[int]] = {}
    for num, overrides in enumerate(jobs):
        try:
            messages = null_groups(OverridesParser.create().parse_overrides(overrides))
            if not messages:
                cfg = _run_config(config_name, overrides, None)
                messages = config_errors(cfg, dict(cfg.hydra.runtime.choices))
        except Exception as e:
            messages = [_compose_error(e, config_name, overrides)]
        for message in messages:
            found.setdefault(message, []).append(num)
    if not found:
        return []
    lines = [f"{len(found)} problem(s) in the sweep's {len(jobs)} runs; nothing was started:"]
    for message, nums in found.items():
        which = "every run" if len(nums) == len(jobs) else "runs " + ", ".join(f"#{n}" for n in nums)
        lines.append(f"  {message}   ({which})")
    return lines
