"""config.yaml: parsed, never resolved; paths inside the folder kept relative to it; and which
``_target_``s a config names that are not the package's own."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from raft_lightning.conf import CONF_DIR
from raft_lightning.files import CONFIG_FILE, RUN_DIR_MARK
from raft_lightning.readers.base import DamagedFile, first_line, present, short, text_of

CONFIG_EXPECTED = "the run's resolved config as raft-lightning writes it (a YAML mapping, no ${...})"


def portable(node: Any, run_dir: str | Path) -> Any:
    """A config container with every path inside ``run_dir`` written relative to it, as
    ``<run_dir>/…``: a folder that is copied, moved or reached through a symlink reads the same."""
    prefixes = {str(Path(run_dir)), str(Path(run_dir).resolve())}
    if isinstance(node, dict):
        return {k: portable(v, run_dir) for k, v in node.items()}
    if isinstance(node, list):
        return [portable(v, run_dir) for v in node]
    if isinstance(node, str):
        for prefix in sorted(prefixes, key=len, reverse=True):
            if node == prefix or node.startswith(prefix + "/"):
                return RUN_DIR_MARK + node[len(prefix) :]
    return node


def unrebased(node: Any, path: str = "") -> list[str]:
    """``key=value`` for every value (at any depth) still written as ``<run_dir>/…``: a config in
    its portable form, which no process may run from. Its paths are relative to a folder it does
    not name, so they would land under the working directory, in a folder called ``<run_dir>``."""
    if isinstance(node, DictConfig | ListConfig):
        node = OmegaConf.to_container(node, resolve=False)
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in unrebased(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in unrebased(v, f"{path}[{i}]")]
    if isinstance(node, str) and (node == RUN_DIR_MARK or node.startswith(RUN_DIR_MARK + "/")):
        return [f"{path}={node}"]
    return []


def rebase(node: Any, run_dir: str | Path) -> Any:
    """``portable``'s inverse: every ``<run_dir>/…`` (at any depth) a path under ``run_dir``."""
    return _rebase(node, str(Path(run_dir)))


def omegaconf_literal(text: str) -> str:
    """``text`` as an OmegaConf string that reads back as ``text``: a folder named ``${x}`` is a
    name, not an interpolation (each ``${`` escaped, the backslashes before it doubled)."""
    return re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", text)


def _rebase(node: Any, run_dir: str) -> Any:
    if isinstance(node, dict):
        return {k: _rebase(v, run_dir) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, run_dir) for v in node]
    if isinstance(node, str) and (node == RUN_DIR_MARK or node.startswith(RUN_DIR_MARK + "/")):
        return run_dir + node[len(RUN_DIR_MARK) :]
    return node


def _interpolations(node: Any, path: str = "") -> list[str]:
    """The keys (at any depth) whose value is an interpolation, without resolving any."""
    found = []
    keys = list(node) if isinstance(node, DictConfig) else range(len(node)) if isinstance(node, ListConfig) else []
    for key in keys:
        where = f"{path}.{key}" if path else str(key)
        if OmegaConf.is_interpolation(node, key):
            found.append(where)
        else:
            found += _interpolations(node[key], where)
    return found


def read_config(run_dir: str | Path, portable_form: bool = False) -> DictConfig:
    """The run's config as a plain mapping with no interpolation, its ``<run_dir>`` paths pointing
    at ``run_dir`` (or kept as ``<run_dir>/…`` with ``portable_form``, for comparing runs).
    Raises ``FileNotFoundError`` when there is none and ``DamagedFile`` when it is not one."""
    path = Path(run_dir) / CONFIG_FILE
    if not present(path, run_dir, CONFIG_EXPECTED):
        raise FileNotFoundError(f"{path}: missing")
    text = text_of(path, CONFIG_EXPECTED)
    try:
        shape = yaml.safe_load(text)  # OmegaConf.create would read a plain string as a key
        if not isinstance(shape, dict):
            raise DamagedFile(path, f"a YAML {type(shape).__name__}, not a mapping", CONFIG_EXPECTED)
        cfg = OmegaConf.create(text)
    except DamagedFile:
        raise
    except (Exception, RecursionError) as e:  # yaml's and omegaconf's errors have no common base
        raise DamagedFile(path, f"not YAML ({first_line(e)})", CONFIG_EXPECTED) from None
    found = _interpolations(cfg)
    if found:
        raise DamagedFile(path, f"interpolations at {', '.join(found[:3])}", CONFIG_EXPECTED)
    container = OmegaConf.to_container(cfg, resolve=False)
    found = _unnamed_targets(container)
    if found:
        raise DamagedFile(path, f"{', '.join(found[:3])}: a _target_ is a dotted name", CONFIG_EXPECTED)
    return OmegaConf.create(container if portable_form else _rebase(container, omegaconf_literal(str(Path(run_dir)))))


def _unnamed_targets(node: Any, path: str = "") -> list[str]:
    """``key._target_=value (a list)`` for every ``_target_`` (at any depth) that is not a string:
    no config raft-lightning writes holds one, and no reader may hash or import it."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
        if key == "_target_" and not isinstance(value, str):
            found.append(f"{where}={short(value)} (a {type(value).__name__})")
        else:
            found += _unnamed_targets(value, where)
    return found


@functools.cache
def package_targets() -> frozenset[str]:
    """Every ``_target_`` the package's own configs name: what a folder's config may build."""
    targets = set()
    for path in CONF_DIR.rglob("*.yaml"):
        targets |= set(re.findall(r"^\s*_target_:\s*([\w.]+)\s*$", path.read_text(), flags=re.MULTILINE))
    return frozenset(targets)


def untrusted_targets(node: Any, trusted: frozenset[str] | set[str] = frozenset(), path: str = "") -> list[str]:
    """``key._target_=name`` for every target (at any depth) that is neither the package's own nor
    in ``trusted``: building it would run code the folder chose."""
    found = []
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            named = isinstance(value, str) and value in package_targets() | set(trusted)  # a list is no name
            if key in ("_target_", "_args_") and not (key == "_target_" and named):
                found.append(f"{where}={short(value)}")
            else:
                found += untrusted_targets(value, trusted, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += untrusted_targets(value, trusted, f"{path}[{i}]")
    return found
