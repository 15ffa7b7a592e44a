"""Checks of a composed run config, before anything is built or trained.

Every node with a ``_target_`` is checked against the target's signature (``run.schema``: keys
and types), then by the target's own ``config_errors(**params)`` where it has one (ranges and
choices; the classes call the same function in their constructors, so each rule lives in one
place), given every value, defaults read from the signature. What no single target can know —
the linear evaluation, optimiser ranges, one key against another — is in ``run.rules``. Each
problem is one message, ``key=value: what is allowed``, e.g. ``loss.alpha=-1: must be a finite
number ≥ 0``.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from raft_lightning.objectives import has_teacher
from raft_lightning.run import rules, schema
from raft_lightning.run.extras import installed, missing_message


class ConfigError(ValueError):
    """The run's configuration is invalid; the message lists every problem (``errors``)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(errors))
        self.errors = list(errors)


def _params(node: DictConfig) -> dict[str, Any]:
    """The node's own parameters, resolved; those that cannot resolve yet (paths that need the
    run's Hydra context, or resolve to null before the run has its folder) are left out, since
    only the run itself can judge them."""
    params = {}
    for key in node:
        if str(key).startswith("_"):
            continue
        try:
            value = node[key]
        except InterpolationResolutionError:
            continue
        if value is None and OmegaConf.is_interpolation(node, key):
            continue
        params[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return params


def _target_nodes(node: Any, path: str = "", built_by: bool = False) -> Iterator[tuple[str, DictConfig, bool]]:
    """Every node with a ``_target_`` under ``node`` (nested ones, in dicts and lists, too), with
    its config path and whether an ancestor builds it itself (``_recursive_: false``: it may hand
    the node keywords of its own)."""
    if OmegaConf.is_list(node):
        for i in range(len(node)):
            try:
                child = node[i]
            except InterpolationResolutionError:
                continue
            yield from _target_nodes(child, f"{path}[{i}]", built_by)
        return
    if not OmegaConf.is_dict(node):
        return
    if "_target_" in node:
        yield path, node, built_by
        built_by = built_by or node.get("_recursive_", True) is False
    for key in node:
        if not str(key).startswith("_"):
            try:
                child = node[key]
            except InterpolationResolutionError:
                continue
            yield from _target_nodes(child, f"{path}.{key}" if path else str(key), built_by)


def _signatures(target: Any) -> list[tuple[Any, inspect.Signature]]:
    """The target's signature and, for our own classes (whose ``**kwargs`` go to the parent's
    constructor, by this project's convention), the parents' while ``**kwargs`` hands keys on.
    A third-party ``**kwargs`` (W&B's logger hands it to ``wandb.init``) takes anything."""
    own = inspect.isclass(target) and target.__module__.startswith("raft_lightning.")
    classes = [c for c in inspect.getmro(target) if "__init__" in vars(c) and c is not object] if own else [target]
    chain = []
    for cls in classes:
        read = schema.signature_of(cls)
        if read is None:
            break
        chain.append((cls, read[0]))
        if not any(p.kind is p.VAR_KEYWORD for p in read[0].parameters.values()):
            break
    return chain


def _defaults(target: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for _, signature in reversed(_signatures(target)):
        merged |= schema.defaults(signature)
    return merged


def node_errors(path: str, node: DictConfig, supplied: Collection[str] = (), built_by: bool = False) -> list[str]:
    """Type errors against the target's signature, a parameter it requires that neither the node
    nor the code that builds it (``supplied``; ``built_by``: an ancestor that builds it itself,
    which may give anything) gives, then its own ``config_errors`` (ranges, choices) with every
    value, the defaults read from the same signature."""
    try:
        target = schema.target_of(node._target_)
    except Exception as e:  # an import error or a typo in _target_
        return [f"{path}._target_={node._target_!r}: cannot be imported ({e})"]
    if not callable(target):  # a module, or a constant: nothing to build
        return [f"{path}._target_={node._target_!r}: a {type(target).__name__}, not a class or a function to build"]
    params = {
        k: (schema.SKIP if OmegaConf.is_dict(node[k]) and "_target_" in node[k] else v)
        for k, v in _params(node).items()
    }
    errors = [f"{path}.{m}" for m in _type_errors(target, params)]
    if not built_by:  # the node's keys, resolved or not
        errors += [f"{path}.{m}" for m in _missing(target, node, {*map(str, node), *supplied}, path)]
    unknown = [e for e in errors if ": not a parameter of " in e]
    if len(params) > 1 and len(unknown) == len(params):  # one bad key, _target_: one line, not one per key
        takes = unknown[0].rsplit(" (it takes ", 1)[-1].rstrip(")")
        keys = ", ".join(params)
        return [f"{path}._target_={node._target_!r}: takes none of {path}'s keys ({keys}); it takes {takes}"]
    check = getattr(target, "config_errors", None)
    wrong_types = [e for e in errors if ": not a parameter of " not in e]  # unknown keys do not stop the ranges
    if not wrong_types and check is not None:
        errors += [f"{path}.{m}" for m in check(**{**_defaults(target), **params})]
    return errors


def _missing(target: Any, node: DictConfig, given: set[str], path: str) -> list[str]:
    """The parameters without a default that nothing gives, of the target and (the package's own
    classes, whose ``**kwargs`` go to the parent) its parents: instantiating it would fail once
    the run has begun. Not for a partial node (the rest comes when it is called), nor one with
    positional ``_args_``."""
    if node.get("_partial_", False) or "_args_" in node:
        return []
    missing = {}
    for cls, signature in _signatures(target):
        for key, p in signature.parameters.items():
            required = p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            if required and key not in given and key not in missing:
                missing[key] = getattr(cls, "__name__", str(cls))
    return [f"{key}: missing; {name} requires it (no default): add +{path}.{key}=..." for key, name in missing.items()]


def _type_errors(target: Any, params: dict[str, Any]) -> list[str]:
    """Each key against the first signature of the chain that names it; keys that none names
    are unknown where the last signature takes no ``**kwargs``."""
    chain = _signatures(target)
    errors, remaining = [], dict(params)
    for i, (cls, signature) in enumerate(chain):
        last = i == len(chain) - 1
        own = remaining if last else {k: v for k, v in remaining.items() if k in signature.parameters}
        errors += schema.type_errors(cls, own)
        remaining = {k: v for k, v in remaining.items() if k not in own}
    return errors


REQUIRED = ("model", "predictor", "loss", "optimizer", "data", "trainer", "eval", "record")
# What run.build hands the objects it builds besides their config: the objective its parts
# (and the fast group's settings), the Trainer its callbacks, loggers and plugins.
BUILT_WITH = {
    "loss": ("backbone", "projector", "predictor", "optimizer", "teacher"),
    "trainer": ("callbacks", "logger", "plugins"),
}


def gets_teacher(cfg: DictConfig) -> bool:
    """Whether run.build hands the objective a teacher: where it has one (``objectives.has_teacher``)
    and the config gives one (a folder from before the teacher group has none)."""
    return has_teacher(schema.target_of(cfg.loss._target_)) and cfg.get("teacher") is not None


def built_with(cfg: DictConfig, key: str) -> tuple[str, ...]:
    """The keywords run.build hands ``cfg[key]``'s object."""
    if key != "loss":
        return BUILT_WITH.get(key, ())
    fast = tuple(cfg.fast) if OmegaConf.is_dict(cfg.get("fast")) else ()
    try:
        teacher = gets_teacher(cfg)
    except Exception:  # a _target_ that does not import: node_errors names it
        teacher = False
    return (*(k for k in BUILT_WITH["loss"] if k != "teacher" or teacher), *fast)


def _waits_for_the_run(e: Exception) -> bool:
    """An interpolation that only the run's own Hydra job can resolve (its output folder)."""
    text = str(e)
    return "HydraConfig was not set" in text or "hydra.runtime" in text or "hydra.job" in text


def interpolation_errors(node: Any, path: str = "") -> list[str]:
    """``key=${...}: cannot be resolved (why)`` for every interpolation that does not resolve:
    a key that does not exist, a cycle, an unknown resolver, a syntax error."""
    errors = []
    keys = list(node) if isinstance(node, DictConfig) else range(len(node)) if isinstance(node, ListConfig) else []
    for key in keys:
        where = f"{path}.{key}" if path else str(key)
        if where == "hydra":
            continue
        try:
            child = node[key]
        except OmegaConfBaseException as e:
            if not _waits_for_the_run(e):
                raw = OmegaConf.to_container(node, resolve=False)[key] if isinstance(node, DictConfig) else "?"
                reason = str(e).strip().splitlines()[0]
                errors.append(f"{where}={raw}: cannot be resolved ({reason})")
            continue
        errors += interpolation_errors(child, where)
    return errors if path else _not_echoes(errors)


def _not_echoes(errors: list[str]) -> list[str]:
    """Without the keys that fail only because they refer to a key that fails (``data.seed=${seed}``
    when ``seed`` cannot be resolved): one bad key, one line."""
    failing = {e.split("=", 1)[0] for e in errors}
    refers = lambda e, key: key != e.split("=", 1)[0] and "${" + key + "}" in e.split(": cannot", 1)[0]
    return [e for e in errors if not any(refers(e, key) for key in failing)]


def target_errors(node: Any, path: str, supplied: Collection[str] = ()) -> list[str]:
    """Every ``_target_`` under ``node`` checked against its target's signature and own rules;
    ``supplied``: the keywords the code building ``node`` itself hands it (not its children)."""
    return [
        e
        for where, child, built_by in _target_nodes(node, path)
        for e in node_errors(where, child, supplied if where == path else (), built_by)
    ]


def config_errors(cfg: DictConfig, choices: dict[str, str] | None = None) -> list[str]:
    """Every problem of a composed run config, as ``key=value: what is allowed``."""
    missing = [g for g in REQUIRED if cfg.get(g) is None]
    if missing:
        return [f"{g}=null: a run needs a {g}" for g in missing]
    errors = interpolation_errors(cfg)
    if errors:
        return errors
    for key in cfg:
        if key != "hydra":
            errors += target_errors(cfg[key], str(key), built_with(cfg, str(key)))
        loss_target_wrong = any(e.startswith("loss._target_=") for e in errors)  # fast.* would only repeat it
        if key == "loss" and OmegaConf.is_dict(cfg.get("fast")) and "_target_" in cfg.loss and not loss_target_wrong:
            errors += fast_errors(schema.target_of(cfg.loss._target_), _params(cfg.fast))
    errors += rules.run_errors(cfg, choices or {})
    for name, node in (cfg.get("logger") or {}).items():
        for target, extra in (("WandbLogger", "wandb"), ("TensorBoardLogger", "tensorboard")):
            if target in str(node.get("_target_", "")) and not installed(extra):
                errors.append(missing_message(f"logger.{name}", target, extra))
    return one_per_key(cfg, errors)


def _key(error: str) -> str:
    return error.split("=", 1)[0].split(":", 1)[0]


def one_per_key(cfg: DictConfig, errors: list[str]) -> list[str]:
    """One line per bad key: where the signature's type check and a rule both judge a value
    (``trainer.max_epochs=2.5``), the later, more specific message; and none for a key that only
    repeats another's value (``data.seed: ${seed}`` when ``seed=abc``)."""
    last = {_key(e): e for e in errors}
    kept = [e for e in dict.fromkeys(errors) if last[_key(e)] == e]
    return [e for e in kept if _echoed(cfg, _key(e)) not in last]


def _echoed(cfg: DictConfig, key: str) -> str | None:
    """The key whose value ``key`` is, where its value is exactly ``${other}``."""
    parent_key, _, leaf = key.rpartition(".")
    try:
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        raw = OmegaConf.to_container(parent, resolve=False).get(leaf) if OmegaConf.is_dict(parent) else None
    except OmegaConfBaseException:
        return None
    if isinstance(raw, str) and raw.startswith("${") and raw.endswith("}") and raw.count("${") == 1:
        other = raw[2:-1]
        return other if other.replace(".", "").replace("_", "").isalnum() and other != key else None
    return None


def fast_errors(objective: Any, params: dict[str, Any]) -> list[str]:
    """The speed settings are the objective's constructor arguments, grouped apart."""
    if not hasattr(objective, "config_errors"):  # not an objective: rules.objective_errors says so
        return []
    errors = _type_errors(objective, params) or objective.config_errors(**{**_defaults(objective), **params})
    return [f"fast.{m}" for m in errors]


def check_config(cfg: DictConfig, choices: dict[str, str] | None = None) -> None:
    errors = config_errors(cfg, choices)
    if errors:
        raise ConfigError(errors)
